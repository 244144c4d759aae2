"""The campaign state machine (SPEC §3): one table (built from
``campaigns.actions``), one pure check, one writer.

``transition()`` is the only code that writes ``Campaign.status``. It is a
compare-and-set (``UPDATE … WHERE status = <from>``), so two simultaneous
activations cannot both succeed, and it records a ``CampaignEvent``.
"""

from __future__ import annotations

from django.db import transaction

from campaigns import barrier, webhook_events
from campaigns.actions import ACTIONS
from campaigns.engine import clock
from campaigns.models import Campaign, CampaignEvent

# action → (allowed source statuses, target status), read from the registry.
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    a.name: (a.sources, a.target) for a in ACTIONS.values() if a.target is not None
}


def allowed(action: str, from_status: str) -> bool:
    """May a campaign in ``from_status`` take ``action``?"""
    sources, _target = TRANSITIONS[action]
    return from_status in sources


def target(action: str) -> str:
    return TRANSITIONS[action][1]


def transition(
    campaign: Campaign, action: str, *, actor=None, comment: str = "", extra: dict | None = None
) -> bool:
    """Move ``campaign`` along ``action`` if its *current database* status allows it.

    Returns False (and changes nothing) when another process got there first or
    the status does not allow the action. ``extra`` fields are written in the
    same UPDATE. On success ``campaign`` is updated in memory too.
    """
    sources, to_status = TRANSITIONS[action]
    from_status = campaign.status
    if from_status not in sources:
        return False
    fields = {"status": to_status, "updated_at": clock.now(), **(extra or {})}
    with transaction.atomic():
        # Leaving a sendable status: no new send permit from here on, and the
        # permits already given are waited for once this commits (barrier.py).
        barrier.close(campaign.pk, from_status, to_status)
        changed = Campaign.objects.filter(pk=campaign.pk, status=from_status).update(**fields)
        if changed != 1:
            return False
        CampaignEvent.objects.create(
            campaign=campaign,
            actor=actor,
            action=action,
            from_status=from_status,
            to_status=to_status,
            comment=comment,
        )
        webhook_events.campaign_status_changed(
            campaign, from_status=from_status, to_status=to_status, action=action, actor=actor
        )
    for name, value in fields.items():
        setattr(campaign, name, value)
    return True


def status_allows(action: str, status: str) -> bool:
    """Does a campaign in ``status`` allow ``action`` at all (before any other rule)?"""
    return status in ACTIONS[action].sources
