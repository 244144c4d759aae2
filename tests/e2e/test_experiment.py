"""A marketer sets up an A/B test with a holdout on the edit page, and the
report page tells which variant won and whether it is significant (SPEC §13)."""

from __future__ import annotations

import pytest

from campaigns import services
from campaigns.engine import messaging, runs
from campaigns.engine.schedule import activate_campaign
from campaigns.models import Campaign, Delivery, Run
from channels.models import DeliveryEvent
from tests.campaigns.conftest import FakeTransport, make_profiles, upload_audience
from tests.campaigns.lifecycle_helpers import GOOD_HTML, email_config


@pytest.mark.django_db(transaction=True)
def test_marketer_runs_an_ab_test_with_a_holdout_and_reads_the_winner(
    live_server, page, make_user, sign_in, monkeypatch
):
    from accounts.roles import MANAGER

    monkeypatch.setattr(runs, "enqueue", lambda func, *args, task_name=None: None)
    transport = FakeTransport()
    monkeypatch.setattr(messaging, "transport_for", lambda config: transport)
    marketer = make_user("newbie", MANAGER)
    campaign = services.campaign_create(
        actor=marketer,
        name="Spring sale",
        channel_configuration=email_config(),
        audience=upload_audience(make_profiles(400), name="Subscribers"),
        content={"subject": "Spring is here", "html": GOOD_HTML, "text": "Hi"},
    )

    sign_in(page, "newbie", "pw-newbie")
    page.goto(f"{live_server.url}/campaigns/{campaign.pk}/edit/")
    section = page.locator("#step-experiment")
    section.get_by_label("Run an A/B test").check()
    section.locator("input[name=experiment_holdout]").fill("10")
    section.locator("input[name=experiment_test_percent]").fill("50")
    section.locator("input[name=experiment_test_hours]").fill("4")
    section.get_by_label("Send the winner to the rest automatically when the test ends").uncheck()
    variant_b = section.get_by_test_id("variant-2")
    assert variant_b.locator("input[name=variant_1_name]").input_value() == "B"
    variant_b.locator("input[name=variant_1_subject]").fill("Only today: spring sale")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_selector("#review")

    campaign.refresh_from_db()
    experiment = campaign.draft_version.experiment
    assert experiment["holdoutPercent"] == 10 and experiment["testPercent"] == 50
    assert experiment["autoWinner"] is False
    assert experiment["variants"][1] == {
        "name": "B",
        "weight": 1,
        "content": {"subject": "Only today: spring sale"},
    }

    # Approved and sent by the cluster (driven here): the test half goes out.
    Campaign.objects.filter(pk=campaign.pk).update(
        status="activating", live_version=campaign.draft_version, draft_version=None
    )
    activate_campaign(campaign.pk)
    run = Run.objects.get(campaign=campaign)
    runs.start_run(run.pk)
    from campaigns.engine.send import send_run

    send_run(run.pk)
    sent = Delivery.objects.filter(run=run, status="sent")
    b_sent = list(sent.filter(variant="B"))
    a_sent = list(sent.filter(variant="A"))
    DeliveryEvent.objects.bulk_create(
        [
            DeliveryEvent(delivery=d, kind="click", channel="email")
            for d in b_sent[: len(b_sent) // 2]
        ]
        + [DeliveryEvent(delivery=d, kind="click", channel="email") for d in a_sent[:3]]
    )

    page.goto(f"{live_server.url}/campaigns/{campaign.pk}/report/")
    card = page.get_by_test_id("experiment-report")
    assert "So far, variant B leads: +" in card.locator("#experiment-verdict").inner_text()
    assert ", significant" in card.locator("tr[data-variant=B]").inner_text()
    assert "received nothing on purpose" in card.locator("#experiment-holdout").inner_text()
    assert "wait for the winner" in card.locator("#experiment-waiting").inner_text()

    card.locator("tr[data-variant=B]").get_by_role("button", name="Pick as winner").click()
    page.wait_for_selector("#experiment-decision")
    verdict = page.locator("#experiment-verdict").inner_text()
    assert verdict.startswith("Variant B won: +") and verdict.endswith(", significant")
    assert "95% CI" in verdict
    assert "Picked by newbie" in page.locator("#experiment-decision").inner_text()
    assert "winner" in page.locator("tr[data-variant=B]").inner_text()
    # The people who waited now get B.
    waiting = Delivery.objects.filter(run=run, status="pending")
    assert waiting.exists() and set(waiting.values_list("variant", flat=True)) == {"B"}
