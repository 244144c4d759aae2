"""The campaign calendar (SPEC §12, issue 16 #4): one read shared by `/calendar/`
and `GET /api/v1/calendar`.

``campaign_calendar`` places the sends of every scheduled, recurring and live
campaign a reader may see on the days (in the reader's time zone) they happen —
a one-off on its start, a recurring campaign on each occurrence of its schedule
(campaigns/engine/schedule.py's ``occurrences``, the engine's own), an
API-triggered live campaign on every day of its window (``runs`` 0: nobody
knows its triggers yet) — and marks the days where the same profiles would get
more messages than an active frequency cap allows.

A collision is counted per profile: for each send on the day (an "anchor"), a
profile is held back when the sends that reach it inside the rule's window
ending at that send number more than the cap, and the anchor's campaign reaches
it. Audiences do not change from day to day, so one query answers the whole
range: how many profiles each set of campaigns reaches together (a ``UNION ALL``
of the campaigns' eligible profiles, a bit per campaign, summed per profile and
counted per sum); every day's pattern is then counted from those numbers. (A
statement per day's pattern made one reader's request run for minutes: issue
10, fourth review.) Like the review's forecast
(campaigns/forecast.py, whose eligibility this reuses), only the profiles the
reader is not hidden from are counted, and only campaigns the reader may see
take part: a count never tells about a hidden person or campaign (issue 10).

Not counted, as in the forecast: what was already sent (the calendar compares
plans), API triggers still to come, and the spread of a campaign sent in each
profile's time zone (its sends are placed at the campaign's own time).
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Exists, OuterRef

from accounts.permissions import hidden_ids, visible
from audiences.models import Audience, AudienceMember, Channel
from campaigns.engine.schedule import occurrences
from campaigns.forecast import eligible_profiles
from campaigns.models import (
    BusinessRule,
    Campaign,
    CampaignStatus,
    CampaignType,
    light_versions,
)
from campaigns.rules import applies

# The longest range one answer covers (the API refuses more; a month view is ≤ 42 days).
MAX_DAYS = 92
# The days a calendar may show: far enough from date.min/max that a rule's
# window before the first day and the day after the last stay representable.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(9998, 12, 31)
PLANNED = [CampaignStatus.ACTIVATING, CampaignStatus.SCHEDULED, CampaignStatus.LIVE]
DRAFTS = [CampaignStatus.DRAFT, CampaignStatus.IN_REVIEW]


@dataclass
class CalendarEntry:
    """One campaign on one day."""

    campaign: Campaign
    runs: int = 0
    times: list[datetime] = field(default_factory=list)  # the sends, aware
    live: bool = False  # API-triggered, live across its window

    @property
    def id(self) -> int:
        return self.campaign.pk


@dataclass
class Collision:
    rule: BusinessRule
    profiles: int
    campaigns: list[Campaign]

    @property
    def campaign_ids(self) -> list[int]:
        return [c.pk for c in self.campaigns]


@dataclass
class CalendarDay:
    date: date
    entries: list[CalendarEntry] = field(default_factory=list)
    collisions: list[Collision] = field(default_factory=list)


@dataclass(frozen=True)
class CalendarFilters:
    channel: str = ""
    tag: str = ""
    drafts: bool = False  # also drafts and campaigns in review that have a start

    @classmethod
    def from_query(cls, query) -> CalendarFilters:
        """Lenient (the page): an unknown channel is no filter."""
        channel = (query.get("channel") or "").strip()
        return cls(
            channel=channel if channel in Channel.values else "",
            tag=clean_tag(query.get("tag")),
            drafts=(query.get("drafts") or "") in {"1", "true", "on"},
        )


def clean_tag(value: str | None) -> str:
    # No column holds a NUL (PostgreSQL refuses it in a comparison).
    return (value or "").replace("\x00", "").strip()[:50]


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[midnight, next midnight) of ``day`` in ``tz`` (23 or 25 hours across DST)."""
    return (
        datetime.combine(day, time(0), tzinfo=tz),
        datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz),
    )


def campaign_calendar(
    user, first: date, last: date, *, tz: ZoneInfo, filters: CalendarFilters | None = None
) -> list[CalendarDay]:
    """Every day from ``first`` to ``last`` (inclusive, at most ``MAX_DAYS``) with
    the campaigns ``user`` may see that send on it, and its collisions."""
    filters = filters or CalendarFilters()
    if (last - first).days + 1 > MAX_DAYS or last < first or first < FIRST_DAY or last > LAST_DAY:
        raise ValueError("range")
    lo, hi = day_bounds(first, tz)[0], day_bounds(last, tz)[1]
    statuses = PLANNED + (DRAFTS if filters.drafts else [])
    campaigns = list(
        visible(user, Campaign.objects.filter(status__in=statuses))
        .select_related("live_version__audience", "draft_version__audience")
        # Every planned campaign is read, none of its content is needed: 20
        # drafts of 3.8 MB made one reader's calendar trace 152 MB (review 11).
        .defer("description", *light_versions("live_version", "draft_version"))
        .order_by("name", "pk")
    )
    rules = [r for r in BusinessRule.objects.filter(active=True) if r.has_cap]
    lookback = timedelta(hours=max((r.cap_window_hours for r in rules), default=0))
    shown = {c.pk for c in _filtered(campaigns, filters)}

    days = {
        first + timedelta(days=i): CalendarDay(first + timedelta(days=i))
        for i in range((last - first).days + 1)
    }
    sends: dict[int, list[datetime]] = {}
    for campaign in campaigns:
        version = _version(campaign)
        if version is None:
            continue
        if campaign.type == CampaignType.API_TRIGGERED:
            # Live, or scheduled to go live at its start: triggers may come any day.
            if campaign.pk in shown and campaign.status in PLANNED:
                _place_live(campaign, version, days, tz)
            continue
        sends[campaign.pk] = _sends(campaign, version, lo - lookback, hi)
        if campaign.pk in shown:
            for instant in sends[campaign.pk]:
                if lo <= instant < hi:
                    day = days[instant.astimezone(tz).date()]
                    if not day.entries or day.entries[-1].campaign.pk != campaign.pk:
                        day.entries.append(CalendarEntry(campaign))
                    day.entries[-1].runs += 1
                    day.entries[-1].times.append(instant)
    for day in days.values():
        day.entries.sort(key=lambda e: (e.times[0] if e.times else lo, e.campaign.name, e.id))
    by_id = {c.pk: c for c in campaigns}
    _collisions(user, rules, by_id, sends, days, tz, shown)
    return list(days.values())


def _filtered(campaigns: list[Campaign], filters: CalendarFilters) -> list[Campaign]:
    result = [c for c in campaigns if not filters.channel or c.channel == filters.channel]
    if filters.tag:
        tagged = set(
            Campaign.objects.filter(pk__in=[c.pk for c in result])
            .filter(
                Exists(
                    Campaign.tags.through.objects.filter(
                        campaign=OuterRef("pk"), tag__name=filters.tag
                    )
                )
            )
            .values_list("pk", flat=True)
        )
        result = [c for c in result if c.pk in tagged]
    return result


def _version(campaign: Campaign):
    if campaign.status in DRAFTS:
        return campaign.draft_version
    return campaign.live_version


def _sends(campaign: Campaign, version, lo: datetime, hi: datetime) -> list[datetime]:
    """The campaign's send instants in [lo, hi): its start, or its occurrences."""
    start = version.start_at or campaign.activated_at
    if not version.recurrence:
        return [start] if start is not None and lo <= start < hi else []
    if start is None:  # a draft that repeats from its activation
        from campaigns.engine.clock import now

        start = now()
    until = hi - timedelta(microseconds=1)
    if version.end_at is not None:
        until = min(until, version.end_at - timedelta(microseconds=1))
    after = max(start, lo)
    if after > until:
        return []
    try:
        return list(occurrences(version.recurrence, version.timezone, after, until))
    except (KeyError, ValueError, TypeError):  # a schedule the engine could not read either
        return []


def _place_live(campaign: Campaign, version, days: dict[date, CalendarDay], tz: ZoneInfo) -> None:
    start = version.start_at or campaign.activated_at
    for day in days.values():
        day_start, day_end = day_bounds(day.date, tz)
        if (start is None or start < day_end) and (
            version.end_at is None or version.end_at > day_start
        ):
            day.entries.append(CalendarEntry(campaign, live=True))


# ----------------------------------------------------------------- collisions


def _collisions(user, rules, by_id, sends, days, tz, shown) -> None:
    wanted: list[tuple[CalendarDay, BusinessRule, tuple]] = []
    for rule in rules:
        ids = [
            pk
            for pk, instants in sends.items()
            if instants
            and applies(
                rule,
                channel=by_id[pk].channel,
                category=by_id[pk].category,
                exempt=by_id[pk].exempt_from_rules,
            )
        ]
        timeline = sorted((t, pk) for pk in ids for t in sends[pk])
        if len(timeline) <= rule.cap_max_messages:
            continue
        instants = [t for t, _pk in timeline]
        window = timedelta(hours=rule.cap_window_hours)
        # The sends in the window (t - W, t] of each anchor, as the sender counts
        # (engine/rules.py): anchors come in time order, so the window slides
        # and each send enters and leaves it once (a count of the window per
        # anchor made a long cap window cost sends x anchors: fifth review).
        weights: Counter = Counter()
        low = high = 0
        for day in days.values():
            day_start, day_end = day_bounds(day.date, tz)
            anchored: dict[datetime, set[int]] = defaultdict(set)
            for t, pk in timeline[
                bisect.bisect_left(instants, day_start) : bisect.bisect_left(instants, day_end)
            ]:
                anchored[t].add(pk)
            pattern = set()
            for t, anchors in anchored.items():
                new_low = bisect.bisect_right(instants, t - window)
                new_high = bisect.bisect_right(instants, t)
                weights.update(pk for _t, pk in timeline[high:new_high])
                weights.subtract(pk for _t, pk in timeline[low:new_low])
                low, high = new_low, new_high
                if high - low <= rule.cap_max_messages:
                    continue  # fewer sends than the cap: nobody can be held back
                pattern.add(
                    (
                        tuple(sorted((pk, n) for pk, n in weights.items() if n)),
                        tuple(sorted(anchors)),
                    )
                )
            if pattern:
                wanted.append((day, rule, (rule.cap_max_messages, frozenset(pattern))))
    if not wanted:
        return
    involved_ids = sorted(
        {pk for _d, _r, (_c, pattern) in wanted for weights, _a in pattern for pk, _n in weights}
    )
    # Who each campaign reaches is the same on every day: read once, then every
    # day's pattern is counted from it (issue 10, fourth review: a statement per
    # pattern made one reader's request run for minutes).
    reach = _masks(_reach(hidden_audiences(user), by_id, involved_ids), involved_ids)
    answers: dict[tuple, tuple[int, list[int]]] = {}
    for day, rule, key in wanted:
        if key not in answers:
            answers[key] = _count(reach, involved_ids, sorted(key[1]), key[0])
        profiles, involved = answers[key]
        if profiles and shown.intersection(involved):
            day.collisions.append(Collision(rule, profiles, [by_id[pk] for pk in involved]))


def hidden_audiences(user) -> list[int]:
    """Restricted audiences ``user`` may not see (ids), read once per answer."""
    return hidden_ids(user, Audience)


def _seen(profiles, hidden: list[int]):
    """``audiences.selectors.not_hidden_profiles`` with the hidden audiences as a
    list of ids: the same rule, a statement shallow enough for SQLite's parser
    once several campaigns are joined in one ``UNION ALL``."""
    if not hidden:
        return profiles
    members = AudienceMember.objects.filter(profile=OuterRef("pk"))
    return profiles.filter(
        ~Exists(members.filter(audience_id__in=hidden))
        | Exists(members.exclude(audience_id__in=hidden))
    )


_BITS = 62  # campaigns per mask column (SQLite's and PostgreSQL's integers are 64-bit)
# SQLite refuses a compound SELECT of more than 500 terms (SQLITE_MAX_COMPOUND_SELECT).
_UNION_TERMS = 400


def _union_all(members: list[str]) -> str:
    """``UNION ALL`` of ``members``, nested in groups SQLite accepts: a calendar
    with more than 500 campaigns involved answered 500 on SQLite (fifth review)."""
    if len(members) <= _UNION_TERMS:
        return " UNION ALL ".join(members)
    groups = [
        _union_all(members[start : start + _UNION_TERMS])
        for start in range(0, len(members), _UNION_TERMS)
    ]
    return _union_all([f"SELECT * FROM ({group}) u{i}" for i, group in enumerate(groups)])


def _reach(hidden: list[int], by_id, campaign_ids: list[int]) -> dict[frozenset, int]:
    """How many profiles each set of ``campaign_ids`` reaches together: the
    campaigns' eligible profiles (``eligible_profiles``, without the hidden
    ones), as {frozenset of campaign ids: profiles reached by exactly those}.

    One statement: ``m`` has a row per (profile, campaign) with the campaign's
    bit (one ``UNION ALL`` member per campaign); the bits are summed per
    profile, and the profiles counted per sum. Every number written into the
    SQL is an int built here; the rest are parameters."""
    present, members, params = [], [], []
    for pk in campaign_ids:
        campaign = by_id[pk]
        version = _version(campaign)
        if version is None or version.audience_id is None:
            continue
        try:
            sql, sql_params = (
                _seen(eligible_profiles(campaign, version), hidden)
                .values("id")
                .query.sql_with_params()
            )
        except Exception:  # an audience rule that no longer compiles reaches nobody
            continue
        present.append((pk, sql, sql_params))
    if not present:
        return {}
    columns = (len(present) + _BITS - 1) // _BITS
    for index, (_pk, sql, sql_params) in enumerate(present):
        bits = ", ".join(
            f"{(1 << (index % _BITS)) if index // _BITS == k else 0} AS m{k}"
            for k in range(columns)
        )
        members.append(f"SELECT e.id AS pid, {bits} FROM ({sql}) e")
        params.extend(sql_params)
    masks = ", ".join(f"m{k}" for k in range(columns))
    sums = ", ".join(f"SUM(m{k}) AS m{k}" for k in range(columns))
    query = (
        f"WITH m AS ({_union_all(members)})"
        f" SELECT {masks}, COUNT(*) FROM (SELECT m.pid, {sums} FROM m GROUP BY m.pid) g"
        f" GROUP BY {masks}"
    )
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        rows = cursor.fetchall()
    reach: dict[frozenset, int] = {}
    for row in rows:
        ids = frozenset(
            pk
            for index, (pk, _sql, _params) in enumerate(present)
            if int(row[index // _BITS]) >> (index % _BITS) & 1
        )
        reach[ids] = reach.get(ids, 0) + int(row[-1])
    return reach


def _masks(reach: dict[frozenset, int], ids: list[int]) -> dict[int, int]:
    """``reach`` with each set of campaigns as a bit mask (bit ``i`` for ``ids[i]``)."""
    bit = {pk: 1 << i for i, pk in enumerate(ids)}
    masks: dict[int, int] = defaultdict(int)
    for members, n in reach.items():
        mask = 0
        for pk in members:
            mask |= bit.get(pk, 0)
        masks[mask] += n
    return masks


def _count(
    reach: dict[int, int], ids: list[int], pattern: list[tuple], cap: int
) -> tuple[int, list[int]]:
    """(profiles held back, campaigns involved) for one day's pattern: per
    anchor, ((campaign id, its sends in the window), …) and the anchored ids.
    ``reach`` counts the profiles per set of campaigns, a set being a bit mask
    over ``ids`` (``_masks``).

    A profile is held back at an anchor when the sends of the campaigns that
    reach it in that window number more than ``cap`` and an anchored campaign
    reaches it; the campaigns involved are those whose sends in such a window
    reach such a profile.

    A set's sends in a window are a few popcounts (one per distinct number of
    sends), not a look-up per campaign: looking each campaign up in each set
    for each anchor made one viewer's 92 days with 120 recurring campaigns over
    12 segments run for 40 s (issue 10, fifth review)."""
    bit = {pk: 1 << i for i, pk in enumerate(ids)}
    # Anchors whose windows hold the same sends are one question.
    merged: dict[tuple, int] = defaultdict(int)
    for counts, anchors in pattern:
        for pk in anchors:
            merged[counts] |= bit[pk]
    checks, relevant = [], 0
    for counts, anchor_mask in merged.items():
        by_weight: dict[int, int] = defaultdict(int)
        for pk, w in counts:
            by_weight[w] |= bit[pk]
        sent_mask = 0
        for mask in by_weight.values():
            sent_mask |= mask
        checks.append((anchor_mask, sent_mask, tuple(by_weight.items())))
        relevant |= anchor_mask | sent_mask
    # Campaigns outside the pattern change nothing: sets equal on it are one.
    sets: dict[int, int] = defaultdict(int)
    for mask, n in reach.items():
        sets[mask & relevant] += n
    profiles, involved = 0, 0
    for mask, n in sets.items():
        held = False
        for anchor_mask, sent_mask, weights in checks:
            if not mask & anchor_mask:
                continue
            reached = mask & sent_mask
            if held and not reached & ~involved:
                continue  # nothing this check could add
            if sum(w * (mask & m).bit_count() for w, m in weights) > cap:
                held = True
                involved |= reached
        if held:
            profiles += n
    return profiles, [pk for pk in ids if involved & bit[pk]]
