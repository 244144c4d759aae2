"""The report's headline cards and its two charts (issue 12, look and feel):
buckets sized to the run's length, whole-number axes, the page's font."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from campaigns.charts import FONT, count_ticks, engagement_chart, send_chart, step_label
from campaigns.models import Delivery, Run
from campaigns.reports import bucket_step, engagement_activity, send_activity
from tests.campaigns.lifecycle_helpers import force_status, ready_email

pytestmark = pytest.mark.usefixtures("no_worker")

T0 = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)


def _run_with_sends(campaign, offsets: list[float], *, opened=(), clicked=()) -> Run:
    """A finished run whose deliveries were sent ``offsets`` seconds after T0;
    ``opened``/``clicked``: (index, seconds after its send)."""
    from audiences.models import Profile

    run = Run.objects.create(
        campaign=campaign,
        version=campaign.live_version,
        kind=Run.Kind.ONE_SHOT,
        status=Run.Status.COMPLETED,
        scheduled_for=T0,
        targeted=len(offsets),
        sent=len(offsets),
    )
    opened, clicked = dict(opened), dict(clicked)
    rows = []
    for i, offset in enumerate(offsets):
        profile = Profile.objects.create(email=f"r{run.pk}-{i}@example.com", consent_email=True)
        sent = T0 + timedelta(seconds=offset)
        rows.append(
            Delivery(
                run=run,
                profile=profile,
                status=Delivery.Status.SENT,
                sent_at=sent,
                delivered_at=sent,
                opened_at=sent + timedelta(seconds=opened[i]) if i in opened else None,
                clicked_at=sent + timedelta(seconds=clicked[i]) if i in clicked else None,
            )
        )
    Delivery.objects.bulk_create(rows)
    return run


@pytest.fixture
def sent(db, manager):
    return force_status(ready_email(manager, name="Launch"), "completed")


@pytest.mark.parametrize(
    ("span", "step"),
    [
        (0, 1),
        (12, 1),
        (100, 5),
        (600, 15),
        (3 * 3600, 300),
        (47 * 3600, 3600),
        (60 * 86400, 86400 * 7),
    ],
)
def test_the_bucket_grows_with_the_length_shown(span, step):
    assert bucket_step(span) == step


def test_a_twelve_second_run_gets_one_bar_per_second(sent):
    _run_with_sends(sent, [i * 0.25 for i in range(48)] + [11.5])  # 48 in 12 s, one at 11.5 s
    activity = send_activity(sent)
    assert activity.step == 1
    assert len(activity.series["sent"]) >= 12  # never one full-width bar
    assert activity.series["sent"][:3] == [4, 4, 4]
    assert sum(activity.series["sent"]) == 49
    assert activity.start == T0


def test_a_three_hour_run_gets_five_minute_bars(sent):
    _run_with_sends(sent, [0, 60, 3 * 3600 - 1])
    activity = send_activity(sent)
    assert activity.step == 300
    assert len(activity.series["sent"]) == 36
    assert activity.series["sent"][0] == 2 and activity.series["sent"][-1] == 1


def test_engagement_counts_first_opens_and_clicks_from_the_first_send(sent):
    assert engagement_activity(sent) is None
    _run_with_sends(sent, [0, 1, 2], opened=[(0, 30), (1, 7200)], clicked=[(1, 7300)])
    activity = engagement_activity(sent)
    assert activity.start == T0 and activity.step == 300
    assert sum(activity.series["opened"]) == 2 and sum(activity.series["clicked"]) == 1
    assert activity.series["opened"][0] == 1  # opened 30 s after the send


def test_count_axis_ticks_are_whole_numbers():
    assert count_ticks(0) == [0, 1]
    assert count_ticks(3) == [0, 1, 2, 3]
    assert count_ticks(9) == [0, 2, 4, 6, 8, 10]
    assert count_ticks(4567) == [0, 1000, 2000, 3000, 4000, 5000]


def test_charts_use_the_page_font_and_readable_labels(sent):
    _run_with_sends(sent, list(range(12)), opened=[(0, 60)], clicked=[(0, 90)])
    for svg in (send_chart(send_activity(sent)), engagement_chart(engagement_activity(sent))):
        assert "system-ui" in svg and FONT.split(",")[0] in svg
        sizes = {int(s) for s in re.findall(r"font-size:\s*(\d+)px", svg)}
        assert sizes and min(sizes) >= 12, sizes
        assert "kozea.github.io" not in svg
        assert "0.8" not in re.findall(r">([\d.]+)</text>", svg)
    compact = send_chart(send_activity(sent), "compact")
    assert 'viewBox="0 0 360 280"' in compact
    assert step_label(1) == "1 second" and step_label(300) == "5 minutes"


def test_report_page_leads_with_metric_cards(login, viewer, sent):
    _run_with_sends(sent, list(range(10)), opened=[(0, 60), (1, 60), (2, 90)], clicked=[(0, 70)])
    html = login(viewer).get(f"/campaigns/{sent.pk}/report/").content.decode()
    cards = re.findall(r'<div class="metric" id="metric-(\w+)">', html)
    assert cards == ["targeted", "delivered", "opened", "clicked", "unsubscribed"]
    opened = html[html.index('id="metric-opened"') :]
    assert '<div class="metric-value">3</div>' in opened
    assert "30.0 % of sent" in opened
    assert html.index('id="metric-targeted"') < html.index("report-totals")
    assert f'src="/campaigns/{sent.pk}/report/engagement.svg"' in html
    assert "Messages sent; each bar is 1 second." in html


def test_engagement_chart_is_an_svg_of_its_own_or_404(login, viewer, sent):
    client = login(viewer)
    url = f"/campaigns/{sent.pk}/report/engagement.svg"
    _run_with_sends(sent, [0, 1])
    assert client.get(url).status_code == 404  # nobody opened yet
    Delivery.objects.filter(run__campaign=sent).update(opened_at=T0 + timedelta(minutes=5))
    response = client.get(url + "?size=compact")
    assert response.status_code == 200 and response["Content-Type"].startswith("image/svg+xml")
    assert "script-src" not in response["Content-Security-Policy"]
    type(sent).objects.filter(pk=sent.pk).update(restricted=True)
    assert client.get(url).status_code == 404
