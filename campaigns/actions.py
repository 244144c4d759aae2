"""Every campaign action, once (SPEC §2, §3).

Each entry says, for one action: its name and API slug, the statuses it starts
from and the status it leads to, the permission a role needs, the service that
performs it, the words a page shows, and the API's answer code. The transition
table (``campaigns.transitions``), the permission vocabulary
(``accounts.permissions``), the selectors, the pages, the API and the admin all
read this module; nothing else lists actions. A new action is one entry here
(and its service).

``who`` and ``offered`` are the two rules that are more than a status and a role:
approval decisions belong to the policy's approvers, and "activate" also
applies to the open draft version of a running campaign.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts import permissions
from campaigns.models import ApprovalRequest, Campaign, CampaignStatus

S = CampaignStatus
RUNNING = frozenset({S.LIVE, S.SCHEDULED})
ALL = frozenset(S.values)


# --- who may: (user, campaign, pending request) → bool ---------------------


def by_role(action: CampaignAction, user, campaign: Campaign, request) -> bool:
    """The role (and, when restricted, the object grant) allows it."""
    return permissions.can(user, action.permission_name, campaign)


def by_approver(action: CampaignAction, user, campaign: Campaign, request) -> bool:
    """The request's approvers decide a pending request (a policy may name people
    who hold no approver role); without a request the role decides (the service
    then answers 409)."""
    from campaigns.services import may_decide

    if request is not None:
        return may_decide(user, request)
    return by_role(action, user, campaign, request)


def by_requester_or_approver(action: CampaignAction, user, campaign: Campaign, request) -> bool:
    """Only the requester, the request's approvers and administrators withdraw it."""
    from campaigns.services import may_cancel

    if request is not None:
        return may_cancel(user, request)
    return by_role(action, user, campaign, request)


# --- when it is offered: (action, campaign, pending request) → bool -----------


def in_source_status(action: CampaignAction, campaign: Campaign, request) -> bool:
    return campaign.status in action.sources


def draft_or_draft_version(action: CampaignAction, campaign: Campaign, request) -> bool:
    """A draft, or the open draft version of a running campaign, not waiting for approval."""
    if request is not None:
        return False
    return campaign.status == S.DRAFT or (
        campaign.status in RUNNING and campaign.draft_version_id is not None
    )


def pending_request(action: CampaignAction, campaign: Campaign, request) -> bool:
    return request is not None


def running_without_draft_version(action: CampaignAction, campaign: Campaign, request) -> bool:
    return campaign.status in RUNNING and campaign.draft_version_id is None


@dataclass(frozen=True)
class CampaignAction:
    name: str
    sources: frozenset[str]
    # The status the action leads to; None when the status does not change.
    target: str | None = None
    # The model permission a role needs; "" for the worker's own transitions.
    permission: str = ""
    # The function in ``campaigns.services`` that performs it (named, not
    # imported: the services import the transition table built from here).
    service: str = ""
    label: str | Promise = ""
    done: str | Promise = ""
    logged: str | Promise = ""  # how the campaign's history reads its event
    # What the page says instead when the action replaced a live version.
    label_for_version: str | Promise = ""
    done_for_version: str | Promise = ""
    http_status: int = 200  # 202 when the worker continues
    http_method: str = "POST"
    takes_comment: bool = True
    # The page shown afterwards: the campaign, its edit page (of the copy), or the list.
    then: str = "detail"
    # Offered on the campaign page and in the API (not: edit, the worker's transitions).
    user_action: bool = True
    who: Callable[..., bool] = by_role
    offered: Callable[..., bool] = in_source_status

    @property
    def slug(self) -> str:
        """The API's spelling: ``request-approval``."""
        return self.name.replace("_", "-")

    @property
    def permission_name(self) -> str:
        """The name ``accounts.permissions.can`` knows it by."""
        return f"campaign.{self.name}"

    def allows(self, user, campaign: Campaign, request: ApprovalRequest | None) -> bool:
        return self.who(self, user, campaign, request)

    def is_offered(self, campaign: Campaign, request: ApprovalRequest | None) -> bool:
        return self.offered(self, campaign, request)

    def run(self, *, campaign: Campaign, actor, comment: str = "") -> Any:
        """Perform the action through its service (which enforces every rule)."""
        func = getattr(import_module("campaigns.services"), self.service)
        if self.takes_comment:
            return func(campaign=campaign, actor=actor, comment=comment)
        return func(campaign=campaign, actor=actor)


# What the actions on a draft share (also offered on a running campaign's open
# draft version), and what the decisions on a pending approval request share.
ON_DRAFT = {"sources": frozenset({S.DRAFT}), "offered": draft_or_draft_version}
ON_REQUEST = {"sources": frozenset({S.IN_REVIEW}), "offered": pending_request}
# Actions that open a draft to edit (the new version, or the copy): no comment.
OPENS_EDITOR = {"takes_comment": False, "then": "edit"}

_ENTRIES = [
    # The user actions, in the order the pages offer them.
    CampaignAction(
        "activate",
        **ON_DRAFT,
        target=S.ACTIVATING,
        permission="campaigns.publish_campaign",
        service="campaign_activate",
        label=_("Activate"),
        logged=_("Activated"),
        done=_("Activation started: the campaign is being prepared."),
        label_for_version=_("Activate draft version"),
        done_for_version=_("The draft version has replaced the live one."),
        http_status=202,
    ),
    CampaignAction(
        "request_approval",
        **ON_DRAFT,
        target=S.IN_REVIEW,
        permission="campaigns.request_approval_campaign",
        service="campaign_request_approval",
        label=_("Request approval"),
        logged=_("Requested approval"),
        done=_("Approval requested."),
        label_for_version=_("Request approval of the draft version"),
    ),
    CampaignAction(
        "approve",
        **ON_REQUEST,
        target=S.ACTIVATING,
        permission="campaigns.approve_campaign",
        service="campaign_approve",
        label=_("Approve"),
        logged=_("Approved"),
        done=_("Approved: activation started."),
        done_for_version=_("The draft version has replaced the live one."),
        http_status=202,
        who=by_approver,
    ),
    CampaignAction(
        "request_changes",
        **ON_REQUEST,
        target=S.DRAFT,
        permission="campaigns.approve_campaign",
        service="campaign_request_changes",
        label=_("Request changes"),
        logged=_("Requested changes"),
        done=_("Changes requested: the campaign is a draft again."),
        who=by_approver,
    ),
    CampaignAction(
        "cancel_approval",
        **ON_REQUEST,
        target=S.DRAFT,
        permission="campaigns.request_approval_campaign",
        service="campaign_cancel_approval",
        label=_("Cancel approval request"),
        logged=_("Cancelled the approval request"),
        done=_("Approval request cancelled."),
        who=by_requester_or_approver,
    ),
    CampaignAction(
        # "modify" on a one-shot campaign duplicates it instead (SPEC §3).
        "modify",
        sources=RUNNING,
        permission="campaigns.change_campaign",
        service="campaign_modify",
        label=_("Modify"),
        logged=_("Opened a draft version"),
        done=_("A draft version is open beside the live one."),
        **OPENS_EDITOR,
        offered=running_without_draft_version,
    ),
    CampaignAction(
        "duplicate",
        sources=ALL,
        permission="campaigns.add_campaign",
        service="campaign_duplicate",
        # A verb here, a noun as an exclusion reason (Delivery.Reason): two words in French.
        label=pgettext_lazy("campaign action", "Duplicate"),
        logged=_("Duplicated"),
        done=_("A copy was created as a draft."),
        **OPENS_EDITOR,
    ),
    CampaignAction(
        "stop",
        sources=RUNNING,
        target=S.STOPPED,
        permission="campaigns.publish_campaign",
        service="campaign_stop",
        label=_("Stop"),
        logged=_("Stopped"),
        done=_("Campaign stopped."),
    ),
    CampaignAction(
        "archive",
        sources=ALL - {S.DRAFT, S.ARCHIVED},
        target=S.ARCHIVED,
        permission="campaigns.publish_campaign",
        service="campaign_archive",
        label=_("Archive"),
        logged=_("Archived"),
        done=_("Campaign archived."),
    ),
    CampaignAction(
        "delete",
        sources=frozenset({S.DRAFT}),
        permission="campaigns.delete_campaign",
        service="campaign_delete",
        label=_("Delete"),
        done=_("Campaign deleted."),
        http_status=204,
        http_method="DELETE",
        takes_comment=False,
        then="list",
    ),
    # Editing has its own page and PATCH; it is here for its status and permission.
    CampaignAction(
        "edit",
        sources=frozenset({S.DRAFT}),
        permission="campaigns.change_campaign",
        service="campaign_update",
        label=_("Edit"),
        logged=_("Edited"),
        user_action=False,
    ),
    # The worker's transitions: no user, no permission.
    *(
        CampaignAction(
            name, sources=frozenset({source}), target=target, logged=logged, user_action=False
        )
        for name, source, target, logged in [
            ("prepared_scheduled", S.ACTIVATING, S.SCHEDULED, _("Prepared and scheduled")),
            ("prepared_live", S.ACTIVATING, S.LIVE, _("Prepared and live")),
            ("activation_failed", S.ACTIVATING, S.FAILED, _("Activation failed")),
            ("start", S.SCHEDULED, S.LIVE, _("Started")),
            ("complete", S.LIVE, S.COMPLETED, _("Completed")),
        ]
    ),
]

ACTIONS: dict[str, CampaignAction] = {action.name: action for action in _ENTRIES}
USER_ACTIONS: dict[str, CampaignAction] = {a.name: a for a in _ENTRIES if a.user_action}
BY_SLUG: dict[str, CampaignAction] = {a.slug: a for a in USER_ACTIONS.values()}

# The permission vocabulary learns each action's permission here, so that
# accounts (which knows nothing of campaigns) answers ``can(user, "campaign.stop")``.
permissions.register({a.permission_name: a.permission for a in ACTIONS.values() if a.permission})
