"""Demo data for this app (called by `manage.py seed_demo`, idempotent by name)."""

from __future__ import annotations

from channels.models import ChannelConfiguration

DEMO_CONFIGURATIONS = [
    {
        "name": "Newsletter (email)",
        "channel": "email",
        "purpose": "marketing",
        "provider": "smtp",
        "from_name": "Volley Outdoor",
        "from_address": "news@volley.example",
        "reply_to": "hello@volley.example",
    },
    {
        "name": "Order notifications (email)",
        "channel": "email",
        "purpose": "transactional",
        "provider": "smtp",
        "from_name": "Volley Outdoor",
        "from_address": "orders@volley.example",
        "reply_to": "support@volley.example",
    },
    {
        "name": "Promotions (SMS)",
        "channel": "sms",
        "purpose": "marketing",
        "provider": "console",
        "sender_number": "+31612345000",
        "rate_limit_per_second": 50,
    },
    {
        "name": "Mobile app (push)",
        "channel": "push",
        "purpose": "marketing",
        "provider": "console",
        "platform": "android",
        "app_id": "com.volley.outdoor",
    },
]


def seed(*, users: dict, **kwargs) -> None:
    """Create the four demo configurations; existing ones (by name) are left alone."""
    for fields in DEMO_CONFIGURATIONS:
        if ChannelConfiguration.objects.filter(name=fields["name"]).exists():
            continue
        config = ChannelConfiguration(**fields)
        config.full_clean()
        config.save()
