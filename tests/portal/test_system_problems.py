"""Owners reaching IT: "this IT system is failing for my app" pages the system's own on-call once
per open problem, shows on the system page, and only IT turns it into an outage."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from incidents.models import Outage
from incidents.services import outages as outage_services
from notifications.models import Notification, Page
from notifications.selectors import pages_for_event
from oncall import services as oncall_services
from portal.models import SystemProblem, SystemProblemReport
from portal.services import system_problems
from portal.services.reports import RateLimited
from registry.models import ContactMethod, ProjectRole
from steward.errors import Conflict
from tests.factories import (
    DependencyFactory,
    PersonFactory,
    ProjectFactory,
    ProjectRoleFactory,
    SystemFactory,
    it_staff_user,
)

pytestmark = pytest.mark.django_db

ALWAYS = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


class World:
    """SSO, which the directory depends on; Payroll depends on the directory (so on SSO,
    transitively) and Wiki on SSO directly. Ivy is SSO's on-call; Olga owns Payroll, Walt owns
    Wiki, Una owns an app that depends on nothing."""

    def __init__(self) -> None:
        self.sso = SystemFactory(name="SSO", slug="sso")
        directory = SystemFactory(name="Directory", slug="directory")
        DependencyFactory(source_system=directory, target_system=self.sso)
        self.payroll = ProjectFactory(name="Payroll", slug="payroll")
        self.wiki = ProjectFactory(name="Wiki", slug="wiki")
        self.unrelated = ProjectFactory(name="Lunch menu", slug="lunch")
        DependencyFactory(source_project=self.payroll, target_system=directory)
        DependencyFactory(source_project=self.wiki, target_system=self.sso)
        self.olga = self._owner("olga", self.payroll)
        self.walt = self._owner("walt", self.wiki)
        self.una = self._owner("una", self.unrelated)
        self.it = it_staff_user(user__username="ivy", display_name="Ivy IT")
        self.ivy = self.it.person
        ContactMethod.objects.create(
            person=self.ivy, kind=ContactMethod.Kind.EMAIL, address="ivy@example.com"
        )
        self.ivy.working_hours = ALWAYS
        self.ivy.save()
        rotation = oncall_services.rotation_create(actor=None, name="SSO on call", system=self.sso)
        oncall_services.layer_create(
            actor=None,
            rotation=rotation,
            members=[self.ivy],
            time_zone="Europe/Dublin",
            start_date=date(2025, 1, 6),
            handoff_time=time(9),
            length="weekly",
        )

    @staticmethod
    def _owner(username: str, project):
        owner = PersonFactory(user__username=username, display_name=username.title())
        ProjectRoleFactory(project=project, person=owner, role=ProjectRole.Role.OWNER)
        return owner


@pytest.fixture
def world() -> World:
    return World()


def _report(world: World, who, project, text="Sign-in fails with error 500", **kwargs):
    return system_problems.system_problem_report(
        actor=who.user, system=world.sso, project=project, description=text, **kwargs
    )


def _pages_to(person) -> int:
    return Notification.objects.filter(recipient=person, kind=Notification.Kind.PAGE).count()


# --- reporting ------------------------------------------------------------------------------------


def test_an_owner_of_a_transitively_dependent_app_pages_the_systems_on_call(world):
    outcome = _report(world, world.olga, world.payroll)

    assert outcome.paged and not outcome.is_me_too
    problem = SystemProblem.objects.get(system=world.sso)
    assert problem.is_open and problem.paged_at is not None
    page = Page.objects.get()
    assert (page.event, page.project, page.levels[0]) == (problem, world.payroll, [world.ivy.pk])
    assert "SSO is failing for Payroll" in page.subject
    assert _pages_to(world.ivy) == 1
    assert _pages_to(world.olga) == 0  # the owner tells IT; the owner is not paged


def test_a_second_owners_report_joins_the_open_problem_without_paging_again(world):
    _report(world, world.olga, world.payroll)
    second = _report(world, world.walt, world.wiki, "Wiki logins loop")

    assert (second.paged, second.is_me_too, second.count) == (False, True, 2)
    assert second.problem == SystemProblem.objects.get()
    assert Page.objects.count() == 1
    assert _pages_to(world.ivy) == 1


def test_a_report_while_an_outage_of_the_system_is_open_joins_the_outage(world):
    outage = outage_services.outage_open(actor=world.it, title="SSO down", systems=[world.sso])
    pages_before = Page.objects.count()

    outcome = _report(world, world.olga, world.payroll)

    assert (outcome.outage, outcome.is_me_too, outcome.paged) == (outage, True, False)
    assert not SystemProblem.objects.exists()
    assert Page.objects.count() == pages_before


def test_an_owner_of_an_unrelated_app_cannot_raise_a_problem(world):
    with pytest.raises(ValidationError) as refused:
        _report(world, world.una, world.unrelated)
    assert "does not depend on SSO" in refused.value.message_dict["project"][0]
    # Nor for someone else's app that does depend on it.
    with pytest.raises(PermissionDenied):
        _report(world, world.una, world.payroll)
    assert not SystemProblemReport.objects.exists()
    assert not Page.objects.exists()


def test_a_reader_cannot_raise_a_problem(world):
    reader = PersonFactory(user__username="rita")
    with pytest.raises(PermissionDenied):
        _report(world, reader, world.payroll)
    assert not SystemProblemReport.objects.exists()


def test_bad_text_names_the_field_and_writes_nothing(world):
    for text, reason in (("   ", "Say what is not working"), ("x" * 2001, "2000 characters")):
        with pytest.raises(ValidationError) as refused:
            _report(world, world.olga, world.payroll, text)
        assert reason in refused.value.message_dict["description"][0]
    assert not SystemProblemReport.objects.exists()
    assert not SystemProblem.objects.exists()


def test_past_the_rate_limit_nothing_is_stored(world, settings):
    settings.STEWARD_REPORT_RATE_PER_PROJECT = 2
    _report(world, world.olga, world.payroll)
    _report(world, world.olga, world.payroll)
    with pytest.raises(RateLimited) as refused:
        _report(world, world.olga, world.payroll)
    assert "on SSO" in refused.value.message
    assert SystemProblemReport.objects.count() == 2


def test_a_problem_gone_quiet_pages_again(world):
    _report(world, world.olga, world.payroll)
    later = timezone.now() + timedelta(days=1)
    again = _report(world, world.walt, world.wiki, now=later)
    assert again.paged
    assert SystemProblem.objects.filter(closed_at__isnull=True).count() == 1
    assert Page.objects.count() == 2


def test_the_reporting_owner_cannot_acknowledge_its_page_for_it(world):
    from notifications.services import page_ack_by_user

    _report(world, world.olga, world.payroll)
    page = Page.objects.get()
    with pytest.raises(PermissionDenied):
        page_ack_by_user(actor=world.olga.user, page=page, via="web")
    page.refresh_from_db()
    assert page.state == "open"
    assert page_ack_by_user(actor=world.ivy.user, page=page, via="web").state == "acknowledged"


# --- IT acts --------------------------------------------------------------------------------------


def test_it_turns_the_reports_into_an_outage_in_one_action(world):
    _report(world, world.olga, world.payroll)
    _report(world, world.walt, world.wiki)
    problem = SystemProblem.objects.get()

    outage = system_problems.system_problem_to_outage(
        actor=world.it, problem=problem, title="SSO refuses logins", severity="sev1"
    )

    problem.refresh_from_db()
    assert (problem.outage, problem.is_open, problem.closed_by) == (outage, False, world.it)
    assert list(outage.systems.all()) == [world.sso]
    assert outage.opened_by == world.it and outage.severity == "sev1"
    assert "Payroll, Wiki" in outage.description
    assert set(SystemProblemReport.objects.values_list("outage", flat=True)) == {outage.pk}
    [payroll_page] = [p for p in pages_for_event(problem) if p.project == world.payroll]
    assert payroll_page.state == "stopped"
    with pytest.raises(Conflict):
        system_problems.system_problem_to_outage(actor=world.it, problem=problem, title="Again")


def test_owners_cannot_open_or_dismiss_its_outage(world):
    _report(world, world.olga, world.payroll)
    problem = SystemProblem.objects.get()
    with pytest.raises(PermissionDenied):
        system_problems.system_problem_to_outage(actor=world.olga.user, problem=problem, title="X")
    with pytest.raises(PermissionDenied):
        system_problems.system_problem_dismiss(actor=world.olga.user, problem=problem)
    assert not Outage.objects.exists()
    problem.refresh_from_db()
    assert problem.is_open


def test_it_dismisses_a_false_alarm_and_its_page_stops(world):
    _report(world, world.olga, world.payroll)
    problem = system_problems.system_problem_dismiss(
        actor=world.it, problem=SystemProblem.objects.get()
    )
    assert not problem.is_open and problem.outage is None
    assert Page.objects.get().state == "stopped"


# --- the system page ------------------------------------------------------------------------------


def _client(person) -> Client:
    client = Client()
    client.force_login(person.user)
    return client


def test_the_system_page_shows_its_on_call_and_the_owners_report_form(world):
    body = _client(world.olga).get("/systems/sso/").content.decode()
    assert "IT on call" in body and "Ivy IT" in body
    assert 'action="/systems/sso/problems/"' in body
    assert '<option value="payroll">Payroll</option>' in body
    # An owner of nothing that depends on SSO gets no form.
    assert (
        'action="/systems/sso/problems/"'
        not in _client(world.una).get("/systems/sso/").content.decode()
    )


def test_an_owner_reports_from_the_system_page_in_place(world):
    response = _client(world.olga).post(
        "/systems/sso/problems/",
        {"project": "payroll", "description": "Payslips cannot sign in"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "IT's on-call for SSO is paged" in body
    assert "Payslips cannot sign in" in body  # their own report, listed
    assert _pages_to(world.ivy) == 1


def test_a_refused_report_shows_its_errors_beside_the_fields(world):
    response = _client(world.olga).post(
        "/systems/sso/problems/", {"project": "payroll", "description": ""}
    )
    assert response.status_code == 400
    assert 'id="id_description_errors"' in response.content.decode()
    forged = _client(world.una).post(
        "/systems/sso/problems/", {"project": "payroll", "description": "Let me in"}
    )
    assert forged.status_code == 403
    assert not SystemProblemReport.objects.exists()


def test_it_sees_every_report_and_owners_only_their_own(world):
    _report(world, world.olga, world.payroll, "Payroll sees 500s")
    _report(world, world.walt, world.wiki, "Wiki logins loop")

    it_page = _client(world.ivy).get("/systems/sso/").content.decode()
    assert "Payroll sees 500s" in it_page and "Wiki logins loop" in it_page
    assert "Open an outage" in it_page
    olga_page = _client(world.olga).get("/systems/sso/").content.decode()
    assert "Payroll sees 500s" in olga_page and "Wiki logins loop" not in olga_page
    assert "Open an outage" not in olga_page


def test_the_page_says_when_it_acknowledged(world):
    _report(world, world.olga, world.payroll)
    page = Page.objects.get()
    from notifications.services import page_ack

    page_ack(page=page, person=world.ivy, via="web")
    body = _client(world.olga).get("/systems/sso/").content.decode()
    assert "IT acknowledged at" in body


def test_it_opens_the_outage_from_the_system_page(world):
    _report(world, world.olga, world.payroll)
    problem = SystemProblem.objects.get()
    refused = _client(world.olga).post(
        f"/systems/sso/problems/{problem.pk}/outage/", {"title": "Mine", "severity": "sev2"}
    )
    assert refused.status_code == 403
    response = _client(world.ivy).post(
        f"/systems/sso/problems/{problem.pk}/outage/", {"title": "SSO down", "severity": "sev2"}
    )
    outage = Outage.objects.get()
    assert response.status_code == 302 and response["Location"] == outage.get_absolute_url()
    problem.refresh_from_db()
    assert problem.outage == outage


def test_the_system_page_makes_as_many_queries_with_many_reports(world, settings):
    settings.STEWARD_REPORT_RATE_PER_PROJECT = 0  # 0 turns the limit off

    def count(person) -> int:
        client = _client(person)
        client.get("/systems/sso/")  # warm the caches (content types, sessions)
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/systems/sso/").status_code == 200
        return len(queries)

    _report(world, world.olga, world.payroll)
    few = (count(world.ivy), count(world.olga))
    for i in range(6):
        project = ProjectFactory(name=f"App {i}", slug=f"app-{i}")
        DependencyFactory(source_project=project, target_system=world.sso)
        ProjectRoleFactory(project=project, person=world.olga, role=ProjectRole.Role.OWNER)
        _report(world, world.olga, project, f"App {i} fails")
        rotation = oncall_services.rotation_create(actor=None, name=f"R{i}", system=world.sso)
        oncall_services.layer_create(
            actor=None,
            rotation=rotation,
            members=[PersonFactory()],
            time_zone="Asia/Kolkata",
            start_date=date(2025, 1, 6),
            handoff_time=time(9),
            length="daily",
        )
    assert (count(world.ivy), count(world.olga)) == few


# --- the API --------------------------------------------------------------------------------------


def _api(person) -> APIClient:
    client = APIClient()
    client.force_authenticate(person.user)
    return client


def test_the_api_takes_a_report_and_deduplicates_the_next(world):
    body = {"system": "sso", "project": "payroll", "description": "Sign-in fails"}
    first = _api(world.olga).post("/api/v1/system-reports/", body, format="json")
    assert first.status_code == 201, first.content
    assert (first.json()["paged"], first.json()["me_too"]) == (True, False)
    second = _api(world.walt).post(
        "/api/v1/system-reports/", {**body, "project": "wiki"}, format="json"
    )
    assert (second.json()["paged"], second.json()["me_too"], second.json()["count"]) == (
        False,
        True,
        2,
    )
    assert _pages_to(world.ivy) == 1


def test_the_api_refuses_with_the_field_named(world):
    bad = _api(world.olga).post(
        "/api/v1/system-reports/",
        {"system": "sso", "project": "nope", "description": "x"},
        format="json",
    )
    assert bad.status_code == 400 and "project" in bad.json()
    unrelated = _api(world.una).post(
        "/api/v1/system-reports/",
        {"system": "sso", "project": "lunch", "description": "x"},
        format="json",
    )
    assert unrelated.status_code == 400 and "does not depend" in unrelated.json()["project"][0]
    assert not SystemProblemReport.objects.exists()


def test_the_api_lists_own_reports_and_lets_only_it_open_the_outage(world):
    olga_report = _report(world, world.olga, world.payroll).report
    walt_report = _report(world, world.walt, world.wiki).report

    def ids(person) -> set[int]:
        return {r["id"] for r in _api(person).get("/api/v1/system-reports/").json()["results"]}

    assert ids(world.olga) == {olga_report.pk}
    assert ids(world.ivy) == {olga_report.pk, walt_report.pk}
    assert ids(world.una) == set()

    path = f"/api/v1/system-reports/{olga_report.pk}/outage/"
    assert _api(world.olga).post(path, {"title": "X"}, format="json").status_code == 403
    opened = _api(world.ivy).post(path, {"title": "SSO down"}, format="json")
    assert opened.status_code == 201, opened.content
    assert Outage.objects.get().pk == opened.json()["outage"]
