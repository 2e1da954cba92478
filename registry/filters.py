"""Query-string filters of the registry API. Text parameters go through Django form fields, so a
NUL byte or other unusable value is a 400 before it reaches PostgreSQL."""

import django_filters
from django.db.models import Q, QuerySet

from .models import AuditEntry, Dependency, ITSystem, Person, Project, Team
from .selectors import projects_search


class PersonFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(
        method="filter_search", max_length=200, label="Name, username or email contains."
    )
    team = django_filters.CharFilter(field_name="teams__slug", label="Slug of a team.")

    class Meta:
        model = Person
        fields = ("search", "team", "time_zone")

    def filter_search(self, queryset: QuerySet[Person], name: str, value: str) -> QuerySet[Person]:
        return queryset.filter(
            Q(display_name__icontains=value)
            | Q(user__username__icontains=value)
            | Q(email__icontains=value)
        )


class TeamFilter(django_filters.FilterSet):
    class Meta:
        model = Team
        fields = ("is_it",)


class ProjectFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(
        method="filter_search",
        max_length=500,
        label="Name, slug, alias, URL, team or description, typos forgiven; a pasted URL of the "
        "app finds it by host. Results come best first (exact slug or alias, then prefix, then "
        "the rest by likeness) unless `ordering` is given.",
    )
    support_tier = django_filters.ChoiceFilter(choices=Project.Tier.choices)
    team = django_filters.CharFilter(field_name="team__slug", label="Slug of a team.")

    class Meta:
        model = Project
        fields = ("search", "support_tier", "team")

    def filter_search(
        self, queryset: QuerySet[Project], name: str, value: str
    ) -> QuerySet[Project]:
        return projects_search(queryset, value)


class SystemFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=ITSystem.Kind.choices)
    team = django_filters.CharFilter(field_name="team__slug", label="Slug of a team.")

    class Meta:
        model = ITSystem
        fields = ("kind", "team")


class DependencyFilter(django_filters.FilterSet):
    source_project = django_filters.CharFilter(
        field_name="source_project__slug", label="Slug of the depending project."
    )
    source_system = django_filters.CharFilter(
        field_name="source_system__slug", label="Slug of the depending IT system."
    )
    target_system = django_filters.CharFilter(
        field_name="target_system__slug", label="Slug of the IT system depended on."
    )
    criticality = django_filters.ChoiceFilter(choices=Dependency.Criticality.choices)

    class Meta:
        model = Dependency
        fields = ("source_project", "source_system", "target_system", "criticality")


class AuditFilter(django_filters.FilterSet):
    object_type = django_filters.CharFilter(
        max_length=50, label="e.g. registry.project, registry.itsystem, registry.person."
    )
    object_id = django_filters.CharFilter(max_length=64)
    action = django_filters.ChoiceFilter(choices=AuditEntry.Action.choices)

    class Meta:
        model = AuditEntry
        fields = ("object_type", "object_id", "action")
