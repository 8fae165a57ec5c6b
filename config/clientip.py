"""The real client address of a request.

``X-Forwarded-For`` is anyone's to write, so it is believed only when the peer that
sent it is one of ``RUNYARD_TRUSTED_PROXIES`` (default: none): then the address is
the rightmost one in the header that is not itself a trusted proxy. uvicorn runs with
``--no-proxy-headers`` so this is the only place that reads the header.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Any

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(configured: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in configured)


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_ip(meta: Any) -> str:
    """The client address for ``request.META`` (or an ASGI-style dict of the same keys)."""
    remote = str(meta.get("REMOTE_ADDR") or "")
    networks = _networks(tuple(settings.TRUSTED_PROXIES))
    if not networks or not _trusted(remote, networks):
        return remote
    hops = [hop.strip() for hop in str(meta.get("HTTP_X_FORWARDED_FOR") or "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return remote  # a malformed hop: the header cannot be believed past it
    return hops[0] if hops else remote
