"""Login-free endpoints reached from messages (SPEC §6).

A tampered, unsigned or wrong-kind token is a 404 — the same answer as a token
for a delivery that no longer exists — and a click only ever redirects to the
URL signed into its token, so these endpoints can be neither enumerated nor used
as an open redirect.
"""

from __future__ import annotations

import base64

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from audiences.models import Channel
from channels import deliveries, services
from channels.tracking import read_token
from config.clients import client_ip

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _delivery(kind: str, token: str) -> tuple[object, str]:
    parsed = read_token(kind, token)
    if parsed is None:
        raise Http404
    delivery = deliveries.get(parsed.delivery_id)
    if delivery is None:
        raise Http404
    return delivery, parsed.url


@never_cache
@require_http_methods(["GET", "HEAD"])
def open_pixel(request: HttpRequest, token: str) -> HttpResponse:
    delivery, _url = _delivery("open", token)
    if request.method == "GET":  # a HEAD probe is not a reader opening the message
        services.delivery_record_open(
            delivery=delivery, user_agent=_agent(request), ip=client_ip(request)
        )
    return HttpResponse(PIXEL, content_type="image/gif")


@never_cache
@require_http_methods(["GET", "HEAD"])
def click(request: HttpRequest, token: str) -> HttpResponse:
    delivery, url = _delivery("click", token)
    if request.method == "GET":  # a HEAD probe (link scanner, preview) is not a click
        services.delivery_record_click(
            delivery=delivery, url=url, user_agent=_agent(request), ip=client_ip(request)
        )
    # HttpResponseRedirect itself refuses schemes other than http(s)/ftp; the
    # token check already limited the URL to http(s).
    response = HttpResponseRedirect(url)
    response["Referrer-Policy"] = "no-referrer"
    return response


@never_cache
@require_http_methods(["GET", "HEAD"])
def trap(request: HttpRequest, token: str) -> HttpResponse:
    """The hidden link of tracked emails (docs/ENGAGEMENT.md): nobody sees
    it, so whatever follows it is a machine, and so are the message's other
    clicks around it. Answers a blank page (no redirect to chase)."""
    delivery, _url = _delivery("trap", token)
    if request.method == "GET":
        services.delivery_record_click(
            delivery=delivery, url="", user_agent=_agent(request), trap=True
        )
    response = HttpResponse("", content_type="text/plain; charset=utf-8")
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _agent(request: HttpRequest) -> str:
    return request.META.get("HTTP_USER_AGENT", "")[:1000]


@never_cache
@csrf_exempt  # RFC 8058: mail providers POST the one-click unsubscribe without a session
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """The preference page (SPEC §14): per-channel marketing consent, or
    everything off. The signed token is the only credential, as for the
    one-click POST (RFC 8058), which works exactly as before."""
    delivery, _url = _delivery("unsubscribe", token)
    saved = False
    if request.method == "POST":
        action = request.POST.get("action", "")
        if request.POST.get("List-Unsubscribe") == "One-Click":
            services.delivery_unsubscribe(delivery=delivery)
            return HttpResponse("Unsubscribed.\n", content_type="text/plain; charset=utf-8")
        if action == "save":
            services.preferences_save(
                delivery=delivery, wanted=set(request.POST.getlist("channel"))
            )
        elif action == "all":
            services.preferences_save(delivery=delivery, wanted=set())
        else:  # the plain unsubscribe button of earlier pages and of other clients
            services.delivery_unsubscribe(delivery=delivery)
        saved = True
    # Never change anything on GET: link scanners and previews follow links.
    channels = services.preference_channels(delivery.profile)
    code = deliveries.channel(delivery)
    done = delivery.unsubscribed_at is not None and not any(
        consent for c, _l, consent in channels if c == code
    )
    return render(
        request,
        "channels/public/unsubscribe.html",
        {
            "channel": Channel(code).label,
            "channels": channels,
            "done": done,
            "erased": delivery.profile is None,
            "everything_off": not any(consent for _c, _l, consent in channels),
            "saved": saved,
        },
    )


@require_http_methods(["GET", "POST"])
def unsubscribe_preview(request: HttpRequest) -> HttpResponse:
    return render(request, "channels/public/unsubscribe.html", {"preview": True})
