"""Export the registry as a Backstage catalog-info.yaml, in the shapes catalog_import reads."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from imports.backstage.export import catalog_export


class Command(BaseCommand):
    help = "Export people, teams, IT systems and projects as a Backstage catalog (stdout or -o)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "-o", "--output", default="-", help="Where to write; - (the default) for stdout."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        text = catalog_export()
        if options["output"] == "-":
            self.stdout.write(text, ending="")
            return
        try:
            with open(options["output"], "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as exc:
            raise CommandError(f"Cannot write {options['output']}: {exc}") from None
