"""Provider URLs typed into a channel configuration never reach Volley's own network.

A channel configuration's ``provider_url`` (an ESP's, Twilio's, FCM's or APNs'
base URL, set by administrators on the page or through the API) is where the
worker POSTs messages with credentials. Pointed at ``127.0.0.1``, a private
address or a cloud metadata service (``169.254.169.254``), it would make the
worker probe the installation's internal network (blind SSRF). So an address
that is not globally routable (loopback, private, link-local, shared, reserved,
multicast, IPv4-mapped forms of these) is refused:

* at save time (``url_problem``: the form and the API answer with a field
  error), for a literal address and for a name resolving to one;
* at connect time, in every HTTP client the provider transports use
  (``create_connection`` for urllib, ``GuardedAdapter`` for anymail's requests
  session, ``httpx_transport`` for APNs): the address checked is the address
  connected to, so a name that resolves elsewhere after it was saved (DNS
  rebinding) is refused as well. Amazon SES goes through boto3, whose sockets
  are not ours: its endpoint is resolved and checked just before each batch.

``VOLLEY_ALLOW_PRIVATE_PROVIDER_URLS=true`` lifts the rule (an installation
whose providers run on its own network; the test suite's local fakes). URLs set
by the operator in the environment (``SMS_WEBHOOK_URL``, ``TWILIO_API_URL``…)
are the operator's choice and are not checked.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as LookupTimeout
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # an IPv4 address behind a NAT64 gateway


class UnsafeAddress(OSError):
    """A provider URL resolves to an address Volley does not connect to."""


def allowed() -> bool:
    return bool(getattr(settings, "VOLLEY_ALLOW_PRIVATE_PROVIDER_URLS", False))


def forbidden(address: str) -> bool:
    """Whether ``address`` (an IP literal) is not a public internet address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True
    mapped = getattr(ip, "ipv4_mapped", None) or getattr(ip, "sixtofour", None)
    if mapped is None and ip.version == 6 and ip in _NAT64:
        mapped = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if mapped is not None:
        ip = mapped
    # Reserved and site-local ranges are nobody's public address, but Python's
    # ``is_global`` lets some through: IPv4-compatible ``::127.0.0.1``, the
    # local-use NAT64 prefix ``64:ff9b:1::/48`` (RFC 8215: a translator on the
    # installation's network reaches its private IPv4 addresses through it),
    # ``fec0::/10`` (security review 21).
    site_local = getattr(ip, "is_site_local", False)
    return not ip.is_global or ip.is_multicast or ip.is_reserved or site_local


def resolve(host: str, port: int) -> list[tuple]:
    """``getaddrinfo`` for a TCP connection, every address checked (UnsafeAddress)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if not allowed():
        for info in infos:
            if forbidden(str(info[4][0])):
                raise UnsafeAddress(
                    f"{host} resolves to {info[4][0]}, an internal address "
                    "(VOLLEY_ALLOW_PRIVATE_PROVIDER_URLS is off)"
                )
    return infos


# Save time waits this long for a name's addresses (ninth review, finding 3):
# ``getaddrinfo`` waits as long as the resolver's own timeouts (glibc: 5 s ×
# attempts × name servers) for a name under a name server that never answers,
# and held the worker saving the URL that long. Past it the name counts as
# "not resolvable now", as when the lookup fails: the connect-time check
# still refuses an internal address. A few lookups at a time, in their own
# threads; a save finding them all busy waits the same deadline.
RESOLVE_SECONDS = 2.0
_LOOKUPS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="volley-netguard")


def _resolve_briefly(host: str, port: int) -> None:
    """``resolve`` within ``RESOLVE_SECONDS`` (UnsafeAddress, OSError…; TimeoutError past it)."""
    future = _LOOKUPS.submit(resolve, host, port)
    try:
        future.result(timeout=RESOLVE_SECONDS)
    except LookupTimeout:
        future.cancel()
        raise TimeoutError(f"{host}: no answer within {RESOLVE_SECONDS} s") from None


def url_problem(url: str) -> str | None:
    """Why ``url`` may not be saved as a provider URL, or None."""
    if not url or allowed():
        return None
    parts = urlsplit(url)
    host = (parts.hostname or "").strip()
    refused = _("This address is on an internal network; provider URLs must be public.")
    if not host:
        return _("Enter a URL with a host name.")
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return refused
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    else:
        return refused if forbidden(host) else None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        _resolve_briefly(host, port)
    except UnsafeAddress:
        return refused
    except (OSError, UnicodeError, ValueError):
        return None  # not resolvable now: checked again when connecting
    return None


def check(url: str) -> None:
    """Raise UnsafeAddress when ``url``'s host resolves to an internal address."""
    if not url or allowed():
        return
    parts = urlsplit(url)
    resolve(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))


def create_connection(address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None):
    """``socket.create_connection`` that connects only to checked addresses."""
    host, port = address
    error: OSError | None = None
    for family, kind, proto, _name, sockaddr in resolve(host, port):
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            error = exc
            sock.close()
    raise error or OSError(f"{host} has no address")


def refused(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is an UnsafeAddress."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, UnsafeAddress) or isinstance(
            getattr(exc, "reason", None), UnsafeAddress
        ):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


# --- urllib (Twilio, FCM) ----------------------------------------------------------


class _HTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = create_connection


class _HTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = create_connection


class HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(_HTTPConnection, req)


class HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):
        return self.do_open(_HTTPSConnection, req, context=self._context)


# --- requests (anymail's ESP backends) ---------------------------------------------


def _urllib3_classes():
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
    from urllib3.exceptions import NewConnectionError

    def _new_conn(self):
        try:
            sock = create_connection((self._dns_host, self.port), self.timeout, self.source_address)
        except UnsafeAddress as exc:
            raise NewConnectionError(self, f"Refused: {exc}") from exc
        except OSError as exc:
            raise NewConnectionError(self, f"Failed to establish a new connection: {exc}") from exc
        for option in self.socket_options or ():
            sock.setsockopt(*option)
        return sock

    guarded_http = type("GuardedHTTPConnection", (HTTPConnection,), {"_new_conn": _new_conn})
    guarded_https = type("GuardedHTTPSConnection", (HTTPSConnection,), {"_new_conn": _new_conn})
    http_pool = type("GuardedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": guarded_http})
    https_pool = type("GuardedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": guarded_https})
    return http_pool, https_pool


def guard_session(session) -> None:
    """Mount the guarded adapter on a ``requests.Session`` (both schemes)."""
    if allowed():
        return
    from requests.adapters import HTTPAdapter

    http_pool, https_pool = _urllib3_classes()

    class GuardedAdapter(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": http_pool, "https": https_pool}

    session.mount("http://", GuardedAdapter())
    session.mount("https://", GuardedAdapter())


# --- httpx (APNs) ------------------------------------------------------------------


def httpx_transport(**kwargs):
    """An ``httpx.HTTPTransport`` whose connections go only to checked addresses."""
    import httpcore
    import httpx

    transport = httpx.HTTPTransport(**kwargs)
    if allowed():
        return transport

    class GuardedBackend(httpcore.SyncBackend):
        def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
            try:
                infos = resolve(host, port)
            except UnsafeAddress as exc:
                raise httpcore.ConnectError(str(exc)) from exc
            except OSError as exc:
                raise httpcore.ConnectError(str(exc)) from exc
            return super().connect_tcp(
                str(infos[0][4][0]), port, timeout, local_address, socket_options
            )

    # httpcore's pool takes its network backend at construction; httpx gives no
    # parameter for it, so it is set on the pool httpx built.
    transport._pool._network_backend = GuardedBackend()
    return transport
