"""Who may register web-URL datasets, and which addresses a worker may fetch them from.

A URL dataset makes a worker fetch a URL and hand the content to the run, which its
submitter reads: without limits any member could read services that only the worker's
network reaches (cloud metadata at 169.254.169.254, an internal admin page, the
database's HTTP port). So:

- only ``http``/``https`` URLs, without credentials, are accepted (``runyard.weburl``);
- ``DATASET_URLS`` says who registers them: ``members`` (default), ``admins`` or ``off``;
- a URL is fetched only from *public* addresses (``ipaddress.is_global``) unless its
  host name, its address or a CIDR holding it is in ``DATASET_URL_ALLOWED_HOSTS``. The
  check is made at registration for literal addresses (an early, clear 400) and always
  at fetch time on the address actually connected to, after DNS and for every redirect,
  so neither a DNS answer that changes nor a redirect to an internal host gets around it.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from accounts.permissions import is_admin
from datasets import conf
from runyard import weburl

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UrlRefused(ValueError):
    """The URL may not be registered or fetched; the message says why and names it."""


def may_register(actor: Any) -> str | None:
    """None if ``actor`` may register URL datasets, else the reason."""
    policy = conf.url_registration()
    if policy == "off":
        return "Web-URL datasets are turned off on this server (RUNYARD_DATASET_URLS=off)."
    if policy == "admins" and not is_admin(actor):
        return "Only admins may register web-URL datasets on this server (RUNYARD_DATASET_URLS=admins)."
    return None


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def address_allowed(host: str, address: IPAddress) -> bool:
    """Public addresses always; others only when the host, address or a CIDR is allowed."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_global and not address.is_multicast:
        return True
    for item in conf.url_allowed_hosts():
        text = item.strip().lower()
        if text == host.lower():
            return True
        try:
            if address in ipaddress.ip_network(text, strict=False):
                return True
        except ValueError:
            continue
    return False


def refusal(host: str, address: IPAddress, url: str) -> str:
    return (
        f"{url}: {host} is at {address}, which is not a public address; an admin can allow it "
        "with RUNYARD_DATASET_URL_ALLOWED_HOSTS."
    )


def checked_urls(urls: Any, actor: Any, field: str = "urls") -> list[tuple[str, str]]:
    """(path in the dataset, URL) for each URL, or UrlRefused naming ``field[i]``."""
    reason = may_register(actor)
    if reason:
        raise UrlRefused(reason)
    if isinstance(urls, str):
        urls = [urls]
    if not isinstance(urls, list) or not urls:
        raise UrlRefused(f"{field}: give a list of one or more http(s) URLs.")
    clean = []
    for index, url in enumerate(urls):
        try:
            text = weburl.check(url, f"{field}[{index}]")
        except weburl.BadUrl as exc:
            raise UrlRefused(str(exc)) from None
        host = urlsplit(text).hostname or ""
        literal = _literal(host)
        if literal is not None and not address_allowed(host, literal):
            raise UrlRefused(f"{field}[{index}]: " + refusal(host, literal, text))
        clean.append(text)
    try:
        paths = weburl.relative_paths(clean)
    except weburl.BadUrl as exc:
        raise UrlRefused(f"{field}: {exc}") from None
    return list(zip(paths, clean, strict=True))
