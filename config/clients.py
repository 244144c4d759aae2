"""Who a request came from, as every part of Volley reads it."""

from __future__ import annotations

import ipaddress

from django.conf import settings


def client_ip(request) -> str:
    """The address the request came from: behind a trusted proxy
    (``BEHIND_PROXY``) the last ``X-Forwarded-For`` entry, the one the proxy
    itself added (earlier entries are whatever the client claimed), without a
    port the proxy may append (``_host``): the tracking endpoints compare it
    with networks (Apple's privacy proxy), which an address with a port never
    matched (review 22's note)."""
    if getattr(settings, "BEHIND_PROXY", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        last = _host(forwarded.split(",")[-1]) if forwarded else ""
        if last:
            return last
    return request.META.get("REMOTE_ADDR", "") or ""


def client_network(request) -> str:
    """The address sign-in attempts count against (``LOGIN_RATE_PER_MINUTE``
    and django-axes' lock-outs): the client's (``client_ip``), with an IPv6
    address taken as its /64 network, written as that network's first address.
    One IPv6 connection (a home, an office, a rented server) is handed a whole
    /64 and may use any of its 2^64 addresses, so counting each address alone
    let one client change address at every attempt and pass both bounds
    (security review 20). An IPv4 address written as IPv6 (``::ffff:a.b.c.d``)
    is the IPv4 address; a forwarded value that is no address is ignored for
    the proxy's own (``REMOTE_ADDR``)."""
    for candidate in (client_ip(request), request.META.get("REMOTE_ADDR", "")):
        try:
            address = ipaddress.ip_address(_host(candidate or ""))
        except ValueError:
            continue
        if isinstance(address, ipaddress.IPv6Address):
            embedded = _embedded_ipv4(address)
            if embedded is not None:
                return str(embedded)
            return str(ipaddress.IPv6Network((address, 64), strict=False).network_address)
        return str(address)
    return "0.0.0.0"  # noqa: S104 - a key, not an address to listen on


def _host(value: str) -> str:
    """The address in a forwarded value, without the port some proxies append
    (``203.0.113.5:51234``, ``[2001:db8::5]:443``: Azure's Application Gateway,
    IIS ARR) or quotes. Read as no address, every client behind such a proxy
    counted against the proxy's own, one sign-in lock and bound for everyone
    (security review 22)."""
    text = value.strip().strip('"')
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:  # IPv4 with a port (an IPv6 address has two or more)
        text = text.split(":", 1)[0]
    return text.split("%", 1)[0]


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 client an IPv6 address stands for: ``::ffff:a.b.c.d``, the
    well-known NAT64 prefix ``64:ff9b::a.b.c.d`` (an IPv6-only installation
    reached by IPv4 clients through a translator, RFC 6052/7755) and Teredo.
    Taken as a /64, each of these is every IPv4 client at once: one sign-in
    lock and bound for all of them (security review 22)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.teredo is not None:
        return address.teredo[1]
    return None
