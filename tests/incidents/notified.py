"""What the notifications contract was asked to send, read back for assertions.

Reads the rows of `notifications.models` once that app provides the contract; until then a
recorder stands in for it (see `conftest.delivery`), so the rest of incidents can be tested.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.contenttypes.models import ContentType


def contract_landed() -> bool:
    try:
        from notifications import services
    except ImportError:
        return False
    return all(hasattr(services, name) for name in ("notices_send", "pages_open", "pages_stop"))


@dataclass
class Recorder:
    notices: dict = field(default_factory=dict)  # (ct, id, topic, person) -> (subject, project)
    pages: dict = field(default_factory=dict)  # (ct, id, project) -> stopped
    stops: list = field(default_factory=list)

    def notices_send(
        self, *, event, topic, recipients, subject, body, link="", project=None, now=None
    ):
        key = (ContentType.objects.get_for_model(event).pk, event.pk, topic)
        written = []
        for person in recipients:
            if (*key, person.pk) not in self.notices:
                self.notices[(*key, person.pk)] = (subject, project.pk if project else None)
                written.append(person)
        return written

    def pages_open(self, *, event, project, subject, body, link="", now=None):
        self.pages.setdefault(
            (ContentType.objects.get_for_model(event).pk, event.pk, project.pk), False
        )

    def pages_stop(self, *, event, reason="resolved", now=None):
        ct = ContentType.objects.get_for_model(event).pk
        stopped = 0
        for key, done in self.pages.items():
            if key[:2] == (ct, event.pk) and not done:
                self.pages[key] = True
                stopped += 1
        return stopped


RECORDER: Recorder | None = None


def notification_count() -> int:
    if RECORDER is not None:
        return len(RECORDER.notices) + len(RECORDER.pages)
    from notifications.models import Notification

    return Notification.objects.count()


def notice_recipients(event, topic: str, *, with_subject: bool = False) -> set:
    """Person ids that got a notice of this event and topic (with the subject, if asked)."""
    ct = ContentType.objects.get_for_model(event).pk
    if RECORDER is not None:
        return {
            (key[3], subject) if with_subject else key[3]
            for key, (subject, _project) in RECORDER.notices.items()
            if key[:3] == (ct, event.pk, topic)
        }
    from notifications.models import Notification

    rows = Notification.objects.filter(event_type_id=ct, event_id=event.pk, topic=topic)
    if with_subject:
        return set(rows.values_list("recipient_id", "subject"))
    return set(rows.values_list("recipient_id", flat=True))


def paged_projects(event) -> set[int]:
    ct = ContentType.objects.get_for_model(event).pk
    if RECORDER is not None:
        return {key[2] for key in RECORDER.pages if key[:2] == (ct, event.pk)}
    from notifications.models import Page

    return set(
        Page.objects.filter(event_type_id=ct, event_id=event.pk).values_list(
            "project_id", flat=True
        )
    )
