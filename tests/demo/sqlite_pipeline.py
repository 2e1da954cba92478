"""Run by tests/demo/test_sqlite_demo.py in a process of its own, on the one-command demo's
settings (SQLite, the filesystem broker): a page and an endpoint delivery reach a local HTTP
receiver and are marked sent once each, and a missed heartbeat opens one outage. Prints a JSON
summary for the test to check."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

received: list[str] = []


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        received.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def main() -> None:
    from incidents.services import outage_open
    from integrations import services as integrations
    from notifications import services as delivery
    from notifications.models import DeliveryAttempt, Notification
    from registry.models import ContactMethod, ProjectRole
    from tests.factories import (
        ContactMethodFactory,
        DependencyFactory,
        PersonFactory,
        ProjectFactory,
        ProjectRoleFactory,
        SystemFactory,
        it_staff_user,
    )
    from webhooks.services import webhook_endpoint_create

    call_command("migrate", verbosity=0)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"

    sso = SystemFactory(name="SSO", slug="sso")
    people = ProjectFactory(name="People", slug="people")
    DependencyFactory(source_project=people, target_system=sso)
    owner = PersonFactory(display_name="Pia Owner", email="")
    ContactMethodFactory(
        person=owner, kind=ContactMethod.Kind.WEBHOOK, address=f"{url}/page", for_notices=False
    )
    ProjectRoleFactory(project=people, person=owner, role=ProjectRole.Role.OWNER)
    it = it_staff_user()
    webhook_endpoint_create(actor=it, project=people, url=f"{url}/endpoint")
    outage = outage_open(actor=it, title="SSO down", systems=[sso])

    now = timezone.now() + timedelta(seconds=1)
    outcomes = [
        delivery.notification_send(notification_id=pk, now=now)
        for pk in Notification.objects.filter(event_id=outage.pk).values_list("pk", flat=True)
    ]
    states = sorted(Notification.objects.values_list("state", flat=True))
    heartbeat = integrations.heartbeat_create(
        system=sso, name="cron", interval_minutes=5, now=timezone.now() - timedelta(hours=1)
    )
    opened = [integrations.heartbeats_check(), integrations.heartbeats_check()]
    heartbeat.refresh_from_db()
    print(
        json.dumps(
            {
                "outcomes": sorted(outcomes),
                "states": states,
                "attempts": DeliveryAttempt.objects.count(),
                "received": sorted(received),
                "heartbeat_outages": opened,
                "heartbeat_down": heartbeat.down_since is not None,
            }
        )
    )
    server.shutdown()


main()
