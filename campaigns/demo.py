"""Demo campaigns in every status (called by `manage.py seed_demo`, idempotent by name).

Statuses that the worker normally reaches (scheduled, live, completed …) are
set through ``transition()`` — still the only writer of the status — without
enqueueing worker tasks, so seeding never sends anything by itself.
"""

from __future__ import annotations

from datetime import timedelta

from audiences.models import Audience
from campaigns import services
from campaigns.engine import clock
from campaigns.models import ApprovalRequest, Campaign, CampaignStatus
from campaigns.transitions import transition
from channels.models import ChannelConfiguration

S = CampaignStatus
HTML = (
    "<h1>Hello {{ profile.firstName | default('there') }}!</h1>"
    "<p>Our spring collection is here: tents, packs and boots for every trail.</p>"
    '<p><a href="https://volley.example/spring">Shop now</a></p>'
    '<p><small><a href="{{ unsubscribe_url }}">Unsubscribe</a></small></p>'
)
DAILY = {"frequency": "daily", "time": "09:00", "daysOfWeek": [], "dayOfMonth": None}
WEEKLY = {"frequency": "weekly", "time": "10:30", "daysOfWeek": [0, 3], "dayOfMonth": None}

# name → (target status, channel, extra version fields, tags)
DEMO = [
    ("Spring collection launch", S.DRAFT, "email", {}, ["spring"]),
    ("Summer sale teaser", S.IN_REVIEW, "email", {}, ["summer"]),
    ("Autumn catalogue", S.ACTIVATING, "email", {}, ["autumn"]),
    ("Black Friday early access", S.SCHEDULED, "email", {"start_in": 7}, ["promo"]),
    ("Weekly trail digest", S.LIVE, "email", {"recurrence": WEEKLY}, ["newsletter"]),
    ("Daily deal SMS", S.LIVE, "sms", {"recurrence": DAILY}, ["promo"]),
    ("App re-engagement push", S.STOPPED, "push", {"recurrence": DAILY}, []),
    ("Winter boots promo", S.COMPLETED, "email", {}, ["winter"]),
    ("Flash sale SMS", S.FAILED, "sms", {}, ["promo"]),
    ("Last year's newsletter", S.ARCHIVED, "email", {}, ["newsletter"]),
]
# The live recurring campaign that also has an open draft version (SPEC §3 "modify").
WITH_DRAFT_VERSION = "Weekly trail digest"
CONTENT = {
    "email": {
        "subject": "New gear for your next trail",
        "preheader": "Spring is here",
        "html": HTML,
    },
    "sms": {"text": "Volley Outdoor: -20% today on all packs. Reply STOP to opt out."},
    "push": {
        "title": "We miss you",
        "body": "Your saved trails are waiting.",
        "url": "https://volley.example/app",
    },
}
CHAINS = {
    S.DRAFT: [],
    S.IN_REVIEW: ["request_approval"],
    S.ACTIVATING: ["activate"],
    S.SCHEDULED: ["activate", "prepared_scheduled"],
    S.LIVE: ["activate", "prepared_live"],
    S.STOPPED: ["activate", "prepared_live", "stop"],
    S.COMPLETED: ["activate", "prepared_live", "complete"],
    S.FAILED: ["activate", "activation_failed"],
    S.ARCHIVED: ["activate", "prepared_live", "complete", "archive"],
}


def seed(*, users: dict, **kwargs) -> None:
    actor = users.get("manager") or next(iter(users.values()), None)
    approver = users.get("approver") or actor
    audience = Audience.objects.order_by("pk").first()
    now = clock.now()
    for name, status, channel, extra, tags in DEMO:
        if Campaign.objects.filter(name=name).exists():
            continue
        config = ChannelConfiguration.objects.filter(
            channel=channel, purpose="marketing", status="active"
        ).first()
        version_fields = {
            "channel_configuration": config,
            "audience": audience,
            "content": CONTENT[channel],
            "recurrence": extra.get("recurrence"),
        }
        if "start_in" in extra:
            version_fields["start_at"] = now + timedelta(days=extra["start_in"])
        campaign = services.campaign_create(
            actor=actor, name=name, channel=channel, tags=tags, **version_fields
        )
        _walk(campaign, status, actor, approver)
        if name == WITH_DRAFT_VERSION:
            services.campaign_modify(campaign=campaign, actor=approver)
            version = campaign.draft_version
            version.content = {**version.content, "subject": "Fresh trails this week"}
            version.save(update_fields=["content", "updated_at"])


def _walk(campaign: Campaign, status: str, actor, approver) -> None:
    for action in CHAINS[status]:
        extra = None
        if action == "activate":
            extra = {
                "live_version": campaign.draft_version,
                "draft_version": None,
                "activated_at": clock.now(),
            }
        elif action == "activation_failed":
            extra = {"failure_reason": "The SMS provider refused the sender number."}
        who = actor if action == "request_approval" else approver
        transition(campaign, action, actor=who, comment="demo", extra=extra)
        if action == "request_approval":
            # The approvals queue lists pending requests, not bare statuses.
            ApprovalRequest.objects.create(
                campaign=campaign,
                version=campaign.draft_version,
                policy=services.applicable_policy(campaign),
                requested_by=actor,
                message="Ready for a look: the summer teaser.",
            )
