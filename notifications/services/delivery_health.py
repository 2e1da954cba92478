"""When a delivery channel keeps failing, IT hears of it over another channel: once per incident
(the channel's run of failures, counted in steward.health), never once a sweep."""

from __future__ import annotations

from datetime import UTC, datetime

import redis
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Q

from registry.models import Person
from steward.health import CHANNEL_PREFIX, degraded_channels, redis_connection

from ..models import Notification
from .enqueue import _enqueue_on_commit
from .outbox import _insert, _new_notification, targets_for

# While a channel stays degraded (or keeps flapping), IT hears of it again at most this often.
ALERT_EVERY_SECONDS = 3600


def it_staff() -> list[Person]:
    """The people of IT staff's accounts (the STEWARD_IT_GROUP group, and superusers)."""
    return list(
        Person.objects.filter(
            Q(user__groups__name=settings.STEWARD_IT_GROUP) | Q(user__is_superuser=True),
            user__is_active=True,
        )
        .distinct()
        .order_by("pk")
    )


def _other_targets(person: Person, channel: str):
    """The person's notice methods not on `channel`, else their page methods not on it."""
    for urgent in (False, True):
        targets = [t for t in targets_for(person, urgent=urgent) if t.channel != channel]
        if targets:
            return targets
    return []


def channel_alerts_send(*, now: datetime) -> list[Notification]:
    """A notice to IT staff about each channel that became degraded, over their other channels.
    The notice is about the latest row that failed on the channel (its event, for the pipeline);
    its topic names the incident, so a second sweep writes nothing. Returns the rows written."""
    written: list[Notification] = []
    for channel, info in degraded_channels().items():
        try:
            first = redis_connection().set(
                f"{CHANNEL_PREFIX}{channel}:alerted", "1", nx=True, ex=ALERT_EVERY_SECONDS
            )
        except (OSError, redis.RedisError):
            continue
        if not first:
            continue
        failing = (
            Notification.objects.filter(channel=channel)
            .exclude(last_error="")
            .only("pk")
            .order_by("-pk")
            .first()
        )
        if failing is None:
            continue
        since = datetime.fromtimestamp(info["failing_since"] or now.timestamp(), tz=UTC)
        subject = (
            f"Steward cannot deliver over {channel}: "
            f"{info['consecutive_failures']} failures in a row"
        )
        body = (
            f"Every {channel} delivery has failed since {since:%Y-%m-%d %H:%M} UTC. "
            f"Last error: {info['last_error'][:300]}\n"
            "Pages keep being retried and fall over to people's other contact methods."
        )
        rows = [
            _new_notification(
                event_type_id=ContentType.objects.get_for_model(Notification).pk,
                event_id=failing.pk,
                topic=f"delivery.degraded.{channel}.{int(since.timestamp())}",
                kind=Notification.Kind.NOTICE,
                person=person,
                target=target,
                subject=subject,
                body=body,
                link="",
                round=0,
                now=now,
            )
            for person in it_staff()
            for target in _other_targets(person, channel)
        ]
        with transaction.atomic():
            fresh = _insert(rows)
            _enqueue_on_commit(fresh)
        written.extend(fresh)
    return written
