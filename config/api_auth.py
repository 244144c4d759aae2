"""Bearer API keys for `/api/v1/`: the request then acts as the key's owner."""

from __future__ import annotations

from django.http import HttpRequest
from ninja.errors import Throttled
from ninja.security import HttpBearer

from accounts.permissions import preload_permissions
from accounts.services import api_key_authenticate, api_key_throttle

# request.META: the key whose rate-limit count this request already took (a
# WSGI environ key no HTTP header can set: headers arrive as HTTP_*).
_COUNTED = "volley.rate_counted"


class ApiKeyAuth(HttpBearer):
    """`Authorization: Bearer <key>`; the request then acts as the key's owner.

    Each key may make ``API_RATE_LIMIT_PER_MINUTE`` requests a minute (429 after).
    """

    def authenticate(self, request: HttpRequest, token: str):
        key = api_key_authenticate(token.strip())
        if key is not None:
            preload_permissions(key.user)
        return self.accept(request, key)

    @staticmethod
    def throttle(request: HttpRequest, key) -> float | None:
        """Seconds to wait when ``key`` is over its limit, else None — counting
        this request once, however many times it is asked (the trigger routes'
        lean path hands a refused request on to Django with its count taken)."""
        if request.META.get(_COUNTED) == key.pk:
            return None
        wait = api_key_throttle(key)
        if wait is None:
            request.META[_COUNTED] = key.pk
        return wait

    @staticmethod
    def throttled(request: HttpRequest, key) -> bool:
        """Whether ``key`` is over its limit (counts this request when not)."""
        return ApiKeyAuth.throttle(request, key) is not None

    @staticmethod
    def accept(request: HttpRequest, key):
        if key is None:
            return None
        wait = ApiKeyAuth.throttle(request, key)
        if wait is not None:
            raise Throttled(wait=wait)  # → 429 problem+json with Retry-After
        request.user = key.user
        request.api_key = key
        return key
