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
BACKUP = "Backup, week by week"

# A rotation's layers, in order: username(s), zone, local window (None: no window), length, name.
SSO_LAYERS = [
    ([username], zone, (start, end), "daily", f"{zone.split('/')[-1].replace('_', ' ')} hours")
    for username, zone, start, end in FOLLOW_THE_SUN
] + [([username for username, *_ in FOLLOW_THE_SUN], "UTC", None, "weekly", BACKUP)]

APP_ROTATION_NAME = "OraTweet around the clock"
APP_SLUG = "oratweet"
APP_LAYERS = [
    (["wei"], "Asia/Singapore", (time(9), time(17)), "daily", "Singapore hours"),
    (["noel", "jake"], "America/Los_Angeles", (time(8), time(16)), "weekly", "California hours"),
    (["noel", "jake", "wei"], "UTC", None, "weekly", BACKUP),
]


def _people(layers: list[tuple]) -> dict[str, Person] | None:
    """username → person for everyone on the layers, or None when one of them is missing."""
    usernames = {username for names, *_ in layers for username in names}
    people = {
        p.user.username: p
        for p in Person.objects.filter(user__username__in=usernames).select_related("user")
    }
    return people if len(people) == len(usernames) else None


def _rotation(name: str, layers: list[tuple], people: dict[str, Person], **owner) -> Rotation:
    """The rotation of `owner` (project= or system=) called `name` (made once), with `layers`.
    A windowed layer hands off when its window opens; the others at 09:00."""
    existing = Rotation.objects.filter(name=name, **owner).first()
    if existing is not None:
        return existing
    rotation = services.rotation_create(actor=None, name=name, **owner)
    for order, (names, zone, window, length, layer_name) in enumerate(layers):
        start, end = window or (None, None)
        services.layer_create(
            actor=None,
            rotation=rotation,
            members=[people[username] for username in names],
            order=order,
            name=layer_name,
            time_zone=zone,
            start_date=FIRST_DAY,
            handoff_time=start or time(9),
            length=length,
            restrict_start=start,
            restrict_end=end,
        )
    return rotation


def _app_rotation() -> Rotation | None:
    """OraTweet's rotation (made once), or None without the app or its people."""
    project = Project.objects.filter(slug=APP_SLUG).first()
    people = _people(APP_LAYERS)
    if project is None or people is None:
        return None
    return _rotation(APP_ROTATION_NAME, APP_LAYERS, people, project=project)


@transaction.atomic
def load_oncall_demo() -> dict[str, int]:
    """Returns the ids of SSO's demo rotation and policy and of OraTweet's rotation; {} when there
    is no SSO (or its people)."""
    system = ITSystem.objects.filter(slug="sso").select_related("team").first()
    people = _people(SSO_LAYERS)
    if system is None or people is None:
        return {}
    rotation = _rotation(ROTATION_NAME, SSO_LAYERS, people, system=system)
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
