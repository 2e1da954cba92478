"""Demo on-call: SSO's own follow-the-sun rotation for IT (Singapore, Dublin, New York, each
covering eight hours of their working day, with a week-by-week backup layer under them for the
hours daylight saving leaves between them) and its escalation policy; and OraTweet's, the app that
was once down for twelve hours while its owners slept (Singapore's working day, then California's
owners week by week, with a backup layer of all three under them). Idempotent: running it again
finds what it made (by owner and name) and adds nothing. Called from the `load_demo` command after
`registry.demo.load_demo()`, which creates the people.
"""

from __future__ import annotations

from datetime import date, time

from django.db import transaction

from registry.models import ITSystem, Person, Project, Team

from . import services
from .models import EscalationPolicy, Rotation

ROTATION_NAME = "SSO follow-the-sun"
# username, zone, local window: UTC 00–08, 08–16 and 16–24 in (northern) winter.
FOLLOW_THE_SUN = [
    ("mei", "Asia/Singapore", time(8), time(16)),
    ("it", "Europe/Dublin", time(8), time(16)),
    ("marcus", "America/New_York", time(11), time(19)),
]
FIRST_DAY = date(2025, 1, 6)

APP_ROTATION_NAME = "OraTweet around the clock"
APP_SLUG = "oratweet"
# username(s), zone, local window (None: no window), length, layer name.
APP_LAYERS = [
    (["wei"], "Asia/Singapore", (time(9), time(17)), "daily", "Singapore hours"),
    (["noel", "jake"], "America/Los_Angeles", (time(8), time(16)), "weekly", "California hours"),
    (["noel", "jake", "wei"], "UTC", None, "weekly", "Backup, week by week"),
]


def _rotation(system: ITSystem, people: dict[str, Person]) -> Rotation:
    rotation = services.rotation_create(actor=None, name=ROTATION_NAME, system=system)
    for order, (username, zone, start, end) in enumerate(FOLLOW_THE_SUN):
        services.layer_create(
            actor=None,
            rotation=rotation,
            members=[people[username]],
            order=order,
            name=f"{zone.split('/')[-1].replace('_', ' ')} hours",
            time_zone=zone,
            start_date=FIRST_DAY,
            handoff_time=start,
            length="daily",
            restrict_start=start,
            restrict_end=end,
        )
    services.layer_create(
        actor=None,
        rotation=rotation,
        members=[people[username] for username, *_ in FOLLOW_THE_SUN],
        order=len(FOLLOW_THE_SUN),
        name="Backup, week by week",
        time_zone="UTC",
        start_date=FIRST_DAY,
        handoff_time=time(9),
        length="weekly",
    )
    return rotation


def _app_rotation() -> Rotation | None:
    """OraTweet's rotation (made once), or None without the app or its people."""
    project = Project.objects.filter(slug=APP_SLUG).first()
    usernames = {username for names, *_ in APP_LAYERS for username in names}
    people = {
        p.user.username: p
        for p in Person.objects.filter(user__username__in=usernames).select_related("user")
    }
    if project is None or len(people) < len(usernames):
        return None
    existing = Rotation.objects.filter(project=project, name=APP_ROTATION_NAME).first()
    if existing is not None:
        return existing
    rotation = services.rotation_create(actor=None, name=APP_ROTATION_NAME, project=project)
    for order, (names, zone, window, length, name) in enumerate(APP_LAYERS):
        start, end = window or (None, None)
        services.layer_create(
            actor=None,
            rotation=rotation,
            members=[people[username] for username in names],
            order=order,
            name=name,
            time_zone=zone,
            start_date=FIRST_DAY,
            handoff_time=start or time(9),
            length=length,
            restrict_start=start,
            restrict_end=end,
        )
    return rotation


@transaction.atomic
def load_oncall_demo() -> dict[str, int]:
    """Returns the ids of SSO's demo rotation and policy and of OraTweet's rotation; {} when there
    is no SSO (or its people)."""
    system = ITSystem.objects.filter(slug="sso").select_related("team").first()
    people = {
        p.user.username: p
        for p in Person.objects.filter(
            user__username__in=[username for username, *_ in FOLLOW_THE_SUN]
        ).select_related("user")
    }
    if system is None or len(people) < len(FOLLOW_THE_SUN):
        return {}
    rotation = Rotation.objects.filter(system=system, name=ROTATION_NAME).first() or _rotation(
        system, people
    )
    policy = EscalationPolicy.objects.filter(system=system).first()
    if policy is None:
        levels = [
            {"target": "rotation", "rotation": rotation, "delay_minutes": 5},
            {"target": "it_contacts", "delay_minutes": 10},
        ]
        team = system.team or Team.objects.filter(slug="identity").first()
        if team is not None:
            levels.append({"target": "team", "team": team, "delay_minutes": 15})
        policy = services.escalation_policy_create(
            actor=None, system=system, repeat_count=1, levels=levels
        )
    app = _app_rotation()
    return {
        "rotation": rotation.pk,
        "policy": policy.pk,
        **({"app_rotation": app.pk} if app is not None else {}),
    }
