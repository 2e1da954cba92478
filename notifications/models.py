"""The delivery pipeline's rows. PostgreSQL owns delivery: a notification is a row written in the
transaction of the event that causes it, and every state change is a conditional UPDATE on it.
Celery only carries ids; losing a Celery message never loses a notification (the sweeper
re-enqueues), and two workers never send one row (the claim is one conditional UPDATE).
"""

from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Q

from registry.models import ContactMethod, Person, Project


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    WEBHOOK = "webhook", "Webhook (JSON)"
    SLACK = "slack", "Slack"
    SLACK_DM = "slack_dm", "Slack direct message"
    TEAMS = "teams", "Microsoft Teams"
    SMS = "sms", "SMS"
    VOICE = "voice", "Phone call"
    APPRISE = "apprise", "Apprise"


class Page(models.Model):
    """An urgent alert for one project about one event, and its escalation timer.

    `levels` is a snapshot (a list of lists of person ids) taken when the page opens, so editing
    the project's people or rules does not change a page under way. `next_escalation_at` is the
    timer: the sweeper moves an open page to its next level when it is due (never a Celery ETA).
    """

    class State(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        STOPPED = "stopped", "Stopped"

    event_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    event_id = models.PositiveBigIntegerField()
    event = GenericForeignKey("event_type", "event_id")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="pages")
    subject = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    link = models.CharField(max_length=500, blank=True)
    headline = models.CharField(
        max_length=200,
        blank=True,
        help_text="The event, in a message that lists several projects (else the subject).",
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    levels = models.JSONField(default=list, help_text="Person ids per escalation level.")
    delays = models.JSONField(
        default=list, help_text="Seconds to wait after paging each level before the next."
    )
    repeats = models.PositiveSmallIntegerField(
        default=0, help_text="Passes through the levels after the first."
    )
    level = models.PositiveSmallIntegerField(default=0, help_text="Current level, from 0.")
    round = models.PositiveSmallIntegerField(default=0, help_text="Passes through the levels.")
    step = models.PositiveIntegerField(default=0, help_text="Levels paged so far, minus one.")
    next_escalation_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        Person, on_delete=models.SET_NULL, null=True, blank=True, related_name="acknowledged_pages"
    )
    acknowledged_via = models.CharField(max_length=16, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(max_length=100, blank=True)
    project_acks = models.BooleanField(
        default=True,
        help_text="The project's people may acknowledge it: not when it pages someone else's "
        "responders about the project (an IT system's on-call, told by the project's owner).",
    )

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["event_type", "event_id", "project"], name="page_one_per_event_project"
            ),
            models.CheckConstraint(
                condition=~Q(state="acknowledged") | Q(acknowledged_at__isnull=False),
                name="page_acknowledged_has_time",
            ),
            models.CheckConstraint(
                condition=Q(state="open") | Q(next_escalation_at__isnull=True),
                name="page_timer_only_while_open",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_escalation_at"],
                condition=Q(state="open", next_escalation_at__isnull=False),
                name="page_due_timer_idx",
            ),
            models.Index(fields=["event_type", "event_id"], name="page_event_idx"),
        ]

    def __str__(self) -> str:
        return f"Page {self.pk}: {self.subject}"


class Notification(models.Model):
    """One message to one recipient over one contact channel.

    A page notification may cover several pages: one event that pages a person for several of
    their projects at the same moment sends them one message per channel listing the projects
    (`page_ids`, in the order listed), and acknowledging it acknowledges every page it lists.
    `page` is the first of them that is still open while the message is unsent (so a send that
    finds its `page` closed knows that every page it lists is closed).
    """

    class Kind(models.TextChoices):
        PAGE = "page", "Page"
        NOTICE = "notice", "Notice"
        DIGEST = "digest", "Digest"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        HELD = "held", "Held for working hours"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    Channel = Channel

    # A digest bundles notices of many events, so it has none of its own.
    event_type = models.ForeignKey(
        ContentType,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # notification_event_idx leads with it
    )
    event_id = models.PositiveBigIntegerField(null=True, blank=True)
    event = GenericForeignKey("event_type", "event_id")
    topic = models.CharField(max_length=100)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    # NULL for an address that is nobody's account: an anonymous subscriber's email, a
    # project's or IT system's outgoing webhook. Those have no contact methods to fall back on
    # and no working hours to hold for.
    recipient = models.ForeignKey(
        Person,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="notifications",
        db_index=False,  # notification_recipient_idx leads with it
    )
    project = models.ForeignKey(
        Project, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    contact_method = models.ForeignKey(
        ContactMethod, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    channel = models.CharField(max_length=8, choices=Channel.choices)
    address = models.CharField(max_length=500)
    subject = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    link = models.CharField(max_length=500, blank=True)
    round = models.PositiveIntegerField(default=0)
    # (event, topic, recipient, contact channel, round); also the webhook Idempotency-Key and the
    # seed of the email Message-ID, so receivers can drop what they have already seen.
    idempotency_key = models.CharField(max_length=255)  # unique: see Meta
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    deliver_after = models.DateTimeField()
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Last time a Celery message was published for this row; the sweeper re-enqueues a pending
    # row only when that is old, so the fast path and the safety net do not double the work.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # The attempt that went through is kept on the row: when it started (`sent_at`), how long it
    # took and what the receiver answered. Attempts that failed are DeliveryAttempt rows
    # (`attempt_log`); `attempts_made` lists both. A row of its own per message sent cost a
    # fan-out's page as much PostgreSQL time as the rest of its record.
    sent_at = models.DateTimeField(null=True, blank=True)
    sent_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    sent_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # A page's short code for replying by SMS (`ACK 4821`); set when the SMS or call goes out.
    ack_code = models.CharField(max_length=8, blank=True)
    page = models.ForeignKey(
        Page, on_delete=models.CASCADE, null=True, blank=True, related_name="notifications"
    )
    page_ids = ArrayField(
        models.BigIntegerField(),
        default=list,
        blank=True,
        help_text="Every page this message lists (a page's notification: at least `page`).",
    )
    digest = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="bundled",
        db_index=False,  # notification_digest_idx, partial
    )
    fallback_of = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="fallbacks",
        db_index=False,  # notification_fallback_idx, partial
    )
    # An outgoing webhook's delivery: signed with the endpoint's secret, its body the JSON sent.
    webhook_endpoint = models.ForeignKey(
        "webhooks.WebhookEndpoint",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="deliveries",
        db_index=False,  # notification_webhook_idx leads with it
    )
    redelivery_of = models.ForeignKey(
        "self",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="redeliveries",
        db_index=False,  # notification_redelivery_idx, partial
    )
    created_at = models.DateTimeField()
    # Whether the row is still on its way out (pending, held or sending), computed by PostgreSQL.
    # The queue is not an index of this table but a table of its own (`Due`), kept from this
    # column by triggers: no change of state (claimed, retried, sent, failed) then changes an
    # indexed value, and PostgreSQL updates the row in place on its page (a HOT update) without
    # a new entry in every index.
    active = models.GeneratedField(
        expression=Q(state__in=["pending", "held", "sending"]),
        output_field=models.BooleanField(),
        db_persist=True,
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="digest") | Q(event_type__isnull=False, event_id__isnull=False),
                name="notification_event_unless_digest",
            ),
            models.CheckConstraint(
                condition=~Q(kind="page") | Q(page__isnull=False),
                name="notification_page_has_page",
            ),
            models.CheckConstraint(
                condition=~Q(kind="page") | Q(page_ids__len__gt=0),
                name="notification_page_lists_pages",
            ),
            models.CheckConstraint(
                condition=~Q(state="sent") | Q(sent_at__isnull=False),
                name="notification_sent_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(state="sending") | Q(lease_expires_at__isnull=False),
                name="notification_sending_has_lease",
            ),
            # A constraint, not `unique=True`, which would add a second (LIKE) index.
            models.UniqueConstraint(
                fields=["idempotency_key"], name="notification_idempotency_key_unique"
            ),
        ]
        # Few indexes: a row is written once per fan-out message, and its indexes with it.
        # Foreign keys that another index leads with have none of their own; those set on few
        # rows are partial. No index holds a value a delivery changes (see `active`).
        indexes = [
            models.Index(fields=["event_type", "event_id"], name="notification_event_idx"),
            models.Index(fields=["recipient", "-created_at"], name="notification_recipient_idx"),
            # Which messages list a page: acknowledging, stopping, "my pages".
            GinIndex(
                fields=["page_ids"],
                condition=Q(kind="page"),
                name="notification_page_ids_idx",
            ),
            models.Index(
                fields=["ack_code"], condition=~Q(ack_code=""), name="notification_ack_code_idx"
            ),
            models.Index(
                fields=["webhook_endpoint", "-created_at"],
                condition=Q(webhook_endpoint__isnull=False),
                name="notification_webhook_idx",
            ),
            models.Index(
                fields=["digest"], condition=Q(digest__isnull=False), name="notification_digest_idx"
            ),
            models.Index(
                fields=["fallback_of"],
                condition=Q(fallback_of__isnull=False),
                name="notification_fallback_idx",
            ),
            models.Index(
                fields=["redelivery_of"],
                condition=Q(redelivery_of__isnull=False),
                name="notification_redelivery_idx",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.get_kind_display()} to {self.recipient_id or self.address} via {self.channel}: "
            f"{self.subject}"
        )

    @property
    def is_urgent(self) -> bool:
        return self.kind == self.Kind.PAGE

    @property
    def attempts_made(self) -> list["DeliveryAttempt"]:
        """Every attempt, in order: those that failed (`attempt_log`, prefetched where listed)
        and the one that went through, which is kept on the row (an unsaved DeliveryAttempt)."""
        made = list(self.attempt_log.all())
        if self.state == self.State.SENT and self.sent_latency_ms is not None:
            made.append(
                DeliveryAttempt(
                    notification=self,
                    number=self.attempts,
                    started_at=self.sent_at,
                    latency_ms=self.sent_latency_ms,
                    outcome=DeliveryAttempt.Outcome.SENT,
                    status_code=self.sent_status_code,
                )
            )
        return made


class Due(models.Model):
    """A notification still on its way out (pending, held or sending: `Notification.active`)
    and when it is due: the queue the sweeper, the digests and the metrics read. Written by
    PostgreSQL's triggers on the notification table (migration 0011), in the statement that
    changes a row's state, whatever wrote it: never by the application.

    A table of its own rather than a partial index of the notification table: leaving the
    queue then changes no indexed value of the notification, whose record as sent is an
    update in place (HOT) instead of a new entry in each of the table's indexes, per message
    of a fan-out."""

    notification = models.OneToOneField(
        Notification,
        primary_key=True,
        # Kept by the triggers, which also drop a deleted notification's row.
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="due",
    )
    deliver_after = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["deliver_after"], name="notification_due_at_idx")]

    def __str__(self) -> str:
        return f"Notification {self.notification_id} due {self.deliver_after:%Y-%m-%d %H:%M}"


class DeliveryAttempt(models.Model):
    class Outcome(models.TextChoices):
        SENT = "sent", "Sent"
        RETRY = "retry", "Failed, will retry"
        FAILED = "failed", "Failed"

    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="attempt_log"
    )
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    latency_ms = models.PositiveIntegerField()
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["notification", "started_at", "id"]

    def __str__(self) -> str:
        return f"Attempt {self.number} of {self.notification_id}: {self.outcome}"


class ProviderCallback(models.Model):
    """An inbound callback a provider signed and Steward acted on, by its provider's id (Twilio's
    CallSid / MessageSid, the hash of Slack's signature): the same callback sent again, whether
    by the provider's retry or by someone who captured it, is refused."""

    key = models.CharField(max_length=200, unique=True)
    received_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.key
