"""Bearer API keys for `/api/v1/`: the request then acts as the key's owner."""

from __future__ import annotations

from django.http import HttpRequest
from ninja.errors import Throttled
from ninja.security import HttpBearer

from accounts.permissions import preload_permissions
from accounts.services import api_key_authenticate, api_key_throttle


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
    def throttled(key) -> bool:
        """Whether ``key`` is over its limit (counts this request when not)."""
        return api_key_throttle(key) is not None

    @staticmethod
    def accept(request: HttpRequest, key):
        if key is None:
            return None
        wait = api_key_throttle(key)
        if wait is not None:
            raise Throttled(wait=wait)  # → 429 problem+json with Retry-After
        request.user = key.user
        request.api_key = key
        return key
