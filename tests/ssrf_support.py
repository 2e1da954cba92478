"""What the tests of "Steward never calls a URL it should not" share: the class of refused URLs
(every address form that must stay closed, in several spellings each), a listener on loopback
that counts every connection it accepts, a resolver that answers what a test says, and the
production settings of the networks.

The matrix targets the listener's port, so that a URL that slipped through anywhere would show
as a connection on the listener, not merely as a wrong return value."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from steward import net

ROOT = Path(__file__).resolve().parent.parent

# A public address for names in the fake DNS; nothing is ever sent to it in these tests.
PUBLIC = "93.184.215.14"


def teredo(client: str, server: str = "65.54.227.120") -> str:
    """The Teredo address of a client (its IPv4 address is stored inverted)."""
    packed = (
        (0x2001 << 112)
        | (int(ipaddress.IPv4Address(server)) << 64)
        | (0x8000 << 48)
        | (0x63BF << 32)
        | (~int(ipaddress.IPv4Address(client)) & 0xFFFFFFFF)
    )
    return str(ipaddress.IPv6Address(packed))


# Names the fake DNS answers (fixture `fake_dns`): each resolves to an address that is refused, or
# to a public one and a refused one (any refused answer refuses the URL).
DNS = {
    "loopback.example.test": ["127.0.0.1"],
    "v6-loopback.example.test": ["::1"],
    "mixed.example.test": [PUBLIC, "127.0.0.1"],
    "mapped.example.test": ["::ffff:127.0.0.1"],
    "metadata.example.test": ["169.254.169.254"],
    "zero.example.test": ["0.0.0.0"],
    "v6-zero.example.test": ["::"],
    "private.example.test": ["10.1.2.3"],
}


def refused_urls(port: int) -> list[tuple[str, str]]:
    """(URL, what the refusal says): loopback in every spelling, then the other closed address
    forms, names resolving to them, and the spellings on which URL parsers disagree."""
    p = port
    return [
        # loopback, plainly and in IPv6
        (f"http://127.0.0.1:{p}/hook", "127.0.0.1 is a loopback address"),
        (f"https://127.0.0.1:{p}/hook", "127.0.0.1 is a loopback address"),
        (f"HTTP://127.0.0.1:{p}/hook", "127.0.0.1 is a loopback address"),
        (f"http://127.255.255.254:{p}/", "127.255.255.254 is a loopback address"),
        (f"http://[::1]:{p}/hook", "::1 is a loopback address"),
        (f"http://[0:0:0:0:0:0:0:1]:{p}/hook", "::1 is a loopback address"),
        (f"http://[0000::0001]:{p}/hook", "::1 is a loopback address"),
        # loopback as other spellings of an IPv4 address (inet_aton reads them all as 127.0.0.1)
        (f"http://2130706433:{p}/", "four decimal parts"),
        (f"http://0x7f000001:{p}/", "four decimal parts"),
        (f"http://0x7f.0x0.0x0.0x1:{p}/", "four decimal parts"),
        (f"http://0x7f.1:{p}/", "four decimal parts"),
        (f"http://017700000001:{p}/", "four decimal parts"),
        (f"http://0177.0.0.1:{p}/", "four decimal parts"),
        (f"http://127.1:{p}/", "four decimal parts"),
        (f"http://127.0.1:{p}/", "four decimal parts"),
        (f"http://127.000.000.001:{p}/", "four decimal parts"),
        (f"http://0:{p}/", "four decimal parts"),
        # loopback inside IPv6 forms
        (f"http://[::ffff:127.0.0.1]:{p}/", "IPv4-mapped form of 127.0.0.1, a loopback address"),
        (f"http://[::ffff:7f00:1]:{p}/", "IPv4-mapped form of 127.0.0.1, a loopback address"),
        (f"http://[0:0:0:0:0:ffff:127.0.0.1]:{p}/", "IPv4-mapped form of 127.0.0.1"),
        (f"http://[::127.0.0.1]:{p}/", "IPv4-compatible"),
        (f"http://[64:ff9b::127.0.0.1]:{p}/", "NAT64 form of 127.0.0.1, a loopback address"),
        (f"http://[64:ff9b::7f00:1]:{p}/", "NAT64 form of 127.0.0.1, a loopback address"),
        (f"http://[64:ff9b:1::7f00:1]:{p}/", "local-use NAT64"),
        (f"http://[2002:7f00:1::1]:{p}/", "6to4 form of 127.0.0.1, a loopback address"),
        (f"http://[{teredo('127.0.0.1')}]:{p}/", "Teredo"),
        # unspecified: connecting to it reaches this host
        (f"http://0.0.0.0:{p}/", "0.0.0.0 is in 0.0.0.0/8"),
        (f"http://0.1.2.3:{p}/", "0.1.2.3 is in 0.0.0.0/8"),
        (f"http://[::]:{p}/", ":: is the unspecified address"),
        (f"http://[0:0:0:0:0:0:0:0]:{p}/", ":: is the unspecified address"),
        (f"http://[::ffff:0.0.0.0]:{p}/", "IPv4-mapped form of 0.0.0.0"),
        (f"http://[64:ff9b::]:{p}/", "NAT64 form of 0.0.0.0"),
        # link-local, where cloud metadata services answer, and other metadata addresses
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://[fe80::1]/", "fe80::1 is a link-local address"),
        ("http://[::ffff:169.254.169.254]/", "IPv4-mapped form of 169.254.169.254, a link-local"),
        ("http://[64:ff9b::a9fe:a9fe]/", "NAT64 form of 169.254.169.254, a link-local"),
        ("http://100.100.100.200/latest/meta-data/", "100.100.100.200 is a shared address"),
        ("http://[fd00:ec2::254]/", "fd00:ec2::254 is a unique local"),
        # multicast, broadcast, reserved
        ("http://224.0.0.1/", "224.0.0.1 is a multicast address"),
        ("http://239.255.255.250/", "239.255.255.250 is a multicast address"),
        ("http://[ff02::1]/", "ff02::1 is a multicast address"),
        ("http://[::ffff:224.0.0.1]/", "IPv4-mapped form of 224.0.0.1, a multicast address"),
        ("http://255.255.255.255/", "255.255.255.255 is the broadcast address"),
        ("http://240.0.0.1/", "240.0.0.1 is a reserved address"),
        ("http://[fec0::1]/", "fec0::1 is a site-local address"),
        ("http://[4000::1]/", "4000::1 is a reserved address"),
        # private networks: production opens none of them
        ("http://10.0.0.1/", "10.0.0.1 is a private address"),
        ("http://172.16.5.4/", "172.16.5.4 is a private address"),
        ("http://192.168.1.1/", "192.168.1.1 is a private address"),
        ("http://100.64.0.1/", "100.64.0.1 is a shared address"),
        ("http://[fd12:3456::1]/", "fd12:3456::1 is a unique local"),
        ("http://[::ffff:10.0.0.1]/", "IPv4-mapped form of 10.0.0.1, a private address"),
        ("http://[64:ff9b::a00:1]/", "NAT64 form of 10.0.0.1, a private address"),
        ("http://[2002:a00:1::]/", "6to4 form of 10.0.0.1, a private address"),
        ("http://192.0.2.1/", "192.0.2.1 is a documentation address"),
        # names that resolve to such addresses
        (f"http://localhost:{p}/", "localhost resolves to"),
        (f"http://LocalHost:{p}/", "localhost resolves to"),
        (f"http://loopback.example.test:{p}/", "resolves to 127.0.0.1, a loopback address"),
        (f"http://v6-loopback.example.test:{p}/", "resolves to ::1, a loopback address"),
        (f"http://mixed.example.test:{p}/", "resolves to 127.0.0.1, a loopback address"),
        (f"http://mapped.example.test:{p}/", "an IPv4-mapped form of 127.0.0.1"),
        ("http://metadata.example.test/", "resolves to 169.254.169.254, a link-local"),
        (f"http://zero.example.test:{p}/", "resolves to 0.0.0.0"),
        (f"http://v6-zero.example.test:{p}/", "resolves to ::, the unspecified"),
        ("http://private.example.test/", "resolves to 10.1.2.3, a private address"),
        # spellings that parsers read differently: user info, backslashes, fragments, escapes
        (f"http://evil.example@127.0.0.1:{p}/", "without a user name"),
        (f"http://evil.example:pw@127.0.0.1:{p}/", "without a user name"),
        (f"http://@127.0.0.1:{p}/", "without a user name"),
        (f"http://127.0.0.1:{p}@evil.example/", "without a user name"),
        (f"http://a@b@127.0.0.1:{p}/", "without a user name"),
        (f"http://127.0.0.1:{p}\\@evil.example/", "backslash"),
        (f"http://evil.example\\@127.0.0.1:{p}/", "backslash"),
        (f"http:\\\\127.0.0.1:{p}/", "backslash"),
        (f"http://evil.example#@127.0.0.1:{p}/", "#fragment"),
        (f"http://127.0.0.1:{p}#@evil.example/", "#fragment"),
        (f"http://127.0.0.1:{p}?@evil.example/", "127.0.0.1 is a loopback address"),
        (f"http://%31%32%37.0.0.1:{p}/", "percent-encoding"),
        (f"http://127.0.0.1%2f@evil.example:{p}/", "without a user name"),
        (f"http://loc%61lhost:{p}/", "percent-encoding"),
        (f"http://[::1%25lo]:{p}/", "IPv6 zone"),
        (f"http://[fe80::1%25eth0]:{p}/", "IPv6 zone"),
        (f"http://localhost.:{p}/", "final dot"),
        (f"http://127.0.0.1.:{p}/", "final dot"),
        (f"http://127\u30020\u30020\u30021:{p}/", "non-ASCII"),  # ideographic full stops
        (f"http://127\uff0e0\uff0e0\uff0e1:{p}/", "non-ASCII"),  # fullwidth full stops
        (f"http://\u24dbocalhost:{p}/", "non-ASCII"),  # a circled l, which IDNA maps to l
        (f"http://loca\u00adlhost:{p}/", "non-ASCII"),  # a soft hyphen, which IDNA drops
        (f"http://127.0.0.\t1:{p}/", "control characters"),
        (f"http://127.0.0.1:{p}/a/../hook", "does not read back as written"),
        (f"http://127.0.0.1:/{p}", "does not read back as written"),
        (f"gopher://127.0.0.1:{p}/", "Only http:// and https://"),
        ("file:///etc/passwd", "Only http:// and https://"),
    ]


def refused_ids(port: int = 1) -> list[str]:
    return [url for url, _ in refused_urls(port)]


# --- the production settings of the networks ----------------------------------------------------


@pytest.fixture(scope="session")
def production_networks() -> dict[str, list[str]]:
    """STEWARD_WEBHOOK_{DENY,ALLOW}_NETWORKS as `steward.settings.production` has them, read by
    loading those settings in a child process with none of the variables set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEWARD_WEBHOOK_")}
    env.update(DJANGO_SETTINGS_MODULE="steward.settings.production", SECRET_KEY="x" * 60)
    script = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({'deny': s.STEWARD_WEBHOOK_DENY_NETWORKS, "
        "'allow': s.STEWARD_WEBHOOK_ALLOW_NETWORKS}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture
def production_network_settings(settings, production_networks):
    assert production_networks["allow"] == []  # production opens nothing by default
    settings.STEWARD_WEBHOOK_DENY_NETWORKS = production_networks["deny"]
    settings.STEWARD_WEBHOOK_ALLOW_NETWORKS = production_networks["allow"]
    return settings


# --- a resolver that answers what the test says ---------------------------------------------


@dataclass
class FakeDns:
    """Names in `answers` resolve to the given addresses (a list, or a function of how many times
    the name was asked); every other name goes to the real resolver."""

    answers: dict[str, list[str] | Callable[[int], list[str]]] = field(default_factory=dict)
    asked: Counter = field(default_factory=Counter)
    real: Callable = socket.getaddrinfo

    def getaddrinfo(self, host, port, family=0, type=0, proto=0, flags=0):  # noqa: A002
        name = host.decode() if isinstance(host, bytes) else host
        key = (name or "").lower()
        if key not in self.answers:
            return self.real(host, port, family, type, proto, flags)
        self.asked[key] += 1
        answer = self.answers[key]
        addresses = answer(self.asked[key]) if callable(answer) else answer
        port_number = int(port or 0)
        infos = []
        for text in addresses:
            address = ipaddress.ip_address(text)
            if address.version == 6:
                infos.append(
                    (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (text, port_number, 0, 0))
                )
            else:
                infos.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (text, port_number)))
        return infos


@pytest.fixture
def fake_dns(monkeypatch) -> FakeDns:
    dns = FakeDns(answers=dict(DNS))
    monkeypatch.setattr(socket, "getaddrinfo", dns.getaddrinfo)
    return dns


# --- a listener that counts every connection -------------------------------------------------


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes


class Listener:
    """An HTTP(S) server on one address that counts the connections it accepts (a refused URL must
    not even connect) and records requests. `answer` is (status, headers, body)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
        answer: tuple[int, dict[str, str], bytes] = (200, {}, b'{"ok": true}'),
    ) -> None:
        self.connections = 0
        self.requests: list[Seen] = []
        self.sni: list[str | None] = []
        self.answer = answer
        self.lock = threading.Lock()
        listener = self
        if tls is not None:
            tls.sni_callback = lambda _sock, name, _ctx: listener.sni.append(name)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

            def get_request(self):
                sock, address = self.socket.accept()
                with listener.lock:
                    listener.connections += 1
                if tls is not None:
                    sock = tls.wrap_socket(sock, server_side=True)
                return sock, address

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length),
                )
                with listener.lock:
                    listener.requests.append(seen)
                status, headers, body = listener.answer
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET = do_PUT = _any  # noqa: N815

        self.server = Server((host, port), Handler)
        self.host = host
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def loopback_listener() -> Iterator[Listener]:
    """A listener on 127.0.0.1, and on ::1 at the same port where this host has IPv6: what every
    loopback form in the matrix points at."""
    listener = Listener("127.0.0.1")
    twin = None
    with contextlib.suppress(OSError):  # no IPv6 here
        twin = Listener("::1", listener.port)
    listener.twin = twin
    yield listener
    listener.close()
    if twin is not None:
        twin.close()
    net.close_pools()


def connections(listener: Listener) -> int:
    twin = getattr(listener, "twin", None)
    return listener.connections + (twin.connections if twin is not None else 0)
