"""Import a Backstage catalog-info.yaml (mapping: registry/catalog.py): every entity or none."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.management.base import CommandError

from registry.catalog import (
    MAX_BYTES,
    CatalogRejected,
    catalog_import,
    catalog_text_from_bytes,
)
from registry.management.importing import ImportCommand


class Command(ImportCommand):
    help = (
        "Import Users, Groups, Resources and Components from a Backstage catalog-info.yaml "
        "('-' for stdin). Every problem is listed and nothing is written unless there is none."
    )

    what = "YAML file"
    dry_run_help = "Check and show the summary; write nothing."

    def handle(self, *args: Any, **options: Any) -> None:
        actor = self.actor(options)
        data = self.read(options, limit=MAX_BYTES)
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
