"""Writes of registry hygiene: asking a stale project's owners to confirm its entry, and the
signed "still accurate" link that does it in one click, without signing in."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from notifications.events import Event
from notifications.services import notices_send
from registry import permissions
from registry.models import Person, Project
from registry.selectors import person_local_time
from registry.services import project_mark_reviewed

from . import selectors
from .models import ReviewNudge

REVIEW_SALT = "steward.hygiene.project-reviewed"
NUDGE_TOPIC = "review-nudge"


class ReviewLinkError(Exception):
    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


# --- the signed link ----------------------------------------------------------------------------


def review_token(*, project: Project, person: Person) -> str:
    """A signed token that confirms one project's entry as one of its owners, and nothing else."""
    return signing.dumps({"project": project.pk, "person": person.pk}, salt=REVIEW_SALT)


def review_url(*, project: Project, person: Person) -> str:
    path = reverse("hygiene:review_link", args=[review_token(project=project, person=person)])
    return f"{settings.SITE_URL}{path}"


def review_link_resolve(token: str) -> tuple[Project, Person]:
    """The project and owner a token names; ReviewLinkError otherwise: 400 forged or altered,
    410 expired or its project gone, 403 when the person no longer edits the project (they
    left, or were removed from it since)."""
    try:
        data = signing.loads(
            token, salt=REVIEW_SALT, max_age=settings.STEWARD_REVIEW_LINK_MAX_AGE_SECONDS
        )
    except signing.SignatureExpired as exc:
        raise ReviewLinkError(
            "This link has expired. Sign in and confirm the entry from the project's page.",
            status=410,
        ) from exc
    except signing.BadSignature as exc:
        raise ReviewLinkError(
            "This link is not valid: it was altered or is not a review link.", status=400
        ) from exc
    if not (
        isinstance(data, dict)
        and isinstance(data.get("project"), int)
        and isinstance(data.get("person"), int)
    ):
        raise ReviewLinkError("This link is not valid.", status=400)
    project = Project.objects.filter(pk=data["project"]).first()
    if project is None:
        raise ReviewLinkError("The project this link confirms no longer exists.", status=410)
    person = Person.objects.select_related("user").filter(pk=data["person"]).first()
    if person is None or not person.user.is_active:
        raise ReviewLinkError("This link's owner no longer has an account here.", status=403)
    if not permissions.can_edit_project(person.user, project):
        raise ReviewLinkError(
            f"{person.display_name} no longer owns {project.name}: ask its owners.", status=403
        )
    return project, person


def review_link_use(*, token: str, now: dt.datetime | None = None) -> Project:
    """Confirm the entry as the link's owner, dated today where they are."""
    project, person = review_link_resolve(token)
    today = person_local_time(person, now or timezone.now()).date()
    return project_mark_reviewed(actor=person.user, project=project, on=today)


def project_confirm(
    *, actor: AbstractBaseUser, project: Project, now: dt.datetime | None = None
) -> Project:
    """The project page's "Still accurate" button: dated today in the actor's zone (UTC for an
    account without a person)."""
    if not permissions.can_edit_project(actor, project):
        raise PermissionDenied("Only the project's owners and maintainers can confirm its entry.")
    now = now or timezone.now()
    person = Person.objects.filter(user=actor).first()
    today = person_local_time(person, now).date() if person else now.astimezone(dt.UTC).date()
    return project_mark_reviewed(actor=actor, project=project, on=today)


# --- the nudges ---------------------------------------------------------------------------------


def _nudge_text(project: Project, *, reviewed_on: dt.date, never: bool) -> tuple[str, str]:
    subject = f"Is {project.name}'s entry still accurate?"
    since = (
        f"It was registered on {reviewed_on.isoformat()} and never reviewed"
        if never
        else f"It was last reviewed on {reviewed_on.isoformat()}"
    )
    page = f"{settings.SITE_URL}{reverse('registry:project_detail', args=[project.slug])}"
    body = (
        f"{since}. People and IT rely on it to find who supports {project.name}: its owners, "
        "on-call, help channel and runbook.\n"
        "If it is right, open the link below and press “Still accurate” (no sign-in needed).\n"
        f"If something changed, edit it first: {page}"
    )
    return subject, body


def review_nudges_send(*, now: dt.datetime | None = None) -> int:
    """Ask the active owners of every stale project to confirm its entry, once per review period
    (`ReviewNudge`, unique per project and period, written in the same transaction as the
    notices; the notices' own keys name the period too, so a second run writes nothing). Each
    notice is held to its owner's working hours by the pipeline (`notices_send`). Projects with
    no active owner are left to the orphaned list. Returns the number of projects nudged."""
    now = now or timezone.now()
    today = now.astimezone(dt.UTC).date()
    nudged = 0
    for project in selectors.stale_projects(today=today, contact_methods=True).iterator(
        chunk_size=500
    ):
        period_start = selectors.review_period_start(reviewed_on=project.reviewed_on, today=today)
        if project.last_nudged_at and project.last_nudged_at.date() >= period_start:
            continue
        owners = selectors.active_owners(project)
        if not owners:
            continue
        if _project_nudge(project, owners=owners, period_start=period_start, now=now):
            nudged += 1
    return nudged


def _project_nudge(
    project: Project, *, owners: list[Person], period_start: dt.date, now: dt.datetime
) -> bool:
    subject, body = _nudge_text(
        project, reviewed_on=project.reviewed_on, never=project.last_reviewed_on is None
    )
    with transaction.atomic():
        nudge, created = ReviewNudge.objects.get_or_create(
            project=project,
            period_start=period_start,
            defaults={"sent_at": now, "owners_asked": len(owners)},
        )
        if not created:
            return False
        for owner in owners:
            notices_send(
                event=Event(instance=project),
                topic=f"{NUDGE_TOPIC}:{period_start.isoformat()}",
                recipients=[owner],
                subject=subject,
                body=body,
                link=review_url(project=project, person=owner),
                project=project,
                now=now,
            )
    return True
