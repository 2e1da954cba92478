"""`reports/` and `subscriptions/`: who creates and who reads what, errors naming the field, the
429 past a rate limit, and the schema describing every endpoint."""

import pytest
from rest_framework.test import APIClient

from incidents.models import Subscription
from incidents.services import outages as services
from portal.models import ProblemReport
from tests.factories import PersonFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def api(user=None):
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def report(user, project, text="down", **extra):
    return api(user).post(
        "/api/v1/reports/", {"project": project.slug, "description": text}, format="json", **extra
    )


# --- reports -------------------------------------------------------------------------------------


def test_anyone_signed_in_reports_and_the_answer_says_what_happened(graph, reader):
    response = report(reader, graph.people)
    assert response.status_code == 201
    body = response.json()
    assert body["me_too"] is False
    assert body["notified"] is True and body["paged"] is False
    assert body["report"]["project"] == "people"
    assert body["report"]["reporter"] == reader.username
    assert "reporter_address" not in body["report"]
    assert api().post("/api/v1/reports/", {}, format="json").status_code in (401, 403)


def test_a_me_too_through_the_api(graph, reader, it_user):
    outage = services.outage_open(actor=it_user, title="DC", systems=[graph.dc])
    body = report(reader, graph.people).json()
    assert body["me_too"] is True
    assert body["outage"] == outage.pk
    assert body["me_too_count"] == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"project": "people", "description": ""}, "description"),
        ({"project": "people", "description": "x" * 2001}, "description"),
        ({"project": "no-such-app", "description": "down"}, "project"),
        ({"description": "down"}, "project"),
        ({"project": "people", "description": "down", "contact": "c" * 300}, "contact"),
    ],
)
def test_bad_reports_name_the_field(graph, reader, payload, field):
    response = api(reader).post("/api/v1/reports/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not ProblemReport.objects.exists()


def test_past_the_limit_429_with_retry_after_and_nothing_stored(graph, reader):
    for _ in range(5):
        assert report(reader, graph.people).status_code == 201
    response = report(reader, graph.people)
    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited"
    assert int(response["Retry-After"]) == response.json()["retry_after"] > 0
    assert ProblemReport.objects.count() == 5


def test_who_reads_which_reports(graph, reader, it_user):
    other = PersonFactory().user
    mine = report(reader, graph.people).json()["report"]["id"]
    theirs = report(other, graph.wiki).json()["report"]["id"]

    def ids(user, query=""):
        return {r["id"] for r in api(user).get(f"/api/v1/reports/{query}").json()["results"]}

    assert ids(reader) == {mine}
    assert ids(graph.people_owner.user) == {mine}
    assert ids(graph.wiki_owner.user) == {theirs}
    assert ids(it_user) == {mine, theirs}
    assert ids(it_user, "?project=wiki") == {theirs}
    assert api(reader).get(f"/api/v1/reports/{theirs}/").status_code == 404
    assert api(graph.people_owner.user).get(f"/api/v1/reports/{mine}/").status_code == 200
    assert api(reader).delete(f"/api/v1/reports/{mine}/").status_code == 405


def test_report_list_has_a_fixed_query_count(graph, it_user, django_assert_num_queries):
    for _ in range(3):
        report(PersonFactory().user, graph.people)
    client = api(it_user)
    client.get("/api/v1/reports/")  # warm the IT group check cached on the user
    # A count and a page of reports with their projects and reporters.
    with django_assert_num_queries(2):
        first = client.get("/api/v1/reports/")
    for _ in range(3):
        report(PersonFactory().user, graph.wiki)
    with django_assert_num_queries(2):
        second = client.get("/api/v1/reports/")
    assert len(second.json()["results"]) == len(first.json()["results"]) + 3


# --- subscriptions -------------------------------------------------------------------------------


def test_subscribe_list_and_unsubscribe_through_the_api(graph, reader):
    client = api(reader)
    created = client.post(
        "/api/v1/subscriptions/", {"project": "people", "channel": "email"}, format="json"
    )
    assert created.status_code == 201
    assert created.json()["address"] == reader.person.email
    assert created.json()["confirmed_at"] is not None
    hook = client.post(
        "/api/v1/subscriptions/",
        {"project": "people", "channel": "webhook", "address": "https://hooks.example.org/a"},
        format="json",
    )
    assert hook.status_code == 201

    listed = client.get("/api/v1/subscriptions/").json()["results"]
    assert {s["channel"] for s in listed} == {"email", "webhook"}

    assert client.delete(f"/api/v1/subscriptions/{hook.json()['id']}/").status_code == 204
    assert len(client.get("/api/v1/subscriptions/").json()["results"]) == 1
    assert Subscription.objects.get(pk=hook.json()["id"]).unsubscribed_at is not None


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"project": "people", "channel": "webhook", "address": "ftp://x.org/h"}, "address"),
        ({"project": "people", "channel": "webhook", "address": ""}, "address"),
        ({"project": "people", "channel": "pigeon"}, "channel"),
        ({"project": "nope"}, "project"),
    ],
)
def test_bad_subscriptions_name_the_field(graph, reader, payload, field):
    response = api(reader).post("/api/v1/subscriptions/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Subscription.objects.exists()


def test_subscribing_twice_through_the_api(graph, reader):
    client = api(reader)
    payload = {"project": "people", "channel": "email"}
    assert client.post("/api/v1/subscriptions/", payload, format="json").status_code == 201
    again = client.post("/api/v1/subscriptions/", payload, format="json")
    assert again.status_code == 400
    assert "already follows" in again.json()["address"][0]
    assert Subscription.objects.count() == 1


def test_nobody_sees_or_cancels_someone_elses_subscription(graph, reader):
    theirs = SubscriptionFactory(project=graph.people, person=graph.people_owner)
    client = api(reader)
    assert client.get("/api/v1/subscriptions/").json()["results"] == []
    assert client.get(f"/api/v1/subscriptions/{theirs.pk}/").status_code == 404
    assert client.delete(f"/api/v1/subscriptions/{theirs.pk}/").status_code == 404
    # Owners do not list their project's subscribers either.
    assert api(graph.people_owner.user).get("/api/v1/subscriptions/").json()["results"][0][
        "id"
    ] == (theirs.pk)
    theirs.refresh_from_db()
    assert theirs.unsubscribed_at is None


def test_the_schema_describes_reports_and_subscriptions(client, reader):
    client.force_login(reader)
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    create = paths["/api/v1/reports/"]["post"]
    assert set(create["responses"]) >= {"201", "400", "429"}
    assert "ReportIn" in str(create["requestBody"])
    assert "ReportCreatedOut" in str(create["responses"]["201"])
    assert set(paths["/api/v1/subscriptions/{id}/"]) >= {"get", "delete"}
    assert "SubscriptionIn" in str(paths["/api/v1/subscriptions/"]["post"]["requestBody"])


def test_admin_lists_reports_and_groups(client, graph, reader):
    from tests.factories import UserFactory

    report(reader, graph.people, text="<b>bold</b> claim")
    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    for name in ("problemreport", "reportgroup"):
        assert client.get(f"/admin/portal/{name}/").status_code == 200
    group = ProblemReport.objects.get().group
    detail = client.get(f"/admin/portal/reportgroup/{group.pk}/change/")
    assert detail.status_code == 200
    assert b"&lt;b&gt;bold&lt;/b&gt; claim" in detail.content
