"""The hygiene page and its CSVs (IT staff only), the owners' "still accurate" button, the
signed link of a nudge (valid, altered, expired, no longer an owner) and the API."""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from directory.services import Source, person_deactivate, project_adopt
from hygiene import services
from registry.models import AuditEntry, Project
from tests.factories import it_staff_user

from .conftest import BACKUP, OWNER, person
from .conftest import project_with as _project_with

pytestmark = pytest.mark.django_db


def project_with(*args, **kwargs) -> Project:
    """Registered and reviewed so long before now: the pages read the real clock."""
    return _project_with(*args, at=timezone.now(), **kwargs)


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def it_client() -> Client:
    return _client(it_staff_user(user__username="itstaff"))


def _registry(n: int, offset: int = 0) -> None:
    for i in range(offset, offset + n):
        a = person(f"a{i}", zone="Europe/Paris")
        b = person(f"b{i}", zone="Europe/Paris")
        project_with(f"App {i:03d}", (a, OWNER), (b, BACKUP), created_days_ago=400)


# --- the page ---------------------------------------------------------------------------------


def test_the_page_lists_every_list_with_its_count_in_fixed_queries(
    it_client, django_assert_num_queries
) -> None:
    _registry(2)
    with django_assert_num_queries(11) as small:
        response = it_client.get("/registry/hygiene/")
    assert response.status_code == 200
    _registry(10, offset=2)
    with django_assert_num_queries(len(small.captured_queries)):
        response = it_client.get("/registry/hygiene/")
    text = response.content.decode()
    assert "<strong>12</strong> one active owner" in text
    assert "<strong>12</strong> every supporter in one time zone" in text
    assert "<strong>12</strong> not reviewed lately" in text
    assert "App 011" in text and "Europe/Paris" in text
    assert 'href="/registry/hygiene/stale.csv"' in text


def test_one_list_alone_is_the_fragment_of_an_htmx_swap(it_client, settings) -> None:
    _registry(3)
    settings.REGISTRY_REVIEW_AFTER_DAYS = 180
    page = it_client.get("/registry/hygiene/?list=stale")
    fragment = it_client.get("/registry/hygiene/?list=stale", headers={"HX-Request": "true"})

    assert page.status_code == fragment.status_code == 200
    assert "<html" in page.content.decode()
    assert "<html" not in fragment.content.decode()
    assert 'id="stale"' in fragment.content.decode()
    assert 'id="single-owner"' not in fragment.content.decode()
    assert "HX-Request" in fragment["Vary"]
    assert it_client.get("/registry/hygiene/?list=nonsense").status_code == 404


def test_only_it_staff_see_the_page_and_its_csvs() -> None:
    ann = person("ann")
    project_with("Atlas", (ann, OWNER))
    admin = person("root", user__is_superuser=True).user
    for user, status in ((ann.user, 403), (person("reader").user, 403), (admin, 200)):
        client = _client(user)
        assert client.get("/registry/hygiene/").status_code == status
        assert client.get("/registry/hygiene/single-owner.csv").status_code == status
    assert Client().get("/registry/hygiene/").status_code == 302


def _csv(client: Client, kind: str) -> list[list[str]]:
    response = client.get(f"/registry/hygiene/{kind}.csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert f'filename="registry-{kind}.csv"' in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode("utf-8").removeprefix("\ufeff")
    return list(csv.reader(io.StringIO(text)))


def test_the_csvs_hold_every_row_with_formulas_guarded(it_client) -> None:
    ann = person("ann", email="ann@example.com", display_name="=cmd|' /C calc'!A0")
    gone = person("gone", active=False)
    project_with(
        '=HYPERLINK("http://x")', (ann, OWNER), (gone, OWNER), slug="link", created_days_ago=400
    )
    project_with("Plain", (ann, OWNER), created_days_ago=900, reviewed_days_ago=365)

    assert _csv(it_client, "single-owner") == [
        ["slug", "name", "team", "owner", "owner_email", "owners_inactive"],
        ["link", '\'=HYPERLINK("http://x")', "", "'=cmd|' /C calc'!A0", "ann@example.com", "1"],
        ["plain", "Plain", "", "'=cmd|' /C calc'!A0", "ann@example.com", "0"],
    ]

    stale = _csv(it_client, "stale")
    assert stale[0] == [
        "slug",
        "name",
        "team",
        "last_reviewed_on",
        "review_due_on",
        "owners",
        "nudged_at",
    ]
    today = timezone.now().date()
    # Oldest first: registered 400 days ago and never reviewed, then reviewed 365 days ago.
    assert [r[0] for r in stale[1:]] == ["link", "plain"]
    assert stale[1][3] == "never"
    assert stale[2][3] == (today - dt.timedelta(days=365)).isoformat()
    assert stale[2][4] == (today - dt.timedelta(days=365 - 180)).isoformat()
    assert stale[2][5] == "'=cmd|' /C calc'!A0"
    assert _csv(it_client, "one-zone") == [
        ["slug", "name", "team", "supporters", "time_zones", "utc_offset_now"]
    ]
    assert _csv(it_client, "orphaned") == [["slug", "name", "team", "orphaned_at"]]
    assert it_client.get("/registry/hygiene/nothing.csv").status_code == 404


def test_a_project_whose_last_owner_left_is_listed_orphaned_until_adopted(it_client) -> None:
    ann, bob = person("ann"), person("bob")
    project_with("Left Behind", (ann, OWNER), (bob, BACKUP), slug="left", created_days_ago=10)
    project_with("Still Owned", (bob, OWNER), slug="owned", created_days_ago=10)
    it = get_user_model().objects.get(username="itstaff")
    person_deactivate(actor=it, person=ann, source=Source.IT)

    text = it_client.get("/registry/hygiene/").content.decode()
    assert "<strong>1</strong> orphaned: no active owner" in text
    assert 'href="/projects/left/"' in text
    rows = _csv(it_client, "orphaned")
    orphaned_at = Project.objects.get(slug="left").orphaned_at
    assert rows[1:] == [["left", "Left Behind", "", orphaned_at.astimezone(dt.UTC).isoformat()]]

    project_adopt(actor=it, project=Project.objects.get(slug="left"))
    assert _csv(it_client, "orphaned") == [["slug", "name", "team", "orphaned_at"]]


# --- the owners' button -------------------------------------------------------------------------


def test_an_owner_marks_their_project_reviewed_today_in_their_zone_and_it_is_audited() -> None:
    # Late on the 1st in UTC is already the 2nd in Tokyo.
    tokyo = person("tokyo", zone="Asia/Tokyo")
    other = person("other")
    project = project_with("Atlas", (tokyo, OWNER), created_days_ago=400)
    project_with("Elsewhere", (other, OWNER))
    late = dt.datetime(2025, 3, 1, 20, 0, tzinfo=dt.UTC)

    for user in (other.user, person("reader").user):
        assert _client(user).post(f"/projects/{project.slug}/reviewed/").status_code == 403
    project.refresh_from_db()
    assert project.last_reviewed_on is None

    with mock.patch("django.utils.timezone.now", return_value=late):
        response = _client(tokyo.user).post(f"/projects/{project.slug}/reviewed/")
    assert response.status_code == 302
    assert response["Location"] == f"/projects/{project.slug}/"
    project.refresh_from_db()
    assert project.last_reviewed_on == dt.date(2025, 3, 2)
    entry = AuditEntry.objects.filter(object_id=str(project.pk)).latest("recorded_at")
    assert entry.actor == tokyo.user
    assert entry.changes["last_reviewed_on"] == [None, "2025-03-02"]
    page = _client(tokyo.user).get(f"/projects/{project.slug}/").content.decode()
    assert "Still accurate" in page
    assert (
        "Still accurate"
        not in _client(other.user).get(f"/projects/{project.slug}/").content.decode()
    )


# --- the signed link ----------------------------------------------------------------------------


def _token(project: Project, who) -> str:
    return services.review_token(project=project, person=who)


def test_the_link_shows_the_entry_then_confirms_it_on_post_without_signing_in() -> None:
    ann = person("ann")
    project = project_with("Atlas", (ann, OWNER), created_days_ago=400)
    url = services.review_url(project=project, person=ann)
    path = url.removeprefix("http://127.0.0.1:8000")

    shown = Client().get(path)
    assert shown.status_code == 200 and "Still accurate" in shown.content.decode()
    project.refresh_from_db()
    assert project.last_reviewed_on is None  # a mail scanner's GET confirms nothing

    done = Client().post(path)
    assert done.status_code == 200 and "Thank you" in done.content.decode()
    project.refresh_from_db()
    assert project.last_reviewed_on == timezone.now().date()
    entry = AuditEntry.objects.filter(object_id=str(project.pk)).latest("recorded_at")
    assert entry.actor == ann.user and "last_reviewed_on" in entry.changes


def test_an_altered_expired_or_no_longer_owned_link_confirms_nothing(settings) -> None:
    ann, bob = person("ann"), person("bob")
    project = project_with("Atlas", (ann, OWNER), (bob, OWNER))
    other = project_with("Other", (bob, OWNER))
    token = _token(project, ann)

    altered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert Client().post(f"/review/{altered}/").status_code == 400
    # Another signed thing (an acknowledge link's salt) is not a review link.
    from notifications.services import ack_token

    assert Client().post(f"/review/{ack_token(page=1, person=ann.pk)}/").status_code == 400

    settings.STEWARD_REVIEW_LINK_MAX_AGE_SECONDS = 30 * 24 * 3600
    with mock.patch("time.time", return_value=time.time() - 31 * 24 * 3600):
        old = _token(project, ann)
    expired = Client().post(f"/review/{old}/")
    assert expired.status_code == 410 and "expired" in expired.content.decode()

    # Ann's link does not confirm Bob's other project; a link outlives no one's ownership.
    assert Client().post(f"/review/{_token(other, ann)}/").status_code == 403
    bob.user.is_active = False
    bob.user.save()
    assert Client().post(f"/review/{_token(project, bob)}/").status_code == 403

    project.refresh_from_db()
    other.refresh_from_db()
    assert project.last_reviewed_on is None and other.last_reviewed_on is None


# --- the API ------------------------------------------------------------------------------------


def test_the_api_gives_it_staff_the_same_lists(it_client) -> None:
    _registry(2)
    response = it_client.get("/api/v1/registry/hygiene/")
    assert response.status_code == 200
    body = response.json()
    assert [(item["kind"], item["count"]) for item in body["lists"]] == [
        ("single-owner", 2),
        ("one-zone", 2),
        ("stale", 2),
        ("orphaned", 0),
    ]
    one_zone = body["lists"][1]["projects"][0]
    assert one_zone["time_zones"] == ["Europe/Paris"] and one_zone["supporters"] == 2
    assert body["lists"][0]["projects"][0]["owners"] == ["A0"]
    assert _client(person("reader").user).get("/api/v1/registry/hygiene/").status_code == 403
