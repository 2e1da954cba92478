"""Export every project as CSV, in the format registry_import_csv reads."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from imports.csv.export import registry_csv_export


class Command(BaseCommand):
    help = "Export every project, with its people and dependencies, as CSV (stdout or a file)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "path", nargs="?", default="-", help="Where to write; - (the default) for stdout."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        text = registry_csv_export()
        if options["path"] == "-":
            self.stdout.write(text, ending="")
            return
        try:
            with open(options["path"], "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
        except OSError as exc:
            raise CommandError(f"Cannot write {options['path']}: {exc}") from None
