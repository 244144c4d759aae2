"""Reads shared by the campaign pages and the API: the filtered list, the one
permission helper for campaign actions, and the actions a user may take now."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404

from accounts.permissions import can_see, visible
from campaigns.actions import ACTIONS, USER_ACTIONS, CampaignAction
from campaigns.models import ApprovalRequest, Campaign, CampaignStatus, light_versions
from config.ids import is_id

S = CampaignStatus
DEFAULT_STATUSES = [S.DRAFT, S.SCHEDULED, S.LIVE]
SORTS = {
    "name": ("name", "pk"),
    "-name": ("-name", "-pk"),
    "updated": ("updated_at", "pk"),
    "-updated": ("-updated_at", "-pk"),
    "created": ("created_at", "pk"),
    "-created": ("-created_at", "-pk"),
    "status": ("status", "-updated_at", "-pk"),
    "type": ("type", "-updated_at", "-pk"),
    "channel": ("channel", "-updated_at", "-pk"),
}
DEFAULT_SORT = "-updated"


@dataclass
class CampaignFilters:
    """The list's filters, as they appear in the query string (a filtered list is a link)."""

    statuses: list[str] = field(default_factory=lambda: list(DEFAULT_STATUSES))
    all_statuses: bool = False
    type: str = ""
    channel: str = ""
    tag: str = ""
    search: str = ""
    sort: str = DEFAULT_SORT

    @classmethod
    def from_query(cls, query, *, default_statuses: bool = True) -> CampaignFilters:
        """``?status=draft&status=live&type=&channel=&tag=&search=&sort=``;
        ``status=all`` (the "Clear filters" link) shows every status."""
        raw = [s for s in query.getlist("status") if s]
        statuses = [s for s in raw if s in S.values]
        all_statuses = "all" in raw or (not raw and not default_statuses)
        if not raw and default_statuses:
            statuses = list(DEFAULT_STATUSES)
        sort = query.get("sort") or DEFAULT_SORT

        def text(name: str) -> str:
            # No column holds a NUL: PostgreSQL refuses one in a comparison (a
            # 500 on the list page's ?tag= and ?search=: security review 11).
            return (query.get(name) or "").replace("\x00", "").strip()

        return cls(
            statuses=statuses,
            all_statuses=all_statuses,
            type=text("type"),
            channel=text("channel"),
            tag=text("tag"),
            search=text("search")[:200],
            sort=sort if sort in SORTS else DEFAULT_SORT,
        )

    @property
    def is_default(self) -> bool:
        return (
            not self.all_statuses
            and sorted(self.statuses) == sorted(DEFAULT_STATUSES)
            and not (self.type or self.channel or self.tag or self.search)
        )


def campaign_list(user, filters: CampaignFilters) -> QuerySet[Campaign]:
    """The campaigns ``user`` may see, filtered and sorted, with everything a
    row shows loaded up front: the query count does not grow with the rows."""
    qs = visible(user, Campaign.objects.all())
    if not filters.all_statuses:
        qs = qs.filter(status__in=filters.statuses)
    if filters.type:
        qs = qs.filter(type=filters.type)
    if filters.channel:
        qs = qs.filter(channel=filters.channel)
    if filters.tag:
        # EXISTS rather than a join, so no row repeats and no DISTINCT is needed:
        # DISTINCT over every column made the count and the page sort the whole
        # table (30 ms at 10,000 campaigns instead of an index scan).
        tagged = Campaign.tags.through.objects.filter(
            campaign=OuterRef("pk"), tag__name=filters.tag
        )
        qs = qs.filter(Exists(tagged))
    if filters.search:
        qs = qs.filter(Q(name__icontains=filters.search))
    return (
        qs.select_related("live_version", "draft_version")
        .prefetch_related("tags")
        .order_by(*SORTS[filters.sort])
    )


def get_campaign_for(user, pk, queryset: QuerySet | None = None) -> Campaign:
    """The campaign, or 404 when it does not exist or ``user`` may not see it."""
    qs = queryset if queryset is not None else Campaign.objects.all()
    campaign = (
        qs.select_related("live_version", "draft_version", "created_by").filter(pk=pk).first()
    )
    if campaign is None or not can_see(user, campaign):
        raise Http404
    return campaign


def _pending_request(campaign: Campaign) -> ApprovalRequest | None:
    from campaigns.services import pending_request

    if campaign.status == S.IN_REVIEW or campaign.draft_version_id:
        return pending_request(campaign)
    return None


def check_action(user, action: str, campaign: Campaign) -> None:
    """The one boundary check for a campaign action (a name in
    ``campaigns.actions``): 404 if unseen, 403 if the action's ``who`` refuses
    (the role, the object grant, or the approval request's people)."""
    if not can_see(user, campaign):
        raise Http404
    if not ACTIONS[action].allows(user, campaign, _pending_request(campaign)):
        raise PermissionDenied


def allowed_actions(user, campaign: Campaign) -> list[CampaignAction]:
    """Actions to offer ``user`` on ``campaign`` now, in the pages' order: the
    campaign is in a state the action applies to, and the user may do it.
    Services still enforce every rule on submit."""
    request = _pending_request(campaign)
    return [
        action
        for action in USER_ACTIONS.values()
        if action.is_offered(campaign, request) and action.allows(user, campaign, request)
    ]


def approval_queue(user) -> QuerySet[ApprovalRequest]:
    """Pending approval requests on campaigns ``user`` may see (oldest first)."""
    campaigns = visible(user, Campaign.objects.all()).values("pk")
    return (
        ApprovalRequest.objects.filter(status="pending", campaign__in=campaigns)
        .select_related("campaign", "version", "requested_by", "policy")
        .defer("campaign__description", *light_versions("version"))
        .order_by("created_at")
    )


def renderable_for(campaign, profiles, version=None):
    """``profiles`` narrowed to those ``campaign``'s words may be rendered for:
    the ones its owner and every other writer may see, as its runs
    (audiences.selectors.sendable_profiles). A preview frame loads the content's
    remote images and a proof is opened by its recipient: a superuser's preview
    of a manager's draft rendered the manager's pixel for a person hidden from
    the manager, their address to the manager's server (fifteenth review).
    ``version``: the one rendered (default: the draft, else the live one),
    whose own writers count too (an open draft version's)."""
    from audiences.selectors import seen_by_writers
    from campaigns.engine.materialize import users_by_id
    from campaigns.services import writers_of_version

    if version is None:
        version = campaign.draft_version or campaign.live_version
    editors = users_by_id(writers_of_version(campaign, version))
    return seen_by_writers(profiles, campaign.created_by, editors)


def preview_profile(user, value: str | None, campaign=None):
    """The profile a preview or proof is rendered for, or None (sample data):
    only roles that manage profiles pick one, and only among the profiles they
    may see (issue 10 #3) — and, for ``campaign``'s content, that its writers
    may see (``renderable_for``). ``value``: a profile's id, email or external id."""
    from audiences.selectors import visible_profiles

    value = (value or "").strip()
    if not value or "\x00" in value:  # no column holds a NUL (PostgreSQL: an error)
        return None
    qs = visible_profiles(user)
    if campaign is not None:
        qs = renderable_for(campaign, qs)
    # ASCII only: str.isdigit() also accepts "²" or "①", which int() refuses.
    if value.isascii() and value.isdigit():
        return qs.filter(pk=int(value)).first() if is_id(int(value)) else None
    return qs.filter(email=value).first() or qs.filter(profile_id=value).first()


# --- when a campaign first sends ---------------------------------------------


def first_sends(campaigns, moment=None) -> dict[int, object]:
    """For each scheduled or live campaign that sends in each profile's time zone,
    has sent nothing yet and has nothing due at ``moment``: when its first
    message is due.

    Such a campaign goes live up to 14 hours before its start (the zones east of
    it come first): until a delivery is due the pages say "Scheduled — first
    sends at …" instead of "Live" (issue 12 #7). No query for a page without such
    campaigns; two at most otherwise (run counters, then pending deliveries).
    """
    from datetime import UTC, datetime

    from django.db.models import F, Min, Sum, Value
    from django.db.models.functions import Coalesce

    from campaigns.engine.clock import now
    from campaigns.models import CampaignType, Delivery, Run

    candidates = {
        c.pk: c
        for c in campaigns
        if c.status in (S.SCHEDULED, S.LIVE)
        and c.type == CampaignType.SCHEDULED
        and c.live_version is not None
        and c.live_version.use_profile_timezone
    }
    if not candidates:
        return {}
    moment = moment or now()
    waiting = Q(status__in=[Run.Status.QUEUED, Run.Status.MATERIALIZING])
    rows = (
        Run.objects.filter(campaign_id__in=list(candidates))
        .values("campaign_id")
        .annotate(done=Sum(F("sent") + F("failed")), planned=Min("scheduled_for", filter=waiting))
        .order_by()
    )
    runs = {row["campaign_id"]: row for row in rows}
    ids = [pk for pk in candidates if not (runs.get(pk) or {}).get("done")]
    # A pending delivery without send_after is due now: it counts as the epoch.
    epoch = Value(datetime(1970, 1, 1, tzinfo=UTC))
    pending = dict(
        Delivery.objects.filter(run__campaign_id__in=ids, status=Delivery.Status.PENDING)
        .values("run__campaign_id")
        .annotate(first=Min(Coalesce("send_after", epoch)))
        .values_list("run__campaign_id", "first")
        .order_by()
    )
    result = {}
    for pk in ids:
        first = pending.get(pk) or _first_planned(
            candidates[pk], (runs.get(pk) or {}).get("planned"), moment
        )
        if first is not None and first > moment:
            result[pk] = first
    return result


def _first_planned(campaign: Campaign, planned, moment):
    """The first send of a campaign whose deliveries do not exist yet: its queued
    run, else its start or next occurrence; in each profile's zone if it sends so."""
    from datetime import timedelta

    from campaigns.engine.schedule import occurrences

    version = campaign.live_version
    if version is None:
        return None
    first = planned
    if first is None and version.recurrence:
        start = max(version.start_at or moment, moment)
        first = next(
            occurrences(version.recurrence, version.timezone, start, start + timedelta(days=400)),
            None,
        )
    elif first is None:
        first = version.start_at
    if first is None or not version.use_profile_timezone:
        return first
    return _earliest_in_profile_zones(version, first)


def _earliest_in_profile_zones(version, instant):
    """``instant``'s wall time in the campaign's zone, reached first in any zone of
    the audience's profiles (as the engine spreads deliveries)."""
    from zoneinfo import ZoneInfo

    from audiences.selectors import audience_profiles

    default = version.timezone or "UTC"
    wall = instant.astimezone(ZoneInfo(default)).replace(tzinfo=None)
    try:
        zones = set(
            audience_profiles(version.audience).values_list("timezone", flat=True).distinct()
        )
    except Exception:  # no audience or a rule that does not compile: the campaign's zone
        zones = set()
    moments = []
    for zone in zones or {default}:
        try:
            moments.append(wall.replace(tzinfo=ZoneInfo(zone or default)))
        except (KeyError, ValueError):
            moments.append(wall.replace(tzinfo=ZoneInfo(default)))
    return min(moments)
