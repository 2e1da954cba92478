"""One JSON reader for every body Steward takes: the API's parser and the monitors' receivers.

Python's `json` accepts documents that nothing downstream can hold, and each fails later as a
5xx, which monitors retry forever: `NaN` and `Infinity` (and `1e999`, read as infinity), nesting
deep enough to raise RecursionError, integers of thousands of digits (ValueError past Python's
digit limit, then an overflow in PostgreSQL), lone surrogates (`"\\ud800"`, which no UTF-8 text
column can encode), U+0000 (which PostgreSQL's text and jsonb refuse) and timestamps whose
instant, once their offset is applied, is not a day inside the years 1 to 9999 (steward.times).
Here each is refused before anything reads the document, as `UnusableJSON` naming where it is,
so every caller can answer 400 in its own shape.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from typing import Any, Literal

from .times import instant_problem

MAX_DEPTH = 64
# PostgreSQL's bigint: the widest integer column there is.
MAX_INTEGER = 2**63 - 1
MAX_INTEGER_DIGITS = len(str(MAX_INTEGER)) + 1

_SURROGATE = re.compile("[\ud800-\udfff]")
# What looks like an ISO 8601 date and time: worth checking that a clock can hold it.
_TIMESTAMP = re.compile(r"^\s*[+-]?\d{4,}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


class UnusableJSON(ValueError):
    """The body cannot be stored. `path` is where (`alerts[0].labels.team`), empty for the
    whole body; `field` is the top-level key it is under, to name in a field-keyed answer."""

    def __init__(self, message: str, *, path: str = "", field: str = "") -> None:
        super().__init__(f"'{path}': {message}" if path else message)
        self.message = message
        self.path = path
        self.field = field


def _path(parent: str, step: str | int) -> str:
    if isinstance(step, int):
        return f"{parent}[{step}]"
    return f"{parent}.{step}" if parent else step


class _Refused:
    """A number the parser read but nothing can store; the walk reports it with its path."""

    def __init__(self, message: str) -> None:
        self.message = message


def _refuse_constant(name: str) -> _Refused:
    return _Refused(f"{name} is not a number Steward can store; send a finite number.")


def _bounded_float(text: str) -> float | _Refused:
    value = float(text)
    if not math.isfinite(value):
        return _Refused(f"{text[:40]} is out of range for a number; send a finite number.")
    return value


def _bounded_int(text: str) -> int | _Refused:
    if len(text.lstrip("-")) <= MAX_INTEGER_DIGITS and abs(value := int(text)) <= MAX_INTEGER:
        return value
    shown = text if len(text) <= 30 else f"{text[:12]}… ({len(text)} digits)"
    return _Refused(f"the integer {shown} is larger than {MAX_INTEGER}.")


def timestamp_problem(text: str) -> str | None:
    """Why this ISO 8601 date and time cannot be stored and shown (see steward.times), or None
    when it can be, or is not a timestamp (the field that wants one says so)."""
    if not _TIMESTAMP.match(text):
        return None
    if re.match(r"^\s*([+-]|\d{5,})", text):
        return f"{text[:40]!r} is outside the years 1 to 9999."
    try:
        parsed = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        return None
    problem = instant_problem(parsed)
    return f"{text[:40]!r}: {problem}" if problem else None


def _string_problem(text: str, nul: str, timestamps: bool = False) -> str | None:
    found = _SURROGATE.search(text)
    if found:
        return (
            f"the text holds a lone surrogate (\\u{ord(found.group()):04x}), which is not a "
            "character; send UTF-8 text."
        )
    if nul == "refuse" and "\x00" in text:
        return "the text holds U+0000 (NUL), which cannot be stored."
    return timestamp_problem(text) if timestamps else None


def _key_problem(key: str, nul: str) -> str | None:
    if _SURROGATE.search(key) or (nul == "refuse" and "\x00" in key):
        return _string_problem(key, nul)
    return None


def strict_loads(
    body: bytes | str,
    *,
    max_depth: int = MAX_DEPTH,
    nul: Literal["refuse", "replace"] = "refuse",
    timestamps: bool = True,
) -> Any:
    """The parsed document, or UnusableJSON. With `nul="replace"` U+0000 becomes U+FFFD instead
    of being refused (a monitor's event is kept, and shows where the character was). With
    `timestamps=False` strings that look like overflowing timestamps are left to the caller,
    which knows which fields are times (an Alertmanager alert with one is set aside alone)."""
    if isinstance(body, bytes | bytearray):
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UnusableJSON(
                f"the body is not UTF-8 text (byte {exc.start} is not valid UTF-8)."
            ) from None
    body = body.removeprefix("\ufeff")  # a byte order mark is no part of the document
    try:
        document = json.loads(
            body,
            parse_constant=_refuse_constant,
            parse_float=_bounded_float,
            parse_int=_bounded_int,
        )
    except RecursionError:
        raise UnusableJSON(f"the body nests deeper than {max_depth} levels.") from None
    except json.JSONDecodeError as exc:
        raise UnusableJSON(
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}."
        ) from None
    return _checked(document, max_depth=max_depth, nul=nul, timestamps=timestamps)


def _checked(document: Any, *, max_depth: int, nul: str, timestamps: bool) -> Any:
    """Walk the document without recursion: depth, keys and strings. Returns it, with NUL
    replaced when asked."""
    replace = nul == "replace"
    root = [document]
    # (container, key in container, value, path, top-level field, depth)
    stack: list[tuple[Any, Any, Any, str, str, int]] = [(root, 0, document, "", "", 0)]
    while stack:
        container, slot, value, path, field, depth = stack.pop()
        if isinstance(value, _Refused):
            raise UnusableJSON(value.message, path=path, field=field)
        if isinstance(value, str):
            problem = _string_problem(value, nul, timestamps)
            if problem:
                raise UnusableJSON(problem, path=path, field=field)
            if replace and "\x00" in value:
                container[slot] = value.replace("\x00", "\ufffd")
            continue
        if not isinstance(value, dict | list):
            continue
        if depth >= max_depth:
            raise UnusableJSON(
                f"the body nests deeper than {max_depth} levels.", path=path, field=field
            )
        if isinstance(value, list):
            for index, item in enumerate(value):
                stack.append((value, index, item, _path(path, index), field, depth + 1))
            continue
        for key in list(value):
            problem = _key_problem(key, nul)
            if problem:
                raise UnusableJSON(f"a key: {problem}", path=path, field=field or key)
            item = value[key]
            if replace and "\x00" in key:
                del value[key]
                key = key.replace("\x00", "\ufffd")
                value[key] = item
            stack.append((value, key, item, _path(path, key), field or key, depth + 1))
    return root[0]
