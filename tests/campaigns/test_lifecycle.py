"""The transition table of SPEC §3, pair by pair, through the services."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from campaigns import services
from campaigns.models import ApprovalRequest, Campaign, CampaignEvent, CampaignStatus
from tests.campaigns.lifecycle_helpers import force_status, ready_email

S = CampaignStatus
ACTIONS = [
    "activate",
    "request_approval",
    "approve",
    "request_changes",
    "cancel_approval",
    "stop",
    "archive",
    "delete",
    "duplicate",
    "modify",
]
# (action → statuses that allow it); everything else must be refused unchanged.
ALLOWED = {
    "activate": {S.DRAFT},
    "request_approval": {S.DRAFT},
    "approve": {S.IN_REVIEW},
    "request_changes": {S.IN_REVIEW},
    "cancel_approval": {S.IN_REVIEW},
    "stop": {S.SCHEDULED, S.LIVE},
    "archive": set(S.values) - {S.DRAFT, S.ARCHIVED},
    "delete": {S.DRAFT},
    "duplicate": set(S.values),
    "modify": {S.SCHEDULED, S.LIVE},
}
EXPECTED_STATUS = {
    "activate": S.ACTIVATING,
    "request_approval": S.IN_REVIEW,
    "approve": S.ACTIVATING,
    "request_changes": S.DRAFT,
    "cancel_approval": S.DRAFT,
    "stop": S.STOPPED,
    "archive": S.ARCHIVED,
}


def _call(action: str, campaign: Campaign, actor):
    func = getattr(services, f"campaign_{action}")
    if action in ("delete", "duplicate", "modify"):
        return func(campaign=campaign, actor=actor)
    return func(campaign=campaign, actor=actor, comment="why not")


def _setup(status: str, requester, recurring=True) -> Campaign:
    campaign = ready_email(requester)
    force_status(campaign, status, recurring=recurring)
    if status == S.IN_REVIEW:
        ApprovalRequest.objects.create(
            campaign=campaign, version=campaign.draft_version, requested_by=requester
        )
    return campaign


@pytest.mark.parametrize("status", S.values)
@pytest.mark.parametrize("action", ACTIONS)
def test_transition_table(action, status, make_user, django_capture_on_commit_callbacks):
    requester = make_user("req")
    boss = make_user("boss", superuser=True)
    campaign = _setup(status, requester)
    events_before = CampaignEvent.objects.filter(campaign=campaign).count()
    if status in ALLOWED[action]:
        result = _call(action, campaign, boss)
        if action == "delete":
            assert not Campaign.objects.filter(pk=campaign.pk).exists()
            return
        campaign.refresh_from_db()
        if action == "duplicate":
            assert result.pk != campaign.pk and result.status == S.DRAFT
            assert campaign.status == status
        elif action == "modify":
            assert campaign.status == status and campaign.draft_version_id is not None
            assert campaign.draft_version_id != campaign.live_version_id
        else:
            assert campaign.status == EXPECTED_STATUS[action]
            event = CampaignEvent.objects.filter(campaign=campaign).first()
            assert (event.from_status, event.to_status, event.actor) == (
                status,
                EXPECTED_STATUS[action],
                boss,
            )
            assert event.comment == "why not"
    else:
        snapshot = Campaign.objects.filter(pk=campaign.pk).values().get()
        campaign_count = Campaign.objects.count()
        with pytest.raises(services.ActionRefused) as refused:
            _call(action, campaign, boss)
        assert status in refused.value.message
        assert Campaign.objects.filter(pk=campaign.pk).values().get() == snapshot
        assert Campaign.objects.count() == campaign_count
        assert CampaignEvent.objects.filter(campaign=campaign).count() == events_before


def test_activate_enqueues_the_worker_after_commit(
    manager, django_capture_on_commit_callbacks, monkeypatch
):
    calls = []
    monkeypatch.setattr("campaigns.engine.enqueue_activation", calls.append)
    campaign = ready_email(manager)
    draft = campaign.draft_version
    with django_capture_on_commit_callbacks(execute=True):
        services.campaign_activate(campaign=campaign, actor=manager)
    assert calls == [campaign.pk]
    campaign.refresh_from_db()
    assert campaign.status == S.ACTIVATING
    assert (campaign.live_version_id, campaign.draft_version_id) == (draft.pk, None)


def test_refused_activation_names_the_current_status(manager):
    campaign = _setup(S.LIVE, manager, recurring=False)
    with pytest.raises(services.ActionRefused, match="live"):
        services.campaign_activate(campaign=campaign, actor=manager)


def test_stale_copy_cannot_activate_twice(manager, no_worker):
    campaign = ready_email(manager)
    stale = Campaign.objects.get(pk=campaign.pk)
    services.campaign_activate(campaign=campaign, actor=manager)
    with pytest.raises(services.ActionRefused, match="activating"):
        services.campaign_activate(campaign=stale, actor=manager)
    assert CampaignEvent.objects.filter(campaign=campaign, action="activate").count() == 1


def test_stop_cancels_engine_work_in_the_same_transaction(manager, monkeypatch):
    seen = []
    monkeypatch.setattr("campaigns.engine.cancel_campaign_work", lambda c: seen.append(c.status))
    campaign = _setup(S.LIVE, manager)
    services.campaign_stop(campaign=campaign, actor=manager)
    assert seen == [S.STOPPED]


def test_stopped_is_final(manager):
    campaign = _setup(S.STOPPED, manager)
    for action in ("activate", "stop", "modify"):
        with pytest.raises(services.ActionRefused):
            _call(action, campaign, manager)


def test_only_drafts_can_be_deleted_and_delete_removes_versions(manager):
    campaign = ready_email(manager)
    services.campaign_delete(campaign=campaign, actor=manager)
    assert not Campaign.objects.exists()


def test_review_errors_block_activation(manager):
    campaign = ready_email(manager, content={"subject": "", "html": "<p>x</p>"})
    with pytest.raises(services.ActionRefused) as refused:
        services.campaign_activate(campaign=campaign, actor=manager)
    assert refused.value.code == "review_failed"
    assert "missing_subject" in refused.value.errors
    campaign.refresh_from_db()
    assert campaign.status == S.DRAFT


def test_self_approval_is_blocked_by_policy(make_user, no_worker):
    from campaigns.models import ApprovalPolicy

    boss = make_user("boss", superuser=True)
    ApprovalPolicy.objects.create(name="All", block_self_approval=True)
    campaign = ready_email(boss)
    services.campaign_request_approval(campaign=campaign, actor=boss, comment="please")
    with pytest.raises(PermissionDenied):
        services.campaign_approve(campaign=campaign, actor=boss)
    campaign.refresh_from_db()
    assert campaign.status == S.IN_REVIEW
