"""What the notifications contract was asked to send, read back from its rows for assertions."""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType

from notifications.models import Notification, Page


def notification_count() -> int:
    return Notification.objects.count()


def notice_recipients(event, topic: str, *, with_subject: bool = False) -> set:
    """Person ids that got a notice of this event and topic (with the subject, if asked)."""
    ct = ContentType.objects.get_for_model(event).pk
    rows = Notification.objects.filter(event_type_id=ct, event_id=event.pk, topic=topic)
    if with_subject:
        return set(rows.values_list("recipient_id", "subject"))
    return set(rows.values_list("recipient_id", flat=True))


def paged_projects(event) -> set[int]:
    ct = ContentType.objects.get_for_model(event).pk
    return set(
        Page.objects.filter(event_type_id=ct, event_id=event.pk).values_list(
            "project_id", flat=True
        )
    )
