"""Builders for campaign lifecycle tests (plain functions, no fixtures, so the
engine's tests can share the directory without conftest collisions)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from audiences.models import Audience
from campaigns.models import Campaign, CampaignStatus, CampaignVersion
from campaigns.services import campaign_create
from channels.models import ChannelConfiguration

GOOD_HTML = '<p>Hello {{ profile.firstName | default("there") }}</p><a href="{{ unsubscribe_url }}">Unsubscribe</a>'


def email_config(name="Newsletter", purpose="marketing", **kw) -> ChannelConfiguration:
    return ChannelConfiguration.objects.create(
        name=name,
        channel="email",
        purpose=purpose,
        from_name="Volley",
        from_address="news@example.com",
        **kw,
    )


def sms_config(name="SMS", purpose="marketing") -> ChannelConfiguration:
    return ChannelConfiguration.objects.create(
        name=name, channel="sms", purpose=purpose, provider="console", sender_number="+3312345"
    )


def push_config(name="Push", purpose="marketing") -> ChannelConfiguration:
    return ChannelConfiguration.objects.create(
        name=name, channel="push", purpose=purpose, provider="console", platform="web", app_id="a"
    )


def audience(name="Everyone") -> Audience:
    return Audience.objects.create(name=name, kind=Audience.Kind.RULE, rule={"all": []})


def ready_email(actor=None, *, name="Spring sale", tags=(), **kw) -> Campaign:
    """A draft email campaign that passes review with no errors or warnings."""
    fields = {
        "channel_configuration": kw.pop("channel_configuration", None) or email_config(),
        "audience": kw.pop("audience", None) or audience(),
        "content": {"subject": "Hi", "html": GOOD_HTML, "text": "Hello"},
    }
    fields.update(kw)
    return campaign_create(actor=actor, name=name, tags=tags, **fields)


def force_status(campaign: Campaign, status: str, *, recurring: bool = False) -> Campaign:
    """Put a campaign in ``status`` directly (test set-up only; the services are
    what is under test). Live-ish statuses get a live version."""
    version: CampaignVersion = campaign.draft_version
    if recurring:
        version.recurrence = {
            "frequency": "daily",
            "time": "09:00",
            "daysOfWeek": [],
            "dayOfMonth": None,
        }
        version.save()
    fields = {"status": status}
    if status not in (CampaignStatus.DRAFT, CampaignStatus.IN_REVIEW):
        fields.update(live_version=version, draft_version=None, activated_at=timezone.now())
    Campaign.objects.filter(pk=campaign.pk).update(**fields)
    campaign.refresh_from_db()
    return campaign


def future(days=1):
    return timezone.now() + timedelta(days=days)
