"""`steward.net`, the one way Steward calls a URL that people give it, against the production
settings of the networks: every closed address form in several spellings is refused when checked
and when sent, and a listener on loopback receives nothing; one resolution per send, and the
connection goes to the address checked (a DNS answer that changes afterwards is never used); TLS
is still verified for the URL's host on the pinned address; no redirects; bounded answers; an
answer from a non-public address is never shown beyond its status code."""

from __future__ import annotations

import ipaddress
import socket
import ssl

import pytest
import trustme

from notifications import channels
from notifications.models import Notification
from steward import net
from tests.ssrf_support import (
    PUBLIC,
    Listener,
    connections,
    refused_ids,
    refused_urls,
)

pytestmark = pytest.mark.usefixtures("production_network_settings", "fake_dns")

CASES = range(len(refused_urls(1)))


def case(index: int, port: int) -> tuple[str, str]:
    return refused_urls(port)[index]


@pytest.fixture(autouse=True)
def fresh_pools():
    yield
    net.close_pools()


def send(url: str, **headers: str) -> net.Answer:
    return net.post(
        url,
        body=b'{"x": 1}',
        headers={"Content-Type": "application/json", **headers},
        connect_timeout=2,
        read_timeout=5,
    )


# --- the class, when a URL is checked and when it is sent --------------------------------------


@pytest.mark.parametrize("index", CASES, ids=refused_ids())
def test_every_closed_form_is_refused_when_checked(index, loopback_listener):
    url, says = case(index, loopback_listener.port)
    refusal = net.url_refusal(url)
    assert refusal is not None, url
    assert says in refusal


@pytest.mark.parametrize("index", CASES, ids=refused_ids())
def test_every_closed_form_is_refused_when_sent_and_nothing_connects(index, loopback_listener):
    url, says = case(index, loopback_listener.port)
    with pytest.raises(net.Refused) as refused:
        send(url)
    assert says in str(refused.value)
    # Through the notification channel too: a permanent failure naming the reason.
    with pytest.raises(channels.PermanentError) as failed:
        channels.post_json(Notification(address=url, idempotency_key="k"), {"a": 1}, signed=True)
    assert says in str(failed.value)
    assert connections(loopback_listener) == 0
    assert loopback_listener.requests == []


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]"])
def test_the_listener_counts_what_reaches_it(host, loopback_listener, settings):
    """The control for the test above: the same listener, opened by the allow list, does see the
    request, so "nothing connected" there means refused, not unreachable."""
    if host == "[::1]" and loopback_listener.twin is None:
        pytest.skip("no IPv6 loopback on this host")
    settings.STEWARD_WEBHOOK_ALLOW_NETWORKS = ["127.0.0.1/32", "::1/128"]
    answer = send(f"http://{host}:{loopback_listener.port}/hook")
    assert answer.status == 200 and answer.address == ipaddress.ip_address(host.strip("[]"))
    assert connections(loopback_listener) == 1
    reached = loopback_listener if host == "127.0.0.1" else loopback_listener.twin
    assert [(r.path, r.headers["host"]) for r in reached.requests] == [
        ("/hook", f"{host}:{loopback_listener.port}")
    ]


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.slack.com/services/T0/B0/abc",
        "https://outlook.office.com/webhook/abc?x=1&y=2",
        "HTTPS://Hooks.Example.COM/Path%2Fx?q=%41",
        "http://8.8.8.8:8080/hook",
        "http://[2606:4700:4700::1111]/hook",
        "http://[64:ff9b::808:808]/hook",  # NAT64 of a public address: DNS64 networks
        "http://[::ffff:8.8.8.8]/hook",
        "http://[2002:808:808::1]/hook",  # 6to4 of a public address
        "https://does-not-resolve.invalid/hook",  # checked again at every send
        "http://xn--bcher-kva.example/hook",
        "http://under_score.example/hook",
    ],
)
def test_public_destinations_pass_the_check(url):
    assert net.url_refusal(url) is None


def test_the_settings_open_and_close_networks(settings):
    settings.STEWARD_WEBHOOK_ALLOW_NETWORKS = ["10.20.0.0/16", "127.0.0.0/8"]
    assert net.url_refusal("http://10.20.1.2/") is None
    assert net.url_refusal("http://[::ffff:10.20.1.2]/") is None
    assert "private address" in net.url_refusal("http://10.21.1.2/")
    # The deny list wins over the allow list, and closes public addresses too.
    deny = [*settings.STEWARD_WEBHOOK_DENY_NETWORKS, "10.20.9.0/24", "8.8.8.0/24"]
    settings.STEWARD_WEBHOOK_DENY_NETWORKS = deny
    assert "10.20.9.0/24" in net.url_refusal("http://10.20.9.9/")
    assert "8.8.8.0/24" in net.url_refusal("http://8.8.8.8/")
    assert "8.8.8.0/24" in net.url_refusal("http://[64:ff9b::8.8.8.8]/")
    # What no setting opens.
    settings.STEWARD_WEBHOOK_ALLOW_NETWORKS = ["0.0.0.0/0", "::/0"]
    for url in ("http://0.0.0.0/", "http://[::]/", "http://224.0.0.1/", "http://240.0.0.1/"):
        assert net.url_refusal(url) is not None, url
    assert "in 169.254.0.0/16, closed" in net.url_refusal("http://169.254.169.254/")


def test_production_closes_the_metadata_addresses_even_when_a_wide_range_is_opened(settings):
    settings.STEWARD_WEBHOOK_ALLOW_NETWORKS = ["100.64.0.0/10", "fc00::/7", "169.254.0.0/16"]
    assert net.url_refusal("http://100.64.0.9/") is None
    for url in (
        "http://100.100.100.200/",
        "http://[fd00:ec2::254]/",
        "http://169.254.169.254/",
        "http://[::ffff:169.254.169.254]/",
    ):
        assert net.url_refusal(url) is not None, url


def test_every_special_purpose_address_of_the_ipv4_registry_is_refused():
    """The IANA special-purpose registry, network by network: its first address."""
    registry = [
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "240.0.0.0/4",
        "255.255.255.255/32",
    ]
    for network in registry:
        for address in (ipaddress.ip_network(network)[0], ipaddress.ip_network(network)[-1]):
            assert net.address_refusal(address) is not None, address
            mapped = ipaddress.IPv6Address(f"::ffff:{address}")
            assert net.address_refusal(mapped) is not None, mapped
            nat64 = ipaddress.IPv6Address(f"64:ff9b::{address}")
            assert net.address_refusal(nat64) is not None, nat64


# --- one resolution, and the connection goes to the address checked ----------------------------


def test_a_dns_answer_that_changes_after_the_check_is_never_used(fake_dns, settings):
    """Rebinding: the name answers an allowed address first and loopback afterwards. Steward asks
    once per send and connects to what it checked; the listener on 127.0.0.1 hears nothing."""
    allowed = Listener("127.0.0.2")
    target = Listener("127.0.0.1", allowed.port)
    try:
        settings.STEWARD_WEBHOOK_ALLOW_NETWORKS = ["127.0.0.2/32"]
        fake_dns.answers["rebind.example.test"] = lambda n: (
            ["127.0.0.2"] if n == 1 else ["127.0.0.1"]
        )
        url = f"http://rebind.example.test:{allowed.port}/hook"
        answer = send(url)
        assert answer.status == 200
        assert answer.address == ipaddress.ip_address("127.0.0.2")
        assert fake_dns.asked["rebind.example.test"] == 1
        assert target.connections == 0
        [seen] = allowed.requests
        assert seen.headers["host"] == f"rebind.example.test:{allowed.port}"
        # The next send asks again, gets loopback, and is refused before connecting.
        with pytest.raises(net.Refused, match="resolves to 127.0.0.1, a loopback address"):
            send(url)
        assert fake_dns.asked["rebind.example.test"] == 2
        assert target.connections == 0
    finally:
        allowed.close()
        target.close()


def test_a_pooled_connection_is_not_reused_for_another_answer(fake_dns, settings):
    """Keep-alive is per checked address: when the name moves to another allowed address, the
    next send connects there, not down the old connection."""
    first = Listener("127.0.0.2")
    second = Listener("127.0.0.3", first.port)
    try:
        settings.STEWARD_WEBHOOK_ALLOW_NETWORKS = ["127.0.0.2/32", "127.0.0.3/32"]
        fake_dns.answers["moving.example.test"] = lambda n: (
            ["127.0.0.2"] if n <= 2 else ["127.0.0.3"]
        )
        url = f"http://moving.example.test:{first.port}/hook"
        for _ in range(3):
            assert send(url).status == 200
        assert (len(first.requests), len(second.requests)) == (2, 1)
        assert first.connections == 1  # the first two went down one kept-alive connection
    finally:
        first.close()
        second.close()


def test_one_refused_address_among_the_answers_refuses_the_url(fake_dns, loopback_listener):
    fake_dns.answers["both.example.test"] = [PUBLIC, "::1", PUBLIC]
    with pytest.raises(net.Refused, match="resolves to ::1, a loopback address"):
        send(f"http://both.example.test:{loopback_listener.port}/")
    assert connections(loopback_listener) == 0


def test_a_name_that_does_not_resolve_is_accepted_when_saved_and_retried_when_sent():
    assert net.url_refusal("https://not-yet.invalid/hook") is None
    with pytest.raises(net.Unreachable, match="does not resolve"):
        send("https://not-yet.invalid/hook")
    with pytest.raises(channels.TransientError):
        channels.post_json(
            Notification(address="https://not-yet.invalid/hook", idempotency_key="k"),
            {"a": 1},
            signed=False,
        )


# --- TLS on the pinned address ----------------------------------------------------------------


@pytest.fixture
def tls_ca(tmp_path, production_network_settings):
    settings = production_network_settings
    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    settings.STEWARD_WEBHOOK_CA_BUNDLE = str(bundle)
    settings.STEWARD_WEBHOOK_ALLOW_NETWORKS = ["127.0.0.1/32"]
    return ca


def tls_listener(ca: trustme.CA, *names: str) -> Listener:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(*names).configure_cert(context)
    return Listener("127.0.0.1", tls=context)


def test_https_to_the_pinned_address_still_verifies_the_url_host(tls_ca, fake_dns):
    listener = tls_listener(tls_ca, "hooks.example.test")
    try:
        fake_dns.answers["hooks.example.test"] = ["127.0.0.1"]
        answer = send(f"https://hooks.example.test:{listener.port}/in?x=1")
        assert answer.status == 200 and answer.address == ipaddress.ip_address("127.0.0.1")
        [seen] = listener.requests
        assert seen.path == "/in?x=1"
        assert seen.headers["host"] == f"hooks.example.test:{listener.port}"
        assert listener.sni == ["hooks.example.test"]
    finally:
        listener.close()


def test_https_refuses_a_certificate_for_another_name(tls_ca, fake_dns):
    """The address is pinned, but the certificate must still be for the URL's host: a server
    that answers for another name gets no request."""
    listener = tls_listener(tls_ca, "other.example.test")
    try:
        fake_dns.answers["hooks.example.test"] = ["127.0.0.1"]
        with pytest.raises(net.Unreachable, match="TLS"):
            send(f"https://hooks.example.test:{listener.port}/in")
        assert listener.requests == []
    finally:
        listener.close()


def test_https_refuses_a_certificate_from_an_unknown_ca(tls_ca, fake_dns, settings):
    listener = tls_listener(tls_ca, "hooks.example.test")
    try:
        settings.STEWARD_WEBHOOK_CA_BUNDLE = ""  # certifi's public CAs only
        fake_dns.answers["hooks.example.test"] = ["127.0.0.1"]
        with pytest.raises(net.Unreachable, match="TLS"):
            send(f"https://hooks.example.test:{listener.port}/in")
        assert listener.requests == []
    finally:
        listener.close()


# --- what comes back ------------------------------------------------------------------------


@pytest.fixture
def allowed_loopback(production_network_settings):
    production_network_settings.STEWARD_WEBHOOK_ALLOW_NETWORKS = ["127.0.0.1/32"]


SECRET_PAGE = b"<h1>Internal admin</h1> db_password=hunter2 stack trace: /srv/app.py line 3"


@pytest.mark.usefixtures("allowed_loopback")
@pytest.mark.parametrize("status", [400, 403, 404, 500, 502])
def test_an_answer_from_a_non_public_address_shows_its_status_code_only(status):
    listener = Listener(answer=(status, {"Content-Type": "text/html"}, SECRET_PAGE))
    try:
        url = f"http://127.0.0.1:{listener.port}/hook"
        assert send(url).excerpt == ""
        with pytest.raises(channels.DeliveryError) as failed:
            channels.post_json(Notification(address=url, idempotency_key="k"), {}, signed=False)
        assert str(failed.value) == f"HTTP {status}"
        assert failed.value.status_code == status
    finally:
        listener.close()


@pytest.mark.usefixtures("allowed_loopback")
def test_an_answer_from_a_public_address_is_shown_in_part(monkeypatch):
    """The other side of the rule above (a public address stands in for the listener)."""
    monkeypatch.setattr(net, "is_public", lambda address: True)
    listener = Listener(answer=(400, {}, b"invalid_payload\x1b[31m" + b"x" * 1000))
    try:
        url = f"http://127.0.0.1:{listener.port}/hook"
        with pytest.raises(channels.PermanentError) as failed:
            channels.post_json(Notification(address=url, idempotency_key="k"), {}, signed=False)
        message = str(failed.value)
        assert message.startswith("HTTP 400: invalid_payload")
        assert "\x1b" not in message and len(message) <= len("HTTP 400: ") + net.EXCERPT_CHARS
    finally:
        listener.close()


@pytest.mark.usefixtures("allowed_loopback")
def test_redirects_are_not_followed():
    elsewhere = Listener()
    redirecting = Listener(
        answer=(307, {"Location": f"http://127.0.0.1:{elsewhere.port}/internal"}, b"")
    )
    try:
        with pytest.raises(channels.PermanentError, match="HTTP 307"):
            channels.post_json(
                Notification(address=f"http://127.0.0.1:{redirecting.port}/", idempotency_key="k"),
                {},
                signed=False,
            )
        assert elsewhere.connections == 0
    finally:
        elsewhere.close()
        redirecting.close()


@pytest.mark.usefixtures("allowed_loopback")
@pytest.mark.parametrize("size", [0, net.MAX_ANSWER_BYTES, 5_000_000])
def test_an_answer_is_read_up_to_a_bound(size):
    listener = Listener(answer=(200, {}, b"y" * size))
    try:
        url = f"http://127.0.0.1:{listener.port}/hook"
        answer = send(url)
        assert answer.status == 200
        assert len(answer.body) == min(size, net.MAX_ANSWER_BYTES)
        # The connection is reused only when the answer was read to its end.
        send(url)
        assert listener.connections == (1 if size <= net.MAX_ANSWER_BYTES else 2)
    finally:
        listener.close()


@pytest.mark.usefixtures("allowed_loopback")
def test_retry_after_and_the_idempotency_key_survive(settings):
    listener = Listener(answer=(429, {"Retry-After": "7"}, b""))
    try:
        notification = Notification(
            address=f"http://127.0.0.1:{listener.port}/hook", idempotency_key="key-1"
        )
        with pytest.raises(channels.TransientError) as failed:
            channels.post_json(notification, {"a": 1}, signed=True)
        assert failed.value.retry_after == 7 and failed.value.status_code == 429
        [seen] = listener.requests
        assert seen.headers["idempotency-key"] == "key-1"
        assert seen.headers["host"] == f"127.0.0.1:{listener.port}"
        assert seen.headers["user-agent"] == channels.USER_AGENT
        assert seen.headers["x-steward-signature"].startswith("sha256=")
    finally:
        listener.close()


def test_a_refused_connection_is_worth_retrying(allowed_loopback):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, never listening: connections are refused
        with pytest.raises(channels.TransientError, match="Could not connect"):
            channels.post_json(
                Notification(address=f"http://127.0.0.1:{port}/", idempotency_key="k"),
                {},
                signed=False,
            )
