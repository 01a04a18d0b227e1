"""Who is calling: the one place that decides a request's client IP, and the server options that
must agree with it.

A request's `REMOTE_ADDR` is the peer that opened the connection. `X-Forwarded-For` is only
believed when that peer is one of `FRESHLOOP_TRUSTED_PROXIES` (IP addresses or networks, none by
default): anyone can send the header, so without a configured proxy in front it is ignored, and a
client on the same host cannot pose as someone else to reset a per-IP limit. Behind trusted
proxies the list is read from the right, skipping trusted hops; the first address that is not a
trusted proxy is the client.

The ASGI server must make the same decision: uvicorn by default rewrites the peer address from
`X-Forwarded-For` whenever the peer is 127.0.0.1, so the demo server is started with
`server_proxy_options()` (no proxy headers unless proxies are configured, and then exactly
those proxies) — see `manage.py serve`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_proxy_networks(entries: Sequence[str]) -> tuple[IPNetwork, ...]:
    """Parse `FRESHLOOP_TRUSTED_PROXIES` entries; raises ValueError naming a bad entry."""
    networks: list[IPNetwork] = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"not an IP address or network: {entry!r}") from exc
    return tuple(networks)


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return parse_proxy_networks(entries)


def _parse_ip(raw: str | None) -> IPAddress | None:
    """An address as a proxy may write it: bare, `[v6]`, `[v6]:port` or `v4:port`."""
    if not raw:
        return None
    text = raw.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: IPAddress, networks: tuple[IPNetwork, ...]) -> bool:
    return any(address in network for network in networks)


def client_ip_from(
    *, remote_addr: str | None, forwarded_for: str, trusted_proxies: Sequence[str]
) -> str | None:
    """The client's IP given the peer address, the `X-Forwarded-For` value and the proxies."""
    peer = _parse_ip(remote_addr)
    if peer is None:
        return None
    networks = _networks(tuple(trusted_proxies))
    if not _trusted(peer, networks):
        return str(peer)
    client = peer
    for hop in reversed(forwarded_for.split(",")):
        address = _parse_ip(hop)
        if address is None:
            # Garbage in the chain: what lies left of it cannot be vouched for, so the last
            # address a trusted proxy reported is as far as we go.
            break
        client = address
        if not _trusted(address, networks):
            break
    return str(client)


def client_ip(request: HttpRequest) -> str | None:
    """The caller's IP, for rate limits, audit rows and logs (see the module docstring)."""
    return client_ip_from(
        remote_addr=request.META.get("REMOTE_ADDR"),
        forwarded_for=request.META.get("HTTP_X_FORWARDED_FOR", ""),
        trusted_proxies=settings.FRESHLOOP.trusted_proxies,
    )


def server_proxy_options(trusted_proxies: Sequence[str]) -> dict[str, Any]:
    """uvicorn options that trust forwarded headers from exactly the configured proxies.

    With no proxies uvicorn must not read them at all: its default trusts 127.0.0.1, which
    would let a local client rewrite its own address before Django ever sees the request.
    """
    if not trusted_proxies:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": ",".join(trusted_proxies)}
