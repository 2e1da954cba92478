"""Every project as CSV, in the import's format: an export imports back unchanged."""

from __future__ import annotations

import csv
import io

from django.db.models import Prefetch

from registry.models import Dependency, Project, ProjectRole

from .format import COLUMNS, SEPARATOR, by_role, guard


def registry_csv_export() -> str:
    """Every project in the import format, ordered by slug, in a fixed number of queries."""
    projects = (
        Project.objects.select_related("team")
        .prefetch_related(
            "aliases",
            "urls",
            Prefetch(
                "roles",
                queryset=ProjectRole.objects.select_related("person__user").order_by("order", "id"),
            ),
            Prefetch(
                "dependencies",
                queryset=Dependency.objects.select_related("target_system").order_by(
                    "target_system__slug"
                ),
            ),
        )
        .order_by("slug")
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for project in projects:
        roles = by_role((r.person.user.get_username(), r.role) for r in project.roles.all())
        row = {
            "slug": project.slug,
            "name": project.name,
            "description": project.description,
            "support_tier": project.support_tier,
            "team": project.team.slug if project.team else "",
            "help_channel": project.help_channel,
            "runbook_url": project.runbook_url,
            "owners": SEPARATOR.join(roles.get(ProjectRole.Role.OWNER, [])),
            "maintainers": SEPARATOR.join(roles.get(ProjectRole.Role.MAINTAINER, [])),
            "backups": SEPARATOR.join(roles.get(ProjectRole.Role.BACKUP, [])),
            "aliases": SEPARATOR.join(sorted(a.alias for a in project.aliases.all())),
            "urls": SEPARATOR.join(sorted(u.url for u in project.urls.all())),
            "depends_on": SEPARATOR.join(
                d.target_system.slug
                + (":soft" if d.criticality == Dependency.Criticality.SOFT else "")
                for d in project.dependencies.all()
            ),
        }
        writer.writerow([guard(row[column]) for column in COLUMNS])
    return out.getvalue()
