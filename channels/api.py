"""Channel configurations and provider feedback API (SPEC §7)."""

from ninja import Router

channels_router = Router(tags=["channel configurations"])
# Provider feedback is HMAC-signed, not bearer-authenticated.
feedback_router = Router(tags=["feedback"], auth=None)
