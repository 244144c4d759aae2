"""Security review 13 (issue 10): resource exhaustion, bad input and hardening.

Each test reproduces a finding of docs/security-review-13.md (it failed on the
code before the fix) or guards a probe that held.
"""

from __future__ import annotations

import pytest
from aiosmtpd.controller import Controller

from campaigns import barrier
from campaigns.engine import runs, send
from campaigns.engine.schedule import activate_campaign
from campaigns.models import Campaign, Run
from channels.smtp import Pipeline
from tests.campaigns.conftest import make_campaign, make_profiles, upload_audience
from tests.campaigns.smtp_sink import _Handler, free_port

pytestmark = pytest.mark.django_db(transaction=True)


class _PipeliningHandler(_Handler):
    """The engine tests' sink, advertising PIPELINING as Postfix does."""

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        session.host_name = hostname
        responses.insert(-1, "250-PIPELINING")
        return responses


@pytest.fixture
def pipelining_sink(settings):
    handler = _PipeliningHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 10
    try:
        yield handler
    finally:
        controller.stop()


def test_a_send_permit_is_held_until_the_pipeline_has_sent_its_last_content(
    queued, pipelining_sink, settings, monkeypatch
):
    """Finding 1. With PIPELINING a message's content and final dot go out with
    the next message's envelope, or at the pipeline's flush. A sender that
    renewed its permit between two messages and found the campaign stopped
    released the permit at once, so the stop returned (``wait_for_senders``)
    while the message before was still in the pipeline: its content was sent
    after the stop had returned. The permit must be held until the transport
    is done, as it is without pipelining."""
    settings.ENGINE_BATCH_SIZE = 10
    monkeypatch.setattr(send, "RENEW_SECONDS", 0.0)  # renew before every message
    profiles = make_profiles(3)
    campaign = make_campaign(upload_audience(profiles))
    activate_campaign(campaign.pk)
    run = Run.objects.get(campaign=campaign)
    assert runs.start_run(run.pk)

    submitted = []
    original_submit = Pipeline.submit

    def submit(self, key, sender, recipients, data):
        outcomes = original_submit(self, key, sender, recipients, data)
        submitted.append(recipients[0])
        if len(submitted) == 1:
            # A stop commits while the first message's content waits in the pipeline.
            Campaign.objects.filter(pk=campaign.pk).update(status="stopped")
        return outcomes

    releases = []  # messages the sink had taken whenever a permit was let go
    original_release = barrier.release

    def release(holder):
        releases.append(len(pipelining_sink.received))
        return original_release(holder)

    monkeypatch.setattr(Pipeline, "submit", submit)
    monkeypatch.setattr(barrier, "release", release)

    send.send_run(run.pk)

    assert len(submitted) == 1
    delivered = len(pipelining_sink.received)
    # Once the permit is released the stop may return: nothing may arrive later.
    assert releases and releases[0] == delivered, (releases, delivered)


def _big_triggers(campaign, n: int, context_bytes: int) -> list[int]:
    """``n`` accepted unitary triggers of 20 recipients, each with a context of
    about ``context_bytes`` (what the API accepts: 20 recipients, 200 KB each)."""
    context = {"blob": "x" * context_bytes}
    recipients = [
        {"field": "email", "value": f"r{i}@example.com", "context": context} for i in range(20)
    ]
    return [
        Run.objects.create(
            campaign=campaign,
            version=campaign.live_version,
            kind="api_unitary",
            status="queued",
            request_id=f"big-{k}",
            recipients=recipients,
        ).pk
        for k in range(n)
    ]


def test_4_a_dispatcher_pass_reads_a_bounded_amount_of_trigger_data(settings):
    """Finding 4. A pass claimed up to ``ENGINE_DISPATCH_BATCH`` (100) triggers
    and read every recipient's context at once (``_load``, then the batch's
    deliveries): 100 triggers of 20 recipients × 200 KB (a manager's key, 4 MB
    a request) are 400 MB of JSON, gigabytes of Python objects in one worker.
    A pass now stops claiming at ``ENGINE_DISPATCH_BATCH_BYTES`` of recipients
    (at least one trigger); the rest stay queued for the next pass."""
    from campaigns.engine import dispatch

    settings.ENGINE_DISPATCH_BATCH_BYTES = 1_000_000
    campaign = make_campaign(None, status="live", type="api")
    ids = _big_triggers(campaign, 5, 20_000)  # about 400 KB of recipients each

    first = dispatch.claim_triggers("one", 100)
    assert first == ids[:2]
    assert sorted(Run.objects.filter(status="queued").values_list("pk", flat=True)) == ids[2:]
    assert dispatch.claim_triggers("two", 100) == ids[2:4]
    assert dispatch.claim_triggers("three", 100) == ids[4:]


def test_4_one_trigger_larger_than_the_budget_is_still_taken(settings):
    from campaigns.engine import dispatch

    settings.ENGINE_DISPATCH_BATCH_BYTES = 1_000
    campaign = make_campaign(None, status="live", type="api")
    ids = _big_triggers(campaign, 2, 5_000)
    assert dispatch.claim_triggers("one", 100) == ids[:1]
    assert dispatch.claim_triggers("two", 100) == ids[1:]
