"""Words for codes stored on campaigns: history events, as people read them."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns.models import CampaignStatus

# Event ``action`` codes written by campaigns.transitions and campaigns.services.
EVENT_LABELS = {
    "create": gettext_lazy("Created"),
    "edit": gettext_lazy("Edited"),
    "duplicate": gettext_lazy("Duplicated"),
    "modify": gettext_lazy("Opened a draft version"),
    "activate": gettext_lazy("Activated"),
    "request_approval": gettext_lazy("Requested approval"),
    "approve": gettext_lazy("Approved"),
    "request_changes": gettext_lazy("Requested changes"),
    "cancel_approval": gettext_lazy("Cancelled the approval request"),
    "prepared_scheduled": gettext_lazy("Prepared and scheduled"),
    "prepared_live": gettext_lazy("Prepared and live"),
    "activation_failed": gettext_lazy("Activation failed"),
    "start": gettext_lazy("Started"),
    "complete": gettext_lazy("Completed"),
    "stop": gettext_lazy("Stopped"),
    "archive": gettext_lazy("Archived"),
    "version_activated": gettext_lazy("Activated the draft version"),
    "version_approval_requested": gettext_lazy("Requested approval of the draft version"),
    "version_approved": gettext_lazy("Approved the draft version"),
    "version_request_changes": gettext_lazy("Requested changes to the draft version"),
    "version_cancel_approval": gettext_lazy("Cancelled the draft version's approval request"),
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
