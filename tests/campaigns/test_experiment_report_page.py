"""What a marketer reads about an A/B test with a test phase, a holdout and an
automatic winner (issue 17's trial): the campaign page's summary of the set-up,
the report while the rest waits, and the report once the winner has been sent
to them — the table must keep agreeing with the verdict above it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from audiences.models import ConversionEvent, Profile
from campaigns import services
from campaigns.engine import runs as engine_runs
from campaigns.experiments import HELD_UNTIL, decide_winner
from campaigns.models import Campaign, Delivery, Run
from channels.models import DeliveryEvent
from tests.campaigns.lifecycle_helpers import GOOD_HTML, audience, email_config

pytestmark = pytest.mark.usefixtures("no_worker")

T0 = datetime(2030, 3, 2, 9, 0, tzinfo=UTC)
EXPERIMENT = {
    "variants": [{"name": "A", "weight": 1}, {"name": "B", "weight": 1}],
    "holdoutPercent": 10,
    "testPercent": 50,
    "testHours": 1,
    "autoWinner": True,
    "winnerMetric": "clicks",
}


def _live(manager) -> tuple[Campaign, Run]:
    """A live campaign in its test phase, written by hand: A and B sent to 100
    people each at T0 (A: 10 clicks, B: 40), 200 people waiting for the winner,
    46 held out of whom 2 bought."""
    campaign = services.campaign_create(
        actor=manager,
        name="Winter gear",
        channel_configuration=email_config(),
        audience=audience(),
        content={"subject": "Winter gear is here", "html": GOOD_HTML, "text": "Hi"},
    )
    services.campaign_update(
        campaign=campaign,
        actor=manager,
        conversion={"event": "purchase", "windowHours": 48},
        experiment=EXPERIMENT,
    )
    campaign.refresh_from_db()
    Campaign.objects.filter(pk=campaign.pk).update(
        status="live", live_version=campaign.draft_version, draft_version=None
    )
    campaign.refresh_from_db()
    run = Run.objects.create(
        campaign=campaign,
        version=campaign.live_version,
        kind="one_shot",
        status="sending",
        test_ends_at=T0 + timedelta(hours=1),
    )
    Profile.objects.bulk_create(
        [Profile(email=f"w{i}@example.com") for i in range(446)], batch_size=200
    )
    people = list(Profile.objects.filter(email__startswith="w").order_by("id"))
    a, b, waiting, held = people[:100], people[100:200], people[200:400], people[400:]
    rows = [Delivery(run=run, profile=p, status="sent", variant="A", sent_at=T0) for p in a]
    rows += [Delivery(run=run, profile=p, status="sent", variant="B", sent_at=T0) for p in b]
    rows += [Delivery(run=run, profile=p, status="pending", send_after=HELD_UNTIL) for p in waiting]
    rows += [
        Delivery(run=run, profile=p, status="excluded", reason="holdout", held_out_at=T0)
        for p in held
    ]
    Delivery.objects.bulk_create(rows, batch_size=200)
    clickers = list(Delivery.objects.filter(run=run, variant="A").order_by("id")[:10]) + list(
        Delivery.objects.filter(run=run, variant="B").order_by("id")[:40]
    )
    DeliveryEvent.objects.bulk_create(
        [DeliveryEvent(delivery=d, kind="click", channel="email") for d in clickers]
    )
    ConversionEvent.objects.bulk_create(
        [
            ConversionEvent(profile=p, name="purchase", occurred_at=T0 + timedelta(hours=1))
            for p in held[:2]
        ]
    )
    return campaign, run


def test_the_campaign_page_says_how_the_winner_is_picked(manager, login):
    campaign, _run = _live(manager)
    page = login(manager).get(f"/campaigns/{campaign.pk}/").content.decode()
    summary = page.split('id="experiment-summary">', 1)[1].split("</dd>", 1)[0]
    assert "1 hours" not in summary
    assert "test on 50 % for 1 hour" in summary
    assert "holdout 10 %" in summary
    assert "winner on clicks, sent to the rest automatically" in summary


def test_the_report_tells_when_the_winner_is_sent_without_a_double_full_stop(manager, login):
    campaign, _run = _live(manager)
    page = login(manager).get(f"/campaigns/{campaign.pk}/report/").content.decode()
    waiting = page.split('id="experiment-waiting">', 1)[1].split("</p>", 1)[0]
    assert "200 people wait for the winner" in waiting
    assert "automatically when the test ends (" in waiting
    assert ".." not in waiting


def test_the_holdout_rate_is_rounded_once(manager, login):
    # 2 of 46 is 4.35 % rounded to two places, but 4.348 %: "4.3 %", not "4.4 %".
    campaign, _run = _live(manager)
    page = login(manager).get(f"/campaigns/{campaign.pk}/report/").content.decode()
    holdout = page.split('data-row="holdout"', 1)[1].split("</tr>", 1)[0]
    assert "4.3 %" in holdout and "4.4 %" not in holdout


def test_after_the_winner_is_sent_to_the_rest_the_table_still_agrees_with_the_verdict(
    manager, login, monkeypatch
):
    monkeypatch.setattr(engine_runs, "enqueue", lambda func, *args, task_name=None: None)
    campaign, run = _live(manager)
    winner = decide_winner(campaign=campaign, automatic=True)
    assert winner.variant == "B" and winner.released == 200
    # The cluster sends B to the 200 who waited; they have not clicked yet.
    Delivery.objects.filter(run=run, variant="B", sent_at__isnull=True).update(
        status="sent", sent_at=T0 + timedelta(hours=2)
    )

    page = login(manager).get(f"/campaigns/{campaign.pk}/report/").content.decode()
    verdict = page.split('id="experiment-verdict">', 1)[1].split("</p>", 1)[0]
    assert verdict.startswith("Variant B won: +30.0 points") and verdict.endswith(", significant")
    row_b = page.split('data-variant="B"', 1)[1].split("</tr>", 1)[0]
    # The row shows the test the winner was decided on (100 sent, 40 clicks),
    # not the test diluted by the 200 who only just got the winner.
    assert "<td>100</td>" in row_b and "<td>300</td>" not in row_b
    assert "+30.0 points click rate" in row_b and "not significant" not in row_b
    note = page.split('id="experiment-test-numbers">', 1)[1].split("</p>", 1)[0]
    assert "200 people who got the winner afterwards" in note


def test_the_history_names_the_winner_decision_in_words(manager, login, monkeypatch):
    monkeypatch.setattr(engine_runs, "enqueue", lambda func, *args, task_name=None: None)
    campaign, _run = _live(manager)
    decide_winner(campaign=campaign, automatic=True)
    page = login(manager).get(f"/campaigns/{campaign.pk}/").content.decode()
    assert "experiment winner" not in page
    history = page.split("Picked the A/B test&#x27;s winner", 1)
    assert len(history) == 2 and "Variant B won: +30.0 points" in history[1]


@pytest.mark.parametrize("language", ["nl", "sv", "fr"])
def test_the_holdout_and_the_control_have_different_words(language):
    # "Controlegroep" next to "A (controle)" reads as if the variants were
    # compared with the holdout: the report's two references must not share a word.
    from django.utils import translation
    from django.utils.translation import gettext

    with translation.override(language):
        holdout, control = gettext("Holdout").lower(), gettext("control").lower()
        summary = gettext("holdout %(p)s %%").lower()
    assert control not in holdout and control not in summary


def test_deliveries_a_provider_never_reports_are_not_shown_as_none_delivered(manager, login):
    # A plain SMTP server reports no deliveries: "0 delivered, 0.0 % of sent"
    # reads as if the campaign failed.
    campaign, run = _live(manager)
    client = login(manager)
    page = client.get(f"/campaigns/{campaign.pk}/report/").content.decode()
    card = page.split('id="metric-delivered">', 1)[1].split('id="metric-opened"', 1)[0]
    assert "not reported by the provider" in card and "of sent" not in card
    # Once the provider reports one, the share of the sent is back.
    Delivery.objects.filter(run=run, variant="A").update(delivered_at=T0)
    page = client.get(f"/campaigns/{campaign.pk}/report/").content.decode()
    card = page.split('id="metric-delivered">', 1)[1].split('id="metric-opened"', 1)[0]
    assert "50.0 % of sent" in card and "not reported" not in card


def test_the_campaign_page_shows_what_each_variant_sends(manager, approver, login):
    # The preview shows the control only: the approver approves B's subject too.
    campaign, _run = _live(manager)
    version = campaign.live_version
    version.experiment = {
        **version.experiment,
        "variants": [
            {"name": "A", "weight": 1, "content": {}},
            {
                "name": "B",
                "weight": 1,
                "content": {"subject": "Last chance: 20% off", "html": "<p>Other</p>"},
            },
        ],
    }
    version.save(update_fields=["experiment"])
    page = login(approver).get(f"/campaigns/{campaign.pk}/").content.decode()
    listed = page.split('id="experiment-variant-content">', 1)[1].split("</dd>", 1)[0]
    b = listed.split('data-variant="B">', 1)[1].split("</li>", 1)[0]
    assert "Subject “Last chance: 20% off”" in b and "HTML body changed" in b
    a = listed.split('data-variant="A">', 1)[1].split("</li>", 1)[0]
    assert "(control)" in a and "the campaign's content as it is" in a


def test_an_automatic_winner_is_told_to_the_campaigns_creator_in_their_language(
    manager, approver, login, monkeypatch, django_capture_on_commit_callbacks
):
    from django.core import mail

    from accounts.models import Notification

    monkeypatch.setattr(engine_runs, "enqueue", lambda func, *args, task_name=None: None)
    queued = []
    monkeypatch.setattr(
        "accounts.mailer._enqueue", lambda task, *args: queued.append((task, *args))
    )
    manager.email = "maker@example.com"
    manager.save(update_fields=["email"])
    campaign, _run = _live(manager)
    with django_capture_on_commit_callbacks(execute=True):
        decide_winner(campaign=campaign, automatic=True)

    notice = Notification.objects.get(user=manager, kind="experiment_winner")
    assert notice.url == f"/campaigns/{campaign.pk}/report/"
    assert not Notification.objects.filter(user=approver).exists()
    page = login(manager).get("/accounts/notifications/", HTTP_ACCEPT_LANGUAGE="nl").content
    assert "variant B heeft de test gewonnen" in page.decode()  # in the reader's language
    assert [args[-1] for args in queued] == ["maker@example.com"]
    assert "variant B won the test" in queued[0][2]
    assert not mail.outbox


def test_a_winner_picked_by_hand_or_for_a_creator_who_may_not_see_it_tells_nobody(
    manager, approver, monkeypatch
):
    from accounts.models import Notification

    monkeypatch.setattr(engine_runs, "enqueue", lambda func, *args, task_name=None: None)
    campaign, _run = _live(manager)
    decide_winner(campaign=campaign, variant="B", actor=approver)
    assert not Notification.objects.filter(kind="experiment_winner").exists()

    from campaigns.models import ExperimentWinner

    ExperimentWinner.objects.filter(campaign=campaign).delete()
    manager.is_active = False
    manager.save(update_fields=["is_active"])
    decide_winner(campaign=campaign, automatic=True)
    assert not Notification.objects.filter(kind="experiment_winner").exists()
