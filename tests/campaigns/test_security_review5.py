"""Fifth outside review of issue 10 (docs/security-review-5.md): each test
reproduced its finding on the code before the fix. SQLite by default,
PostgreSQL + Redis with DATABASE_URL / REDIS_URL."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from campaigns import calendar_selectors
from campaigns.calendar_selectors import campaign_calendar
from campaigns.engine.schedule import occurrences
from campaigns.forecast import eligible_profiles
from campaigns.models import BusinessRule
from campaigns.rules import applies
from tests.campaigns.conftest import make_campaign, make_profiles, upload_audience

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser(make_user):
    return make_user("root", superuser=True)


NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
FIRST, LAST = date(2026, 6, 1), date(2026, 8, 31)


def _plan(seed: int, campaigns: int, audiences: int, profiles: int, caps: list[tuple[int, int]]):
    """Recurring campaigns (daily, weekly, monthly, one-offs) at their own times
    over overlapping upload audiences, and frequency caps."""
    rnd = random.Random(seed)
    people = make_profiles(profiles)
    segments = [
        upload_audience([p for p in people if rnd.random() < 0.5], name=f"S{i}")
        for i in range(audiences)
    ]
    for n, hours in caps:
        BusinessRule.objects.create(
            name=f"{n}/{hours}h", channel="email", cap_max_messages=n, cap_window_hours=hours
        )
    for i in range(campaigns):
        kind = rnd.choice(["daily", "daily", "weekly", "monthly", "once"])
        start = datetime(2026, 5, 1, tzinfo=UTC) + timedelta(days=rnd.randrange(60))
        at = f"{rnd.randrange(24):02d}:{rnd.randrange(60):02d}"
        recurrence = {
            "daily": {"frequency": "daily", "time": at},
            "weekly": {"frequency": "weekly", "time": at, "daysOfWeek": [rnd.randrange(7)]},
            "monthly": {"frequency": "monthly", "time": at, "dayOfMonth": rnd.randrange(1, 32)},
            "once": None,
        }[kind]
        make_campaign(
            segments[i % audiences], status="scheduled", start_at=start, recurrence=recurrence
        )


def _by_profile(user, first: date, last: date) -> dict[str, list[tuple[int, list[int]]]]:
    """The calendar's collisions by the definition, profile by profile: at each
    send of the day (an anchor), a profile is held back when the sends that
    reach it in the window ending there number more than the cap and an
    anchored campaign reaches it."""
    from campaigns.models import Campaign

    tz = ZoneInfo("UTC")
    lo = datetime.combine(first, datetime.min.time(), tzinfo=tz)
    hi = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    answer: dict[str, list[tuple[int, list[int]]]] = {}
    campaigns = list(Campaign.objects.filter(status="scheduled"))
    for rule in BusinessRule.objects.filter(active=True).order_by("pk"):
        window = timedelta(hours=rule.cap_window_hours)
        sends, reach = [], {}
        for c in campaigns:
            version = c.live_version
            if not applies(rule, channel=c.channel, category=c.category, exempt=False):
                continue
            reach[c.pk] = set(eligible_profiles(c, version).values_list("pk", flat=True))
            if version.recurrence:
                after = max(version.start_at, lo - window)
                sends += [(t, c.pk) for t in occurrences(version.recurrence, "UTC", after, hi)]
            elif lo - window <= version.start_at < hi:
                sends.append((version.start_at, c.pk))
        for offset in range((last - first).days + 1):
            day = first + timedelta(days=offset)
            start = datetime.combine(day, datetime.min.time(), tzinfo=tz)
            held, involved = set(), set()
            for t, _pk in sends:
                if not start <= t < start + timedelta(days=1):
                    continue
                anchors = {pk for u, pk in sends if u == t}
                inside = Counter(pk for u, pk in sends if t - window < u <= t)
                for person in set().union(*reach.values()):
                    if not any(person in reach[pk] for pk in anchors):
                        continue
                    mine = {pk: n for pk, n in inside.items() if person in reach[pk]}
                    if sum(mine.values()) > rule.cap_max_messages:
                        held.add(person)
                        involved.update(mine)
            if held:
                answer.setdefault(day.isoformat(), []).append((len(held), sorted(involved)))
    return answer


def _collisions(days) -> dict[str, list[tuple[int, list[int]]]]:
    return {
        day.date.isoformat(): [(c.profiles, c.campaign_ids) for c in day.collisions]
        for day in days
        if day.collisions
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_calendar_collisions_are_those_of_the_definition_profile_by_profile(seed, superuser):
    """The fifth review's faster count gives the answers of the definition."""
    with time_machine.travel(NOW, tick=False):
        _plan(seed, campaigns=9, audiences=4, profiles=24, caps=[(2, 30), (4, 170), (6, 24 * 20)])
        days = campaign_calendar(superuser, FIRST, date(2026, 6, 30), tz=ZoneInfo("UTC"))
        assert _collisions(days) == _by_profile(superuser, FIRST, date(2026, 6, 30))


class _CountingSet(frozenset):
    looked_up = 0

    def __contains__(self, item) -> bool:
        _CountingSet.looked_up += 1
        return super().__contains__(item)


class _CountingCounter(Counter):
    fed = 0

    def update(self, iterable=None, /, **kwargs):
        items = list(iterable or [])
        _CountingCounter.fed += len(items)
        return super().update(items, **kwargs)

    def subtract(self, iterable=None, /, **kwargs):
        items = list(iterable or [])
        _CountingCounter.fed += len(items)
        return super().subtract(items, **kwargs)


def test_a_viewers_calendar_does_work_in_sends_and_sets_not_their_product(viewer, monkeypatch):
    """Medium: with 120 recurring campaigns over 12 segments of 3,000 people and
    a 30-day cap, one viewer's `GET /api/v1/calendar` of 92 days ran 39 s on
    SQLite (the month page the same for 42 days): every anchor re-counted every
    send of its window, and every set of campaigns was looked up campaign by
    campaign for every anchor of every day pattern. The work is now the sends
    once and a few bit operations per set and anchor; counted here, not timed."""
    reach = calendar_selectors._reach

    def counting_reach(*args):
        return {_CountingSet(members): n for members, n in reach(*args).items()}

    monkeypatch.setattr(calendar_selectors, "_reach", counting_reach)
    monkeypatch.setattr(calendar_selectors, "Counter", _CountingCounter)
    _CountingSet.looked_up = _CountingCounter.fed = 0
    with time_machine.travel(NOW, tick=False):
        _plan(5, campaigns=30, audiences=6, profiles=120, caps=[(3, 24 * 30)])
        days = campaign_calendar(viewer, FIRST, LAST, tz=ZoneInfo("UTC"))
    assert any(day.collisions for day in days)
    sends = 30 * (92 + 30)  # at most one send a day per campaign, window included
    assert _CountingCounter.fed <= 2 * sends
    assert _CountingSet.looked_up <= 2**6 * 30  # at most once per set and campaign


def test_a_calendar_with_more_than_500_campaigns_involved_is_answered(api_for, viewer):
    """Low: the collision count is one ``UNION ALL`` with a member per campaign
    involved; SQLite refuses more than 500 (``too many terms in compound
    SELECT``), so with 501 campaigns planned in the range and the cap's window
    every reader's calendar (page and API) answered 500 on SQLite."""
    with time_machine.travel(NOW, tick=False):
        BusinessRule.objects.create(
            name="3 a week", channel="email", cap_max_messages=3, cap_window_hours=168
        )
        everyone = upload_audience(make_profiles(3))
        for i in range(501):
            make_campaign(
                everyone,
                status="scheduled",
                start_at=datetime(2026, 6, 2, tzinfo=UTC) + timedelta(hours=i),
            )
        response = api_for(viewer).get("/calendar", {"from": "2026-06-01", "to": "2026-08-31"})
    assert response.status_code == 200, response.content[:300]
    days = {day["date"]: day for day in response.json()["days"]}
    # Three people, a send every hour: each day's sends all collide for all three.
    assert days["2026-06-03"]["collisions"][0]["profiles"] == 3


@pytest.mark.parametrize(
    "selector",
    [
        "p:not(x ~ p)",
        "p:has(~ x)",
        "div:has(x)",
        "p:is(x ~ p)",
        "p:where(x > p)",
        "p:not(:has(x))",
        "p:not(x p)",
        "p:nth-last-child(2n+1 of x ~ p)",
        # CSS escapes are part of names: still :not( and :has( to Servo.
        r"p:n\6f t(x ~ p)",
        r"p:\6e ot(x \29  ~ p)",
        r"p:h\61s(~ x)",
    ],
)
def test_selectors_servo_matches_in_quadratic_time_are_not_inlined(selector):
    """Medium: css-inline (Servo's selector engine) matches a combinator inside
    ``:not()``/``:is()``/``:where()``, and any ``:has()``, by walking every
    element's siblings or ancestors again: ``p:not(x ~ p)`` over 16,000
    paragraphs took 8 s, ``p:has(~ x)`` over 64,000 took 47 s (512 KB of HTML,
    far under the 2 MB and rule × tag bounds) — in the web process for every
    preview and every reader's campaign page. Such a block is now left as
    written, like one over the other bounds."""
    from channels.inline_css import inline_css

    html = (
        f"<html><head><style>{selector} {{ color: red }} td {{ padding: 0 }}</style></head>"
        "<body><div>" + "<p>t</p>" * 50 + "<table><tr><td>x</td></tr></table></div></body></html>"
    )
    assert inline_css(html) == html


def test_selectors_of_everyday_email_css_are_still_inlined():
    from channels.inline_css import inline_css

    html = (
        "<html><head><style>td:not(.a, .b) { padding: 0 } p:is(.x, .y) span { color: red }"
        " tr:nth-child(2n + 1) td { color: blue } a:hover { color: green }</style></head>"
        '<body><table><tr><td class="c">x</td></tr></table></body></html>'
    )
    out = inline_css(html)
    assert '<td class="c" style="' in out and "padding: 0" in out
    assert "a:hover" in out  # what cannot be inlined stays in the block


_DEEP = """
import django
django.setup()
from channels.inline_css import inline_css
html = "<html><head><style>td {{ padding: 0 }}</style></head><body>" + {opening!r} * 16000 + "t"
print(len(inline_css(html)))
"""


@pytest.mark.parametrize("opening", ["<div>", "<div/>", "<div></span>"])
def test_deeply_nested_html_never_crashes_the_process_that_inlines_it(opening):
    """Medium: css-inline recurses once per nesting level; 16,000 nested
    ``<div>`` (176 KB of HTML, far under every bound) overflowed the stack and
    the process died of a segmentation fault — the web worker on every view of
    the campaign page, every preview, and the sending worker at each run's
    compile. Run in a child process, since on the old code it kills it."""
    import os
    import subprocess
    import sys

    from django.conf import settings

    result = subprocess.run(
        [sys.executable, "-c", _DEEP.format(opening=opening)],
        cwd=settings.BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, (result.returncode, result.stderr[-500:])
