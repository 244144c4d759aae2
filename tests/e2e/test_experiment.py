"""A marketer sets up an A/B test with a holdout on the edit page, and the
report page tells which variant won and whether it is significant (SPEC §13)."""

from __future__ import annotations

import pytest

from campaigns.engine import runs
from campaigns.engine.schedule import activate_campaign
from campaigns.models import Campaign, Delivery, Run
from channels.models import DeliveryEvent
from tests.campaigns.conftest import make_profiles, upload_audience
from tests.campaigns.lifecycle_helpers import email_config


@pytest.mark.django_db(transaction=True)
def test_marketer_runs_an_ab_test_with_a_holdout_and_reads_the_winner(
    live_server, page, sign_in, marketer_draft
):
    marketer, campaign, transport = marketer_draft(400)

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


def _tracking_links(message: bytes) -> tuple[str, list[str]]:
    """The open pixel and the written links' tracked URLs of a sent email."""
    import email
    import re
    from email import policy

    html = email.message_from_bytes(message, policy=policy.default).get_body(("html",))
    body = html.get_content()
    pixel = re.search(r'<img src="([^"]+/t/o/[^"]+)"', body).group(1)
    return pixel, re.findall(r'<a href="([^"]+/t/c/[^"]+)"', body)


def _visit(url: str) -> int:
    """What a person's mail app or browser sends: a GET with a browser's user
    agent, not following the redirect to the shop."""
    from http.client import HTTPConnection
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.request(
        "GET",
        f"{parts.path}?{parts.query}" if parts.query else parts.path,
        headers={"User-Agent": BROWSER, "Accept": "text/html,image/webp,*/*"},
    )
    status = connection.getresponse().status
    connection.close()
    return status


BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)


@pytest.mark.django_db(transaction=True)
def test_a_new_marketer_runs_an_ab_test_end_to_end_through_approval_tracking_and_the_auto_winner(
    live_server, signed_in_page, monkeypatch, settings
):
    """Issue 17's walk, from the navigation only: the manager creates the
    campaign, sets the A/B test (test phase, automatic winner) and the goal,
    asks for approval; the approver approves; the engine sends through an SMTP
    sink; people open and click the real tracking URLs of the sent messages;
    the shop posts purchases with a key made on the settings page; the tick
    picks the winner and sends it to the rest; the manager reads the report."""
    import json
    from datetime import timedelta
    from urllib.request import Request, urlopen

    from django.db.models import F

    from campaigns.engine import clock
    from campaigns.engine.send import send_run
    from campaigns.experiments import decide_due_winners
    from tests.campaigns.smtp_sink import Sink

    queued: list[tuple] = []
    monkeypatch.setattr(runs, "enqueue", lambda func, *args, task_name=None: queued.append(args))
    settings.SITE_URL = live_server.url
    email_config(name="Newsletter")
    upload_audience(make_profiles(400), name="Subscribers")

    manager = signed_in_page("manager")
    manager.get_by_role("link", name="New campaign").click()
    manager.get_by_label("Name").fill("Winter gear")
    manager.get_by_role("button", name="Create and continue").click()
    manager.wait_for_selector("#step-experiment")
    manager.locator("select[name=audience]").select_option(label="Subscribers (about 400 profiles)")
    manager.locator("select[name=channel_configuration]").select_option(label="Newsletter")
    manager.locator("#id_content_subject").fill("Winter gear is here")
    manager.locator("#id_content_html").fill(
        '<p>Hello</p><a href="https://shop.example/winter">Shop</a>'
        '<a href="{{ unsubscribe_url }}">Unsubscribe</a>'
    )
    manager.locator("#id_content_text").fill("Winter gear: https://shop.example/winter")
    goal = manager.get_by_test_id("conversion-goal")
    goal.get_by_label("Conversion event").fill("purchase")
    section = manager.locator("#step-experiment")
    section.get_by_label("Run an A/B test").check()
    section.locator("input[name=experiment_holdout]").fill("10")
    section.locator("input[name=experiment_test_percent]").fill("50")
    section.locator("input[name=experiment_test_hours]").fill("1")
    section.locator("input[name=variant_1_subject]").fill("Last chance: 20% off winter gear")
    manager.get_by_role("button", name="Save", exact=True).click()
    summary = manager.locator("#experiment-summary").inner_text()
    assert "test on 50 % for 1 hour" in summary and "1 hours" not in summary
    assert "winner on clicks, sent to the rest automatically" in summary
    manager.get_by_role("button", name="Request approval").click()
    manager.wait_for_selector("text=Approval requested.")
    campaign = Campaign.objects.get(name="Winter gear")

    approver = signed_in_page("approver")
    approver.locator("nav.mainnav").get_by_role("link", name="Approvals").click()
    approver.get_by_role("row", name="Winter gear").get_by_role("link", name="Review").click()
    approver.get_by_role("button", name="Approve").click()
    approver.wait_for_selector("text=Approved")
    assert (campaign.pk,) in queued  # the activation handed to the cluster

    with Sink() as sink:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        activate_campaign(campaign.pk)
        run = Run.objects.get(campaign=campaign)
        runs.start_run(run.pk)
        send_run(run.pk)
        test_phase = {
            name: list(
                Delivery.objects.filter(run=run, variant=name, status="sent")
                .select_related("profile")
                .order_by("id")
            )
            for name in ("A", "B")
        }
        messages = sink.messages()
        assert test_phase["A"] and test_phase["B"]
        held = Delivery.objects.filter(run=run, reason="holdout").count()
        assert 0 < held < 80

        # A person reads later than a scanner would: the sends are a minute old.
        Delivery.objects.filter(run=run).update(sent_at=F("sent_at") - timedelta(minutes=1))
        readers = test_phase["B"][: len(test_phase["B"]) // 2] + test_phase["A"][:2]
        for delivery in readers:
            pixel, links = _tracking_links(messages[delivery.profile.email])
            assert _visit(pixel) == 200 and _visit(links[0]) == 302

        # The shop's purchases, with a key made on the settings page.
        manager.locator(".usermenu .username").click()
        manager.get_by_label("Name", exact=True).fill("shop")
        manager.get_by_role("button", name="Create key").click()
        key = manager.get_by_test_id("new-key").inner_text().strip()
        buyers = [d.profile.email for d in readers[:10]]
        for index, address in enumerate(buyers):
            request = Request(
                f"{live_server.url}/api/v1/events",
                data=json.dumps(
                    {
                        "profile": {"namespace": "email", "value": address},
                        "name": "purchase",
                        "eventId": f"order-{index}",
                        "value": 40,
                    }
                ).encode(),
                headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
                method="POST",
            )
            with urlopen(request, timeout=10) as answer:
                assert answer.status == 201

        # The test phase ends: the cluster's minute tick picks B and sends it to the rest.
        assert decide_due_winners(clock.now() + timedelta(hours=1, minutes=1)) == [campaign.pk]
        send_run(run.pk)
    waited = Delivery.objects.filter(run=run, variant="B", status="sent").count() - len(
        test_phase["B"]
    )
    assert waited > 0

    manager.locator("nav.mainnav").get_by_role("link", name="Campaigns").click()
    manager.get_by_role("link", name="Winter gear").click()
    manager.get_by_role("link", name="Report").first.click()
    card = manager.get_by_test_id("experiment-report")
    verdict = card.locator("#experiment-verdict").inner_text()
    assert verdict.startswith("Variant B won: +") and verdict.endswith(", significant")
    assert "Decided automatically" in card.locator("#experiment-decision").inner_text()
    # The table keeps showing the test the decision was taken on, in agreement with it.
    row_b = card.locator("tr[data-variant=B]")
    assert row_b.locator("td").first.inner_text() == str(len(test_phase["B"]))
    assert ", significant" in row_b.inner_text() and "not significant" not in row_b.inner_text()
    assert f"the {waited} people who got the winner afterwards" in (
        card.locator("#experiment-test-numbers").inner_text()
    )
    holdout = card.locator("#experiment-holdout td")
    assert "received nothing on purpose" in holdout.inner_text()
    assert holdout.evaluate("cell => getComputedStyle(cell).textAlign") in {"left", "start"}
    conversions = manager.get_by_test_id("conversion-report")
    assert "10 people performed “purchase” within 72 hours" in (
        conversions.locator("#conversion-summary").inner_text()
    )
    assert "against the holdout" in conversions.locator("tr[data-row=all]").inner_text()
    assert str(held) in conversions.locator("tr[data-row=holdout]").inner_text()
