import secrets
from urllib.parse import urlsplit

from django.conf import settings
from django.core.validators import MaxLengthValidator, URLValidator
from django.db import models
from django.db.models import Q

from .validators import validate_time_zone, validate_working_hours


def default_working_hours() -> dict:
    return {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def url_host(url: str) -> str:
    """The lower-cased host of a URL, without port or credentials ('' when there is none)."""
    candidate = url.strip() if "://" in url else f"//{url.strip()}"
    return (urlsplit(candidate).hostname or "").lower()


def new_integration_key() -> str:
    return secrets.token_hex(16)


class Person(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="person"
    )
    display_name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    working_hours = models.JSONField(
        default=default_working_hours, validators=[validate_working_hours]
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["display_name"]
        verbose_name_plural = "people"

    def __str__(self) -> str:
        return self.display_name


class ContactMethod(models.Model):
    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        SMS = "sms", "SMS"
        PHONE = "phone", "Phone call"
        WEBHOOK = "webhook", "Webhook (JSON)"
        SLACK = "slack", "Slack incoming webhook"
        TEAMS = "teams", "Microsoft Teams incoming webhook"

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="contact_methods")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    address = models.CharField(max_length=500)
    label = models.CharField(max_length=100, blank=True)
    for_pages = models.BooleanField(default=True, help_text="Urgent pages go to this method.")
    for_notices = models.BooleanField(default=True, help_text="Notices go to this method.")
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["person", "order", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["person", "kind", "address"], name="contact_method_unique_per_person"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.address}"


class Team(models.Model):
    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True, validators=[MaxLengthValidator(5000)])
    is_it = models.BooleanField(default=False, help_text="An IT team, which can own IT systems.")
    members = models.ManyToManyField(Person, related_name="teams", blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Project(models.Model):
    class Tier(models.TextChoices):
        IT_SUPPORTED = "it_supported", "IT supported"
        SIDE_PROJECT = "side_project", "Side project"
        EXPERIMENTAL = "experimental", "Experimental"
        RETIRED = "retired", "Retired"

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True, validators=[MaxLengthValidator(5000)])
    support_tier = models.CharField(max_length=16, choices=Tier.choices, default=Tier.SIDE_PROJECT)
    help_channel = models.CharField(
        max_length=300, blank=True, help_text="Where to ask for help: a chat channel or a URL."
    )
    runbook_url = models.URLField(blank=True, max_length=500)
    last_reviewed_on = models.DateField(null=True, blank=True)
    team = models.ForeignKey(
        Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="projects"
    )
    people = models.ManyToManyField(Person, through="ProjectRole", related_name="projects")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ProjectAlias(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="aliases")
    alias = models.CharField(max_length=200)

    class Meta:
        ordering = ["alias"]
        verbose_name_plural = "project aliases"
        constraints = [
            models.UniqueConstraint(fields=["project", "alias"], name="project_alias_unique")
        ]

    def __str__(self) -> str:
        return self.alias


class ProjectURL(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="urls")
    url = models.CharField(max_length=500, validators=[URLValidator(schemes=["http", "https"])])
    # The lower-cased host of `url`, kept beside it so that a pasted URL finds its project by index.
    host = models.CharField(max_length=255, db_index=True, editable=False)

    class Meta:
        ordering = ["url"]
        verbose_name = "project URL"
        constraints = [
            models.UniqueConstraint(fields=["project", "url"], name="project_url_unique")
        ]

    def __str__(self) -> str:
        return self.url

    def save(self, *args, **kwargs) -> None:
        self.host = url_host(self.url)
        super().save(*args, **kwargs)


class ProjectRole(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        MAINTAINER = "maintainer", "Maintainer"
        BACKUP = "backup", "Backup"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="roles")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="project_roles")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.OWNER)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["project", "order", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "person"], name="project_role_one_per_person"
            )
        ]

    def __str__(self) -> str:
        return f"{self.person} — {self.get_role_display()} of {self.project}"


class ITSystem(models.Model):
    class Kind(models.TextChoices):
        DATABASE = "database", "Database"
        SSO = "sso", "Single sign-on"
        DIRECTORY = "directory", "Directory"
        MAIL = "mail", "Mail"
        NETWORK = "network", "Network"
        DATACENTER = "datacenter", "Datacenter"
        SERVER = "server", "Server / platform"
        STORAGE = "storage", "Storage"
        OTHER = "other", "Other"

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.OTHER)
    description = models.TextField(blank=True, validators=[MaxLengthValidator(5000)])
    team = models.ForeignKey(
        Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="systems"
    )
    contacts = models.ManyToManyField(Person, related_name="it_systems", blank=True)
    integration_key = models.CharField(max_length=64, unique=True, default=new_integration_key)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "IT system"

    def __str__(self) -> str:
        return self.name


class Dependency(models.Model):
    """An edge: a project or an IT system depends on an IT system."""

    class Criticality(models.TextChoices):
        HARD = "hard", "Hard (down when it is down)"
        SOFT = "soft", "Soft (degraded when it is down)"

    source_project = models.ForeignKey(
        Project, on_delete=models.CASCADE, null=True, blank=True, related_name="dependencies"
    )
    source_system = models.ForeignKey(
        ITSystem, on_delete=models.CASCADE, null=True, blank=True, related_name="dependencies"
    )
    target_system = models.ForeignKey(ITSystem, on_delete=models.CASCADE, related_name="dependents")
    criticality = models.CharField(
        max_length=8, choices=Criticality.choices, default=Criticality.HARD
    )
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "dependencies"
        constraints = [
            models.CheckConstraint(
                condition=(Q(source_project__isnull=False) & Q(source_system__isnull=True))
                | (Q(source_project__isnull=True) & Q(source_system__isnull=False)),
                name="dependency_exactly_one_source",
            ),
            models.CheckConstraint(
                condition=~Q(source_system=models.F("target_system")),
                name="dependency_no_self_loop",
            ),
            models.UniqueConstraint(
                fields=["source_project", "target_system"], name="dependency_unique_project_edge"
            ),
            models.UniqueConstraint(
                fields=["source_system", "target_system"], name="dependency_unique_system_edge"
            ),
        ]
        indexes = [
            models.Index(fields=["target_system", "source_system"], name="dependency_target_idx")
        ]

    def __str__(self) -> str:
        return f"{self.source} → {self.target_system} ({self.criticality})"

    @property
    def source(self) -> "Project | ITSystem":
        return self.source_project or self.source_system


class AuditEntry(models.Model):
    """Who changed which registry object, when, and each field's value before and after."""

    class Action(models.TextChoices):
        CREATE = "create", "Created"
        UPDATE = "update", "Updated"
        DELETE = "delete", "Deleted"

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    action = models.CharField(max_length=8, choices=Action.choices)
    object_type = models.CharField(max_length=50)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=300)
    changes = models.JSONField(default=dict, help_text="{field: [before, after]}")
    recorded_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-recorded_at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(
                fields=["object_type", "object_id", "-recorded_at"], name="audit_object_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.object_type} {self.object_repr}"


# --- on-call ------------------------------------------------------------------------------------


class Rotation(models.Model):
    """Who is on call for a project or a team, as layers of rules (never stored shift by shift).

    The first layer with someone on call at a moment wins; lower layers are backups. Overrides
    beat every layer.
    """

    name = models.CharField(max_length=200)
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, null=True, blank=True, related_name="rotations"
    )
    team = models.ForeignKey(
        Team, on_delete=models.CASCADE, null=True, blank=True, related_name="rotations"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(project__isnull=False) & Q(team__isnull=True))
                | (Q(project__isnull=True) & Q(team__isnull=False)),
                name="rotation_exactly_one_owner",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class RotationLayer(models.Model):
    """Members take turns, handing off at a local time in `time_zone`, one shift per length.

    Daily, weekly and N-day shifts count in local calendar days (so a shift over a daylight-saving
    change is 23 or 25 hours long, and the handoff stays at the same wall time); N-hour shifts are
    elapsed hours from the first handoff. An optional restriction keeps the layer to a window of
    the day (it may wrap past midnight) and/or to some weekdays, in the same zone.
    """

    class Length(models.TextChoices):
        DAILY = "daily", "Daily"
        WEEKLY = "weekly", "Weekly"
        HOURS = "hours", "Every N hours"
        DAYS = "days", "Every N days"

    rotation = models.ForeignKey(Rotation, on_delete=models.CASCADE, related_name="layers")
    order = models.PositiveSmallIntegerField(default=0)
    name = models.CharField(max_length=200, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    start_date = models.DateField(help_text="Local date of the first handoff.")
    handoff_time = models.TimeField(help_text="Local time of each handoff.")
    length = models.CharField(max_length=8, choices=Length.choices, default=Length.WEEKLY)
    length_count = models.PositiveSmallIntegerField(
        default=1, help_text="N for every N hours or days (and N weeks for weekly)."
    )
    restrict_start = models.TimeField(null=True, blank=True)
    restrict_end = models.TimeField(null=True, blank=True)
    restrict_days = models.JSONField(
        default=list, blank=True, help_text='Weekdays such as ["mon", "tue"]; empty: every day.'
    )
    members = models.ManyToManyField(Person, through="RotationMember", related_name="+")

    class Meta:
        ordering = ["rotation", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["rotation", "order"], name="rotation_layer_order"),
            models.CheckConstraint(
                condition=Q(length_count__gte=1), name="rotation_layer_length_positive"
            ),
            models.CheckConstraint(
                condition=(Q(restrict_start__isnull=True) & Q(restrict_end__isnull=True))
                | (
                    Q(restrict_start__isnull=False)
                    & Q(restrict_end__isnull=False)
                    & ~Q(restrict_start=models.F("restrict_end"))
                ),
                name="rotation_layer_window_not_empty",
            ),
        ]

    def __str__(self) -> str:
        return self.name or f"{self.rotation} layer {self.order + 1}"


class RotationMember(models.Model):
    layer = models.ForeignKey(RotationLayer, on_delete=models.CASCADE, related_name="memberships")
    person = models.ForeignKey(
        Person, on_delete=models.CASCADE, related_name="rotation_memberships"
    )
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["layer", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["layer", "order"], name="rotation_member_order"),
        ]

    def __str__(self) -> str:
        return f"{self.person} in {self.layer}"


class Override(models.Model):
    """Someone covers a rotation from `start_at` to `end_at`: for one person (`covered`) or, when
    `covered` is empty, for whoever would be on call (including nobody)."""

    rotation = models.ForeignKey(Rotation, on_delete=models.CASCADE, related_name="overrides")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="overrides_taken")
    covered = models.ForeignKey(
        Person, on_delete=models.CASCADE, null=True, blank=True, related_name="overrides_given"
    )
    start_at = models.DateTimeField()
    end_at = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["rotation", "start_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_at__gt=models.F("start_at")), name="override_ends_after_start"
            ),
        ]
        indexes = [models.Index(fields=["rotation", "end_at"], name="override_rotation_end_idx")]

    def __str__(self) -> str:
        return f"{self.person} covers {self.covered or 'the rotation'}"


class EscalationPolicy(models.Model):
    """How a project's pages escalate: levels in order, then `repeat_count` more passes."""

    project = models.OneToOneField(
        Project, on_delete=models.CASCADE, related_name="escalation_policy"
    )
    repeat_count = models.PositiveSmallIntegerField(default=2)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "escalation policies"

    def __str__(self) -> str:
        return f"Escalation for {self.project}"


class EscalationLevel(models.Model):
    class Target(models.TextChoices):
        ROTATION = "rotation", "A rotation's on-call"
        PERSON = "person", "A person"
        TEAM = "team", "A team"
        IT_CONTACTS = "it_contacts", "The affected IT systems' contacts"
        OWNERS = "owners", "The project's owners and maintainers"
        BACKUPS = "backups", "The project's backups"

    policy = models.ForeignKey(EscalationPolicy, on_delete=models.CASCADE, related_name="levels")
    order = models.PositiveSmallIntegerField(default=0)
    target = models.CharField(max_length=16, choices=Target.choices)
    rotation = models.ForeignKey(
        Rotation, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    person = models.ForeignKey(
        Person, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    team = models.ForeignKey(
        Team, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    delay_minutes = models.PositiveIntegerField(
        default=10, help_text="Minutes before moving on to the next level."
    )

    class Meta:
        ordering = ["policy", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "order"], name="escalation_level_order"),
            models.CheckConstraint(
                condition=(Q(target="rotation") & Q(rotation__isnull=False))
                | (~Q(target="rotation") & Q(rotation__isnull=True)),
                name="escalation_level_rotation_target",
            ),
            models.CheckConstraint(
                condition=(Q(target="person") & Q(person__isnull=False))
                | (~Q(target="person") & Q(person__isnull=True)),
                name="escalation_level_person_target",
            ),
            models.CheckConstraint(
                condition=(Q(target="team") & Q(team__isnull=False))
                | (~Q(target="team") & Q(team__isnull=True)),
                name="escalation_level_team_target",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.policy} level {self.order + 1}: {self.get_target_display()}"


def new_feed_token() -> str:
    return secrets.token_urlsafe(32)


class CalendarFeed(models.Model):
    """A secret URL serving a person's or a rotation's shifts as iCalendar; revoked, it is gone."""

    token = models.CharField(max_length=64, unique=True, default=new_feed_token, editable=False)
    person = models.ForeignKey(
        Person, on_delete=models.CASCADE, null=True, blank=True, related_name="calendar_feeds"
    )
    rotation = models.ForeignKey(
        Rotation, on_delete=models.CASCADE, null=True, blank=True, related_name="calendar_feeds"
    )
    created_by = models.ForeignKey(
        Person, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(person__isnull=False) & Q(rotation__isnull=True))
                | (Q(person__isnull=True) & Q(rotation__isnull=False)),
                name="calendar_feed_person_or_rotation",
            ),
        ]

    def __str__(self) -> str:
        return f"Feed of {self.person or self.rotation}"
