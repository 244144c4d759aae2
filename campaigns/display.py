"""Words for codes stored on campaigns: history events, as people read them."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns.actions import ACTIONS
from campaigns.models import CampaignStatus

# Event ``action`` codes: each action's own words (campaigns.actions), and the
# events of the services that are not actions of their own.
EVENT_LABELS = {
    **{a.name: a.logged for a in ACTIONS.values() if a.logged},
    "create": gettext_lazy("Created"),
    "version_activated": gettext_lazy("Activated the draft version"),
    "version_approval_requested": gettext_lazy("Requested approval of the draft version"),
    "version_approved": gettext_lazy("Approved the draft version"),
    "version_request_changes": gettext_lazy("Requested changes to the draft version"),
    "version_cancel_approval": gettext_lazy("Cancelled the draft version's approval request"),
    "exempt_from_rules": gettext_lazy("Exempted from the business rules"),
    "subject_to_rules": gettext_lazy("Made subject to the business rules again"),
    "experiment_winner": gettext_lazy("Picked the A/B test's winner"),
}


def describe_event(event) -> str:
    """``Requested approval (Draft → In review)``; an unknown code is shown as it is."""
    label = str(EVENT_LABELS.get(event.action, event.action.replace("_", " ")))
    if event.from_status and event.to_status and event.from_status != event.to_status:
        statuses = dict(CampaignStatus.choices)
        return _("%(action)s (%(from)s → %(to)s)") % {
            "action": label,
            "from": statuses.get(event.from_status, event.from_status),
            "to": statuses.get(event.to_status, event.to_status),
        }
    return label
