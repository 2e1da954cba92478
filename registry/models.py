import secrets
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex, GistIndex, OpClass
from django.core.validators import MaxLengthValidator, URLValidator
from django.db import models
from django.db.models import F, Func, Q, Value
from django.db.models.functions import Upper
from django.db.models.lookups import Exact

from .names import NameField, SkeletonField
from .validators import validate_time_zone, validate_working_hours


def default_working_hours() -> dict:
    return {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def url_host(url: str) -> str:
    """The lower-cased host of a URL, without port or credentials ('' when there is none)."""
    candidate = url.strip() if "://" in url else f"//{url.strip()}"
    return (urlsplit(candidate).hostname or "").lower()


def _upper(column: str) -> models.GeneratedField:
    """`column` upper-cased by PostgreSQL, stored with the row: what the directory search
    compares and indexes (Django's `icontains` upper-cases both sides per row)."""
    return models.GeneratedField(
        expression=Upper(column), output_field=models.TextField(), db_persist=True
    )


def _trigram_index(column: str, name: str) -> GinIndex:
    return _trigram(F(column), name)


def _trigram(expression, name: str) -> GinIndex:
    """A trigram index the search reads. `fastupdate` off: a write goes into the index itself,
    not into GIN's list of pending entries, which every search would scan whole until a vacuum
    merged it (after a bulk import PostgreSQL chose to read the whole table instead)."""
    return GinIndex(OpClass(expression, name="gin_trgm_ops"), name=name, fastupdate=False)


def _nearest_index(column: str, name: str) -> GistIndex:
    """A trigram index that hands out rows nearest first (pg_trgm's GiST distance operators):
    the search's most alike without computing every row's likeness, in a registry where every
    name is alike to the query ("Project 01234" among 10,000 "Project NNNNN").

    Its inner pages summarise the trigrams below them in a signature of 256 bytes, not the
    default 12: with 96 bits nearly every bit is set once a page covers a few hundred names, so
    no page could be passed over and the nearest 60 of 100,000 names took 23-44 ms; with 256
    bytes, 6-8 ms (0.1-0.7 ms for a query like none of them), the index no larger (its leaves,
    short names, keep their trigrams whole)."""
    return GistIndex(OpClass(F(column), name="gist_trgm_ops(siglen=256)"), name=name)


def new_integration_key() -> str:
    return secrets.token_hex(16)


class Person(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="person"
    )
    display_name = NameField(max_length=200)
    email = models.EmailField(blank=True)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    working_hours = models.JSONField(
        default=default_working_hours, validators=[validate_working_hours]
    )
    # When they left (directory.services.person_deactivate): their account is inactive and
    # rotations skip them from this moment; their roles stay, as the record of who they were.
    deactivated_at = models.DateTimeField(null=True, blank=True, editable=False)
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
        SLACK_USER = "slack_user", "Slack direct message"
        TEAMS = "teams", "Microsoft Teams incoming webhook"
        APPRISE = "apprise", "Apprise URL (ntfy, Gotify, Pushover, Telegram, Matrix …)"

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

    @property
    def undeliverable_reason(self) -> str | None:
        """Why nothing sent to this method can arrive (its provider is not configured), or None."""
        from .deliverability import contact_kind_refusal

        return contact_kind_refusal(self.kind)


class Team(models.Model):
    name = NameField(max_length=200, unique=True)
    # Equal for look-alike names (registry/names.py): a new name like another's is flagged.
    name_skeleton = SkeletonField(of="name")
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True, validators=[MaxLengthValidator(5000)])
    is_it = models.BooleanField(default=False, help_text="An IT team, which can own IT systems.")
    members = models.ManyToManyField(Person, related_name="teams", blank=True)
    # Who leads the team: they see its members' on-call load (notifications/load.py).
    leads = models.ManyToManyField(Person, related_name="led_teams", blank=True)

    class Meta:
        ordering = ["name"]
        indexes = [_trigram(Upper("name"), "team_name_trgm")]

    def __str__(self) -> str:
        return self.name


class Project(models.Model):
    class Tier(models.TextChoices):
        IT_SUPPORTED = "it_supported", "IT supported"
        SIDE_PROJECT = "side_project", "Side project"
        EXPERIMENTAL = "experimental", "Experimental"
        RETIRED = "retired", "Retired"

    name = NameField(max_length=200, unique=True)
    name_skeleton = SkeletonField(of="name")
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
    # When its users lean on it most (same shape as a person's working hours, in `time_zone`):
    # the slot search keeps IT changes out of these hours. Empty: none declared.
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_time_zone],
        help_text="The zone its busy hours are in (IANA, e.g. Europe/Berlin).",
    )
    busy_hours = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_working_hours],
        help_text='Hours its users need it most, per weekday, e.g. {"mon": [["09:00", "12:00"]]}.',
    )
    # The routing key its CI sends PagerDuty change events with, like an IT system's for alerts.
    integration_key = models.CharField(max_length=64, unique=True, default=new_integration_key)
    # Since when no owner is active (its last active owner left): set and cleared by the
    # services that deactivate people and adopt projects, in their transaction.
    orphaned_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # What the directory search compares (registry.selectors.ranked_sql): the text upper-cased
    # once, when written, by PostgreSQL whatever path writes it, rather than by every search for
    # every row it scans. Never audited (`audit_snapshot` skips generated fields).
    upper_name = _upper("name")
    upper_slug = _upper("slug")
    upper_description = _upper("description")

    class Meta:
        ordering = ["name"]
        # The directory search: its containment and likeness lookups are on the upper-cased
        # columns, and so are the trigram indexes (trigrams ignore case anyway).
        indexes = [
            _trigram_index("upper_name", "project_name_trgm"),
            _trigram_index("upper_slug", "project_slug_trgm"),
            _trigram_index("upper_description", "project_description_trgm"),
            _nearest_index("upper_name", "project_name_nearest"),
            _nearest_index("upper_slug", "project_slug_nearest"),
        ]
        constraints = [
            # Empty is a choice (none declared), so the field is "blank" to validation, which
            # then skips the validator: the database keeps an empty string or a list out.
            models.CheckConstraint(
                condition=Exact(
                    Func(F("busy_hours"), function="jsonb_typeof", output_field=models.CharField()),
                    Value("object"),
                ),
                name="project_busy_hours_is_a_map",
            )
        ]

    def __str__(self) -> str:
        return self.name


class ProjectAlias(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="aliases")
    alias = NameField(max_length=200)
    upper_alias = _upper("alias")  # searched, like Project.upper_name

    class Meta:
        ordering = ["alias"]
        verbose_name_plural = "project aliases"
        constraints = [
            models.UniqueConstraint(fields=["project", "alias"], name="project_alias_unique")
        ]
        indexes = [
            _trigram_index("upper_alias", "project_alias_trgm"),
            _nearest_index("upper_alias", "project_alias_nearest"),
        ]

    def __str__(self) -> str:
        return self.alias


class ProjectURL(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="urls")
    url = models.CharField(max_length=500, validators=[URLValidator(schemes=["http", "https"])])
    # The lower-cased host of `url`, kept beside it so that a pasted URL finds its project by index.
    host = models.CharField(max_length=255, db_index=True, editable=False)
    upper_url = _upper("url")  # searched, like Project.upper_name

    class Meta:
        ordering = ["url"]
        verbose_name = "project URL"
        constraints = [
            models.UniqueConstraint(fields=["project", "url"], name="project_url_unique")
        ]
        indexes = [_trigram_index("upper_url", "project_url_trgm")]

    def __str__(self) -> str:
        return self.url

    def save(self, *args, **kwargs) -> None:
        self.host = url_host(self.url)
        super().save(*args, **kwargs)


class ProjectRoleQuerySet(models.QuerySet):
    def of_people_here(self) -> "ProjectRoleQuerySet":
        """Roles held by people who have not left: whom to list as support and to page. A
        leaver keeps their role, for the record, until someone removes it."""
        return self.filter(person__deactivated_at__isnull=True)


class ProjectRole(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        MAINTAINER = "maintainer", "Maintainer"
        BACKUP = "backup", "Backup"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="roles")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="project_roles")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.OWNER)
    order = models.PositiveSmallIntegerField(default=0)

    objects = ProjectRoleQuerySet.as_manager()

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

    name = NameField(max_length=200, unique=True)
    name_skeleton = SkeletonField(of="name")
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


class SystemReach(models.Model):
    """`dependent` depends on `system` through other systems: the transitive closure of the
    system-to-system edges, kept by `registry.reach` in the transaction of every edge write.

    `depth` counts the edges of the shortest way from `dependent` down to `system`; `all_hard`
    says whether one of the shortest ways is hard all the way; `via` is the system `dependent`
    depends on directly on the way that impact shows (ties: the hard one, then the lowest id),
    so a path is read by following `via` from row to row. No row for a system and itself.
    """

    # The unique constraint's index serves lookups by system; the FK's own index is not needed.
    system = models.ForeignKey(ITSystem, on_delete=models.CASCADE, related_name="+", db_index=False)
    dependent = models.ForeignKey(ITSystem, on_delete=models.CASCADE, related_name="+")
    depth = models.PositiveIntegerField()
    all_hard = models.BooleanField()
    via = models.ForeignKey(ITSystem, on_delete=models.CASCADE, related_name="+", db_index=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["system", "dependent"],
                name="system_reach_one_per_pair",
                include=["depth", "all_hard", "via"],
            ),
            models.CheckConstraint(condition=Q(depth__gte=1), name="system_reach_depth_positive"),
            models.CheckConstraint(
                condition=~Q(system=models.F("dependent")), name="system_reach_not_itself"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dependent_id} → … → {self.system_id} ({self.depth})"


class ProjectReach(models.Model):
    """`project` goes down when `system` does: impact of one system, precomputed, so the impact
    of a root system is one index range instead of a walk over tens of thousands of edges.

    The row is the project's way in as impact shows it: `entry` is the system the project
    depends on directly (`system` itself when direct), `depth` the edges from `entry` down to
    `system` (0 when direct), `all_hard` whether that way, the project's own edge included, is
    hard all the way. Of a project's ways in, the shortest, then the hard one, then the lowest
    entry id. Kept by `registry.reach` with `SystemReach`.
    """

    system = models.ForeignKey(ITSystem, on_delete=models.CASCADE, related_name="+", db_index=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    depth = models.PositiveIntegerField()
    all_hard = models.BooleanField()
    entry = models.ForeignKey(ITSystem, on_delete=models.CASCADE, related_name="+", db_index=False)
    # The project's name and slug, as impact shows them: a root system's impact reads ten
    # thousand rows, and joining them to the projects for their names was half of its query.
    # Written with the row (`registry.reach`) and kept by a trigger on the project's table
    # (registry migration 0014), whatever renames it.
    project_name = models.CharField(max_length=200)
    project_slug = models.CharField(max_length=100)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["system", "project"],
                name="project_reach_one_per_pair",
                include=["depth", "all_hard", "entry"],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project_id} → … → {self.system_id} ({self.depth})"


class AuditEntry(models.Model):
    """Who changed which registry object, when, and each field's value before and after."""

    class Action(models.TextChoices):
        CREATE = "create", "Created"
        UPDATE = "update", "Updated"
        DELETE = "delete", "Deleted"
        # Saved, but IT should look: a new name that looks like another's (registry/names.py).
        WARNING = "warning", "Warning"

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


def new_feed_token() -> str:
    """Kept for migration 0002, which created the calendar feeds here; the model and its default
    now live in `oncall.models`."""
    return secrets.token_urlsafe(32)
