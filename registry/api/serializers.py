"""Serializers of the registry API. `*In` serializers parse a request into service arguments;
`*Out` serializers render. No domain rule lives here: the services validate and decide."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..models import (
    AuditEntry,
    ContactMethod,
    Dependency,
    ITSystem,
    Person,
    Project,
    ProjectRole,
    Team,
)
from ..selectors import is_within_working_hours, person_local_time

# Validation of every value is the services' work (they run full_clean); the input serializers
# only check shape, type and length, so uniqueness validators are dropped here.
NO_UNIQUE = {"validators": []}

WORKING_HOURS_SCHEMA = {
    "type": "object",
    "description": 'Local working hours per weekday, e.g. {"mon": [["09:00", "17:00"]]}. '
    "A missing weekday means not working that day.",
    "additionalProperties": {
        "type": "array",
        "items": {
            "type": "array",
            "items": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$"},
            "minItems": 2,
            "maxItems": 2,
        },
    },
    "example": {"mon": [["09:00", "12:00"], ["13:00", "17:00"]]},
}


@extend_schema_field(WORKING_HOURS_SCHEMA)
class WorkingHoursField(serializers.JSONField):
    pass


LOCAL_TIME = OpenApiTypes.DATETIME


def _now(serializer: serializers.BaseSerializer) -> datetime:
    return serializer.context.get("at") or timezone.now()


# --- auth --------------------------------------------------------------------------------------


class TokenOut(serializers.Serializer):
    token = serializers.CharField(help_text="Send it as `Authorization: Token <token>`.")


# --- people -------------------------------------------------------------------------------------


class ContactMethodOut(serializers.ModelSerializer):
    undeliverable_reason = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="Why nothing sent to this method arrives (its provider is not configured); "
        "null when it is deliverable.",
    )

    class Meta:
        model = ContactMethod
        fields = (
            "id",
            "kind",
            "address",
            "label",
            "for_pages",
            "for_notices",
            "order",
            "undeliverable_reason",
        )
        read_only_fields = fields


class ContactMethodIn(serializers.ModelSerializer):
    class Meta:
        model = ContactMethod
        fields = ("kind", "address", "label", "for_pages", "for_notices", "order")
        validators = []  # uniqueness is the service's to report


class PersonOut(serializers.ModelSerializer):
    username = serializers.CharField(source="user.get_username", read_only=True)
    working_hours = WorkingHoursField(read_only=True)
    local_time = serializers.SerializerMethodField()
    in_working_hours = serializers.SerializerMethodField()
    contact_methods = ContactMethodOut(many=True, read_only=True)
    active = serializers.SerializerMethodField(
        help_text="False once they have left (deactivated): rotations skip them."
    )

    class Meta:
        model = Person
        fields = (
            "id",
            "username",
            "display_name",
            "email",
            "time_zone",
            "working_hours",
            "local_time",
            "in_working_hours",
            "contact_methods",
            "active",
            "deactivated_at",
        )
        read_only_fields = fields

    @extend_schema_field(LOCAL_TIME)
    def get_local_time(self, person: Person) -> str:
        return person_local_time(person, _now(self)).isoformat()

    def get_in_working_hours(self, person: Person) -> bool:
        return is_within_working_hours(person, _now(self))

    def get_active(self, person: Person) -> bool:
        return person.deactivated_at is None


class PersonIn(serializers.ModelSerializer):
    working_hours = WorkingHoursField(required=False)

    class Meta:
        model = Person
        fields = ("display_name", "email", "time_zone", "working_hours")


class PersonAddIn(PersonIn):
    """Someone IT adds before they sign in: their email is required (it is how they sign in)."""

    email = serializers.EmailField(max_length=254)

    class Meta(PersonIn.Meta):
        extra_kwargs = {"display_name": {"required": True}}


# --- teams --------------------------------------------------------------------------------------


class TeamOut(serializers.ModelSerializer):
    members = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = Team
        fields = ("id", "name", "slug", "description", "is_it", "members")
        read_only_fields = fields


class TeamIn(serializers.ModelSerializer):
    members = serializers.PrimaryKeyRelatedField(
        many=True, queryset=Person.objects.all(), required=False, help_text="Person ids."
    )

    class Meta:
        model = Team
        fields = ("name", "slug", "description", "is_it", "members")
        extra_kwargs = {"name": NO_UNIQUE, "slug": NO_UNIQUE}


# --- projects -----------------------------------------------------------------------------------


class ProjectRoleOut(serializers.ModelSerializer):
    display_name = serializers.CharField(source="person.display_name", read_only=True)

    class Meta:
        model = ProjectRole
        fields = ("person", "display_name", "role", "order")
        read_only_fields = fields


class ProjectRoleIn(serializers.Serializer):
    person = serializers.PrimaryKeyRelatedField(queryset=Person.objects.all())
    role = serializers.ChoiceField(choices=ProjectRole.Role.choices)
    order = serializers.IntegerField(min_value=0, max_value=32767, required=False)


class ProjectOut(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    # A string, not format "uri": an app without a runbook has "".
    runbook_url = serializers.CharField(read_only=True, help_text="A URL, or empty.")
    aliases = serializers.SlugRelatedField(slug_field="alias", many=True, read_only=True)
    urls = serializers.SlugRelatedField(slug_field="url", many=True, read_only=True)
    roles = ProjectRoleOut(many=True, read_only=True)
    busy_hours = WorkingHoursField(read_only=True)
    orphaned = serializers.SerializerMethodField(
        help_text="True when no owner is active (its last owner left): someone should adopt it."
    )

    class Meta:
        model = Project
        fields = (
            "id",
            "name",
            "slug",
            "description",
            "support_tier",
            "help_channel",
            "runbook_url",
            "last_reviewed_on",
            "team",
            "time_zone",
            "busy_hours",
            "aliases",
            "urls",
            "roles",
            "orphaned",
            "orphaned_at",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields

    def get_orphaned(self, project: Project) -> bool:
        return project.orphaned_at is not None


class ProjectIn(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Team.objects.all(),
        required=False,
        allow_null=True,
        help_text="Slug of the team the project belongs to.",
    )
    aliases = serializers.ListField(
        child=serializers.CharField(allow_blank=True, max_length=200),
        required=False,
        max_length=100,
        help_text="Other names people know the app by; replaces the whole list.",
    )
    urls = serializers.ListField(
        child=serializers.CharField(allow_blank=True, max_length=500),
        required=False,
        max_length=100,
        help_text="http(s) URLs the app is reached at; replaces the whole list.",
    )
    busy_hours = WorkingHoursField(
        required=False,
        help_text="When its users need it most, in `time_zone`: IT changes avoid these hours.",
    )

    class Meta:
        model = Project
        fields = (
            "name",
            "slug",
            "description",
            "support_tier",
            "help_channel",
            "runbook_url",
            "last_reviewed_on",
            "team",
            "time_zone",
            "busy_hours",
            "aliases",
            "urls",
        )
        extra_kwargs = {"name": NO_UNIQUE, "slug": NO_UNIQUE}


# --- IT systems ---------------------------------------------------------------------------------


class SystemOut(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    contacts = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    integration_key = serializers.SerializerMethodField(
        help_text="The key of inbound alerts; null unless you are IT staff."
    )

    class Meta:
        model = ITSystem
        fields = (
            "id",
            "name",
            "slug",
            "kind",
            "description",
            "team",
            "contacts",
            "integration_key",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields

    def get_integration_key(self, system: ITSystem) -> str | None:
        return system.integration_key if self.context.get("show_integration_key") else None


class SystemIn(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Team.objects.all(),
        required=False,
        allow_null=True,
        help_text="Slug of the owning IT team.",
    )
    contacts = serializers.PrimaryKeyRelatedField(
        many=True, queryset=Person.objects.all(), required=False, help_text="Person ids."
    )

    class Meta:
        model = ITSystem
        fields = ("name", "slug", "kind", "description", "team", "contacts")
        extra_kwargs = {"name": NO_UNIQUE, "slug": NO_UNIQUE}


class ImpactedProjectOut(serializers.Serializer):
    slug = serializers.SlugField(source="project_slug")
    name = serializers.CharField(source="project_name")
    path = serializers.ListField(
        child=serializers.CharField(),
        help_text="IT system names, from the one the project depends on to the affected one.",
    )
    path_display = serializers.CharField(help_text="e.g. “People → SSO → Datacenter Austin”.")
    all_hard = serializers.BooleanField(help_text="Hard all the way: the project is down.")
    depth = serializers.IntegerField()


class ImpactOut(serializers.Serializer):
    system = serializers.SlugField()
    count = serializers.IntegerField()
    projects = ImpactedProjectOut(many=True)


# --- dependencies -------------------------------------------------------------------------------


class DependencyOut(serializers.ModelSerializer):
    source_project = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True
    )
    source_system = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    target_system = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Dependency
        fields = (
            "id",
            "source_project",
            "source_system",
            "target_system",
            "criticality",
            "note",
            "created_at",
        )
        read_only_fields = fields


class DependencyIn(serializers.ModelSerializer):
    source_project = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Project.objects.all(),
        required=False,
        allow_null=True,
        help_text="Slug of the project that depends (or give source_system).",
    )
    source_system = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=ITSystem.objects.all(),
        required=False,
        allow_null=True,
        help_text="Slug of the IT system that depends (or give source_project).",
    )
    target_system = serializers.SlugRelatedField(
        slug_field="slug", queryset=ITSystem.objects.all(), help_text="Slug of the IT system."
    )

    class Meta:
        model = Dependency
        fields = ("source_project", "source_system", "target_system", "criticality", "note")
        validators = []  # the service reports a duplicate edge, naming target_system


class DependencyUpdateIn(serializers.ModelSerializer):
    class Meta:
        model = Dependency
        fields = ("criticality", "note")


# --- audit --------------------------------------------------------------------------------------


class AuditEntryOut(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(
        slug_field="username",
        read_only=True,
        allow_null=True,
        help_text="Username; null for Steward itself.",
    )
    changes = serializers.JSONField(help_text="{field: [before, after]}")

    class Meta:
        model = AuditEntry
        fields = (
            "id",
            "recorded_at",
            "actor",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "changes",
        )
        read_only_fields = fields
