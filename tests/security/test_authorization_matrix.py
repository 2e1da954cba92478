"""The authorisation matrix: every URL the resolver knows × every role → the status expected.

The list of URLs comes from django.urls.get_resolver(), so a URL added without a line in EXPECTED
fails `test_every_url_has_an_expectation`, telling whoever added it to decide who may use it.
Each row is one request (GET for pages and readable endpoints, the write for write-only ones),
made as anonymous, reader, owner of another project, owner, IT staff and admin, each inside a
savepoint rolled back afterwards so that one role's write does not change what the next sees.

Writes with a body that would pass validation are in WRITES: an empty form may be answered with
its errors before the permission check, which proves nothing about the permission.
Below, the lists: what each role's list pages and endpoints contain.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from tests.security.world import ROLES, World, world_build

pytestmark = pytest.mark.django_db

# name: (method, path, "anonymous reader other_owner owner it admin")
EXPECTED: dict[str, tuple[str, str, str]] = {
    "api-docs": ("GET", "/api/docs/", "200 200 200 200 200 200"),
    "api-root": ("GET", "/api/v1/", "401 200 200 200 200 200"),
    "api-token": ("POST", "/api/v1/auth/token/", "400 400 400 400 400 400"),
    "audit-entry-list": ("GET", "/api/v1/audit/", "401 200 200 200 200 200"),
    "audit-entry-detail": ("GET", "/api/v1/audit/{audit}/", "401 200 200 200 200 200"),
    "catalog-export": ("GET", "/api/v1/catalog/export/", "401 200 200 200 200 200"),
    # IT staff only; an empty JSON body names the missing text (400) after the permission check.
    "catalog-import": ("POST", "/api/v1/catalog/import/", "401 403 403 403 400 400"),
    "change-list": ("GET", "/api/v1/changes/", "401 200 200 200 200 200"),
    "change-detail": ("GET", "/api/v1/changes/{change}/", "401 200 200 200 200 200"),
    "change-cancel": ("POST", "/api/v1/changes/{change}/cancel/", "401 403 403 403 200 200"),
    "change-complete": ("POST", "/api/v1/changes/{change}/complete/", "401 403 403 403 409 409"),
    "change-preview": ("POST", "/api/v1/changes/preview/", "401 400 400 400 400 400"),
    "change-respond": ("POST", "/api/v1/changes/{change}/respond/", "401 400 400 400 400 400"),
    "change-schedule": ("POST", "/api/v1/changes/{change}/schedule/", "401 403 403 403 409 409"),
    "change-start": ("POST", "/api/v1/changes/{change}/start/", "401 403 403 403 200 200"),
    # Rolling back is for a change in progress: the world's is scheduled (409 past the permission).
    "change-rollback": ("POST", "/api/v1/changes/{change}/rollback/", "401 403 403 403 409 409"),
    # Anyone signed in searches slots (as they preview impact); an empty body names its fields.
    "change-slots": ("POST", "/api/v1/changes/slots/", "401 400 400 400 400 400"),
    # Booking is IT's (refused before the body is read); a valid booking is in WRITES.
    "change-book": ("POST", "/api/v1/changes/book/", "401 403 403 403 400 400"),
    # A check that writes nothing; without systems and a window it names them (400).
    "change-conflicts": ("GET", "/api/v1/changes/conflicts/", "401 400 400 400 400 400"),
    "maintenance-window-list": ("GET", "/api/v1/maintenance-windows/", "401 200 200 200 200 200"),
    "maintenance-window-detail": (
        "GET",
        "/api/v1/maintenance-windows/{window}/",
        "401 200 200 200 200 200",
    ),
    # The world's window has not begun: IT may end it, but not yet (409).
    "maintenance-window-end": (
        "POST",
        "/api/v1/maintenance-windows/{window}/end/",
        "401 403 403 403 409 409",
    ),
    "blackout-list": ("GET", "/api/v1/blackouts/", "401 200 200 200 200 200"),
    "blackout-detail": ("GET", "/api/v1/blackouts/{blackout}/", "401 200 200 200 200 200"),
    "contact-method-list": (
        "GET",
        "/api/v1/people/{owner}/contact-methods/",
        "401 200 200 200 200 200",
    ),
    "contact-method-detail": (
        "GET",
        "/api/v1/people/{owner}/contact-methods/{contact}/",
        "401 200 200 200 200 200",
    ),
    "dependency-list": ("GET", "/api/v1/dependencies/", "401 200 200 200 200 200"),
    "dependency-detail": ("GET", "/api/v1/dependencies/{dependency}/", "401 200 200 200 200 200"),
    "escalation-policy-list": ("GET", "/api/v1/escalation-policies/", "401 200 200 200 200 200"),
    "escalation-policy-detail": (
        "GET",
        "/api/v1/escalation-policies/{policy}/",
        "401 200 200 200 200 200",
    ),
    "events-enqueue": ("POST", "/v2/enqueue", "400 400 400 400 400 400"),
    # The routing key in the body authenticates a change event; an empty body is invalid.
    "change-events-enqueue": ("POST", "/v2/change/enqueue", "400 400 400 400 400 400"),
    "feedback:my-subscriptions": ("GET", "/subscriptions/", "302 200 200 200 200 200"),
    "feedback:project-reports": ("GET", "/projects/{project}/reports/", "302 403 403 200 200 200"),
    "feedback:report-create": ("GET", "/projects/{project}/report/", "302 200 200 200 200 200"),
    "feedback:report-group-dismiss": (
        "POST",
        "/projects/{other_project}/reports/{report_group}/dismiss/",
        "302 403 302 403 302 302",
    ),
    "feedback:report-group-escalate": (
        "POST",
        "/projects/{other_project}/reports/{report_group}/incident/",
        "302 403 400 403 400 400",
    ),
    "feedback:subscribe": ("GET", "/projects/{project}/subscribe/", "200 200 200 200 200 200"),
    # Owners of an app that depends on the system report (the owner's joins the open outage);
    # IT staff, who open outages themselves, own no app. An empty form is 400 for everyone.
    "feedback:system-problem-report": (
        "POST",
        "/systems/{system}/problems/",
        "302 400 400 400 400 400",
    ),
    "feedback:system-problem-outage": (
        "POST",
        "/systems/{spare_system}/problems/{system_problem}/outage/",
        "302 403 403 403 400 400",
    ),
    "feedback:system-problem-dismiss": (
        "POST",
        "/systems/{spare_system}/problems/{system_problem}/dismiss/",
        "302 403 403 403 302 302",
    ),
    "feedback:subscription-cancel": (
        "POST",
        "/subscriptions/{subscription}/cancel/",
        "302 403 403 302 403 302",
    ),
    "feedback:subscription-confirm": (
        "GET",
        "/subscriptions/confirm/forged/",
        "400 400 400 400 400 400",
    ),
    "feedback:subscription-manage": (
        "GET",
        "/subscriptions/manage/forged/",
        "400 400 400 400 400 400",
    ),
    "feedback:subscription-unsubscribe": (
        "GET",
        "/subscriptions/unsubscribe/forged/",
        "400 400 400 400 400 400",
    ),
    "healthz": ("GET", "/healthz", "200 200 200 200 200 200"),
    # Registry hygiene: IT staff's page and CSVs; the project's owners confirm its entry (a
    # POST that redirects to the project); a nudge's signed link needs no sign-in (forged: 400).
    "hygiene:page": ("GET", "/registry/hygiene/", "302 403 403 403 200 200"),
    "hygiene:csv": ("GET", "/registry/hygiene/stale.csv", "302 403 403 403 200 200"),
    "hygiene:project_reviewed": (
        "POST",
        "/projects/{project}/reviewed/",
        "302 403 403 302 403 302",
    ),
    "hygiene:review_link": ("GET", "/review/forged/", "400 400 400 400 400 400"),
    "registry-hygiene": ("GET", "/api/v1/registry/hygiene/", "401 403 403 403 200 200"),
    "incident-list": ("GET", "/api/v1/incidents/", "401 200 200 200 200 200"),
    "incident-detail": ("GET", "/api/v1/incidents/{incident}/", "401 200 200 200 200 200"),
    "incident-cause": ("POST", "/api/v1/incidents/{incident}/cause/", "401 403 403 200 200 200"),
    "incident-resolve": (
        "POST",
        "/api/v1/incidents/{incident}/resolve/",
        "401 403 403 200 200 200",
    ),
    "incident-suspects": (
        "GET",
        "/api/v1/incidents/{incident}/suspects/",
        "401 200 200 200 200 200",
    ),
    "incident-updates": ("GET", "/api/v1/incidents/{incident}/updates/", "401 200 200 200 200 200"),
    "incident_portal:incident-cause": (
        "POST",
        "/incidents/{incident}/cause/",
        "302 403 403 302 302 302",
    ),
    "incident_portal:incident-detail": ("GET", "/incidents/{incident}/", "200 200 200 200 200 200"),
    "incident_portal:incident-open": (
        "GET",
        "/projects/{project}/incidents/new/",
        "302 403 403 200 200 200",
    ),
    "incident_portal:incident-resolve": (
        "POST",
        "/incidents/{incident}/resolve/",
        "302 403 403 302 302 302",
    ),
    "incident_portal:incident-update": (
        "POST",
        "/incidents/{incident}/updates/",
        "302 400 400 400 400 400",
    ),
    "incident_portal:insights-project": (
        "GET",
        "/insights/projects/{project}/",
        "302 403 403 200 200 200",
    ),
    "incident_portal:insights-system": (
        "GET",
        "/insights/systems/{system}/",
        "302 403 403 403 200 200",
    ),
    "incident_portal:status-index": ("GET", "/status/", "200 200 200 200 200 200"),
    "incident_portal:status-project": ("GET", "/status/{project}/", "200 200 200 200 200 200"),
    "incident_portal:status-feed-rss": ("GET", "/status/feed.rss", "200 200 200 200 200 200"),
    "incident_portal:status-feed-atom": ("GET", "/status/feed.atom", "200 200 200 200 200 200"),
    "incident_portal:status-project-feed-rss": (
        "GET",
        "/status/{project}/feed.rss",
        "200 200 200 200 200 200",
    ),
    "incident_portal:status-project-feed-atom": (
        "GET",
        "/status/{project}/feed.atom",
        "200 200 200 200 200 200",
    ),
    "incidents:change-slots": ("GET", "/it/changes/slots/", "302 403 403 403 200 200"),
    # An empty booking is sent back to the search with the reason (302) once IT staff.
    "incidents:change-slot-book": ("POST", "/it/changes/slots/book/", "302 403 403 403 302 302"),
    "incidents:change-create": ("GET", "/it/changes/new/", "302 403 403 403 200 200"),
    "incidents:change-detail": ("GET", "/it/changes/{change}/", "302 200 200 200 200 200"),
    "incidents:change-edit": ("GET", "/it/changes/{change}/edit/", "302 403 403 403 200 200"),
    "incidents:change-list": ("GET", "/it/changes/", "302 200 200 200 200 200"),
    "incidents:change-respond": ("GET", "/it/changes/{change}/respond/", "302 403 403 200 403 403"),
    "incidents:change-transition": (
        "POST",
        "/it/changes/{change}/cancel/",
        "302 403 403 403 302 302",
    ),
    "incidents:outage-detail": ("GET", "/it/outages/{outage}/", "302 200 200 200 200 200"),
    "incidents:outage-list": ("GET", "/it/outages/", "302 200 200 200 200 200"),
    "incidents:outage-open": ("GET", "/it/outages/new/", "302 403 403 403 200 200"),
    "incidents:outage-resolve": (
        "POST",
        "/it/outages/{outage}/resolve/",
        "302 403 403 403 302 302",
    ),
    "incidents:outage-update": ("POST", "/it/outages/{outage}/update/", "302 400 400 400 400 400"),
    "integrations:alertmanager": ("POST", "/integrations/alertmanager/", "401 401 401 401 401 401"),
    "integrations:alertmanager-key": (
        "POST",
        "/integrations/alertmanager/no-such-key/",
        "401 401 401 401 401 401",
    ),
    "integrations:heartbeat": (
        "GET",
        "/integrations/heartbeat/no-such-key/",
        "404 404 404 404 404 404",
    ),
    "login": ("GET", "/accounts/login/", "200 200 200 200 200 200"),
    "logout": ("POST", "/accounts/logout/", "302 302 302 302 302 302"),
    # Sign-in through the company's OpenID provider: not found while none is configured (as
    # here); configured, tests/sso covers them (start: a redirect to the provider for anyone;
    # callback: refused unless this browser started the sign-in).
    "sso:start": ("GET", "/sso/start/", "404 404 404 404 404 404"),
    "sso:callback": ("GET", "/sso/callback/", "404 404 404 404 404 404"),
    "metrics": ("GET", "/metrics", "200 200 200 200 200 200"),
    "notification-list": ("GET", "/api/v1/notifications/", "401 200 200 200 200 200"),
    "notification-detail": (
        "GET",
        "/api/v1/notifications/{notification}/",
        "401 404 404 200 404 404",
    ),
    "notification-ack": (
        "POST",
        "/api/v1/notifications/{notification}/ack/",
        "401 404 404 200 404 404",
    ),
    "notifications:ack_link": ("GET", "/notifications/ack/forged/", "400 400 400 400 400 400"),
    "notifications:mine": ("GET", "/notifications/mine/", "302 200 200 200 200 200"),
    "notifications:page_ack": (
        "POST",
        "/notifications/pages/{page}/ack/",
        "302 403 403 302 302 302",
    ),
    # Providers' callbacks: the provider's signature is the only credential, a session is none
    # (tests/notifications/test_providers_e2e.py signs real ones).
    "notifications:twilio_voice": (
        "POST",
        "/notifications/twilio/voice/1/",
        "403 403 403 403 403 403",
    ),
    "notifications:twilio_gather": (
        "POST",
        "/notifications/twilio/gather/1/",
        "403 403 403 403 403 403",
    ),
    "notifications:twilio_call_status": (
        "POST",
        "/notifications/twilio/call-status/1/",
        "403 403 403 403 403 403",
    ),
    "notifications:twilio_sms": ("POST", "/notifications/twilio/sms/", "403 403 403 403 403 403"),
    "notifications:slack_interactivity": (
        "POST",
        "/notifications/slack/interactivity/",
        "403 403 403 403 403 403",
    ),
    "oncall:feed": ("GET", "/feeds/oncall/no-such-token.ics", "404 404 404 404 404 404"),
    # The token is the key (tests/incidents/test_change_feeds.py reads real ones).
    "oncall:change_feed": ("GET", "/feeds/changes/no-such-token.ics", "404 404 404 404 404 404"),
    "oncall:feed_revoke": ("POST", "/me/feeds/999999/revoke/", "302 404 404 404 404 404"),
    "oncall:feeds": ("GET", "/me/feeds/", "302 200 200 200 200 200"),
    "oncall:override_add": (
        "POST",
        "/projects/{project}/oncall/overrides/",
        "302 400 400 400 400 400",
    ),
    "oncall:override_remove": (
        "POST",
        "/projects/{project}/oncall/overrides/{override}/remove/",
        "302 403 403 302 302 302",
    ),
    "oncall:override_take": ("POST", "/projects/{project}/oncall/take/", "302 404 404 404 404 404"),
    "oncall:schedule": ("GET", "/projects/{project}/oncall/", "302 200 200 200 200 200"),
    # The editors: the project's owners and IT staff (saving them is in WRITES).
    "oncall:rotation_new": (
        "GET",
        "/projects/{project}/oncall/rotations/new/",
        "302 403 403 200 200 200",
    ),
    "oncall:rotation_edit": (
        "GET",
        "/projects/{project}/oncall/rotations/{rotation}/",
        "302 403 403 200 200 200",
    ),
    "oncall:escalation_edit": (
        "GET",
        "/projects/{project}/oncall/escalation/",
        "302 403 403 200 200 200",
    ),
    # A request names a shift and a member; an empty one is answered with its errors. Who may ask
    # and answer is the service's (tests/oncall/test_swaps_and_time_off.py).
    "oncall:swap_request": ("POST", "/projects/{project}/oncall/swaps/", "302 400 400 400 400 400"),
    "oncall:swap_answer": (
        "POST",
        "/projects/{project}/oncall/swaps/999999/answer/",
        "302 404 404 404 404 404",
    ),
    # Everyone records their own time off (WRITES); only its person removes it.
    "oncall:time_off_add": (
        "POST",
        "/projects/{project}/oncall/time-off/",
        "302 400 400 400 400 400",
    ),
    "oncall:time_off_remove": (
        "POST",
        "/projects/{project}/oncall/time-off/999999/remove/",
        "302 404 404 404 404 404",
    ),
    "outage-list": ("GET", "/api/v1/outages/", "401 200 200 200 200 200"),
    "outage-detail": ("GET", "/api/v1/outages/{outage}/", "401 200 200 200 200 200"),
    "outage-preview": ("POST", "/api/v1/outages/preview/", "401 400 400 400 400 400"),
    "outage-resolve": ("POST", "/api/v1/outages/{outage}/resolve/", "401 403 403 403 200 200"),
    "outage-cause": ("POST", "/api/v1/outages/{outage}/cause/", "401 403 403 403 400 400"),
    "outage-updates": ("GET", "/api/v1/outages/{outage}/updates/", "401 200 200 200 200 200"),
    "password_change": ("GET", "/accounts/password_change/", "302 200 200 200 200 200"),
    "password_change_done": ("GET", "/accounts/password_change/done/", "302 200 200 200 200 200"),
    "password_reset": ("GET", "/accounts/password_reset/", "200 200 200 200 200 200"),
    "password_reset_complete": ("GET", "/accounts/reset/done/", "200 200 200 200 200 200"),
    "password_reset_confirm": ("GET", "/accounts/reset/MQ/bad-token/", "200 200 200 200 200 200"),
    "password_reset_done": ("GET", "/accounts/password_reset/done/", "200 200 200 200 200 200"),
    "person-list": ("GET", "/api/v1/people/", "401 200 200 200 200 200"),
    "person-detail": ("GET", "/api/v1/people/{owner}/", "401 200 200 200 200 200"),
    "project-list": ("GET", "/api/v1/projects/", "401 200 200 200 200 200"),
    "project-detail": ("GET", "/api/v1/projects/{project}/", "401 200 200 200 200 200"),
    "project-history": ("GET", "/api/v1/projects/{project}/history/", "401 200 200 200 200 200"),
    "project-remove-role": (
        "DELETE",
        "/api/v1/projects/{project}/roles/{owner}/",
        "401 403 403 400 403 400",
    ),
    "project-roles": ("POST", "/api/v1/projects/{project}/roles/", "401 400 400 400 400 400"),
    "project-support": ("GET", "/api/v1/projects/{project}/support/", "401 200 200 200 200 200"),
    "oncall-now": ("GET", "/api/v1/oncall/now/", "401 200 200 200 200 200"),
    "project-releases": (
        "GET",
        "/api/v1/projects/{project}/releases/",
        "401 200 200 200 200 200",
    ),
    # CSV import: JSON is not a CSV (415); who may import which rows is in WRITES and in
    # tests/imports/test_csv.py.
    "registry-import": ("POST", "/api/v1/registry/import/", "401 415 415 415 415 415"),
    "registry-export": ("GET", "/api/v1/registry/export/", "401 200 200 200 200 200"),
    "registry:contact_add": ("POST", "/me/contacts/", "302 200 200 200 200 200"),
    "registry:contact_remove": (
        "POST",
        "/me/contacts/{contact}/remove/",
        "302 404 404 302 404 404",
    ),
    "registry:csv_export": ("GET", "/export/registry.csv", "302 200 200 200 200 200"),
    "registry:csv_import": ("GET", "/import/csv/", "302 200 200 200 200 200"),
    "registry:catalog_export": ("GET", "/catalog/export.yaml", "302 200 200 200 200 200"),
    "registry:catalog_import": ("GET", "/catalog/", "302 403 403 403 200 200"),
    "registry:directory": ("GET", "/", "302 200 200 200 200 200"),
    "registry:profile": ("GET", "/me/", "302 200 200 200 200 200"),
    "registry:person_add": ("GET", "/people/new/", "302 403 403 403 200 200"),
    "registry:project_create": ("GET", "/projects/new/", "302 200 200 200 200 200"),
    "registry:project_dependency_add": (
        "POST",
        "/projects/{project}/dependencies/",
        "302 200 200 200 200 200",
    ),
    "registry:project_dependency_remove": (
        "POST",
        "/projects/{project}/dependencies/{dependency}/remove/",
        "302 403 403 302 302 302",
    ),
    "registry:project_detail": ("GET", "/projects/{project}/", "302 200 200 200 200 200"),
    # Its editors only: an empty form is refused to the others before it is read (and shown
    # again with its errors to the editors).
    "registry:project_release_add": (
        "POST",
        "/projects/{project}/releases/",
        "302 403 403 200 403 200",
    ),
    "registry:project_edit": ("GET", "/projects/{project}/edit/", "302 403 403 200 403 200"),
    "registry:project_role_add": ("POST", "/projects/{project}/roles/", "302 200 200 200 200 200"),
    "registry:project_role_remove": (
        "POST",
        "/projects/{project}/roles/{owner}/remove/",
        "302 403 403 200 403 200",
    ),
    "registry:system_create": ("GET", "/systems/new/", "302 403 403 403 200 200"),
    "registry:system_dependency_add": (
        "POST",
        "/systems/{system}/dependencies/",
        "302 200 200 200 200 200",
    ),
    "registry:system_dependency_remove": (
        "POST",
        "/systems/{system}/dependencies/999999/remove/",
        "302 404 404 404 404 404",
    ),
    "registry:system_detail": ("GET", "/systems/{system}/", "302 200 200 200 200 200"),
    "registry:system_edit": ("GET", "/systems/{system}/edit/", "302 403 403 403 200 200"),
    "registry:system_list": ("GET", "/systems/", "302 200 200 200 200 200"),
    "report-list": ("GET", "/api/v1/reports/", "401 200 200 200 200 200"),
    "system-report-list": ("GET", "/api/v1/system-reports/", "401 200 200 200 200 200"),
    "system-report-detail": (
        "GET",
        "/api/v1/system-reports/{system_report}/",
        "401 404 200 404 200 200",
    ),
    # The other owner sees their report but only IT opens outages; an empty body is 400.
    "system-report-outage": (
        "POST",
        "/api/v1/system-reports/{system_report}/outage/",
        "401 404 403 404 400 400",
    ),
    "report-detail": ("GET", "/api/v1/reports/{report}/", "401 200 200 404 200 200"),
    "rotation-list": ("GET", "/api/v1/rotations/", "401 200 200 200 200 200"),
    "rotation-detail": ("GET", "/api/v1/rotations/{rotation}/", "401 200 200 200 200 200"),
    "rotation-oncall": ("GET", "/api/v1/rotations/{rotation}/oncall/", "401 200 200 200 200 200"),
    "rotation-override-detail": (
        "DELETE",
        "/api/v1/rotations/{rotation}/overrides/{override}/",
        "401 403 403 204 204 204",
    ),
    "rotation-overrides": (
        "POST",
        "/api/v1/rotations/{rotation}/overrides/",
        "401 400 400 400 400 400",
    ),
    "schema": ("GET", "/api/schema/", "200 200 200 200 200 200"),
    "status-list": ("GET", "/api/v1/status/", "200 200 200 200 200 200"),
    "status-detail": ("GET", "/api/v1/status/{project}/", "200 200 200 200 200 200"),
    "subscription-list": ("GET", "/api/v1/subscriptions/", "401 200 200 200 200 200"),
    "subscription-detail": (
        "GET",
        "/api/v1/subscriptions/{subscription}/",
        "401 404 404 200 404 404",
    ),
    "system-list": ("GET", "/api/v1/systems/", "401 200 200 200 200 200"),
    "system-detail": ("GET", "/api/v1/systems/{system}/", "401 200 200 200 200 200"),
    "system-history": ("GET", "/api/v1/systems/{system}/history/", "401 200 200 200 200 200"),
    "system-impact": ("GET", "/api/v1/systems/{system}/impact/", "401 200 200 200 200 200"),
    "team-list": ("GET", "/api/v1/teams/", "401 200 200 200 200 200"),
    "team-detail": ("GET", "/api/v1/teams/{team}/", "401 200 200 200 200 200"),
    "admin:index": ("GET", "/admin/", "302 302 302 302 302 200"),
    "integrations:heartbeat-add": (
        "GET",
        "/integrations/systems/{system}/heartbeats/new/",
        "302 403 403 403 200 200",
    ),
    "integrations:heartbeat-remove": (
        "POST",
        "/integrations/heartbeats/{heartbeat}/remove/",
        "302 403 403 403 302 302",
    ),
    # Outgoing webhooks: a project's editors and IT staff; URLs may hold credentials, so others
    # do not even see them (404 in the API, 403 on pages).
    "webhook-list": ("GET", "/api/v1/webhooks/", "401 200 200 200 200 200"),
    "webhook-detail": ("GET", "/api/v1/webhooks/{webhook}/", "401 404 404 200 200 200"),
    "webhook-deliveries": (
        "GET",
        "/api/v1/webhooks/{webhook}/deliveries/",
        "401 404 404 200 200 200",
    ),
    "webhook-ping": ("POST", "/api/v1/webhooks/{webhook}/ping/", "401 404 404 201 201 201"),
    "webhook-rotate-secret": (
        "POST",
        "/api/v1/webhooks/{system_webhook}/rotate-secret/",
        "401 404 404 404 200 200",
    ),
    "webhook-redeliver": (
        "POST",
        "/api/v1/webhooks/{webhook}/deliveries/{webhook_delivery}/redeliver/",
        "401 404 404 201 201 201",
    ),
    # Leavers (directory): IT staff mark people as left or back, from the page and the API.
    "directory:people": ("GET", "/directory/people/", "302 403 403 403 200 200"),
    "directory:person_deactivate": (
        "POST",
        "/directory/people/{owner}/deactivate/",
        "302 403 403 403 302 302",
    ),
    "directory:person_reactivate": (
        "POST",
        "/directory/people/{owner}/reactivate/",
        "302 403 403 403 302 302",
    ),
    "person-deactivate": (
        "POST",
        "/api/v1/people/{owner}/deactivate/",
        "401 403 403 403 200 200",
    ),
    "person-reactivate": (
        "POST",
        "/api/v1/people/{owner}/reactivate/",
        "401 403 403 403 200 200",
    ),
    # Adopting: IT staff, the project's team and its people; the project has an active owner,
    # so those who may are told so (a message and the page again; 400 from the API).
    "directory:project_adopt": ("POST", "/projects/{project}/adopt/", "302 403 403 302 302 302"),
    "project-adopt": ("POST", "/api/v1/projects/{project}/adopt/", "401 403 403 400 400 400"),
    # SCIM answers its bearer token only, never a session, and is off with no token configured
    # (tests/directory/test_scim.py: the token, 401 without it, scim2-tester's conformance).
    "directory:scim-config": ("GET", "/scim/v2/ServiceProviderConfig", "404 404 404 404 404 404"),
    "directory:scim-resource-types": ("GET", "/scim/v2/ResourceTypes", "404 404 404 404 404 404"),
    "directory:scim-resource-type": (
        "GET",
        "/scim/v2/ResourceTypes/User",
        "404 404 404 404 404 404",
    ),
    "directory:scim-schemas": ("GET", "/scim/v2/Schemas", "404 404 404 404 404 404"),
    "directory:scim-schema": (
        "GET",
        "/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User",
        "404 404 404 404 404 404",
    ),
    "directory:scim-search": ("POST", "/scim/v2/.search", "404 404 404 404 404 404"),
    "directory:scim-users-search": ("POST", "/scim/v2/Users/.search", "404 404 404 404 404 404"),
    "directory:scim-groups-search": (
        "POST",
        "/scim/v2/Groups/.search",
        "404 404 404 404 404 404",
    ),
    "directory:scim-users": ("GET", "/scim/v2/Users", "404 404 404 404 404 404"),
    "directory:scim-user": ("GET", "/scim/v2/Users/{owner}", "404 404 404 404 404 404"),
    "directory:scim-groups": ("GET", "/scim/v2/Groups", "404 404 404 404 404 404"),
    "directory:scim-group": ("GET", "/scim/v2/Groups/1", "404 404 404 404 404 404"),
    "directory:scim-not-found": ("GET", "/scim/v2/Bulk", "404 404 404 404 404 404"),
    "webhooks:project": ("GET", "/projects/{project}/webhooks/", "302 403 403 200 200 200"),
    "webhooks:system": ("GET", "/systems/{system}/webhooks/", "302 403 403 403 200 200"),
    "webhooks:detail": ("GET", "/webhooks/{webhook}/", "302 403 403 200 200 200"),
    "webhooks:ping": ("POST", "/webhooks/{webhook}/ping/", "302 403 403 302 302 302"),
    "webhooks:rotate_secret": (
        "POST",
        "/webhooks/{system_webhook}/rotate-secret/",
        "302 403 403 403 302 302",
    ),
    "webhooks:delete": ("POST", "/webhooks/{webhook}/delete/", "302 403 403 302 302 302"),
    # On-call load: one's own; someone else's for the leads of their teams and IT staff.
    "notifications:oncall_load": ("GET", "/notifications/load/", "302 200 200 200 200 200"),
    "notifications:oncall_load_person": (
        "GET",
        "/notifications/load/{owner}/",
        "302 403 403 200 200 200",
    ),
    # Service-level rollups: signed-in people.
    "incident_portal:rollup-company": ("GET", "/service-levels/", "302 200 200 200 200 200"),
    "incident_portal:rollup-team": (
        "GET",
        "/service-levels/teams/{team}/",
        "302 200 200 200 200 200",
    ),
    # Reviews: signed-in people read them; a project incident's review is written by the
    # project's editors and IT staff, an outage's by IT staff. Starting one of an open incident
    # or outage shows its editors that it must be resolved first (409 when they insist).
    "reviews:start-incident": (
        "GET",
        "/incidents/{incident}/review/",
        "302 403 403 200 200 200",
    ),
    "reviews:start-outage": ("GET", "/it/outages/{outage}/review/", "302 403 403 403 200 200"),
    "reviews:detail": ("GET", "/reviews/{review}/", "302 200 200 200 200 200"),
    "reviews:edit": ("GET", "/reviews/{review}/edit/", "302 403 403 200 200 200"),
    "reviews:action-add": ("POST", "/reviews/{review}/actions/", "302 403 403 400 400 400"),
    # The item's owner (here the project's owner) or the review's editors.
    "reviews:action-done": (
        "POST",
        "/reviews/actions/{action_item}/done/",
        "302 403 403 302 302 302",
    ),
    "reviews:export": ("GET", "/reviews/{review}/review.md", "302 200 200 200 200 200"),
    "review-list": ("GET", "/api/v1/reviews/", "401 200 200 200 200 200"),
    "review-detail": ("GET", "/api/v1/reviews/{review}/", "401 200 200 200 200 200"),
    "review-action-items": (
        "POST",
        "/api/v1/reviews/{review}/action-items/",
        "401 403 403 400 400 400",
    ),
    "action-item-list": ("GET", "/api/v1/action-items/", "401 200 200 200 200 200"),
    "action-item-detail": (
        "GET",
        "/api/v1/action-items/{action_item}/",
        "401 200 200 200 200 200",
    ),
    "webhooks:redeliver": (
        "POST",
        "/webhooks/{webhook}/deliveries/{webhook_delivery}/redeliver/",
        "302 403 403 302 302 302",
    ),
}

# Writes with a valid body: (method, path, data, statuses as above).
WRITES: dict[str, tuple[str, str, dict, str]] = {
    # A slot booked: the change is created and scheduled at once (IT staff only).
    "change-book (valid)": (
        "POST",
        "/api/v1/changes/book/",
        {
            "title": "Printer firmware",
            "systems": ["printers"],  # the spare system (lists are not formatted)
            "planned_start_at": "2027-06-01T06:00:00Z",
            "duration_minutes": 60,
        },
        "401 403 403 403 201 201",
    ),
    "maintenance-window-list (open)": (
        "POST",
        "/api/v1/maintenance-windows/",
        {
            "title": "Rack move",
            "systems": ["printers"],
            "starts_at": "2031-01-01T10:00:00Z",
            "ends_at": "2031-01-01T12:00:00Z",
        },
        "401 403 403 403 201 201",
    ),
    "blackout-list (set)": (
        "POST",
        "/api/v1/blackouts/",
        {
            "title": "Year-end freeze",
            "time_zone": "Europe/Berlin",
            "start_date": "2031-12-20",
            "start_time": "18:00",
            "end_date": "2032-01-02",
            "end_time": "08:00",
        },
        "401 403 403 403 201 201",
    ),
    "blackout-detail (edit)": (
        "PATCH",
        "/api/v1/blackouts/{blackout}/",
        {"title": "Longer freeze"},
        "401 403 403 403 200 200",
    ),
    "blackout-detail (remove)": (
        "DELETE",
        "/api/v1/blackouts/{blackout}/",
        {},
        "401 403 403 403 204 204",
    ),
    # IT staff add someone before they sign in, from the page and the API.
    "registry:person_add": (
        "POST",
        "/people/new/",
        {"display_name": "Nia New", "email": "nia.new@example.com", "time_zone": "Asia/Kolkata"},
        "302 403 403 403 302 302",
    ),
    "person-list (create)": (
        "POST",
        "/api/v1/people/",
        {"display_name": "Nia New", "email": "nia.new@example.com", "time_zone": "Asia/Kolkata"},
        "401 403 403 403 201 201",
    ),
    "registry:project_role_add": (
        "POST",
        "/projects/{project}/roles/",
        {"person": "reader", "role": "backup", "order": "1"},
        "302 403 403 302 403 302",
    ),
    "registry:project_dependency_add": (
        "POST",
        "/projects/{project}/dependencies/",
        {"target_system": "{spare_system}", "criticality": "soft"},
        "302 403 403 302 302 302",
    ),
    "registry:project_edit": (
        "POST",
        "/projects/{project}/edit/",
        {"name": "Renamed", "slug": "{project}", "support_tier": "side_project"},
        "302 403 403 302 403 302",
    ),
    "registry:project_release_add": (
        "POST",
        "/projects/{project}/releases/",
        {"summary": "v2.0.0", "url": "https://git.example.com/tags/v2.0.0"},
        "302 403 403 302 403 302",
    ),
    "project-releases": (
        "POST",
        "/api/v1/projects/{project}/releases/",
        {"summary": "v2.0.0"},
        "401 403 403 201 403 201",
    ),
    "registry:system_edit": (
        "POST",
        "/systems/{system}/edit/",
        {"name": "Renamed", "slug": "{system}", "kind": "database"},
        "302 403 403 403 302 302",
    ),
    # A CSV row for the owner's project: its editors and IT staff only, even for a dry run.
    "registry:csv_import (check)": (
        "POST",
        "/import/csv/",
        {"text": "slug,name,owners,depends_on\n{project},Owned app,owner,{spare_system}:soft\n"},
        "302 403 403 200 200 200",
    ),
    "registry:csv_import (import)": (
        "POST",
        "/import/csv/",
        {
            "text": "slug,name,owners,depends_on\n{project},Owned app,owner,{spare_system}:soft\n",
            "action": "import",
        },
        "302 403 403 302 302 302",
    ),
    "project-detail": (
        "PATCH",
        "/api/v1/projects/{project}/",
        {"description": "x"},
        "401 403 403 200 403 200",
    ),
    "project-detail:delete": (
        "DELETE",
        "/api/v1/projects/{project}/",
        {},
        "401 403 403 204 403 204",
    ),
    "system-detail": (
        "PATCH",
        "/api/v1/systems/{system}/",
        {"description": "x"},
        "401 403 403 403 200 200",
    ),
    "team-detail": (
        "PATCH",
        "/api/v1/teams/{team}/",
        {"name": "Renamed"},
        "401 403 403 403 200 200",
    ),
    "person-detail": (
        "PATCH",
        "/api/v1/people/{owner}/",
        {"display_name": "X"},
        "401 403 403 200 403 200",
    ),
    # A project's on-call: its owners and IT staff, who run on-call for everyone.
    "rotation-detail": ("PATCH", "/api/v1/rotations/{rotation}/", {}, "401 403 403 200 200 200"),
    "rotation-detail:delete": (
        "DELETE",
        "/api/v1/rotations/{rotation}/",
        {},
        "401 403 403 204 204 204",
    ),
    "escalation-policy-detail": (
        "PATCH",
        "/api/v1/escalation-policies/{policy}/",
        {"repeat_count": 1},
        "401 403 403 200 200 200",
    ),
    "oncall:rotation_new (save)": (
        "POST",
        "/projects/{project}/oncall/rotations/new/",
        {
            "name": "Secondary",
            "layer": "1",
            "action": "save",
            "layer-0-time_zone": "Europe/Dublin",
            "layer-0-start_date": "2026-01-05",
            "layer-0-handoff_time": "08:00",
            "layer-0-length": "weekly",
            "layer-0-length_count": "1",
            "layer-0-members": "{owner}",
        },
        "302 403 403 302 302 302",
    ),
    "oncall:escalation_edit (save)": (
        "POST",
        "/projects/{project}/oncall/escalation/",
        {
            "level": "1",
            "repeat_count": "1",
            "action": "save",
            "level-0-target": "owners",
            "level-0-delay_minutes": "5",
        },
        "302 403 403 302 302 302",
    ),
    "oncall:time_off_add (own)": (
        "POST",
        "/projects/{project}/oncall/time-off/",
        {"start_at": "2031-01-01T09:00", "end_at": "2031-01-02T09:00"},
        "302 302 302 302 302 302",
    ),
    "dependency-detail": (
        "PATCH",
        "/api/v1/dependencies/{dependency}/",
        {"criticality": "soft"},
        "401 403 403 200 200 200",
    ),
    "contact-method-detail": (
        "PATCH",
        "/api/v1/people/{owner}/contact-methods/{contact}/",
        {"label": "home"},
        "401 403 403 200 403 200",
    ),
    "incident-detail": (
        "PATCH",
        "/api/v1/incidents/{incident}/",
        {"title": "Renamed"},
        "401 403 403 200 200 200",
    ),
    "subscription-detail": (
        "DELETE",
        "/api/v1/subscriptions/{subscription}/",
        {},
        "401 404 404 204 404 404",
    ),
    "webhook-list (a project's)": (
        "POST",
        "/api/v1/webhooks/",
        {"project": "{project}", "url": "https://hooks.example.com/new"},
        "401 403 403 201 201 201",
    ),
    "webhook-list (a system's)": (
        "POST",
        "/api/v1/webhooks/",
        {"system": "{system}", "url": "https://hooks.example.com/new"},
        "401 403 403 403 201 201",
    ),
    "webhook-detail (edit)": (
        "PATCH",
        "/api/v1/webhooks/{webhook}/",
        {"description": "Chat bot"},
        "401 404 404 200 200 200",
    ),
    "webhook-detail (delete)": (
        "DELETE",
        "/api/v1/webhooks/{system_webhook}/",
        {},
        "401 404 404 404 204 204",
    ),
    "integrations:heartbeat-add (add)": (
        "POST",
        "/integrations/systems/{system}/heartbeats/new/",
        {"name": "backup", "interval_minutes": "60", "grace_minutes": "5", "severity": "sev2"},
        "302 403 403 403 302 302",
    ),
    "webhooks:project (add)": (
        "POST",
        "/projects/{project}/webhooks/",
        {"url": "https://hooks.example.com/new", "is_active": "on"},
        "302 403 403 302 302 302",
    ),
    "webhooks:system (add)": (
        "POST",
        "/systems/{system}/webhooks/",
        {"url": "https://hooks.example.com/new", "is_active": "on"},
        "302 403 403 403 302 302",
    ),
    "feedback:system-problem-report (report)": (
        "POST",
        "/systems/{system}/problems/",
        {"project": "{project}", "description": "Sign-in fails for our users"},
        "302 403 403 302 403 302",
    ),
    "feedback:system-problem-outage (open)": (
        "POST",
        "/systems/{spare_system}/problems/{system_problem}/outage/",
        {"title": "Printers down", "severity": "sev2"},
        "302 403 403 403 302 302",
    ),
    "system-report-list (report)": (
        "POST",
        "/api/v1/system-reports/",
        {"system": "{system}", "project": "{project}", "description": "Sign-in fails"},
        "401 403 403 201 403 201",
    ),
    "system-report-outage (open)": (
        "POST",
        "/api/v1/system-reports/{system_report}/outage/",
        {"title": "Printers down", "severity": "sev2"},
        "401 404 403 404 201 201",
    ),
    "rotation-list (a system's)": (
        "POST",
        "/api/v1/rotations/",
        {"name": "IT nights", "system": "{system}"},
        "401 403 403 403 201 201",
    ),
    "rotation-detail (a system's)": (
        "PATCH",
        "/api/v1/rotations/{system_rotation}/",
        {"name": "IT days"},
        "401 403 403 403 200 200",
    ),
    "escalation-policy-list (a system's)": (
        "POST",
        "/api/v1/escalation-policies/",
        {"system": "{system}", "levels": [{"target": "it_contacts", "delay_minutes": 5}]},
        "401 403 403 403 201 201",
    ),
    "reviews:edit (save)": (
        "POST",
        "/reviews/{review}/edit/",
        {"impact": "Nobody could sign in"},
        "302 403 403 302 302 302",
    ),
    "reviews:edit (an outage's)": (
        "POST",
        "/reviews/{outage_review}/edit/",
        {"impact": "Nobody could sign in"},
        "302 403 403 403 302 302",
    ),
    "reviews:action-add (add)": (
        "POST",
        "/reviews/{review}/actions/",
        {"title": "Add alerts", "owner": "owner", "due_on": "{due}"},
        "302 403 403 302 302 302",
    ),
    "reviews:start-incident (start)": (
        "POST",
        "/incidents/{past_incident}/review/",
        {},
        "302 403 403 302 302 302",
    ),
    "reviews:start-outage (open)": (
        "POST",
        "/it/outages/{outage}/review/",
        {},
        "302 403 403 403 409 409",
    ),
    "review-list (start)": (
        "POST",
        "/api/v1/reviews/",
        {"incident": "{past_incident}"},
        "401 403 403 201 201 201",
    ),
    "review-list (an open outage)": (
        "POST",
        "/api/v1/reviews/",
        {"outage": "{outage}"},
        "401 403 403 403 409 409",
    ),
    "review-detail (edit)": (
        "PATCH",
        "/api/v1/reviews/{review}/",
        {"impact": "Nobody could sign in"},
        "401 403 403 200 200 200",
    ),
    "review-detail (an outage's)": (
        "PATCH",
        "/api/v1/reviews/{outage_review}/",
        {"impact": "Nobody could sign in"},
        "401 403 403 403 200 200",
    ),
    "review-action-items (add)": (
        "POST",
        "/api/v1/reviews/{review}/action-items/",
        {"title": "Add alerts", "owner": "{owner}", "due_on": "{due}"},
        "401 403 403 201 201 201",
    ),
    "action-item-detail (done)": (
        "PATCH",
        "/api/v1/action-items/{action_item}/",
        {"done": True},
        "401 403 403 200 200 200",
    ),
    "webhooks:detail (edit)": (
        "POST",
        "/webhooks/{webhook}/",
        {"url": "https://hooks.example.com/moved", "is_active": "on"},
        "302 403 403 302 302 302",
    ),
}

NOT_CHECKED = {
    # Django's admin has its own permission system (staff flag, model permissions); only its
    # index is in EXPECTED, to show it refuses everyone but the admin.
    "admin:",
}


def _names() -> set[str]:
    def walk(patterns, namespace: str | None = None):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern):
                name = pattern.name or str(pattern.pattern)
                yield f"{namespace}:{name}" if namespace else name

    return set(walk(get_resolver().url_patterns))


def _values(world: World) -> dict[str, object]:
    return {
        "project": world.project.slug,
        "other_project": world.other_project.slug,
        "system": world.system.slug,
        "spare_system": world.spare_system.slug,
        "team": world.team.slug,
        "change": world.change.pk,
        "outage": world.outage.pk,
        "incident": world.incident.pk,
        "notification": world.notification.pk,
        "page": world.notification.page_id,
        "dependency": world.dependency.pk,
        "policy": world.policy_id,
        "rotation": world.rotation.pk,
        "override": world.override_id,
        "owner": world.people["owner"].pk,
        "contact": world.contact.pk,
        "report": world.report.pk,
        "report_group": world.report_group.pk,
        "system_report": world.system_report.pk,
        "system_problem": world.system_report.problem_id,
        "system_rotation": world.system_rotation.pk,
        "subscription": world.subscription.pk,
        "audit": _any_audit_entry(),
        "webhook": world.webhook.pk,
        "system_webhook": world.system_webhook.pk,
        "webhook_delivery": world.webhook_delivery.pk,
        "heartbeat": world.heartbeat.pk,
        "window": world.window.pk,
        "blackout": world.blackout.pk,
        "past_incident": world.past_incident.pk,
        "review": world.review.pk,
        "outage_review": world.outage_review.pk,
        "action_item": world.action_item.pk,
        "due": dt.date.today() + dt.timedelta(days=7),
    }


def _any_audit_entry() -> int:
    from registry.models import AuditEntry

    return AuditEntry.objects.values_list("pk", flat=True).first()


def _request(world: World, role: str, method: str, path: str, data: dict | None = None) -> int:
    client = Client()
    user = world.users[role]
    if user is not None:
        client.force_login(user)
    with transaction.atomic():
        if method == "GET":
            response = client.get(path)
        elif method == "POST" and not path.startswith("/api/"):
            response = client.post(path, data or {})
        else:
            response = client.generic(
                method,
                path,
                data=__import__("json").dumps(data or {}),
                content_type="application/json",
            )
        transaction.set_rollback(True)
    return response.status_code


def test_every_url_has_an_expectation() -> None:
    missing = sorted(
        name
        for name in _names()
        if name not in EXPECTED and not any(name.startswith(p) for p in NOT_CHECKED)
    )
    assert not missing, (
        "These URLs have no line in tests/security/test_authorization_matrix.py EXPECTED: "
        "add one per URL with the status each role must get (anonymous, reader, owner of another "
        f"project, owner, IT staff, admin): {missing}"
    )
    gone = sorted(set(EXPECTED) - _names())
    assert not gone, f"EXPECTED names URLs that no longer exist: {gone}"


def test_every_url_answers_each_role_as_expected() -> None:
    world = world_build()
    values = _values(world)
    wrong = []
    for name, (method, path, statuses) in sorted(EXPECTED.items()):
        url = path.format(**values)
        got = [_request(world, role, method, url) for role in ROLES]
        if got != [int(s) for s in statuses.split()]:
            wrong.append(
                f"{name} {method} {url}: expected {statuses}, got {' '.join(map(str, got))}"
            )
    assert not wrong, "roles: " + " ".join(ROLES) + "\n" + "\n".join(wrong)


def test_writes_with_a_valid_body_are_refused_to_roles_that_may_not_make_them() -> None:
    world = world_build()
    values = _values(world)
    wrong = []
    for name, (method, path, data, statuses) in sorted(WRITES.items()):
        url = path.format(**values)
        body = {k: str(v).format(**values) if isinstance(v, str) else v for k, v in data.items()}
        got = [_request(world, role, method, url, body) for role in ROLES]
        if got != [int(s) for s in statuses.split()]:
            wrong.append(
                f"{name} {method} {url}: expected {statuses}, got {' '.join(map(str, got))}"
            )
    assert not wrong, "roles: " + " ".join(ROLES) + "\n" + "\n".join(wrong)


# --- lists contain only what the role may see ---------------------------------------------------


def _api_ids(world: World, role: str, path: str) -> set:
    client = Client()
    client.force_login(world.users[role])
    response = client.get(path)
    assert response.status_code == 200, (role, path, response.status_code)
    return {row["id"] for row in response.json()["results"]}


def test_api_lists_hold_only_what_each_role_may_see() -> None:
    world = world_build()
    owner_notifications = set(world.people["owner"].notifications.values_list("pk", flat=True))
    other_notifications = set(
        world.people["other_owner"].notifications.values_list("pk", flat=True)
    )
    assert owner_notifications and other_notifications
    report = {world.report.pk}  # by the reader, on the other owner's project

    expected = {
        # role: (notifications, subscriptions, reports)
        "reader": (set(), set(), report),
        "other_owner": (other_notifications, set(), report),
        "owner": (owner_notifications, {world.subscription.pk}, set()),
        "it": (set(world.people["it"].notifications.values_list("pk", flat=True)), set(), report),
        "admin": (set(), set(), report),
    }
    for role, (notifications, subscriptions, reports) in expected.items():
        assert _api_ids(world, role, "/api/v1/notifications/") == notifications, role
        assert _api_ids(world, role, "/api/v1/subscriptions/") == subscriptions, role
        assert _api_ids(world, role, "/api/v1/reports/") == reports, role


def test_html_lists_hold_only_what_each_role_may_see() -> None:
    world = world_build()
    subject = world.notification.page.subject
    for role in ("reader", "other_owner", "owner", "it", "admin"):
        client = Client()
        client.force_login(world.users[role])
        mine = client.get("/notifications/mine/").content.decode()
        assert (subject in mine) == (role == "owner"), role
        subscriptions = client.get("/subscriptions/").content.decode()
        assert (world.subscription.address in subscriptions) == (role == "owner"), role
        reports = client.get(f"/projects/{world.other_project.slug}/reports/")
        assert reports.status_code == (403 if role in ("reader", "owner") else 200), role
        if reports.status_code == 200:
            assert "A side project" in reports.content.decode(), role


def test_anonymous_pages_show_no_personal_contact_details() -> None:
    world = world_build()
    world.people["owner"].contact_methods.create(kind="sms", address="+15555550123")
    client = Client()
    for path in (
        "/status/",
        f"/status/{world.project.slug}/",
        f"/incidents/{world.incident.pk}/",
        "/api/v1/status/",
        f"/api/v1/status/{world.project.slug}/",
        f"/projects/{world.project.slug}/subscribe/",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        body = response.content.decode()
        assert "@example.com" not in body, path
        assert "+15555550123" not in body, path
