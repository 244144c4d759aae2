"""What campaigns contributes to the apps below it, registered in
``CampaignsConfig.ready``.

Dependencies point one way (accounts ← audiences ← channels ← campaigns): the
lower apps never import campaigns; they call the hooks registered here.

- ``channels/deliveries.py``: tracking and provider feedback find a delivery,
  its channel, and record a first-event time;
- ``audiences/hooks.py``: the campaigns an audience's rule change would alter,
  and a person's deliveries on erasure and export;
- ``channels/hooks.py``: the campaigns that send through a channel
  configuration (named before it is deactivated), and how many of them may
  reach people hidden from whoever changes where its messages go;
- ``accounts/notices.py``: the current names of the campaigns a notice reader
  may see.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Exists, OuterRef, Q

from audiences import hooks as audience_hooks
from channels import deliveries
from channels import hooks as channel_hooks

# In these statuses a campaign's audience decides (or is about to decide, on
# approval) who receives it.
COMMITTED_STATUSES = ("in_review", "activating", "scheduled", "live")
_EXPORT_CHUNK = 2000


class DeliveryStore:
    def hidden(self, user, prefix: str) -> Q | None:
        from accounts.permissions import hidden_ids
        from audiences.selectors import hidden_profiles
        from campaigns.models import Campaign

        if user is not None and user.is_superuser:
            return None
        campaigns = hidden_ids(user, Campaign)
        people = hidden_profiles(user)
        if not campaigns and people is None:
            return None
        match = Q(**{f"{prefix}run__campaign__in": campaigns})
        if people is not None:
            match |= Q(**{f"{prefix}profile__in": people.values("pk")})
        return match

    def get(self, pk: int):
        from campaigns.models import Delivery

        return Delivery.objects.select_related("run__campaign", "profile").filter(pk=pk).first()

    def channel(self, delivery) -> str:
        return delivery.run.campaign.channel

    def set_first(self, delivery, field: str, when) -> bool:
        from campaigns.models import Delivery

        changed = Delivery.objects.filter(pk=delivery.pk, **{f"{field}__isnull": True}).update(
            **{field: when}
        )
        if changed:
            setattr(delivery, field, when)
        return bool(changed)

    TIMES = ("opened_at", "clicked_at", "machine_opened_at", "machine_clicked_at")

    def lock(self, delivery) -> None:
        from campaigns.models import Delivery

        fresh = Delivery.objects.select_for_update().filter(pk=delivery.pk).values(*self.TIMES)
        for field, value in (fresh.first() or {}).items():
            setattr(delivery, field, value)

    def set_times(self, delivery, times: dict) -> None:
        from campaigns.models import Delivery

        Delivery.objects.filter(pk=delivery.pk).update(**times)
        for field, value in times.items():
            setattr(delivery, field, value)


def audience_blockers(*, audience, actor) -> list[audience_hooks.Blocker]:
    """Committed campaigns using ``audience`` that ``actor`` may not activate:
    through their live version, or the version waiting for approval (a draft
    in review, or the draft version of a live campaign: what the approver
    decides on; fifteenth review)."""
    from accounts.permissions import can, can_see
    from campaigns.models import Campaign

    using = (
        Campaign.objects.filter(status__in=COMMITTED_STATUSES)
        .filter(
            Q(live_version__audience=audience)
            | Q(status="in_review", draft_version__audience=audience)
            | Q(approval_requests__status="pending", approval_requests__version__audience=audience)
        )
        .distinct()
    )
    return [
        audience_hooks.Blocker(c, c.name, can_see(actor, c))
        for c in using.order_by("name", "pk")
        if not can(actor, "campaign.activate", c)
    ]


# A campaign in these statuses sends through its live version's configuration
# (or is about to: ``activating``). A campaign under review does not: approving
# it runs the review again, which refuses a deactivated configuration.
SENDING_STATUSES = ("activating", "scheduled", "live")


def configuration_users(*, config, actor) -> list[audience_hooks.Blocker]:
    """Campaigns that send through ``config``: being activated, scheduled or
    live with it, or with a run of it still to finish. Deactivating ``config``
    is refused while there is one (channels.services), so a live campaign
    always has an active configuration — the guard of API triggers ("the
    campaign is live", campaigns/engine/executions.py) covers it too."""
    from accounts.permissions import can_see
    from campaigns.engine.runs import ACTIVE
    from campaigns.models import Campaign

    using = Campaign.objects.filter(
        Q(status__in=SENDING_STATUSES, live_version__channel_configuration=config)
        | Q(runs__status__in=ACTIVE, runs__version__channel_configuration=config)
    ).distinct()
    return [
        audience_hooks.Blocker(c, c.name, can_see(actor, c)) for c in using.order_by("name", "pk")
    ]


def configuration_reach(*, config, actor) -> int:
    """How many of the campaigns sending through ``config`` (``configuration_users``)
    that ``actor`` may see may send to people hidden from ``actor``: every one
    of their writers (the owner and the editors, whom a run's audience is
    narrowed to: audiences/selectors.py) may see a restricted audience that
    ``actor`` may not. Whoever changes where the configuration's messages go
    would receive those messages (fourteenth review)."""
    from django.contrib.auth import get_user_model

    from accounts.permissions import hidden_ids
    from audiences.models import Audience

    hidden = set(hidden_ids(actor, Audience))
    if not hidden:
        return 0
    campaigns = [b.obj for b in configuration_users(config=config, actor=actor) if b.visible]
    writers = {pk for c in campaigns for pk in (c.created_by_id, *(c.editors or []))}
    users = get_user_model().objects.in_bulk([pk for pk in writers if pk is not None])
    seen: dict[int | None, set[int]] = {}  # writer → the audiences of ``hidden`` they see

    def seen_by(pk) -> set[int]:
        if pk not in seen:
            user = users.get(pk) if pk is not None else None  # deleted: sees none
            seen[pk] = hidden - set(hidden_ids(user, Audience)) if user is not None else set()
        return seen[pk]

    reaching = 0
    for campaign in campaigns:
        common = set(hidden)
        for pk in (campaign.created_by_id, *(campaign.editors or [])):
            common &= seen_by(pk)
        reaching += bool(common)
    return reaching


def profile_erase_deliveries(*, profile) -> set[tuple[str, str]]:
    """Anonymise ``profile``'s deliveries (reports unchanged) and return the
    (channel, address) pairs they were sent to."""
    from campaigns.models import Delivery
    from channels.models import DeliveryEvent

    rows = Delivery.objects.filter(profile=profile)
    addresses = set(
        rows.exclude(address="").values_list("run__campaign__channel", "address").distinct()
    )
    # Not yet sent: nobody is left to send it to. Counters do not move
    # (targeted counts every row; sent and failed never counted these).
    rows.filter(status=Delivery.Status.PENDING).update(
        status=Delivery.Status.CANCELLED, reason="erased", lease_expires_at=None
    )
    DeliveryEvent.objects.filter(delivery__in=rows.values("pk")).update(address="", detail="")
    # Webhook events about them: the same fields go (a clicked link, a
    # bounce's answer) from what the caller gave; webhooks clears built data.
    from webhooks.outbox import erase_refs

    erase_refs(list(rows.values_list("pk", flat=True)))
    rows.update(profile=None, address="", context=None, error="")
    return addresses


def profile_export_deliveries(*, profile, reader=None) -> tuple[str, Iterator[dict]]:
    """``profile``'s deliveries for the export, read in chunks with a server-side
    cursor; with ``reader``, only those of campaigns the reader may see."""
    from accounts.permissions import visible
    from campaigns.models import Campaign, Delivery
    from campaigns.reports import EVENTS

    fields = ["pk", "run__campaign__name", "run__campaign__channel", "status", "sent_at"]
    # Opens and clicks by machines (privacy proxies, scanners) are the person's data too.
    events = {
        **EVENTS,
        "machineOpened": "machine_opened_at",
        "machineClicked": "machine_clicked_at",
    }
    fields += list(events.values())
    rows = Delivery.objects.filter(profile=profile)
    if reader is not None:
        rows = rows.filter(run__campaign__in=visible(reader, Campaign.objects.all()).values("pk"))
    rows = rows.order_by("pk").values(*fields)

    def items() -> Iterator[dict]:
        for row in rows.iterator(chunk_size=_EXPORT_CHUNK):
            yield {
                "campaign": row["run__campaign__name"],
                "channel": row["run__campaign__channel"],
                "status": row["status"],
                "sentAt": _iso(row["sent_at"]),
                "events": {name: _iso(row[f]) for name, f in events.items() if row[f]},
            }

    return "deliveries", items()


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def engagement_condition(*, engagement: str, campaign_id, within_days: int, include_machine: bool):
    """The profiles that received / opened / clicked (a campaign, or any) in the
    last ``within_days`` days, as EXISTS subqueries over their deliveries
    (SPEC §13). People's opens and clicks only, unless ``include_machine``."""
    from datetime import timedelta

    from django.db.models import Exists, OuterRef
    from django.utils import timezone

    from campaigns.models import Delivery

    since = timezone.now() - timedelta(days=within_days)
    mine = Delivery.objects.filter(profile_id=OuterRef("pk"))
    if campaign_id is not None:
        mine = mine.filter(run__campaign_id=campaign_id)
    else:
        # "Any campaign" is any open one: who received a restricted campaign
        # is for the people who may see it, and an audience naming one is
        # restricted (review 4 #10). Counting them here told any manager, in
        # an open audience, who received one (review 8).
        mine = mine.filter(run__campaign__restricted=False)
    received = Exists(mine.filter(sent_at__gte=since))
    if engagement == "received":
        return Q(received)
    field = "opened_at" if engagement in ("opened", "not_opened") else "clicked_at"
    hit = Q(**{f"{field}__gte": since})
    if include_machine:
        hit |= Q(**{f"machine_{field}__gte": since})
    engaged = Exists(mine.filter(hit))
    if engagement in ("opened", "clicked"):
        return Q(engaged)
    return Q(received) & ~Q(engaged)


def engagement_campaigns(*, actor, ids: set[int]) -> set[int]:
    """The campaigns among ``ids`` that exist and that ``actor`` may see."""
    from accounts.permissions import visible
    from campaigns.models import Campaign

    return set(visible(actor, Campaign.objects.filter(pk__in=ids)).values_list("pk", flat=True))


def restricted_campaigns(*, ids: set[int]) -> set[int]:
    """The restricted campaigns among ``ids``."""
    from campaigns.models import Campaign

    return set(Campaign.objects.filter(pk__in=ids, restricted=True).values_list("pk", flat=True))


ENGAGEMENT_CHOICES = 200


def engagement_campaign_choices(*, actor) -> list[tuple[int, str]]:
    """The rule builder's campaigns: those that sent something, that ``actor``
    may see, the most recently changed first (at most ENGAGEMENT_CHOICES)."""
    from accounts.permissions import visible
    from campaigns.models import Campaign, Run

    sent = Run.objects.filter(campaign_id=OuterRef("pk"), sent__gt=0)
    rows = (
        visible(actor, Campaign.objects.all())
        .filter(Exists(sent))
        .order_by("-updated_at", "-pk")
        .values_list("pk", "name")
    )
    return list(rows[:ENGAGEMENT_CHOICES])


def visible_campaign_names(*, user, ids: set[int]) -> dict[int, str]:
    """accounts/notices.py: the names of the campaigns among ``ids`` that
    ``user`` may see, as they are called now."""
    from accounts.permissions import visible
    from campaigns.models import Campaign

    return dict(visible(user, Campaign.objects.filter(pk__in=ids)).values_list("pk", "name"))


def register() -> None:
    from accounts import notices
    from campaigns import webhook_events

    notices.register_campaign_names(visible_campaign_names)

    deliveries.register(DeliveryStore())
    webhook_events.register()
    audience_hooks.rule_change_blockers.register(audience_blockers)
    channel_hooks.configuration_users.register(configuration_users)
    channel_hooks.configuration_reach.register(configuration_reach)
    audience_hooks.profile_erasing.register(profile_erase_deliveries)
    audience_hooks.profile_export_sections.register(profile_export_deliveries)
    audience_hooks.engagement_condition.register(engagement_condition)
    audience_hooks.engagement_campaigns.register(engagement_campaigns)
    audience_hooks.restricted_campaigns.register(restricted_campaigns)
    audience_hooks.engagement_campaign_choices.register(engagement_campaign_choices)
