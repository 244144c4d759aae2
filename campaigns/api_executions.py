"""API-triggered executions and campaign reports (SPEC §7).

The per-key rate limit (429 with Retry-After) is the API root's, shared by every
endpoint (config/api.py).
"""

from __future__ import annotations

from typing import Literal

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from ninja import Field, Router
from pydantic import ValidationError, field_validator

from accounts import keycache
from accounts.permissions import can, can_see
from campaigns.engine import executions
from campaigns.models import Campaign, Run
from config import jsonparse
from config.api_auth import ApiKeyAuth
from config.ids import MAX_ID, is_id
from config.problems import ApiProblem
from config.schemas import ApiDateTime, CamelSchema


class TriggerKeyAuth(ApiKeyAuth):
    """The API's bearer keys, remembered briefly by each process (accounts/keycache.py):
    the trigger endpoints are the hot path. Revocation is still honoured at the
    commit point: the trigger's INSERT checks the key."""

    def authenticate(self, request: HttpRequest, token: str):
        return self.accept(request, keycache.authenticate(token.strip()))


executions_router = Router(tags=["executions"], auth=TriggerKeyAuth())


class RecipientIn(CamelSchema):
    user_id: str = Field(..., min_length=1, max_length=512)
    namespace: Literal["email", "phone", "profile_id", "push_token"]
    context: dict = Field(default_factory=dict)


class UnitaryIn(CamelSchema):
    request_id: str = Field(..., min_length=1, max_length=255)
    campaign_id: int = Field(..., ge=1, le=MAX_ID)
    recipients: list[RecipientIn] = Field(..., min_length=1, max_length=20)

    @field_validator("recipients")
    @classmethod
    def unique_user_ids(cls, value: list[RecipientIn]) -> list[RecipientIn]:
        ids = [r.user_id for r in value]
        if len(ids) != len(set(ids)):
            raise ValueError("userId must be unique among the recipients")
        return value


class ExecuteAt(CamelSchema):
    execute_at: ApiDateTime


class AudienceIn(CamelSchema):
    request_id: str = Field(..., min_length=1, max_length=255)
    campaign_id: int = Field(..., ge=1, le=MAX_ID)
    context: dict = Field(default_factory=dict)
    schedule: ExecuteAt | None = None


def _role_may(user, action: str) -> bool:
    """``can(user, action)`` remembered on the user object, which the key cache
    keeps for at most its TTL (accounts/keycache.py): a role changed since is
    caught at the commit point (the key's ``auth_version``), as for the key."""
    memo = user.__dict__.setdefault("_volley_role_may", {})
    if action not in memo:
        memo[action] = can(user, action)
    return memo[action]


def _snapshot_for_trigger(request: HttpRequest, campaign_id: int):
    """The campaign as this process last read it, once the caller may trigger it."""
    snap = executions.campaign_snapshot(campaign_id)
    if snap is None:
        raise Http404
    # Unrestricted: the role decides, from the permissions already in memory
    # (the INSERT re-checks that the campaign is still unrestricted). Restricted:
    # the object's grants are read every time (the rare, slower path).
    if snap.restricted:
        subject = Campaign.objects.get(pk=campaign_id)
        visible_to_user = can_see(request.user, subject)
        may_trigger = visible_to_user and can(request.user, "campaign.edit", subject)
    else:
        visible_to_user = _role_may(request.user, "campaign.view")
        may_trigger = visible_to_user and _role_may(request.user, "campaign.edit")
    if not visible_to_user:
        raise Http404
    if not may_trigger:
        raise ApiProblem(403, _("You may not trigger this campaign."))
    return snap


def _accepted(request: HttpRequest, campaign_id: int, accept) -> dict:
    """``accept(snap, key)``'s answer once the caller may trigger the campaign.

    The commit point refuses a key remembered with permissions that changed
    since (``KeyStale``, accounts/keycache.py): the key is read again, the
    permission checked again (403/404 when a role was taken away), and the
    trigger tried once more."""
    snap = _snapshot_for_trigger(request, campaign_id)
    try:
        return accept(snap, request.api_key)
    except executions.KeyStale:
        fresh = keycache.reload(request.api_key)
        if fresh is None:
            raise executions.KeyRevoked(_("The API key is not valid.")) from None
        request.user, request.api_key = fresh.user, fresh
        return accept(_snapshot_for_trigger(request, campaign_id), fresh)


@executions_router.post("/unitary", response={202: dict}, summary="Trigger to named recipients")
def post_unitary(request: HttpRequest, payload: UnitaryIn):
    # The answer is a plain dict of JSON values: written as it is, without a
    # second validation by the response schema (the hot path).
    return JsonResponse(unitary_answer(request, payload), status=202)


# A context written back as JSON (ASCII escapes) is at most six times the
# bytes it had in the body: a smaller body needs no measuring.
_CONTEXT_GROWTH = 6


def unitary_answer(request: HttpRequest, payload: UnitaryIn) -> dict:
    small = len(request.body) * _CONTEXT_GROWTH <= executions.MAX_CONTEXT_BYTES
    for recipient in () if small else payload.recipients:
        if executions.context_too_large(recipient.context):
            _snapshot_for_trigger(request, payload.campaign_id)  # 404/403 before 413
            raise ApiProblem(413, _("A recipient's context is larger than 200 KB."))
    recipients = [
        executions.Recipient(r.user_id, r.namespace, r.context) for r in payload.recipients
    ]
    return _accepted(
        request,
        payload.campaign_id,
        lambda snap, key: executions.accept_unitary(
            snap=snap,
            key_id=key.pk,
            key_version=key.auth_version,
            request_id=payload.request_id,
            recipients=recipients,
            user=request.user,  # whom a hidden profile is answered unknown to
        ),
    )


@executions_router.post("/audience", response={202: dict}, summary="Trigger to the audience")
def post_audience(request: HttpRequest, payload: AudienceIn):
    return JsonResponse(audience_answer(request, payload), status=202)


def audience_answer(request: HttpRequest, payload: AudienceIn) -> dict:
    if executions.context_too_large(payload.context):
        _snapshot_for_trigger(request, payload.campaign_id)  # 404/403 before 413
        raise ApiProblem(413, _("The context is larger than 200 KB."))
    return _accepted(
        request,
        payload.campaign_id,
        lambda snap, key: executions.accept_audience(
            snap=snap,
            key_id=key.pk,
            key_version=key.auth_version,
            request_id=payload.request_id,
            context=payload.context,
            execute_at=payload.schedule.execute_at if payload.schedule else None,
        ),
    )


# A read authenticates afresh (three queries, not the hot path): a role taken
# away or a key revoked is honoured at once.
@executions_router.get(
    "/{execution_id}", response=dict, summary="An execution's progress", auth=ApiKeyAuth()
)
def get_execution(request: HttpRequest, execution_id: int):
    if not is_id(execution_id):
        raise Http404
    run = (
        Run.objects.select_related("campaign")
        .filter(pk=execution_id, kind__in=[Run.Kind.API_UNITARY, Run.Kind.API_AUDIENCE])
        .first()
    )
    if run is None or not can_see(request.user, run.campaign):
        raise Http404
    return executions.execution_status(run)


# ------------------------------------------------------------- the hot path
#
# The two trigger routes are also served by plain Django views placed in front
# of ninja's (config/urls.py). ninja's operation machinery (signature
# resolution, authentication loop, parameter models, response rendering) cost
# more CPU than accepting the trigger itself. A plain view takes the request
# when it is well-formed, its key is known and not throttled, and does exactly
# what the ninja operation above does with the same functions; anything else
# (another method, a missing or unknown key, a body ninja would refuse, a
# throttled key) is handed to ninja's operation unchanged, so every error answer
# is ninja's own and the OpenAPI document stays the one contract.


def _ninja_operation(route: str):
    """ninja's view for ``executions/<route>`` (resolved once per process)."""
    view = _NINJA_VIEWS.get(route)
    if view is None:
        from config.api import api

        patterns, _app, _namespace = api.urls
        view = next(p.callback for p in patterns if str(p.pattern) == f"executions/{route}")
        _NINJA_VIEWS[route] = view
    return view


_NINJA_VIEWS: dict[str, object] = {}


_UNITARY_KEYS = frozenset(("requestId", "campaignId", "recipients"))
_RECIPIENT_KEYS = frozenset(("userId", "namespace", "context"))
_NAMESPACES = frozenset(("email", "phone", "profile_id", "push_token"))


class _PlainRecipient:
    __slots__ = ("user_id", "namespace", "context")

    def __init__(self, user_id: str, namespace: str, context: dict) -> None:
        self.user_id, self.namespace, self.context = user_id, namespace, context


class _PlainUnitary:
    """A ``UnitaryIn`` read by ``_plain_unitary``: the same attributes."""

    __slots__ = ("request_id", "campaign_id", "recipients")

    def __init__(self, request_id: str, campaign_id: int, recipients: list) -> None:
        self.request_id, self.campaign_id, self.recipients = request_id, campaign_id, recipients


def _plain_unitary(data) -> _PlainUnitary | None:
    """The everyday body, checked by hand, as ``UnitaryIn`` would read it; else None.

    Pydantic's validation through ninja's schema machinery was the largest
    piece of the lean path's CPU. The everyday body (the camelCase keys, exact
    JSON types, within every bound of ``UnitaryIn``) is checked here in a few
    comparisons; anything else — snake_case keys, a number sent as a string, a
    bound crossed — returns None and pydantic decides, with its own 400. So
    this accepts a subset of what the schema accepts, never more
    (tests/campaigns/test_trigger_lean.py checks both on the same bodies).
    """
    if type(data) is not dict or data.keys() != _UNITARY_KEYS:
        return None
    request_id, campaign_id, raw = data["requestId"], data["campaignId"], data["recipients"]
    if type(request_id) is not str or not 1 <= len(request_id) <= 255:
        return None
    if type(campaign_id) is not int or not 1 <= campaign_id <= MAX_ID:
        return None
    if type(raw) is not list or not 1 <= len(raw) <= 20:
        return None
    recipients = []
    for item in raw:
        if type(item) is not dict or not item.keys() <= _RECIPIENT_KEYS:
            return None
        user_id, namespace = item.get("userId"), item.get("namespace")
        context = item.get("context", {})
        if type(user_id) is not str or not 1 <= len(user_id) <= 512:
            return None
        if type(namespace) is not str or namespace not in _NAMESPACES:
            return None
        if type(context) is not dict:
            return None
        recipients.append(_PlainRecipient(user_id, namespace, context))
    if len({r.user_id for r in recipients}) != len(recipients):
        return None
    return _PlainUnitary(request_id, campaign_id, recipients)


def _fast_accept(request: HttpRequest, schema):
    """``payload`` when this request can take the hot path, else None."""
    if request.method != "POST":
        return None
    scheme, _space, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    try:
        data = jsonparse.loads(request.body)
        payload = (_plain_unitary(data) if schema is UnitaryIn else None) or (
            schema.model_validate(data)
        )
    except (ValueError, ValidationError):  # ninja answers with its own 400
        return None
    key = keycache.authenticate(token.strip())
    if key is None or ApiKeyAuth.throttled(request, key):
        return None
    request.user = key.user
    request.api_key = request.auth = key
    return payload


def _hot_view(route: str, schema, handler):
    @csrf_exempt
    def view(request: HttpRequest) -> HttpResponse:
        payload = _fast_accept(request, schema)
        if payload is None:
            return _ninja_operation(route)(request)
        try:
            return handler(request, payload)
        except Exception as exc:  # the same problem+json answers as through ninja
            from config.api import api

            return api.on_exception(request, exc)

    view.__name__ = view.__qualname__ = f"{route}_trigger"
    return view


unitary_view = _hot_view("unitary", UnitaryIn, post_unitary)
audience_view = _hot_view("audience", AudienceIn, post_audience)


def _lean(schema, answer):
    """The route's lean function for config/hotpath.py: the answer of an
    accepted trigger, or None (or an exception) to let Django answer."""

    def lean(request: HttpRequest) -> dict | None:
        payload = _fast_accept(request, schema)
        return None if payload is None else answer(request, payload)

    return lean


# config/wsgi.py serves these in front of Django (config/hotpath.py).
LEAN_ROUTES = {
    "/api/v1/executions/unitary": _lean(UnitaryIn, unitary_answer),
    "/api/v1/executions/audience": _lean(AudienceIn, audience_answer),
}
