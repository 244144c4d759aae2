"""What campaigns contributes to the apps below it, registered in
``CampaignsConfig.ready``.

Dependencies point one way (accounts ← audiences ← channels ← campaigns): the
lower apps never import campaigns; they call the hooks registered here.

- ``channels/deliveries.py``: tracking and provider feedback find a delivery,
  its channel, and record a first-event time;
- ``audiences/hooks.py``: the campaigns an audience's rule change would alter,
  and a person's deliveries on erasure and export;
- ``channels/hooks.py``: the campaigns that send through a channel
  configuration (named before it is deactivated).
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Q

from audiences import hooks as audience_hooks
from channels import deliveries
from channels import hooks as channel_hooks

# In these statuses a campaign's audience decides (or is about to decide, on
# approval) who receives it.
COMMITTED_STATUSES = ("in_review", "activating", "scheduled", "live")
_EXPORT_CHUNK = 2000


class DeliveryStore:
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


def audience_blockers(*, audience, actor) -> list[audience_hooks.Blocker]:
    """Committed campaigns using ``audience`` that ``actor`` may not activate."""
    from accounts.permissions import can, can_see
    from campaigns.models import Campaign

    using = Campaign.objects.filter(status__in=COMMITTED_STATUSES).filter(
        Q(live_version__audience=audience) | Q(status="in_review", draft_version__audience=audience)
    )
    return [
        audience_hooks.Blocker(c, c.name, can_see(actor, c))
        for c in using.order_by("name", "pk")
        if not can(actor, "campaign.activate", c)
    ]


def configuration_users(*, config, actor) -> list[audience_hooks.Blocker]:
    """Campaigns that would send through ``config``: scheduled, live, being
    activated or under review with it, or with a run of it still to finish."""
    from accounts.permissions import can_see
    from campaigns.engine.runs import ACTIVE
    from campaigns.models import Campaign

    using = Campaign.objects.filter(
        Q(status__in=COMMITTED_STATUSES, live_version__channel_configuration=config)
        | Q(status="in_review", draft_version__channel_configuration=config)
        | Q(runs__status__in=ACTIVE, runs__version__channel_configuration=config)
    ).distinct()
    return [
        audience_hooks.Blocker(c, c.name, can_see(actor, c)) for c in using.order_by("name", "pk")
    ]


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
    rows.update(profile=None, address="", context=None, error="")
    return addresses


def profile_export_deliveries(*, profile, reader=None) -> tuple[str, Iterator[dict]]:
    """``profile``'s deliveries for the export, read in chunks with a server-side
    cursor; with ``reader``, only those of campaigns the reader may see."""
    from accounts.permissions import visible
    from campaigns.models import Campaign, Delivery
    from campaigns.reports import EVENTS

    fields = ["pk", "run__campaign__name", "run__campaign__channel", "status", "sent_at"]
    fields += list(EVENTS.values())
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
                "events": {name: _iso(row[f]) for name, f in EVENTS.items() if row[f]},
            }

    return "deliveries", items()


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def register() -> None:
    deliveries.register(DeliveryStore())
    audience_hooks.rule_change_blockers.register(audience_blockers)
    channel_hooks.configuration_users.register(configuration_users)
    audience_hooks.profile_erasing.register(profile_erase_deliveries)
    audience_hooks.profile_export_sections.register(profile_export_deliveries)
