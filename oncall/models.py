"""On call: rotations of layers, overrides, escalation policies and calendar feeds.

The tables kept the names they had when these models lived in `registry` (`registry_*`).
"""

import secrets

from django.db import models
from django.db.models import Q

from registry.models import ITSystem, Person, Project, Team
from registry.names import NameField
from registry.validators import validate_time_zone


class Rotation(models.Model):
    """Who is on call for a project, a team or an IT system, as layers of rules (never stored
    shift by shift).

    The first layer with someone on call at a moment wins; lower layers are backups. Overrides
    beat every layer.
    """

    name = NameField(max_length=200)
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, null=True, blank=True, related_name="rotations"
    )
    team = models.ForeignKey(
        Team, on_delete=models.CASCADE, null=True, blank=True, related_name="rotations"
    )
    # IT's own on-call for one of its systems, written by IT staff.
    system = models.ForeignKey(
        ITSystem, on_delete=models.CASCADE, null=True, blank=True, related_name="rotations"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "registry_rotation"
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(project__isnull=False) & Q(team__isnull=True) & Q(system__isnull=True))
                | (Q(project__isnull=True) & Q(team__isnull=False) & Q(system__isnull=True))
                | (Q(project__isnull=True) & Q(team__isnull=True) & Q(system__isnull=False)),
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
    name = NameField(max_length=200, blank=True)
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
        db_table = "registry_rotationlayer"
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
        db_table = "registry_rotationmember"
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
        db_table = "registry_override"
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
    """How the pages of a project, or of an IT system, escalate: levels in order, then
    `repeat_count` more passes."""

    project = models.OneToOneField(
        Project, on_delete=models.CASCADE, null=True, blank=True, related_name="escalation_policy"
    )
    system = models.OneToOneField(
        ITSystem,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="escalation_policy",
    )
    repeat_count = models.PositiveSmallIntegerField(default=2)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "registry_escalationpolicy"
        verbose_name_plural = "escalation policies"
        constraints = [
            models.CheckConstraint(
                condition=(Q(project__isnull=False) & Q(system__isnull=True))
                | (Q(project__isnull=True) & Q(system__isnull=False)),
                name="escalation_policy_project_or_system",
            ),
        ]

    def __str__(self) -> str:
        return f"Escalation for {self.owner}"

    @property
    def owner(self) -> Project | ITSystem:
        return self.project or self.system


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
        db_table = "registry_escalationlevel"
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
        db_table = "registry_calendarfeed"
        constraints = [
            models.CheckConstraint(
                condition=(Q(person__isnull=False) & Q(rotation__isnull=True))
                | (Q(person__isnull=True) & Q(rotation__isnull=False)),
                name="calendar_feed_person_or_rotation",
            ),
        ]

    def __str__(self) -> str:
        return f"Feed of {self.person or self.rotation}"


class ShiftSwap(models.Model):
    """A member asks another to take their shift, or part of it, on a rotation. Accepted, it
    becomes an `Override` (the recipient covers the requester); the request stays as the record of
    who asked whom."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for an answer"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        CANCELLED = "cancelled", "Cancelled"

    rotation = models.ForeignKey(Rotation, on_delete=models.CASCADE, related_name="swaps")
    requester = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="swaps_asked")
    recipient = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="swaps_received")
    start_at = models.DateTimeField()
    end_at = models.DateTimeField()
    note = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    override = models.ForeignKey(
        Override, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_at__gt=models.F("start_at")), name="shift_swap_ends_after_start"
            ),
            models.CheckConstraint(
                condition=~Q(requester=models.F("recipient")), name="shift_swap_two_people"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.requester} asks {self.recipient} to take a shift"


class TimeOff(models.Model):
    """A person is away from `start_at` to `end_at`. Their layers skip them for that time: the
    next member in turn who is not away covers (computed in `oncall.schedule`, never stored)."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="time_off")
    start_at = models.DateTimeField()
    end_at = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["person", "start_at", "id"]
        verbose_name_plural = "time off"
        constraints = [
            models.CheckConstraint(
                condition=Q(end_at__gt=models.F("start_at")), name="time_off_ends_after_start"
            ),
        ]
        indexes = [models.Index(fields=["person", "end_at"], name="time_off_person_end_idx")]

    def __str__(self) -> str:
        return f"{self.person} away"


class CurrentOnCall(models.Model):
    """Who is on call on a rotation, as last worked out, and the stretch of time that answer holds
    for: kept so that asking "who is on call now" for every project reads one row a rotation
    instead of working out every rotation's rules (see `oncall.current`).

    A row is a cache of `schedule.oncall_at`, never a rule: PostgreSQL triggers (migration 0005)
    add one to `version` whenever something the answer depends on is written, by whatever path
    (services, the admin, imports, SQL): the rotation's layers, their members, its overrides, and
    the time off or leaving of anyone on it. The answer is good while `computed_version` still
    equals `version` and the moment asked falls in [`valid_from`, `valid_until`).
    """

    rotation = models.OneToOneField(
        Rotation, on_delete=models.CASCADE, primary_key=True, related_name="current"
    )
    version = models.BigIntegerField(default=0)
    computed_version = models.BigIntegerField(null=True)
    # Plain ids, not keys: once any of them goes, a trigger has already made the row stale.
    person_id = models.IntegerField(null=True)
    layer_id = models.IntegerField(null=True)
    override_id = models.IntegerField(null=True)
    valid_from = models.DateTimeField(null=True)
    valid_until = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"on call now on rotation {self.rotation_id}"
