"""Import a Backstage catalog-info.yaml (mapping: imports/backstage): every entity or none."""

from __future__ import annotations

from typing import Any

from imports.backstage.apply import catalog_import
from imports.backstage.format import MAX_BYTES, CatalogRejected, catalog_text_from_bytes
from imports.management.importing import ImportCommand


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
        with self.refusals():
            if problems:
                raise CatalogRejected(problems)
            summary = catalog_import(actor=actor, text=text, dry_run=options["dry_run"])
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
