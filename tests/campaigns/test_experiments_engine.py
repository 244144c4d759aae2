"""Experiments through the real engine (SPEC §13): assignment in the fan-out,
the holdout, a retry and a second run keeping each person's variant, the test
phase and the winner — on SQLite and on PostgreSQL (``DATABASE_URL``), to an
aiosmtpd sink where messages are sent."""

from __future__ import annotations

import email.parser
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db.models import Count

from campaigns import services, tasks
from campaigns.engine import messaging
from campaigns.engine.runs import start_run
from campaigns.engine.schedule import activate_campaign
from campaigns.experiments import HELD_UNTIL, assign, normalize_experiment
from campaigns.models import Delivery, ExperimentWinner, Run
from campaigns.reports import campaign_report
from channels.models import DeliveryEvent
from tests.campaigns.conftest import make_campaign, make_profiles, upload_audience

pytestmark = pytest.mark.django_db(transaction=True)

SUBJECTS = {"A": "Hello there", "B": "Only today, there"}


def shape(**over) -> dict:
    value = {
        "variants": [
            {"name": "A", "weight": 1, "content": {}},
            {
                "name": "B",
                "weight": 1,
                "content": {"subject": "Only today, {{ profile.firstName | default('there') }}"},
            },
        ],
        "holdoutPercent": 10,
    }
    value.update(over)
    return normalize_experiment("email", value)


def ab_campaign(profiles, **over):
    return make_campaign(
        upload_audience(profiles),
        content={
            "subject": "Hello {{ profile.firstName | default('there') }}",
            "html": '<p>Hi</p><a href="https://example.com/sale">Sale</a>',
            "text": "Hi",
        },
        experiment=shape(**over),
    )


def within(count: int, expected: float, n: int, p: float, sd: float = 4.0) -> bool:
    """``count`` is a binomial draw of ``n`` at ``p`` no further than ``sd``
    standard deviations from ``expected`` (assignment is a hash: the split is
    statistical, never exact)."""
    return abs(count - expected) <= sd * (n * p * (1 - p)) ** 0.5


def subjects(sink) -> dict[str, str]:
    """recipient → the subject of the message it received."""
    parser = email.parser.BytesHeaderParser()
    return {rcpt: parser.parsebytes(raw)["Subject"] for rcpt, raw in sink.messages().items()}


def variants_by_profile(run) -> dict[int, str]:
    return dict(Delivery.objects.filter(run=run).values_list("profile_id", "variant").order_by())


def test_fifty_fifty_with_ten_percent_holdout_sends_900_900_and_nothing_to_the_holdout(
    queued, sink
):
    profiles = make_profiles(2000)
    campaign = ab_campaign(profiles)
    activate_campaign(campaign.pk)
    run = Run.objects.get(campaign=campaign)
    tasks.start_run(run.pk)

    run.refresh_from_db()
    assert run.status == "completed"
    rows = Delivery.objects.filter(run=run).values("status", "reason", "variant")
    counts = {
        (r["status"], r["reason"], r["variant"]): r["n"] for r in rows.annotate(n=Count("id"))
    }
    holdout = counts[("excluded", "holdout", "")]
    sent_a, sent_b = counts[("sent", "", "A")], counts[("sent", "", "B")]
    assert holdout + sent_a + sent_b == 2000
    assert within(holdout, 200, 2000, 0.1)
    assert within(sent_a, 900, 1800, 0.5) and within(sent_b, 900, 1800, 0.5)

    # Nothing reached the holdout; everyone else got one message, of their variant.
    received = sink.counts()
    held_out = set(
        Delivery.objects.filter(run=run, reason="holdout").values_list("address", flat=True)
    )
    assert held_out and not held_out & set(received)
    assert sum(received.values()) == sent_a + sent_b and set(received.values()) == {1}
    by_address = dict(
        Delivery.objects.filter(run=run, status="sent").values_list("address", "variant")
    )
    got = subjects(sink)
    assert all(got[a] == SUBJECTS[v] for a, v in by_address.items())

    # The database's assignment is the reference function's.
    for delivery in Delivery.objects.filter(run=run).only("profile_id", "variant", "reason"):
        name, _in_test = assign(campaign.live_version.experiment, campaign.pk, delivery.profile_id)
        assert (delivery.variant or delivery.reason) == name

    report = campaign_report(campaign)
    assert report["holdout"] == holdout == report["excluded"]["holdout"]
    assert [(v["name"], v["sent"]) for v in report["variants"]] == [("A", sent_a), ("B", sent_b)]
    assert report["targeted"] == 2000


class Recorder:
    """A transport that records (address, subject) and fails what it is told to."""

    def __init__(self):
        self.sent: list[tuple[str, str]] = []
        self.refuse: set[str] = set()

    def send_batch(self, messages):
        results = []
        for m in messages:
            if m.to in self.refuse:
                results.append(messaging.SendResult(m.delivery_id, False, True, "550 no"))
                continue
            self.sent.append((m.to, m.rendered.subject))
            results.append(messaging.SendResult(m.delivery_id, True))
        return results


@pytest.fixture
def recorder(monkeypatch):
    transport = Recorder()
    monkeypatch.setattr(messaging, "transport_for", lambda config: transport)
    return transport


def test_a_retry_and_a_second_run_keep_each_persons_variant(queued, recorder):
    profiles = make_profiles(300)
    campaign = ab_campaign(profiles)
    activate_campaign(campaign.pk)
    first = Run.objects.get(campaign=campaign)
    recorder.refuse = {p.email for p in profiles[:60]}
    tasks.start_run(first.pk)
    assigned = variants_by_profile(first)
    failed = Delivery.objects.filter(run=first, status="failed").count()
    assert failed > 0

    recorder.refuse, recorder.sent = set(), []
    assert services.retry_failed(campaign=campaign, actor=None) == failed
    tasks.send_run(first.pk)
    assert variants_by_profile(first) == assigned
    by_address = dict(Delivery.objects.filter(run=first).values_list("address", "variant"))
    assert recorder.sent and all(SUBJECTS[by_address[a]] == s for a, s in recorder.sent)

    second = Run.objects.create(
        campaign=campaign,
        version=campaign.live_version,
        kind=Run.Kind.OCCURRENCE,
        scheduled_for=datetime(2030, 1, 2, 9, tzinfo=UTC),
    )
    tasks.start_run(second.pk)
    assert variants_by_profile(second) == assigned
    holdout_first = set(
        first.deliveries.filter(reason="holdout").values_list("profile_id", flat=True)
    )
    holdout_second = set(
        second.deliveries.filter(reason="holdout").values_list("profile_id", flat=True)
    )
    assert holdout_first == holdout_second


def _click(deliveries) -> None:
    DeliveryEvent.objects.bulk_create(
        [
            DeliveryEvent(
                delivery=d, kind="click", channel="email", detail="https://example.com/sale"
            )
            for d in deliveries
        ]
    )


def test_automatic_winner_after_the_test_phase_goes_to_the_rest(queued, sink, settings):
    settings.ENGINE_ONE_SHOT_COMPLETE_SECONDS = 30 * 24 * 3600
    start = datetime(2030, 3, 2, 9, 0, tzinfo=UTC)
    profiles = make_profiles(1000)
    campaign = ab_campaign(profiles, testPercent=20, testHours=4, winnerMetric="clicks")
    with time_machine.travel(start, tick=False):
        activate_campaign(campaign.pk)
        run = Run.objects.get(campaign=campaign)
        tasks.start_run(run.pk)

    run.refresh_from_db()
    assert run.status == "sending" and run.test_ends_at == start + timedelta(hours=4)
    sent = Delivery.objects.filter(run=run, status="sent")
    waiting = Delivery.objects.filter(run=run, status="pending", send_after=HELD_UNTIL)
    others = 1000 - Delivery.objects.filter(run=run, reason="holdout").count()
    assert within(sent.count(), 0.2 * others, others, 0.2)
    assert sent.count() + waiting.count() == others
    assert set(waiting.values_list("variant", flat=True)) == {""}
    test_phase = dict(sent.values_list("address", "variant"))
    assert len(sink.received()) == len(test_phase)

    # B's subject line gets more clicks.
    b_sent = list(sent.filter(variant="B").order_by("id"))
    a_sent = list(sent.filter(variant="A").order_by("id"))
    _click(b_sent[: len(b_sent) // 3])
    _click(a_sent[: len(a_sent) // 20])

    queued.clear()
    with time_machine.travel(start + timedelta(hours=1), tick=False):
        tasks.tick()
    assert not ExperimentWinner.objects.exists()
    assert ("campaigns.tasks.send_run", run.pk) not in queued  # nothing to send meanwhile

    with time_machine.travel(start + timedelta(hours=4, minutes=1), tick=False):
        tasks.tick()
        winner = ExperimentWinner.objects.get(campaign=campaign)
        assert (winner.variant, winner.automatic, winner.metric) == ("B", True, "clicks")
        assert winner.released == others - len(test_phase)
        assert winner.decided_at == start + timedelta(hours=4, minutes=1)
        b_row = next(r for r in winner.results if r["name"] == "B")
        assert b_row["significant"] and b_row["ci95"][0] > 0
        assert ("campaigns.tasks.send_run", run.pk) in queued
        tasks.send_run(run.pk)

    run.refresh_from_db()
    assert run.status == "completed"
    received = sink.counts()
    assert sum(received.values()) == others and set(received.values()) == {1}  # one each
    got = subjects(sink)
    for address, variant in test_phase.items():
        assert got[address] == SUBJECTS[variant]  # the test share kept its variant
    rest = set(got) - set(test_phase)
    assert rest and {got[a] for a in rest} == {SUBJECTS["B"]}
    assert campaign.events.filter(action="experiment_winner").exists()
    report = campaign_report(campaign)
    assert report["winner"]["variant"] == "B" and report["winner"]["automatic"] is True
    assert report["winner"]["summary"].startswith("Variant B won: +")


def test_without_auto_winner_the_rest_waits_for_the_marketer(
    queued, recorder, manager, viewer, api_for
):

    start = datetime(2030, 3, 2, 9, 0, tzinfo=UTC)
    campaign = ab_campaign(make_profiles(200), testPercent=50, testHours=2, autoWinner=False)
    with time_machine.travel(start, tick=False):
        activate_campaign(campaign.pk)
        run = Run.objects.get(campaign=campaign)
        tasks.start_run(run.pk)
    waiting = Delivery.objects.filter(run=run, send_after=HELD_UNTIL, status="pending")
    held = waiting.count()
    test_share = dict(
        Delivery.objects.filter(run=run, status="sent").values_list("profile_id", "variant")
    )
    assert held > 0
    with time_machine.travel(start + timedelta(hours=3), tick=False):
        tasks.tick()
    assert not ExperimentWinner.objects.exists() and waiting.count() == held

    url = f"/campaigns/{campaign.pk}/experiment/winner"
    assert api_for(viewer).post(url, {"variant": "A"}).status_code == 403
    response = api_for(manager).post(url, {"variant": "Z"})
    assert response.status_code == 400 and "variant" in response.json()["errors"]
    response = api_for(manager).post(url, {"variant": "A"})
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["variant"] == "A" and body["automatic"] is False
    assert body["decidedBy"] == manager.username and body["released"] == held
    assert [r["name"] for r in body["results"]] == ["A", "B"]
    assert api_for(manager).post(url, {"variant": "B"}).status_code == 409
    tasks.send_run(run.pk)
    assert waiting.count() == 0
    assert (
        Delivery.objects.filter(run=run, status="sent").count()
        == 200 - run.deliveries.filter(reason="holdout").count()
    )

    # The next occurrence: the test share keeps its variants, the rest gets the
    # winner at once, nobody waits.
    second = Run.objects.create(
        campaign=campaign,
        version=campaign.live_version,
        kind=Run.Kind.OCCURRENCE,
        scheduled_for=datetime(2030, 3, 9, 9, tzinfo=UTC),
    )
    tasks.start_run(second.pk)
    again = dict(second.deliveries.exclude(reason="holdout").values_list("profile_id", "variant"))
    assert not second.deliveries.filter(send_after=HELD_UNTIL).exists()
    assert test_share and all(again[pk] == variant for pk, variant in test_share.items())
    assert {again[pk] for pk in set(again) - set(test_share)} == {"A"}


def test_stopping_cancels_the_deliveries_waiting_for_the_winner(queued, recorder, approver):
    campaign = ab_campaign(make_profiles(100), testPercent=30)
    activate_campaign(campaign.pk)
    run = Run.objects.get(campaign=campaign)
    tasks.start_run(run.pk)
    held = Delivery.objects.filter(run=run, send_after=HELD_UNTIL).count()
    assert held
    campaign.refresh_from_db()
    services.campaign_stop(campaign=campaign, actor=approver)
    assert Delivery.objects.filter(run=run, status="cancelled").count() == held
    from campaigns.experiments import ExperimentRefused, decide_winner

    campaign.refresh_from_db()
    assert campaign.status == "stopped"
    with pytest.raises(ExperimentRefused):
        decide_winner(campaign=campaign, variant="A", actor=approver)


def test_the_report_api_compares_variants_with_the_control(queued, recorder, viewer, api_for):
    profiles = make_profiles(400)
    campaign = ab_campaign(profiles, holdoutPercent=0)
    activate_campaign(campaign.pk)
    run = Run.objects.get(campaign=campaign)
    start_run(run.pk)
    tasks.send_run(run.pk)
    a = list(Delivery.objects.filter(run=run, variant="A", status="sent"))
    b = list(Delivery.objects.filter(run=run, variant="B", status="sent"))
    _click(a[:10])
    _click(b[:60])
    _click(b[:60])  # a second click by the same people counts once
    DeliveryEvent.objects.bulk_create(
        [DeliveryEvent(delivery=d, kind="open", channel="email") for d in a[:50]]
    )
    # A link scanner's clicks and a privacy proxy's opens never count for a variant.
    DeliveryEvent.objects.bulk_create(
        [
            DeliveryEvent(
                delivery=d, kind="click", channel="email", classification="machine_scanner"
            )
            for d in a[10:300]
        ]
        + [
            DeliveryEvent(
                delivery=d, kind="open", channel="email", classification="machine_privacy"
            )
            for d in a[50:300]
        ]
    )

    body = api_for(viewer).get(f"/campaigns/{campaign.pk}/report").json()
    assert body["holdout"] == 0 and body["winner"] is None
    control, variant = body["variants"]
    assert (control["name"], control["sent"], control["uniqueClicks"]) == ("A", len(a), 10)
    assert control["uniqueOpens"] == 50 and control["ci95"] is None
    assert (variant["uniqueClicks"], variant["clickRate"]) == (60, round(60 / len(b), 4))
    assert variant["difference"] == pytest.approx(60 / len(b) - 10 / len(a), abs=1e-6)
    low, high = variant["ci95"]
    assert 0 < low < variant["difference"] < high and variant["significant"] is True
    assert body["experiment"]["winnerMetric"] == "clicks"


def test_one_profile_gets_one_delivery_per_run_however_often_the_run_is_materialized(
    queued, recorder
):
    campaign = ab_campaign(make_profiles(50))
    activate_campaign(campaign.pk)
    run = Run.objects.get(campaign=campaign)
    from campaigns.engine.materialize import materialize

    materialize(run)
    before = variants_by_profile(run)
    materialize(run)  # a task delivered twice
    assert variants_by_profile(run) == before
    assert (
        Counter(Delivery.objects.filter(run=run).values_list("profile_id", flat=True)).most_common(
            1
        )[0][1]
        == 1
    )
