"""Import projects from a CSV file (format: registry/csv_io.py): all rows or none."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.management.base import CommandError

from registry.csv_io import CsvRejected, csv_text_from_bytes, registry_csv_import
from registry.management.importing import ImportCommand


class Command(ImportCommand):
    help = (
        "Import projects, their people and dependencies from a CSV file ('-' for stdin). "
        "Every problem is listed and nothing is written unless there is none."
    )

    what = "CSV file"
    dry_run_help = "Check and show the plan; write nothing."

    def handle(self, *args: Any, **options: Any) -> None:
        actor = self.actor(options)
        data = self.read(options)
        try:
            summary = registry_csv_import(
                actor=actor, text=csv_text_from_bytes(data), dry_run=options["dry_run"]
            )
        except CsvRejected as exc:
            for problem in exc.problems:
                where = f"row {problem.row}" if problem.row is not None else "file"
                column = f", column {problem.column}" if problem.column else ""
                value = f" ({problem.value!r})" if problem.value else ""
                self.stderr.write(f"{where}{column}{value}: {problem.reason}")
            raise CommandError(f"{len(exc.problems)} problem(s); nothing was imported.") from None
        except PermissionDenied as exc:
            raise CommandError(str(exc)) from None
        for row in summary["rows"]:
            if row["action"] != "unchanged":
                changes = f" ({', '.join(row['changes'])})" if row["changes"] else ""
                self.stdout.write(f"row {row['row']}: {row['action']} {row['slug']}{changes}")
        verb = "Would import" if summary["dry_run"] else "Imported"
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb}: {summary['created']} created, {summary['updated']} updated, "
                f"{summary['unchanged']} unchanged."
                + (" Nothing was written (dry run)." if summary["dry_run"] else "")
            )
        )
