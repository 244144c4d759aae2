"""The campaign state machine (SPEC §3): one table, one pure check, one writer.

``transition()`` is the only code that writes ``Campaign.status``. It is a
compare-and-set (``UPDATE … WHERE status = <from>``), so two simultaneous
activations cannot both succeed, and it records a ``CampaignEvent``.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from campaigns.engine.gate import close_for_batches
from campaigns.models import Campaign, CampaignEvent, CampaignStatus

S = CampaignStatus

# action → (allowed source statuses, target status)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "activate": (frozenset({S.DRAFT}), S.ACTIVATING),
    "request_approval": (frozenset({S.DRAFT}), S.IN_REVIEW),
    "approve": (frozenset({S.IN_REVIEW}), S.ACTIVATING),
    "request_changes": (frozenset({S.IN_REVIEW}), S.DRAFT),
    "cancel_approval": (frozenset({S.IN_REVIEW}), S.DRAFT),
    "prepared_scheduled": (frozenset({S.ACTIVATING}), S.SCHEDULED),
    "prepared_live": (frozenset({S.ACTIVATING}), S.LIVE),
    "activation_failed": (frozenset({S.ACTIVATING}), S.FAILED),
    "start": (frozenset({S.SCHEDULED}), S.LIVE),
    "complete": (frozenset({S.LIVE}), S.COMPLETED),
    "stop": (frozenset({S.SCHEDULED, S.LIVE}), S.STOPPED),
    "archive": (frozenset(set(S.values) - {S.DRAFT, S.ARCHIVED}), S.ARCHIVED),
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
    fields = {"status": to_status, "updated_at": timezone.now(), **(extra or {})}
    with transaction.atomic():
        # Leaving a sendable status waits for the batches in flight (gate.py).
        close_for_batches(campaign.pk, from_status, to_status)
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
    for name, value in fields.items():
        setattr(campaign, name, value)
    return True


# Actions that never change the status, and the statuses that allow them. Kept
# beside TRANSITIONS so that "what may happen to a campaign in status X" has a
# single answer for the pages, the API and the tests.
STATUS_ACTIONS: dict[str, frozenset[str]] = {
    "edit": frozenset({S.DRAFT}),
    "delete": frozenset({S.DRAFT}),
    "duplicate": frozenset(S.values),
    # "modify" on a one-shot campaign duplicates it instead (SPEC §3).
    "modify": frozenset({S.LIVE, S.SCHEDULED}),
}

# The user-facing actions in the order the pages offer them (API spelling
# uses hyphens: request-approval …).
USER_ACTIONS = [
    "activate",
    "request_approval",
    "approve",
    "request_changes",
    "cancel_approval",
    "modify",
    "duplicate",
    "stop",
    "archive",
    "delete",
]


def status_allows(action: str, status: str) -> bool:
    """Does a campaign in ``status`` allow ``action`` at all (before any other rule)?"""
    if action in TRANSITIONS:
        return allowed(action, status)
    return status in STATUS_ACTIONS[action]
