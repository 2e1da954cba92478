"""People's webhook, Slack and Teams contact methods stored before the rule (or whose host name
resolves elsewhere since they were saved) are checked again at every send, against the production
settings of the networks: each delivery to a URL of the class in `tests.ssrf_support` fails for
good, naming the reason, and the loopback listener never sees a connection."""

import pytest

from notifications import services
from notifications.models import Notification
from registry.models import ContactMethod
from tests.ssrf_support import connections, refused_urls

from .conftest import MONDAY_10, person_with

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("production_network_settings", "fake_dns"),
]
URL_KINDS = (ContactMethod.Kind.WEBHOOK, ContactMethod.Kind.SLACK, ContactMethod.Kind.TEAMS)


def test_every_closed_url_of_a_contact_method_fails_at_send(event, loopback_listener):
    cases = refused_urls(loopback_listener.port)
    says_for = dict(cases)
    person = person_with(
        *[
            (URL_KINDS[index % len(URL_KINDS)], url, True, True)
            for index, (url, _says) in enumerate(cases)
        ]
    )
    rows = services.notices_send(
        event=event, topic="t", recipients=[person], subject="s", body="b", now=MONDAY_10
    )
    assert len(rows) == len(cases)
    outcomes = {services.notification_send(notification_id=r.pk, now=MONDAY_10) for r in rows}
    assert outcomes == {"failed"}
    problems = [
        f"{row.address!r}: {row.state} {row.last_error!r}"
        for row in Notification.objects.filter(pk__in=[r.pk for r in rows])
        if row.state != "failed" or says_for[row.address] not in row.last_error
    ]
    assert problems == []
    assert connections(loopback_listener) == 0
