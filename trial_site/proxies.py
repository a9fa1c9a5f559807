"""The client's address behind a reverse proxy: ``X-Forwarded-For`` is believed only from ``TRUSTED_PROXIES``.

A proxy appends the address it received the request from to ``X-Forwarded-For`` (or replaces the header with it,
as the compose file's nginx does); everything to the left of that was written by the client and proves nothing. So
the client is the right-most address in the header that is not itself a trusted proxy, and only when the request
arrives from a trusted proxy. From anywhere else the header is ignored and the connecting address counts.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_trusted_proxy(address: Address) -> bool:
    return any(address in ipaddress.ip_network(entry, strict=False) for entry in settings.TRUSTED_PROXIES)


def client_address(request: HttpRequest) -> str | None:
    """The address of the client that sent ``request`` (django-axes' ``AXES_CLIENT_IP_CALLABLE``; the access log)."""
    remote_text = request.META.get("REMOTE_ADDR") or ""
    remote = _address(remote_text)
    if remote is None:
        return remote_text or None
    if not _is_trusted_proxy(remote):
        return str(remote)
    hops = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break  # not an address: the chain is broken here, and what lies left of it is the client's own text
        if not _is_trusted_proxy(address):
            return str(address)
    return str(remote)
