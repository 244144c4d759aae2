"""Fixtures and builders for the engine tests (test_engine_*.py)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import pytest

from audiences.models import Audience, AudienceMember, Profile
from campaigns.engine import messaging, runs
from campaigns.models import Campaign, CampaignVersion
from channels.models import ChannelConfiguration


def make_profiles(n: int, *, prefix: str = "p", consent: bool = True, **extra) -> list[Profile]:
    Profile.objects.bulk_create(
        [
            Profile(email=f"{prefix}{i}@example.com", consent_email=consent, **extra)
            for i in range(n)
        ],
        batch_size=300,
    )
    return list(Profile.objects.filter(email__startswith=prefix).order_by("id"))


def upload_audience(profiles, name: str = "Everyone") -> Audience:
    audience = Audience.objects.create(name=name, kind=Audience.Kind.UPLOAD, size=len(profiles))
    AudienceMember.objects.bulk_create(
        [AudienceMember(audience=audience, profile=p) for p in profiles], batch_size=300
    )
    return audience


def email_config(**fields) -> ChannelConfiguration:
    return ChannelConfiguration.objects.create(
        name=fields.pop("name", "Newsletter"),
        channel="email",
        purpose=fields.pop("purpose", "marketing"),
        from_address="news@example.com",
        from_name="Volley",
        **fields,
    )


def make_campaign(
    audience=None,
    config=None,
    *,
    status: str = "activating",
    type: str = "scheduled",
    category: str = "marketing",
    **version_fields,
) -> Campaign:
    campaign = Campaign.objects.create(
        name="Engine test", type=type, category=category, channel="email", status=status
    )
    content = version_fields.pop(
        "content",
        {
            "subject": "Hello {{ profile.firstName | default('there') }}",
            "html": "<p>Hi {{ profile.firstName | default('there') }}</p>",
            "text": "Hi {{ profile.firstName | default('there') }}",
        },
    )
    version = CampaignVersion.objects.create(
        campaign=campaign,
        channel_configuration=config or email_config(),
        audience=audience,
        content=content,
        **version_fields,
    )
    campaign.live_version = version
    campaign.save(update_fields=["live_version"])
    return campaign


@dataclass
class FakeTransport:
    """Records every message; ``outcomes`` maps an address to a SendResult factory."""

    sent: list = field(default_factory=list)
    outcomes: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send_batch(self, messages):
        results = []
        for m in messages:
            outcome = self.outcomes.get(m.to)
            if outcome is not None:
                results.append(messaging.SendResult(m.delivery_id, False, *outcome))
                continue
            with self.lock:
                self.sent.append(m.to)
            results.append(messaging.SendResult(m.delivery_id, True))
        return results


@pytest.fixture
def fake_transport(monkeypatch):
    transport = FakeTransport()
    monkeypatch.setattr(messaging, "transport_for", lambda config: transport)
    return transport


@pytest.fixture
def queued(monkeypatch):
    """Collect what the engine would hand to the cluster instead of enqueueing it."""
    calls: list[tuple] = []
    monkeypatch.setattr(
        runs, "enqueue", lambda func, *args, task_name=None: calls.append((func, *args))
    )
    return calls


@pytest.fixture
def sink(settings):
    """A real SMTP sink (aiosmtpd, its own thread) as Django's email backend:
    the messages it received are ``sink.messages``."""
    from tests.campaigns.smtp_sink import Sink

    with Sink() as running:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", running.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        yield running
