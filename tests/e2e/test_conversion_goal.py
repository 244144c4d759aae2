"""A marketer sets a conversion goal and an A/B test with a holdout on the edit
page, the shop posts purchases to the events API, and the report page shows
the conversions of each variant and of the holdout with the lift
(docs/CONVERSIONS.md)."""

from __future__ import annotations

import pytest

from campaigns.engine import runs
from campaigns.engine.schedule import activate_campaign
from campaigns.models import Campaign, Delivery, Run
from tests.conftest import ApiClient


@pytest.mark.django_db(transaction=True)
def test_marketer_sets_a_goal_and_reads_the_lift_against_the_holdout(
    live_server, page, sign_in, marketer_draft
):
    from accounts.services import api_key_create

    marketer, campaign, transport = marketer_draft(600)

    sign_in(page, "newbie", "pw-newbie")
    page.goto(f"{live_server.url}/campaigns/{campaign.pk}/edit/")
    goal = page.get_by_test_id("conversion-goal")
    goal.get_by_label("Conversion event").fill("purchase")
    goal.get_by_label("Conversion window (hours)").fill("48")
    section = page.locator("#step-experiment")
    section.get_by_label("Run an A/B test").check()
    section.locator("input[name=experiment_holdout]").fill("20")
    section.get_by_label("The winner is the variant with the most").select_option("conversions")
    section.locator("input[name=variant_1_subject]").fill("Only today: spring sale")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_selector("#review")
    assert "“purchase” within 48 hours" in page.locator("#conversion-goal").inner_text()

    campaign.refresh_from_db()
    version = campaign.draft_version
    assert version.conversion == {"event": "purchase", "windowHours": 48}
    assert version.experiment["winnerMetric"] == "conversions"

    # Activated and sent by the cluster (driven here).
    Campaign.objects.filter(pk=campaign.pk).update(
        status="activating", live_version=version, draft_version=None
    )
    activate_campaign(campaign.pk)
    run = Run.objects.get(campaign=campaign)
    runs.start_run(run.pk)
    from campaigns.engine.send import send_run

    send_run(run.pk)

    # The shop posts purchases: half of B's people, a few of A's and the holdout's.
    rows = Delivery.objects.filter(run=run).select_related("profile").order_by("id")
    b = [d.profile.email for d in rows if d.variant == "B"]
    a = [d.profile.email for d in rows if d.variant == "A"]
    held = [d.profile.email for d in rows if d.reason == "holdout"]
    buyers = b[: len(b) // 2] + a[:5] + held[:3]
    _key, plain = api_key_create(user=marketer, name="shop")
    shop = ApiClient(plain)
    events = [
        {"profile": {"namespace": "email", "value": email}, "name": "purchase", "value": 30}
        for email in buyers
    ]
    answer = shop.post("/events/batch", {"events": events})
    assert answer.status_code == 200 and answer.json()["accepted"] == len(buyers)

    page.goto(f"{live_server.url}/campaigns/{campaign.pk}/report/")
    card = page.get_by_test_id("conversion-report")
    summary = card.locator("#conversion-summary").inner_text()
    reached = len(a) + len(b)
    assert f"{len(b) // 2 + 5} people performed “purchase” within 48 hours" in summary
    assert f"out of {reached} reached" in summary
    assert "Lift: +" in summary and ", significant" in summary
    assert ", significant" in card.locator("tr[data-variant=B]").inner_text()
    holdout = card.locator("tr[data-row=holdout]").inner_text()
    assert str(len(held)) in holdout and "\t3\t" in holdout
    assert "against the holdout" in card.locator("tr[data-row=all]").inner_text()
    # The A/B test card compares the variants on the conversion rate.
    verdict = page.get_by_test_id("experiment-report").locator("#experiment-verdict").inner_text()
    assert verdict.startswith("So far, variant B leads: +") and "conversion rate" in verdict
