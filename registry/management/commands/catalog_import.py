"""Import a Backstage catalog-info.yaml (mapping: registry/catalog.py): every entity or none."""

from __future__ import annotations

import sys
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError, CommandParser

from registry.catalog import (
    MAX_BYTES,
    CatalogRejected,
    catalog_import,
    catalog_text_from_bytes,
)


class Command(BaseCommand):
    help = (
        "Import Users, Groups, Resources and Components from a Backstage catalog-info.yaml "
        "('-' for stdin). Every problem is listed and nothing is written unless there is none."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="The YAML file, or - to read standard input.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Check and show the summary; write nothing."
        )
        parser.add_argument(
            "--actor",
            help="Import as this user (IT staff or admin; audit entries name them). "
            "Without it the import runs as Steward itself.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        actor = None
        if options["actor"]:
            user_model = get_user_model()
            try:
                actor = user_model.objects.get(**{user_model.USERNAME_FIELD: options["actor"]})
            except user_model.DoesNotExist:
                raise CommandError(f"No user is called {options['actor']!r}.") from None
        try:
            if options["path"] == "-":
                data = sys.stdin.buffer.read(MAX_BYTES + 1)
            else:
                with open(options["path"], "rb") as handle:
                    data = handle.read(MAX_BYTES + 1)
        except OSError as exc:
            raise CommandError(f"Cannot read {options['path']}: {exc}") from None
        text, problems = catalog_text_from_bytes(data)
        try:
            if problems:
                raise CatalogRejected(problems)
            summary = catalog_import(actor=actor, text=text, dry_run=options["dry_run"])
        except CatalogRejected as exc:
            for problem in exc.problems:
                self.stderr.write(str(problem))
            raise CommandError(f"{len(exc.problems)} problem(s); nothing was imported.") from None
        except PermissionDenied as exc:
            raise CommandError(str(exc)) from None
        for warning in summary["warnings"]:
            self.stdout.write(
                f"skipped: {warning['entity'] or 'document ' + str(warning['document'])}: {warning['reason']}"
            )
        for kind, counts in summary["counts"].items():
            self.stdout.write(
                f"{kind}: {counts['created']} created, {counts['updated']} updated, "
                f"{counts['unchanged']} unchanged, {counts['removed']} removed"
            )
        verb = "Checked (dry run, nothing was written)" if summary["dry_run"] else "Imported"
        self.stdout.write(self.style.SUCCESS(f"{verb}."))
