"""Import projects from a CSV file (format: imports/csv): all rows or none."""

from __future__ import annotations

from typing import Any

from imports.csv.apply import registry_csv_import
from imports.csv.format import csv_text_from_bytes
from imports.management.importing import ImportCommand


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
        with self.refusals():
            summary = registry_csv_import(
                actor=actor, text=csv_text_from_bytes(data), dry_run=options["dry_run"]
            )
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
