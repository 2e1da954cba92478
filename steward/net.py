"""Outbound HTTP to addresses that people give Steward: outgoing webhooks, the webhook, Slack and
Teams contact methods, status-page webhook subscriptions. The one way Steward calls such a URL,
and the one check of whether it may (`url_refusal` when a URL is saved, `post` at every send).

One parser, one resolution, one connection. A URL is read once, by urllib3's `parse_url` (the
parser of the HTTP client itself), and refused unless it reads back as written: only http(s), no
user name or password, no fragment, printable ASCII only (an international host in its `xn--`
form), no backslash, no percent-encoded or numeric-but-not-dotted-quad host (`127.1`,
`2130706433`, `0x7f.1`, `0177.0.0.1` each mean 127.0.0.1 to some programs), no IPv6 zone, no
trailing dot. The host is resolved once; if ANY of its addresses may not be sent to, the URL is
refused; otherwise Steward connects to an address it checked (a later DNS answer is never used),
with the URL's host still in the `Host` header, the TLS SNI and the certificate check. Redirects
are not followed and at most `MAX_ANSWER_BYTES` of an answer are read.

Which addresses (`address_refusal`), in this order:
- never, whatever the settings: the unspecified address and 0.0.0.0/8, multicast, broadcast,
  reserved ranges, IPv6 site-local, IPv4-compatible and Teredo forms, local-use NAT64;
- an IPv4-mapped (::ffff:a.b.c.d), NAT64 (64:ff9b::a.b.c.d) or 6to4 (2002:AABB:CCDD::) address
  is judged as the IPv4 address it carries;
- STEWARD_WEBHOOK_DENY_NETWORKS: refused, even inside the allow list (cloud metadata addresses);
- STEWARD_WEBHOOK_ALLOW_NETWORKS: allowed although not public (an intranet's receivers; the
  test and demo sinks on loopback);
- anything else that is not a public, globally routable address: loopback, link-local,
  private (RFC 1918), shared (100.64.0.0/10, carrier-grade NAT), unique local (fc00::/7),
  documentation and benchmarking ranges.

What Steward shows of an answer: the status code, and an excerpt of the body only when the
address is public and not in the allow list, so that an internal service's error page never
reaches the person who typed the URL.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import certifi
import urllib3
from django.conf import settings
from urllib3.exceptions import HTTPError, LocationParseError
from urllib3.util import Url, parse_url

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Enough for a status line's explanation; a receiver cannot make a worker read more.
MAX_ANSWER_BYTES = 4096
EXCERPT_CHARS = 300
POOLS_KEPT = 64


class Refused(ValueError):
    """Steward does not send to this URL. The message says why, for the person who gave it."""


class Unreachable(OSError):
    """The URL is acceptable but the request did not complete (DNS, connection, TLS, timeout):
    worth trying again later."""


# --- reading a URL ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Destination:
    scheme: str  # http or https
    host: str  # as in a Host header: lower case, IPv6 in brackets
    port: int
    explicit_port: bool
    target: str  # path and query: what goes on the request line

    @property
    def hostname(self) -> str:
        """The host without IPv6 brackets: what is resolved, sent as SNI and checked in the
        certificate."""
        return self.host.strip("[]")

    @property
    def host_header(self) -> str:
        return f"{self.host}:{self.port}" if self.explicit_port else self.host


_PRINTABLE_ASCII = re.compile(r"^[\x21-\x7e]+$")
_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_AUTHORITY = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://([^/?#]*)")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def destination(url: str) -> Destination:
    """Read a URL the way it will be sent, or raise Refused saying what is wrong with it."""
    if not isinstance(url, str) or not url:
        raise Refused("Give an http:// or https:// URL.")
    if not _PRINTABLE_ASCII.match(url):
        raise Refused(
            "The URL has spaces, control characters or non-ASCII letters: percent-encode "
            "the path and write an international host name in its xn-- form."
        )
    if "\\" in url:
        raise Refused("A backslash has no place in a URL; use /.")
    try:
        parsed = parse_url(url)
    except LocationParseError:
        raise Refused("This is not a URL Steward can read.") from None
    if parsed.scheme not in _DEFAULT_PORTS or not url.lower().startswith(f"{parsed.scheme}://"):
        raise Refused("Only http:// and https:// URLs are sent to.")
    authority = _AUTHORITY.match(url)
    if parsed.auth is not None or (authority and "@" in authority.group(1)):
        raise Refused(
            "Write the URL without a user name or password (user@host): receivers "
            "authenticate Steward by the signature, or by a token in the path."
        )
    if parsed.fragment is not None:
        raise Refused("Remove the #fragment: it is never sent, and only confuses what is.")
    if not parsed.host:
        raise Refused("The URL has no host.")
    if authority and "%" in authority.group(1):
        raise Refused("Write the host plainly: no percent-encoding and no IPv6 zone (%25…).")
    host = parsed.host
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise Refused(f"{host} is not an IPv6 address.") from None
    else:
        _check_host_name(host)
    if parsed.port == 0:
        raise Refused("Port 0 is not a port Steward can send to.")
    rebuilt = Url(
        scheme=parsed.scheme, host=host, port=parsed.port, path=parsed.path, query=parsed.query
    ).url
    # What the client would send must be what was written (up to the case of the scheme and
    # host, and of percent-escapes): no part may move into another.
    if rebuilt.lower() != url.lower():
        raise Refused(
            f"This URL does not read back as written (it would be sent as {rebuilt}); "
            "write it that way."
        )
    target = (parsed.path or "/") + (f"?{parsed.query}" if parsed.query is not None else "")
    return Destination(
        scheme=parsed.scheme,
        host=host,
        port=parsed.port or _DEFAULT_PORTS[parsed.scheme],
        explicit_port=parsed.port is not None,
        target=target,
    )


def _check_host_name(host: str) -> None:
    if host.endswith("."):
        raise Refused(f"Write the host without the final dot: {host.rstrip('.')}.")
    labels = host.split(".")
    if _NUMERIC_LABEL.match(labels[-1]):
        # A host whose last label is a number is an IPv4 address to browsers and to
        # inet_aton, in any of several spellings: only the usual one is accepted.
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise Refused(
                f"{host} is not written as an IPv4 address in four decimal parts "
                "(such as 203.0.113.7): other spellings mean different addresses to "
                "different programs."
            ) from None
        return
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise Refused(f"{host} is not a valid host name.")


# --- which addresses ---------------------------------------------------------------------------

_NET = ipaddress.ip_network

# Never sent to, whatever the settings.
_NEVER: tuple[tuple[IPNetwork, str], ...] = (
    (_NET("0.0.0.0/8"), "in 0.0.0.0/8, which reaches this host"),
    (_NET("::/128"), "the unspecified address, which reaches this host"),
    (_NET("224.0.0.0/4"), "a multicast address"),
    (_NET("ff00::/8"), "a multicast address"),
    (_NET("255.255.255.255/32"), "the broadcast address"),
    (_NET("240.0.0.0/4"), "a reserved address"),
    (_NET("fec0::/10"), "a site-local address"),
    (_NET("2001::/32"), "a Teredo tunnel address"),
    (_NET("64:ff9b:1::/48"), "in the local-use NAT64 prefix"),
    (_NET("100::/64"), "a discard-only address"),
)
# Not public: sent to only when in STEWARD_WEBHOOK_ALLOW_NETWORKS. Anything else that Python's
# ipaddress does not call global falls in here too ("not a public address").
_NOT_PUBLIC: tuple[tuple[IPNetwork, str], ...] = (
    (_NET("127.0.0.0/8"), "a loopback address"),
    (_NET("::1/128"), "a loopback address"),
    (_NET("169.254.0.0/16"), "a link-local address (where cloud metadata services answer)"),
    (_NET("fe80::/10"), "a link-local address"),
    (_NET("10.0.0.0/8"), "a private address"),
    (_NET("172.16.0.0/12"), "a private address"),
    (_NET("192.168.0.0/16"), "a private address"),
    (_NET("100.64.0.0/10"), "a shared address (carrier-grade NAT)"),
    (_NET("fc00::/7"), "a unique local (private) address"),
    (_NET("192.0.0.0/24"), "a special-purpose address"),
    (_NET("192.0.2.0/24"), "a documentation address"),
    (_NET("198.51.100.0/24"), "a documentation address"),
    (_NET("203.0.113.0/24"), "a documentation address"),
    (_NET("2001:db8::/32"), "a documentation address"),
    (_NET("198.18.0.0/15"), "a benchmarking address"),
)
# Outside these, an IPv6 address is unassigned or reserved (RFC 4291's global unicast is 2000::/3).
_IPV6_ASSIGNED = (_NET("2000::/3"), _NET("fc00::/7"), _NET("fe80::/10"), _NET("::1/128"))
_MAPPED = _NET("::ffff:0:0/96")
_COMPATIBLE = _NET("::/96")
_NAT64 = _NET("64:ff9b::/96")


@functools.lru_cache(maxsize=16)
def _networks(values: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(value, strict=False) for value in values)


def deny_networks() -> tuple[IPNetwork, ...]:
    return _networks(tuple(settings.STEWARD_WEBHOOK_DENY_NETWORKS))


def allow_networks() -> tuple[IPNetwork, ...]:
    return _networks(tuple(settings.STEWARD_WEBHOOK_ALLOW_NETWORKS))


def _within(address: IPAddress, networks: Iterable[IPNetwork]) -> IPNetwork | None:
    return next((n for n in networks if n.version == address.version and address in n), None)


def _carried_ipv4(address: IPAddress) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address a v6 address leads to, and the name of the form, for the forms whose
    traffic reaches that IPv4 address (through this host's stack, a NAT64 or a 6to4 relay)."""
    if address.version != 6:
        return None
    if address in _MAPPED:
        return address.ipv4_mapped, "an IPv4-mapped form"
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), "a NAT64 form"
    if address.sixtofour is not None:
        return address.sixtofour, "a 6to4 form"
    return None


def address_refusal(address: IPAddress) -> str | None:
    """Why Steward does not send to this address ("127.0.0.1 is a loopback address"), or None."""
    what = _refused_as(address)
    return None if what is None else f"{address} is {what}"


def _refused_as(address: IPAddress) -> str | None:
    denied = _within(address, deny_networks())
    carried = _carried_ipv4(address)
    if carried is not None:
        inner, form = carried
        what = _refused_as(inner)
        if what is not None:
            return f"{form} of {inner}, {what}"
        return None if denied is None else f"in {denied}, closed to webhooks here"
    if address.version == 6 and address in _COMPATIBLE and int(address) > 1:
        return "an IPv4-compatible address (a deprecated form)"
    for network, what in _NEVER:
        if _within(address, (network,)):
            return what
    if address.version == 6 and not _within(address, _IPV6_ASSIGNED):
        return "a reserved address"
    category = next((what for n, what in _NOT_PUBLIC if _within(address, (n,))), None)
    allowed = _within(address, allow_networks()) is not None
    if denied is not None:
        return category if category and not allowed else f"in {denied}, closed to webhooks here"
    if allowed:
        return None
    if category is None and not address.is_global:
        return "not a public address"
    return category


def is_public(address: IPAddress) -> bool:
    """Routable on the internet and not opened by the allow list: an answer from it may be
    shown to the person who gave the URL."""
    carried = _carried_ipv4(address)
    if carried is not None:
        return is_public(carried[0])
    if _within(address, allow_networks()) is not None:
        return False
    if any(_within(address, (n,)) for n, _reason in (*_NEVER, *_NOT_PUBLIC)):
        return False
    return address.is_global


# --- resolving -----------------------------------------------------------------------------


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def resolve(dest: Destination) -> list[IPAddress]:
    """Every address of the destination's host, each checked; Refused if any may not be sent
    to, Unreachable if the name does not resolve. One DNS question per call: the caller connects
    to these addresses and to no later answer."""
    literal = _literal(dest.hostname)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = socket.getaddrinfo(
                dest.hostname, dest.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
            )
        except (OSError, UnicodeError) as exc:
            raise Unreachable(f"{dest.hostname} does not resolve: {exc}") from exc
        addresses = []
        for info in infos:
            # A scoped answer (fe80::1%eth0) is link-local and refused below without its zone.
            address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise Unreachable(f"{dest.hostname} has no address.")
    for address in addresses:
        reason = address_refusal(address)
        if reason is not None:
            if literal is None:
                reason = f"{dest.hostname} resolves to {address}, {_refused_as(address)}"
            raise Refused(f"{reason}; Steward does not send there.")
    return addresses


def url_refusal(url: str) -> str | None:
    """Why Steward will not send to this URL, or None: the check when a URL is saved. A host
    that does not resolve now is accepted (an intranet name may be served by the workers'
    resolver only, or not yet exist); the same check runs again before every send."""
    try:
        resolve(destination(url))
    except Refused as exc:
        return str(exc)
    except Unreachable:
        return None
    return None


# --- sending ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes  # at most MAX_ANSWER_BYTES
    address: IPAddress  # where the request went
    public: bool  # whether the body may be shown to the person who gave the URL

    @property
    def excerpt(self) -> str:
        """A printable beginning of the body, or "" when it came from a non-public address."""
        if not self.public:
            return ""
        text = self.body.decode("utf-8", errors="replace")
        return "".join(c if c.isprintable() else " " for c in text)[:EXCERPT_CHARS].strip()


_pools: OrderedDict[tuple, urllib3.HTTPConnectionPool] = OrderedDict()
_pools_lock = threading.Lock()


def _pool(dest: Destination, address: IPAddress) -> urllib3.HTTPConnectionPool:
    """A keep-alive pool to one checked address for one host name: a connection is only ever
    reused for the address it was opened to."""
    ca_bundle = settings.STEWARD_WEBHOOK_CA_BUNDLE or certifi.where()
    key = (dest.scheme, str(address), dest.port, dest.hostname, ca_bundle)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is not None:
            _pools.move_to_end(key)
            return pool
        if dest.scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                str(address),
                dest.port,
                maxsize=4,
                cert_reqs="CERT_REQUIRED",
                ca_certs=ca_bundle,
                server_hostname=dest.hostname,
                assert_hostname=dest.hostname,
            )
        else:
            pool = urllib3.HTTPConnectionPool(str(address), dest.port, maxsize=4)
        _pools[key] = pool
        while len(_pools) > POOLS_KEPT:
            _pools.popitem(last=False)[1].close()
        return pool


def close_pools() -> None:
    with _pools_lock:
        while _pools:
            _pools.popitem()[1].close()


def post(
    url: str,
    *,
    body: bytes,
    headers: Mapping[str, str],
    connect_timeout: float,
    read_timeout: float,
) -> Answer:
    """POST `body` to `url` after the checks above. Refused: the URL or one of its addresses
    may not be sent to (nothing was sent). Unreachable: DNS, connection, TLS or timeout."""
    dest = destination(url)
    addresses = resolve(dest)
    sent_headers = {**headers, "Host": dest.host_header}
    timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
    last_error: Exception | None = None
    for address in addresses:
        pool = _pool(dest, address)
        try:
            response = pool.urlopen(
                "POST",
                dest.target,
                body=body,
                headers=sent_headers,
                retries=False,
                redirect=False,
                assert_same_host=False,
                timeout=timeout,
                preload_content=False,
                release_conn=False,
            )
        except urllib3.exceptions.NewConnectionError as exc:
            # Nothing was sent: the next checked address may answer.
            last_error = exc
            continue
        except (HTTPError, OSError) as exc:
            raise Unreachable(_describe(exc, dest, address)) from exc
        try:
            answer_body = response.read(MAX_ANSWER_BYTES, decode_content=False)
            complete = not response.read(1, decode_content=False)
        except (HTTPError, OSError) as exc:
            response.close()
            raise Unreachable(_describe(exc, dest, address)) from exc
        if not complete:
            response.close()  # not reused: the rest of a long answer is never read
        response.release_conn()
        return Answer(
            status=response.status,
            headers=dict(response.headers),
            body=answer_body,
            address=address,
            public=is_public(address),
        )
    raise Unreachable(_describe(last_error, dest, addresses[-1]))


def _describe(exc: Exception | None, dest: Destination, address: IPAddress) -> str:
    where = dest.hostname if str(address) == dest.hostname else f"{dest.hostname} ({address})"
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return f"Could not connect to {where} port {dest.port}."
    if isinstance(exc, urllib3.exceptions.ConnectTimeoutError):
        return f"Timeout: connecting to {where} port {dest.port} took too long."
    if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
        return f"Timeout: {where} did not answer in time."
    if isinstance(exc, urllib3.exceptions.SSLError):
        return f"TLS with {where} failed: {exc}"
    return f"{type(exc).__name__} talking to {where}: {exc}"
