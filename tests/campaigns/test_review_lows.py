"""Low findings earlier reviews left open, closed.

Review 9 #2: the review's forecast (``campaigns/forecast.py``) read the eligible
profiles of each other campaign in a cap's window with a statement each, plus
a statement of runs per recurring campaign: its statements grew with the
campaigns scheduled. It now reads them in one ``UNION ALL`` statement (and the
runs in one), with the same figures.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.forecast import forecast
from campaigns.models import BusinessRule, Campaign, Run
from tests.campaigns.conftest import make_campaign, make_profiles, upload_audience

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, 13, 0, tzinfo=UTC)
START = datetime(2026, 6, 3, 0, 0, tzinfo=UTC)  # the 48-hour window opens 1 June 00:00
DAILY = {"frequency": "daily", "time": "12:00"}  # 1 and 2 June 12:00 are in the window


def _fixture(pairs: int, tag: str = "s"):
    """``pairs`` one-shot campaigns scheduled in the window and as many daily
    recurring ones (two occurrences each in the window), plus one recurring
    campaign whose first occurrence in the window has started. Cap: at most 3
    messages in 48 hours. Who reaches whom:

    - ``every`` (3): every other campaign — 3 sends at least: held back;
    - ``both`` (2): the first recurring (2) and the first one-shot (1) — 3: held back;
    - ``recurring`` (2): the first recurring only — 2: sent;
    - ``one_shot`` (2): the first one-shot only — 1: sent;
    - ``started`` (2): the started recurring campaign (one occurrence left) and
      the first one-shot — 2: sent (3 if the started run were not seen);
    - ``nobody`` (1).

    So 5 held back, whatever ``pairs``."""
    BusinessRule.objects.create(
        name="Three in two days", channel="email", cap_max_messages=3, cap_window_hours=48
    )
    every = make_profiles(3, prefix=f"{tag}every")
    both = make_profiles(2, prefix=f"{tag}both")
    recurring = make_profiles(2, prefix=f"{tag}recur")
    one_shot = make_profiles(2, prefix=f"{tag}oneshot")
    started = make_profiles(2, prefix=f"{tag}started")
    nobody = make_profiles(1, prefix=f"{tag}nobody")
    for i in range(pairs):
        first = i == 0
        make_campaign(
            upload_audience(every + (both + one_shot + started if first else []), name=f"O{i}"),
            status="scheduled",
            start_at=START - timedelta(hours=1),
        )
        make_campaign(
            upload_audience(every + (both + recurring if first else []), name=f"R{i}"),
            status="live",
            recurrence=DAILY,
            timezone="UTC",
        )
    half = make_campaign(
        upload_audience(started, name="Half"), status="live", recurrence=DAILY, timezone="UTC"
    )
    Run.objects.create(
        campaign=half,
        version=half.live_version,
        kind=Run.Kind.OCCURRENCE,
        status=Run.Status.COMPLETED,
        scheduled_for=datetime(2026, 6, 1, 12, 0, tzinfo=UTC),
    )
    audience = upload_audience(every + both + recurring + one_shot + started + nobody, name="Ours")
    campaign = make_campaign(audience, status="draft", start_at=START)
    return Campaign.objects.get(pk=campaign.pk)


def _statements(campaign) -> tuple[dict, int]:
    with CaptureQueriesContext(connection) as queries:
        result = forecast(campaign, campaign.live_version)
    return result, len(queries.captured_queries)


def test_the_forecast_reads_a_constant_number_of_statements_with_the_same_figures(db):
    with time_machine.travel(NOW, tick=False):
        small = _fixture(1)  # 2 campaigns (+ the started one)
        small_result, small_count = _statements(small)
        assert small_result == {"frequency_cap": 5}
        # Out of every window: the second fixture's campaigns are the only ones.
        Campaign.objects.update(status="completed")
        BusinessRule.objects.all().delete()
        large = _fixture(4, tag="l")  # 8 campaigns (+ the started one)
        large_result, large_count = _statements(large)
    assert large_result == {"frequency_cap": 5}
    assert large_count == small_count, (small_count, large_count)
