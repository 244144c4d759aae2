"""Business rules at send time (SPEC §12): caps and quiet hours, task functions
called directly with a controlled clock (time-machine). SQLite by default, and
PostgreSQL with DATABASE_URL."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from audiences.models import Profile
from campaigns import tasks
from campaigns.engine.schedule import activate_campaign
from campaigns.models import BusinessRule, Delivery, Run
from campaigns.reports import campaign_report
from campaigns.rules import quiet_until
from tests.campaigns.conftest import make_campaign, make_profiles, upload_audience

pytestmark = pytest.mark.django_db(transaction=True)

AMS = ZoneInfo("Europe/Amsterdam")
NYC = ZoneInfo("America/New_York")


def cap_rule(n: int = 1, hours: int = 24, **fields) -> BusinessRule:
    fields.setdefault("channel", "email")
    return BusinessRule.objects.create(
        name="One a day",
        cap_max_messages=n,
        cap_window_hours=hours,
        **fields,
    )


def quiet_rule(action: str = "delay", **fields) -> BusinessRule:
    fields.setdefault("channel", "email")
    return BusinessRule.objects.create(
        name="Nights",
        quiet_start=time(21, 0),
        quiet_end=time(8, 0),
        quiet_action=action,
        **fields,
    )


def send(audience, **fields) -> Run:
    campaign = make_campaign(audience, **fields)
    activate_campaign(campaign.pk)
    run = Run.objects.get(campaign=campaign)
    tasks.start_run(run.pk)
    run.refresh_from_db()
    return run


def sent_to(run: Run) -> set[int]:
    return set(Delivery.objects.filter(run=run, status="sent").values_list("profile_id", flat=True))


def test_a_cap_of_one_a_day_holds_back_the_second_campaign(queued, fake_transport, settings):
    settings.ENGINE_BATCH_SIZE = 4
    cap_rule()
    audience = upload_audience(make_profiles(10))

    first = send(audience)
    second = send(audience)

    assert len(fake_transport.sent) == 10
    assert (first.status, first.sent) == ("completed", 10)
    assert (second.status, second.sent, second.excluded) == ("completed", 0, 10)
    report = campaign_report(second.campaign)
    assert report["excluded"] == {"frequency_cap": 10}
    assert report["sent"] == 0


def test_the_cap_window_rolls(queued, fake_transport):
    cap_rule(n=2, hours=24)
    audience = upload_audience(make_profiles(3))
    start = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        send(audience)
        send(audience)
        third = send(audience)
    assert third.sent == 0 and third.excluded == 3
    with time_machine.travel(start + timedelta(hours=23, minutes=59), tick=False):
        assert send(audience).excluded == 3
    with time_machine.travel(start + timedelta(hours=24, minutes=1), tick=False):
        fourth = send(audience)
    assert (fourth.sent, fourth.excluded) == (3, 0)
    assert len(fake_transport.sent) == 9


def test_transactional_and_exempt_campaigns_are_not_capped_unless_chosen(queued, fake_transport):
    rule = cap_rule()
    profiles = make_profiles(2)
    audience = upload_audience(profiles)
    send(audience)
    transactional = send(
        audience, category="transactional", config=_transactional_config("Receipts")
    )
    assert transactional.sent == 2
    exempt = make_campaign(audience)
    exempt.exempt_from_rules = True
    exempt.save()
    activate_campaign(exempt.pk)
    run = Run.objects.get(campaign=exempt)
    tasks.start_run(run.pk)
    run.refresh_from_db()
    assert run.sent == 2

    rule.categories = ["marketing", "transactional"]
    rule.save()
    again = send(audience, category="transactional", config=_transactional_config("Receipts 2"))
    assert (again.sent, again.excluded) == (0, 2)


def test_an_inactive_rule_or_another_channel_holds_nothing(queued, fake_transport):
    cap_rule(active=False)
    cap_rule(channel="sms")
    audience = upload_audience(make_profiles(2))
    send(audience)
    assert send(audience).sent == 2


def test_a_redelivered_claim_is_counted_once(queued, fake_transport):
    """A transient failure puts the delivery back: its retry is not a second send."""
    cap_rule(n=1)
    profiles = make_profiles(1)
    fake_transport.outcomes[profiles[0].email] = (False, "try later")
    start = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        run = send(upload_audience(profiles))
    assert run.sent == 0 and run.excluded == 0
    fake_transport.outcomes.clear()
    with time_machine.travel(start + timedelta(hours=1), tick=False):
        tasks.send_run(run.pk)
    run.refresh_from_db()
    assert (run.status, run.sent, run.excluded) == ("completed", 1, 0)


def _transactional_config(name):
    from tests.campaigns.conftest import email_config

    return email_config(name=name, purpose="transactional")


# ----------------------------------------------------------------- quiet hours


@pytest.mark.parametrize(
    ("moment", "tz", "expected"),
    [
        # inside the evening part: ends tomorrow morning
        (datetime(2026, 6, 1, 20, 30, tzinfo=UTC), AMS, datetime(2026, 6, 2, 6, 0, tzinfo=UTC)),
        # inside the morning part: ends this morning
        (datetime(2026, 6, 2, 3, 0, tzinfo=UTC), AMS, datetime(2026, 6, 2, 6, 0, tzinfo=UTC)),
        # outside
        (datetime(2026, 6, 2, 6, 0, tzinfo=UTC), AMS, None),
        (datetime(2026, 6, 1, 18, 59, tzinfo=UTC), AMS, None),
        # the night Amsterdam moves to summer time: 08:00 CEST is 06:00 UTC, not 07:00
        (datetime(2026, 3, 28, 21, 30, tzinfo=UTC), AMS, datetime(2026, 3, 29, 6, 0, tzinfo=UTC)),
        # the night it goes back to winter time: 08:00 CET is 07:00 UTC
        (datetime(2026, 10, 24, 20, 0, tzinfo=UTC), AMS, datetime(2026, 10, 25, 7, 0, tzinfo=UTC)),
        # New York's spring change: 22:00 EST → 08:00 EDT = 12:00 UTC
        (datetime(2026, 3, 8, 3, 0, tzinfo=UTC), NYC, datetime(2026, 3, 8, 12, 0, tzinfo=UTC)),
    ],
)
def test_quiet_window_ends_at_local_wall_time(moment, tz, expected):
    assert quiet_until(moment, time(21, 0), time(8, 0), tz) == expected


def test_a_quiet_end_inside_the_spring_gap_lands_after_it():
    # 02:30 does not exist in Amsterdam on 2026-03-29: the window ends at 03:00 CEST.
    until = quiet_until(datetime(2026, 3, 28, 23, 0, tzinfo=UTC), time(23, 0), time(2, 30), AMS)
    assert until == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert until.astimezone(AMS).hour == 3


def test_a_window_within_one_day():
    def q(hour, minute):  # Amsterdam is UTC+2 in June
        return quiet_until(datetime(2026, 6, 1, hour, minute, tzinfo=UTC), time(12), time(14), AMS)

    assert q(10, 0) == q(11, 59) == datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    assert q(9, 59) is None and q(12, 0) is None


def _deliveries_csv(campaign) -> list[list[str]]:
    import csv

    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(user)
    response = client.get(f"/campaigns/{campaign.pk}/report/deliveries.csv")
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(body.splitlines()))


def test_quiet_hours_delay_across_dst_in_two_time_zones(queued, fake_transport):
    """21:00–08:00, delay. Saturday 28 March 2026, 21:30 UTC: Amsterdam is at
    22:30 (quiet; summer time starts that night), New York at 17:30 (not quiet).
    Later that night New York enters its own quiet hours."""
    quiet_rule()
    ams = make_profiles(3, prefix="ams", timezone="Europe/Amsterdam")
    nyc = make_profiles(2, prefix="nyc", timezone="America/New_York")
    nobody = make_profiles(1, prefix="none")  # no time zone: the campaign's (Amsterdam)
    audience = upload_audience(ams + nyc + nobody)
    evening = datetime(2026, 3, 28, 21, 30, tzinfo=UTC)
    with time_machine.travel(evening, tick=False):
        run = send(audience, timezone="Europe/Amsterdam")
    assert sent_to(run) == {p.pk for p in nyc}
    delayed = Delivery.objects.filter(run=run, status="pending")
    assert set(delayed.values_list("profile_id", flat=True)) == {p.pk for p in ams + nobody}
    # 08:00 summer time in Amsterdam, the morning after the change.
    assert set(delayed.values_list("send_after", flat=True)) == {
        datetime(2026, 3, 29, 6, 0, tzinfo=UTC)
    }
    assert set(delayed.values_list("attempts", flat=True)) == {0}  # a delay is no attempt
    assert run.status == "sending"
    csv = _deliveries_csv(run.campaign)
    assert csv[0][-1] == "send_after"
    assert (
        sorted(row[-1] for row in csv[1:] if row[4] == "pending")
        == ["2026-03-29 06:00:00+00:00"] * 4
    )

    with time_machine.travel(datetime(2026, 3, 29, 5, 59, tzinfo=UTC), tick=False):
        tasks.send_run(run.pk)
    assert len(fake_transport.sent) == 2

    night_nyc = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 21:30 EDT in New York
    with time_machine.travel(night_nyc, tick=False):
        second = send(upload_audience(nyc, name="NYC"), timezone="Europe/Amsterdam")
    assert second.sent == 0
    assert set(
        Delivery.objects.filter(run=second, status="pending").values_list("send_after", flat=True)
    ) == {datetime(2026, 3, 29, 12, 0, tzinfo=UTC)}  # 08:00 EDT

    with time_machine.travel(datetime(2026, 3, 29, 6, 0, tzinfo=UTC), tick=False):
        tasks.send_run(run.pk)
        tasks.send_run(second.pk)
    run.refresh_from_db()
    assert (run.status, run.sent) == ("completed", 6)
    assert Run.objects.get(pk=second.pk).sent == 0
    with time_machine.travel(datetime(2026, 3, 29, 12, 0, tzinfo=UTC), tick=False):
        tasks.send_run(second.pk)
    second.refresh_from_db()
    assert (second.status, second.sent) == ("completed", 2)
    assert len(fake_transport.sent) == 8


def test_quiet_hours_skip_excludes_with_its_reason(queued, fake_transport):
    quiet_rule(action="skip")
    audience = upload_audience(make_profiles(2, prefix="ams", timezone="Europe/Amsterdam"))
    with time_machine.travel(datetime(2026, 6, 1, 22, 0, tzinfo=UTC), tick=False):
        run = send(audience)
    assert (run.status, run.sent, run.excluded) == ("completed", 0, 2)
    assert campaign_report(run.campaign)["excluded"] == {"quiet_hours": 2}


def test_a_delayed_message_is_then_capped_by_what_was_sent_meanwhile(queued, fake_transport):
    cap_rule()
    quiet_rule()
    profiles = make_profiles(1, prefix="ams", timezone="Europe/Amsterdam")
    audience = upload_audience(profiles)
    with time_machine.travel(datetime(2026, 6, 1, 22, 0, tzinfo=UTC), tick=False):
        night = send(audience)
    assert night.sent == 0 and night.excluded == 0  # delayed, not counted
    with time_machine.travel(datetime(2026, 6, 2, 6, 30, tzinfo=UTC), tick=False):
        morning = send(audience)
        tasks.send_run(night.pk)
    night.refresh_from_db()
    assert morning.sent == 1
    assert (night.status, night.sent, night.excluded) == ("completed", 0, 1)
    assert Delivery.objects.get(run=night).reason == "frequency_cap"


def test_list_and_report_show_what_the_rules_held_back(queued, fake_transport, login, viewer):
    cap_rule()
    profiles = make_profiles(3) + make_profiles(1, prefix="nc", consent=False)
    audience = upload_audience(profiles)
    send(audience)
    second = send(audience)
    second.campaign.name = "Second"
    second.campaign.save()

    client = login(viewer)
    page = client.get("/campaigns/?status=all").content.decode()
    row = page[page.index("Second") :].split("</tr>")[0]
    assert '4 <span class="muted by-rules">(3 by business rules: Frequency cap 3)' in row
    report = client.get(f"/campaigns/{second.campaign.pk}/report/").content.decode()
    assert (
        'title="frequency_cap">Frequency cap <span class="muted by-rule">(business rule)</span>'
        "</th><td>3</td>"
    ) in report
    assert 'title="no_consent">No consent</th><td>1</td>' in report


def test_api_triggers_share_the_claim_path_and_its_cap(api_for, manager, fake_transport, queued):
    """The trigger dispatcher claims through the same transaction: a rule that
    chose transactional caps triggered messages too, and the second trigger's
    delivery is recorded as capped."""
    from campaigns.engine import dispatch
    from tests.campaigns.test_triggers import api_campaign, body

    Profile.objects.create(email="known@example.com")
    cap_rule(categories=["marketing", "transactional"])
    campaign = api_campaign()
    client = api_for(manager)
    for request_id in ("r-1", "r-2"):
        assert client.post("/executions/unitary", body(campaign, request_id)).status_code == 202
        while dispatch.dispatch_batch():
            pass
    assert fake_transport.sent == ["known@example.com"]
    assert campaign_report(campaign)["excluded"] == {"frequency_cap": 1}
    assert set(Run.objects.filter(campaign=campaign).values_list("status", flat=True)) == {
        "completed"
    }
