"""The demo registry: the story Steward grew from (Connect, OraTweet and the People app).

Idempotent: records are looked up by their natural keys and only created when missing, so loading
twice changes nothing.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from . import services
from .models import ContactMethod, Dependency, ITSystem, Person, Project, ProjectRole, Team

# username: (display name, time zone, working hours start-end, password env var)
DEMO_ACCOUNTS = {
    "admin": ("Ada Admin", "UTC", ("09:00", "17:00")),
    "it": ("Ines IT", "Europe/Dublin", ("08:00", "16:00")),
    "owner": ("Clayton Donley", "America/Los_Angeles", ("09:00", "17:30")),
    "reader": ("Riley Reader", "Asia/Singapore", ("09:00", "18:00")),
}
# More people who own and back up the apps, in US Pacific, Europe and APAC.
DEMO_PEOPLE = {
    "jake": ("Jake Kuramoto", "America/Los_Angeles", ("08:30", "17:00")),
    "noel": ("Noel Portugal", "America/Los_Angeles", ("10:00", "18:00")),
    "anja": ("Anja Weber", "Europe/Berlin", ("08:00", "16:30")),
    "priya": ("Priya Raman", "Asia/Kolkata", ("09:30", "18:00")),
    "wei": ("Wei Lim", "Asia/Singapore", ("09:00", "18:00")),
    "dcops": ("Dana Okafor", "America/Chicago", ("07:00", "15:00")),
    # With Ines in Dublin, SSO's follow-the-sun on-call (oncall/demo.py): Asia, Europe, America.
    "mei": ("Mei Tan", "Asia/Singapore", ("08:00", "16:00")),
    "marcus": ("Marcus Reed", "America/New_York", ("11:00", "19:00")),
}
# IT staff: they run the IT systems and their on-call.
IT_STAFF = ("it", "mei", "marcus")

SYSTEMS = [
    # slug, name, kind, team slug, contacts
    ("dc-austin", "Datacenter Austin", "datacenter", "dc-ops", ["dcops"]),
    ("network", "Corporate network", "network", "dc-ops", ["dcops"]),
    ("oracle-rac", "Oracle RAC cluster", "database", "dba", ["it"]),
    ("directory", "Directory (LDAP)", "directory", "identity", ["it"]),
    ("sso", "SSO", "sso", "identity", ["it"]),
    ("mail", "Mail relay", "mail", "messaging", ["it"]),
    ("app-farm", "App server farm", "server", "dc-ops", ["dcops"]),
]
SYSTEM_EDGES = [
    ("network", "dc-austin", "hard"),
    ("oracle-rac", "dc-austin", "hard"),
    ("oracle-rac", "network", "hard"),
    ("directory", "dc-austin", "hard"),
    ("sso", "directory", "hard"),
    ("sso", "network", "hard"),
    ("mail", "network", "hard"),
    ("app-farm", "dc-austin", "hard"),
    ("app-farm", "network", "hard"),
]


def _weekdays(*intervals: list[str]) -> dict:
    return {day: [list(i) for i in intervals] for day in ("mon", "tue", "wed", "thu", "fri")}


# Busy hours are in each project's zone: the quietest slot for a change on SSO, which all three
# depend on, is 12:00–13:00 in California on a weekday (tests/changes/test_slots.py).
PROJECTS = [
    {
        "slug": "connect",
        "name": "Connect",
        "description": "The internal social network: profiles, groups and status updates. "
        "Built on the side by the AppsLab team; now used company-wide.",
        "support_tier": "side_project",
        "help_channel": "#connect-help",
        "runbook_url": "https://wiki.example.com/connect/runbook",
        "aliases": ["AppsLab Connect", "connect2"],
        "urls": ["https://connect.example.com/"],
        "roles": [("jake", "owner"), ("noel", "owner"), ("anja", "backup")],
        # Used company-wide through the Californian working day, but for lunch.
        "time_zone": "America/Los_Angeles",
        "busy_hours": _weekdays(["09:00", "12:00"], ["13:00", "17:00"]),
        "edges": [("oracle-rac", "hard"), ("sso", "hard"), ("mail", "soft"), ("app-farm", "hard")],
    },
    {
        "slug": "oratweet",
        "name": "OraTweet",
        "description": "Microblogging for employees. Down for 12 hours once, while its owners "
        "slept and APAC could not reach anyone.",
        "support_tier": "side_project",
        "help_channel": "#oratweet",
        "runbook_url": "",
        "aliases": ["Ora Tweet", "tweets"],
        "urls": ["https://oratweet.example.com/"],
        "roles": [("noel", "owner"), ("jake", "maintainer"), ("wei", "backup")],
        "time_zone": "Asia/Singapore",
        "busy_hours": _weekdays(["09:00", "18:00"]),
        "edges": [("oracle-rac", "hard"), ("sso", "hard"), ("app-farm", "hard")],
    },
    {
        "slug": "people",
        "name": "People",
        "description": "The iOS People app: find a colleague, their manager and their desk. "
        "Clayton's side project; an SSO change once broke it and nobody told him.",
        "support_tier": "experimental",
        "help_channel": "https://people.example.com/help",
        "runbook_url": "",
        "aliases": ["People app", "iOS People"],
        "urls": ["https://people.example.com/"],
        "roles": [("owner", "owner"), ("priya", "backup")],
        # People look colleagues up first thing in the morning.
        "time_zone": "America/Los_Angeles",
        "busy_hours": _weekdays(["08:00", "10:00"]),
        "edges": [("sso", "hard"), ("directory", "hard"), ("mail", "soft")],
    },
]
TEAMS = [
    ("dc-ops", "Datacenter Operations", True, ["dcops"]),
    ("dba", "Database Administration", True, ["it"]),
    ("identity", "Identity and Access", True, ["it", "mei", "marcus"]),
    ("messaging", "Messaging", True, ["it"]),
    ("appslab", "AppsLab", False, ["jake", "noel", "anja"]),
]


def demo_password(username: str) -> str:
    """Demo passwords: STEWARD_DEMO_PASSWORD_<USER> when set, else a readable default."""
    return os.environ.get(f"STEWARD_DEMO_PASSWORD_{username.upper()}", f"{username}-demo-pass")


def _person(
    username: str, spec: tuple[str, str, tuple[str, str]], *, superuser: bool = False
) -> Person:
    User = get_user_model()
    display_name, time_zone, (start, end) = spec
    user = User.objects.filter(username=username).first()
    if user is None:
        email = f"{username}@example.com"
        if superuser:
            user = User.objects.create_superuser(username, email, demo_password(username))
        else:
            user = User.objects.create_user(username, email, demo_password(username))
    person = Person.objects.filter(user=user).first()
    if person is None:
        hours = {day: [[start, end]] for day in ("mon", "tue", "wed", "thu", "fri")}
        person = services.person_create(
            actor=None,
            user=user,
            display_name=display_name,
            email=user.email,
            time_zone=time_zone,
            working_hours=hours,
        )
        services.contact_method_add(
            actor=None, person=person, kind=ContactMethod.Kind.EMAIL, address=user.email
        )
    return person


@transaction.atomic
def load_demo() -> dict[str, str]:
    """Load the demo registry; returns the demo accounts and their passwords."""
    people = {
        name: _person(name, spec, superuser=(name == "admin"))
        for name, spec in DEMO_ACCOUNTS.items()
    }
    people.update({name: _person(name, spec) for name, spec in DEMO_PEOPLE.items()})
    it_group, _ = Group.objects.get_or_create(name=settings.STEWARD_IT_GROUP)
    for username in IT_STAFF:
        people[username].user.groups.add(it_group)

    teams = {}
    for slug, name, is_it, members in TEAMS:
        teams[slug] = Team.objects.filter(slug=slug).first() or services.team_create(
            actor=None, slug=slug, name=name, is_it=is_it, members=[people[m] for m in members]
        )

    systems = {}
    for slug, name, kind, team, contacts in SYSTEMS:
        systems[slug] = ITSystem.objects.filter(slug=slug).first() or services.system_create(
            actor=None,
            slug=slug,
            name=name,
            kind=kind,
            team=teams[team],
            contacts=[people[c] for c in contacts],
            description=f"{name}, run by {teams[team].name}.",
        )
    for source, target, criticality in SYSTEM_EDGES:
        if not Dependency.objects.filter(
            source_system=systems[source], target_system=systems[target]
        ).exists():
            services.dependency_add(
                actor=None,
                source_system=systems[source],
                target_system=systems[target],
                criticality=criticality,
            )

    for spec in PROJECTS:
        project = Project.objects.filter(slug=spec["slug"]).first()
        if project is None:
            project = services.project_create(
                actor=None,
                slug=spec["slug"],
                name=spec["name"],
                description=spec["description"],
                support_tier=spec["support_tier"],
                help_channel=spec["help_channel"],
                runbook_url=spec["runbook_url"],
                team=teams["appslab"],
                aliases=spec["aliases"],
                urls=spec["urls"],
                time_zone=spec["time_zone"],
                busy_hours=spec["busy_hours"],
            )
        for order, (username, role) in enumerate(spec["roles"]):
            if not ProjectRole.objects.filter(project=project, person=people[username]).exists():
                services.project_role_set(
                    actor=None, project=project, person=people[username], role=role, order=order
                )
        for target, criticality in spec["edges"]:
            if not Dependency.objects.filter(
                source_project=project, target_system=systems[target]
            ).exists():
                services.dependency_add(
                    actor=None,
                    source_project=project,
                    target_system=systems[target],
                    criticality=criticality,
                )
    return {username: demo_password(username) for username in DEMO_ACCOUNTS}
