"""The client's address, the one way: REMOTE_ADDR, or behind trusted proxies the rightmost
address in X-Forwarded-For that is not one of them.

X-Forwarded-For is anyone's to write: a client can send `X-Forwarded-For: 1.2.3.4` and each
proxy on the way appends the address it saw. So the header is read only when the TCP peer
(REMOTE_ADDR) is a trusted proxy (STEWARD_TRUSTED_PROXIES, CIDRs), and then from the right: each
hop that is itself a trusted proxy is skipped, and the first one that is not is the client. What
lies to the left of it was written by the client and is ignored. With no trusted proxies
configured (the default), REMOTE_ADDR is the client and the header is never read.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def _address(text: str) -> Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address.version == network.version and address in network for network in networks)


def client_address(request: HttpRequest) -> str | None:
    """The address of the client that made the request, as the rate limits key it."""
    peer_text = request.META.get("REMOTE_ADDR") or ""
    peer = _address(peer_text)
    if peer is None:
        return peer_text or None
    networks = _networks(tuple(settings.STEWARD_TRUSTED_PROXIES))
    if not networks or not _trusted(peer, networks):
        return str(peer)
    client = peer
    hops = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            # Not an address: the client wrote it (proxies append addresses). The client is the
            # hop last seen, the one that passed it on.
            break
        client = address
        if not _trusted(address, networks):
            break
    return str(client)
