"""Fourth outside review of issue 10 (docs/security-review-4.md): each test
reproduced its finding on the code before the fix."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from campaigns import services
from channels import rendering
from tests.campaigns.lifecycle_helpers import GOOD_HTML, audience, email_config
from tests.campaigns.test_security_review3 import _record_deadlines

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_worker")]


def _variants(count: int) -> dict:
    return {
        "variants": [
            {
                "name": f"V{i}",
                "weight": 1,
                "content": {
                    "subject": "{{ 'a'|upper }}",
                    "translations": {"fr": {"subject": "{{ 'b'|upper }}"}},
                },
            }
            for i in range(count)
        ]
    }


@pytest.mark.parametrize("create", [False, True])
def test_one_wall_time_budget_covers_every_experiment_variant(manager, monkeypatch, create):
    """Medium: the content's save-time check had one 5 s budget, then each of
    an experiment's 5 variants got its own: one PATCH (or POST) of a campaign
    held a web worker for 6 × 5 s of CPU."""
    fields = {
        "channel_configuration": email_config(),
        "audience": audience(),
        "content": {"subject": "Hi", "html": GOOD_HTML, "text": "Hi"},
    }
    campaign = None if create else services.campaign_create(actor=manager, name="A/B", **fields)
    started, deadlines = _record_deadlines(monkeypatch)
    checked = []  # each content checked (review 16: fields past the deadline are refused unread)
    validate = rendering._validate_sources
    monkeypatch.setattr(
        rendering, "_validate_sources", lambda *args: checked.append(1) or validate(*args)
    )
    try:
        if create:
            services.campaign_create(actor=manager, name="A/B", experiment=_variants(5), **fields)
        else:
            services.campaign_update(campaign=campaign, actor=manager, experiment=_variants(5))
    except (ValidationError, rendering.RenderError):
        pass  # out of time: refused, which is the point
    assert len(checked) >= 6  # the content and each variant were checked
    assert max(deadlines) <= started[0] + rendering.MAX_SECONDS + 1


def _sent_delivery(prefix: str):
    from datetime import timedelta

    from django.utils import timezone

    from campaigns.models import Delivery, Run
    from tests.campaigns.conftest import make_campaign, make_profiles, upload_audience

    people = make_profiles(1, prefix=prefix)
    campaign = make_campaign(upload_audience(people), status="live")
    run = Run.objects.create(campaign=campaign, version=campaign.live_version)
    return Delivery.objects.create(
        run=run,
        profile=people[0],
        address=people[0].email,
        status="sent",
        sent_at=timezone.now() - timedelta(days=1),
    )


def _old_clicks(delivery, total: int) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from channels.models import DeliveryEvent

    old = timezone.now() - timedelta(hours=2)
    have = DeliveryEvent.objects.filter(delivery=delivery).count()
    DeliveryEvent.objects.bulk_create(
        [
            DeliveryEvent(
                delivery=delivery,
                kind="click",
                channel="email",
                detail="https://shop.example/",
                classification="human",
                created_at=old,
            )
            for _ in range(total - have)
        ],
        batch_size=300,
    )


def _tracking_paths(delivery) -> list[str]:
    from urllib.parse import urlsplit

    from channels import tracking

    return [
        urlsplit(tracking.click_url(delivery.pk, "https://shop.example/")).path,
        urlsplit(tracking.open_url(delivery.pk)).path,
        urlsplit(tracking.trap_url(delivery.pk)).path,
    ]


def _sqlite_steps(client, path: str) -> int:
    """SQLite virtual-machine steps (hundreds) one request costs: rows read, not time."""
    from django.db import connection

    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    connection.ensure_connection()
    connection.connection.set_progress_handler(count, 100)
    try:
        assert client.get(path, HTTP_USER_AGENT="Mozilla/5.0 (X11) Firefox/120").status_code < 400
    finally:
        connection.connection.set_progress_handler(None, 100)
    return steps[0]


def test_a_tracking_request_costs_the_same_however_many_old_events_its_link_has(client):
    """Low: the engagement checks of every open and click (a trap hit in the
    last minute, a burst on other links, the re-classification) read every
    click the message ever had: the index stopped at (delivery, kind). Anyone
    holding one message's links (no login) could send them a million times and
    make each later request on them read a million rows, under the delivery's
    row lock (SQLite: 7 ms a request with no events, 50 ms with 100,000)."""
    from django.db import connection

    if connection.vendor == "sqlite":
        counted = {}
        for old in (1_000, 21_000):
            delivery = _sent_delivery(f"flood{old}")
            _old_clicks(delivery, old)
            counted[old] = [_sqlite_steps(client, path) for path in _tracking_paths(delivery)]
        few, many = counted[1_000], counted[21_000]
        # 20 times the old events; the work of each request barely moves.
        assert all(m <= 2 * f + 5 for f, m in zip(few, many, strict=True)), (few, many)
        return
    # PostgreSQL: every query on the events of one delivery in a time window
    # can use an index on that window (not every click of the message).
    from django.test.utils import CaptureQueriesContext

    delivery = _sent_delivery("flood")
    paths = _tracking_paths(delivery)
    _old_clicks(delivery, 2_000)
    with CaptureQueriesContext(connection) as captured:
        for path in paths:
            client.get(path, HTTP_USER_AGENT="Mozilla/5.0 (X11) Firefox/120")
    windowed = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith("SELECT")
        and "channels_deliveryevent" in q["sql"]
        and '"created_at" >=' in q["sql"]
    ]
    assert windowed
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        for sql in windowed:
            cursor.execute("EXPLAIN " + sql)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            conditions = [line for line in plan.splitlines() if "Index Cond" in line]
            assert any("created_at" in line for line in conditions), plan


def test_the_approver_sees_what_each_experiment_variant_sends(manager, approver, login):
    """Medium: the campaign page an approver approves from showed the default
    content (rendered, and its source) and of an A/B test only the variants'
    names and weights. A manager could put other content — another body,
    another link — in variant B, weight it 999 to 1, and send it to nearly
    the whole audience with nobody having been shown it; review did not look
    at it either (a marketing variant without an unsubscribe link passed
    without the warning the default content gets)."""
    from campaigns.models import Campaign
    from campaigns.review import review_campaign
    from tests.campaigns.lifecycle_helpers import ready_email

    campaign = ready_email(manager, name="Spring A/B")
    services.campaign_update(
        campaign=campaign,
        actor=manager,
        track_clicks=True,
        experiment={
            "variants": [
                {"name": "A", "weight": 1, "content": {}},
                {
                    "name": "B",
                    "weight": 999,
                    "content": {
                        "subject": "Your account is locked",
                        "html": '<p><a href="https://unlock.example/now">Unlock</a></p>',
                    },
                },
            ]
        },
    )
    Campaign.objects.filter(pk=campaign.pk).update(status="in_review")
    page = login(approver).get(f"/campaigns/{campaign.pk}/").content.decode()
    assert "Your account is locked" in page
    assert "https://unlock.example/now" in page
    assert '<a href="https://unlock.example/now">' not in page  # shown as source, escaped

    campaign.refresh_from_db()
    review = review_campaign(campaign)
    assert "variant_no_unsubscribe" in {w.code for w in review.warnings}


def test_the_calendar_counts_collisions_with_one_statement_whatever_the_days(viewer, api_for):
    """Medium: the calendar ran one counting statement over every involved
    campaign's eligible profiles for each distinct day pattern. Twelve weekly
    and monthly campaigns and three frequency caps made 115 of them for one
    viewer's 92 days (`GET /api/v1/calendar`, and the month view of
    `/calendar/`): with 3,000 profiles, 104 s of one request on PostgreSQL and
    10 s on SQLite, growing with the audience. Audiences do not change from day
    to day: who each set of campaigns reaches is read once, each day counted
    from it."""
    from datetime import timedelta

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from campaigns.models import BusinessRule, Campaign
    from tests.campaigns.conftest import make_profiles, upload_audience
    from tests.campaigns.lifecycle_helpers import force_status, ready_email

    people = make_profiles(30, prefix="cal")
    audiences = [upload_audience(people[:20], name="A"), upload_audience(people[10:], name="B")]
    start = timezone.now() + timedelta(days=1)
    for i in range(12):
        campaign = ready_email(None, name=f"C{i}", audience=audiences[i % 2])
        version = campaign.draft_version
        version.start_at = start
        version.recurrence = (
            {"frequency": "weekly", "time": f"{8 + i:02d}:00", "daysOfWeek": [i % 7]}
            if i < 6
            else {"frequency": "monthly", "time": "09:00", "dayOfMonth": 1 + i * 2}
        )
        version.save()
        force_status(Campaign.objects.get(pk=campaign.pk), "scheduled")
    for hours in (24, 72, 168):
        BusinessRule.objects.create(
            name=f"{hours} h",
            channel="email",
            categories=["marketing"],
            cap_max_messages=1,
            cap_window_hours=hours,
        )
    first = timezone.localdate()
    with CaptureQueriesContext(connection) as captured:
        response = api_for(viewer).get(f"/calendar?from={first}&to={first + timedelta(days=91)}")
    assert response.status_code == 200
    days = response.json()["days"]
    counts = {(c["ruleId"], c["profiles"]) for d in days for c in d["collisions"]}
    assert len([d for d in days if d["collisions"]]) > 30 and len(counts) > 1
    counting = [q for q in captured.captured_queries if "UNION ALL" in q["sql"]]
    assert len(counting) == 1
