import pytest

from registry.demo import load_demo
from registry.models import AuditEntry, Dependency, ITSystem, Person, Project
from registry.selectors import impacted_projects_for

pytestmark = pytest.mark.django_db


def counts():
    return [m.objects.count() for m in (Person, Project, ITSystem, Dependency, AuditEntry)]


def test_demo_tells_the_story_and_loading_twice_duplicates_nothing():
    accounts = load_demo()
    first = counts()
    load_demo()

    assert counts() == first
    assert set(accounts) == {"admin", "it", "owner", "reader"}
    assert set(Project.objects.values_list("name", flat=True)) >= {"Connect", "OraTweet", "People"}
    zones = set(Person.objects.values_list("time_zone", flat=True))
    assert {"America/Los_Angeles", "Europe/Berlin", "Asia/Singapore"} <= zones
    touched = {
        i.project_slug: i for i in impacted_projects_for(ITSystem.objects.filter(slug="dc-austin"))
    }
    assert set(touched) == {"connect", "oratweet", "people"}
    assert touched["people"].path_display.startswith("People → ")
