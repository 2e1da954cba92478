"""The CSV format: its columns, how a cell is read and written (lists, the formula guard), and
how a problem with a row reads. The format itself is described in the package's docstring."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from imports.engine import ImportRejected, too_large_reason, upload_text
from registry.models import Dependency, ProjectRole

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000

COLUMNS = (
    "slug",
    "name",
    "description",
    "support_tier",
    "team",
    "help_channel",
    "runbook_url",
    "owners",
    "maintainers",
    "backups",
    "aliases",
    "urls",
    "depends_on",
)
REQUIRED = ("slug", "name", "owners")
ROLE_COLUMNS = {
    "owners": ProjectRole.Role.OWNER,
    "maintainers": ProjectRole.Role.MAINTAINER,
    "backups": ProjectRole.Role.BACKUP,
}
# The project's own fields, written as they are (team is resolved from a slug).
TEXT_FIELDS = ("name", "description", "support_tier", "help_channel", "runbook_url")
SEPARATOR = ";"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class CsvProblem:
    """One thing wrong with the file. `row` as a spreadsheet numbers it (header: 1); None for
    the file as a whole."""

    row: int | None
    column: str
    value: str
    reason: str
    forbidden: bool = False  # a permission problem rather than bad data

    def __post_init__(self) -> None:
        # A cell may be long; a problem quotes it, never repeats it whole.
        for name, limit in (("column", 100), ("value", 200), ("reason", 500)):
            text = getattr(self, name)
            if len(text) > limit:
                object.__setattr__(self, name, text[: limit - 1] + "…")

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "value": self.value, "reason": self.reason}

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row is not None else "file"
        column = f", column {self.column}" if self.column else ""
        value = f" ({self.value!r})" if self.value else ""
        return f"{where}{column}{value}: {self.reason}"


class CsvRejected(ImportRejected):
    """The file has problems; nothing was written. `forbidden`: some are permission problems."""

    what = "the CSV file"
    forbidden_detail = "You may not change some of these projects; nothing was written."

    def more_problem(self, count: int) -> CsvProblem:
        return CsvProblem(None, "", "", f"And {count:,} more problems, not listed.")


# --- reading ------------------------------------------------------------------------------------


def csv_text_from_bytes(data: bytes) -> str:
    """Decode an uploaded file: UTF-8, with or without a BOM. Refuses what is too big or not text."""
    text, reason = upload_text(data, max_bytes=MAX_BYTES)
    if reason is not None:
        raise CsvRejected([CsvProblem(None, "", "", reason)])
    return text


def _unguard(value: str) -> str:
    """Undo the export's formula guard: one leading quote before a formula character."""
    if value.startswith("'") and value[1:].startswith((*FORMULA_STARTS, "'")):
        return value[1:]
    return value


def guard(value: str) -> str:
    if value.startswith(FORMULA_STARTS) or (
        value.startswith("'") and value[1:].startswith((*FORMULA_STARTS, "'"))
    ):
        return "'" + value
    return value


def split_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(SEPARATOR) if item.strip()]


def read_rows(text: str, problems: list[CsvProblem]) -> tuple[list[str], list[tuple[int, dict]]]:
    """The header and the non-blank rows as (spreadsheet row, {column: cell})."""
    if len(text) > MAX_BYTES or len(text.encode("utf-8", "replace")) > MAX_BYTES:
        problems.append(CsvProblem(None, "", "", too_large_reason(MAX_BYTES)))
        return [], []
    text = text.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] = []
    rows: list[tuple[int, dict]] = []
    number = 0
    try:
        for number, record in enumerate(reader, start=1):
            if number == 1:
                header = [name.replace("\x00", "").strip().lower() for name in record]
                continue
            if number > MAX_ROWS + 1:
                problems.append(
                    CsvProblem(None, "", "", f"The file has more than {MAX_ROWS:,} rows.")
                )
                return header, []
            if not any(cell.strip() for cell in record):
                continue
            if len(record) > len(header):
                problems.append(
                    CsvProblem(
                        number,
                        "",
                        "",
                        f"The row has {len(record)} cells but the header names "
                        f"{len(header)} columns.",
                    )
                )
                continue
            cells = {n: _unguard(v) for n, v in zip(header, record, strict=False)}
            # PostgreSQL refuses NUL in text; nobody means one in a spreadsheet cell.
            nul = [name for name, value in cells.items() if "\x00" in value]
            for name in nul:
                problems.append(
                    CsvProblem(
                        number, name, cells[name].replace("\x00", "")[:200], "A NUL character."
                    )
                )
            if not nul:
                rows.append((number, cells))
    except csv.Error as exc:
        problems.append(
            CsvProblem(
                number + 1,
                "",
                "",
                f"The CSV is malformed here ({exc}); a quote may be left open.",
            )
        )
        return header, []
    if not header or not any(header):
        problems.append(
            CsvProblem(None, "", "", "The file is empty: the first row must name the columns.")
        )
        return [], []
    seen: set[str] = set()
    for name in header:
        if name not in COLUMNS:
            problems.append(
                CsvProblem(1, name, name, f"Unknown column; the columns are: {', '.join(COLUMNS)}.")
            )
        elif name in seen:
            problems.append(CsvProblem(1, name, name, "This column appears twice."))
        seen.add(name)
    for name in REQUIRED:
        if name not in header:
            problems.append(CsvProblem(1, name, "", "This required column is missing."))
    if not rows and not problems:
        problems.append(CsvProblem(None, "", "", "The file has a header but no rows."))
    return header, rows


def edge_token(token: str) -> tuple[str, str]:
    """`slug`, `slug:hard` or `slug:soft` → (slug, criticality as written, lower-cased)."""
    if ":" in token:
        slug, _sep, criticality = token.rpartition(":")
        return slug.strip(), criticality.strip().lower()
    return token, Dependency.Criticality.HARD


def by_role(roles: Iterable[tuple[Any, str]]) -> dict[str, list[Any]]:
    """(person, role) pairs → {role: [person, ...]}, in order."""
    grouped: dict[str, list[Any]] = {}
    for person_id, role in roles:
        grouped.setdefault(role, []).append(person_id)
    return grouped
