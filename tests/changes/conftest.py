"""A small registry where impact is transitive, and the people around it.

People app ──hard──▶ SSO ──hard──▶ Datacenter Austin
Connect   ──soft──▶ Mail ──hard──▶ Datacenter Austin
Wiki      ──hard──▶ Database
"""

from dataclasses import dataclass

import pytest

from registry.models import Dependency, ITSystem, Person, Project, ProjectRole
from tests.factories import (
    DependencyFactory,
    PersonFactory,
    ProjectFactory,
    ProjectRoleFactory,
    SystemFactory,
    it_staff_user,
)

ALL_DAY = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
NEVER: dict = {}


@dataclass
class Graph:
    dc: ITSystem
    sso: ITSystem
    mail: ITSystem
    database: ITSystem
    people: Project
    connect: Project
    wiki: Project
    people_owner: Person
    people_backup: Person
    connect_owner: Person
    wiki_owner: Person


def edge(source, target, criticality=Dependency.Criticality.HARD):
    kind = "source_project" if isinstance(source, Project) else "source_system"
    return DependencyFactory(**{kind: source}, target_system=target, criticality=criticality)


@pytest.fixture
def graph(db) -> Graph:
    dc = SystemFactory(name="Datacenter Austin", slug="dc-austin")
    sso = SystemFactory(name="SSO", slug="sso")
    mail = SystemFactory(name="Mail", slug="mail")
    database = SystemFactory(name="Database", slug="database")
    people = ProjectFactory(name="People", slug="people")
    connect = ProjectFactory(name="Connect", slug="connect")
    wiki = ProjectFactory(name="Wiki", slug="wiki")
    edge(sso, dc)
    edge(mail, dc)
    edge(people, sso)
    edge(connect, mail, Dependency.Criticality.SOFT)
    edge(wiki, database)
    # Owners awake around the clock, except Connect's, who never works: the preview counts them.
    people_owner = PersonFactory(display_name="Pia Owner", working_hours=ALL_DAY)
    people_backup = PersonFactory(display_name="Bo Backup", working_hours=ALL_DAY)
    connect_owner = PersonFactory(display_name="Cai Owner", working_hours=NEVER)
    wiki_owner = PersonFactory(display_name="Wim Owner", working_hours=ALL_DAY)
    ProjectRoleFactory(project=people, person=people_owner)
    ProjectRoleFactory(project=people, person=people_backup, role=ProjectRole.Role.BACKUP)
    ProjectRoleFactory(project=connect, person=connect_owner)
    ProjectRoleFactory(project=wiki, person=wiki_owner)
    return Graph(
        dc,
        sso,
        mail,
        database,
        people,
        connect,
        wiki,
        people_owner,
        people_backup,
        connect_owner,
        wiki_owner,
    )


@pytest.fixture
def it_user(db):
    return it_staff_user(display_name="Ivan IT")


@pytest.fixture
def reader(db):
    return PersonFactory(display_name="Rita Reader").user
