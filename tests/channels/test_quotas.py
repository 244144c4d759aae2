"""Per-person hourly quotas (accounts/quotas.py): proofs, test messages and
approval requests make Volley send at one person's word, outside any campaign's
approval, business rules or rate limit; each person gets so many an hour.

The count is the shared one of the API's per-key limit (Redis under
``REDIS_URL``, a locked file on the embedded default): these tests run on both.
A refused request writes nothing and counts nothing."""

from __future__ import annotations

import pytest
from django.core import mail

from accounts import quotas
from accounts.roles import APPROVER, MANAGER
from campaigns.models import ApprovalRequest, CampaignStatus, Proof
from channels.models import TestMessage
from tests.campaigns.lifecycle_helpers import ready_email

PROBLEM = "application/problem+json"


@pytest.fixture
def no_worker(monkeypatch):
    monkeypatch.setattr("campaigns.engine.enqueue_proof", lambda pk: None)
    monkeypatch.setattr("campaigns.engine.enqueue_activation", lambda pk: None)


def too_many(response) -> dict:
    assert response.status_code == 429, response.content
    assert response["Content-Type"].startswith(PROBLEM)
    assert 1 <= int(response["Retry-After"]) <= 3601
    return response.json()


def test_proofs_stop_at_the_hourly_quota_and_a_refusal_counts_nothing(
    settings, api_for, manager, make_user, no_worker
):
    settings.PROOFS_PER_HOUR = 3
    campaign = ready_email(manager)
    api = api_for(manager)
    url = f"/campaigns/{campaign.pk}/proofs"
    assert api.post(url, {"recipients": ["a@example.com", "b@example.com"]}).status_code == 202
    body = too_many(api.post(url, {"recipients": ["c@example.com", "d@example.com"]}))
    assert "3 proofs and test messages an hour" in body["detail"]
    assert Proof.objects.count() == 2  # nothing of the refused request was written
    # The refused two were given back: one more fits, then none.
    assert api.post(url, {"recipients": ["c@example.com"]}).status_code == 202
    too_many(api.post(url, {"recipients": ["e@example.com"]}))
    # The quota is the person's: another manager still has theirs.
    other = make_user("other", MANAGER)
    mine = ready_email(other, name="Other")
    assert api_for(other).post(f"/campaigns/{mine.pk}/proofs", {"recipients": ["x@example.com"]})
    assert Proof.objects.count() == 4


def test_the_campaign_page_says_the_quota_is_spent(settings, login, manager, no_worker):
    settings.PROOFS_PER_HOUR = 1
    campaign = ready_email(manager)
    client = login(manager)
    url = f"/campaigns/{campaign.pk}/proofs/"
    assert client.post(url, {"recipients": "a@example.com"}).status_code == 302
    response = client.post(url, {"recipients": "b@example.com"})
    assert response.status_code == 429
    assert "1 proof or test message an hour" in response.content.decode()
    assert list(Proof.objects.values_list("address", flat=True)) == ["a@example.com"]


def test_retrying_a_failed_proof_counts_and_stays_failed_when_refused(
    settings, api_for, manager, no_worker
):
    settings.PROOFS_PER_HOUR = 1
    campaign = ready_email(manager)
    api = api_for(manager)
    assert api.post(f"/campaigns/{campaign.pk}/proofs", {"recipients": ["a@example.com"]})
    proof = Proof.objects.get()
    Proof.objects.filter(pk=proof.pk).update(status="failed", error="550")
    too_many(api.post(f"/campaigns/{campaign.pk}/proofs/{proof.pk}/retry"))
    proof.refresh_from_db()
    assert proof.status == "failed"  # the retry was rolled back


def test_test_messages_share_the_proof_quota(settings, api_for, administrator, make_config):
    settings.PROOFS_PER_HOUR = 2
    config = make_config("email")
    api = api_for(administrator)
    url = f"/channel-configurations/{config.pk}/test-message"
    content = {"subject": "Hi", "html": "<p>Hi</p>"}
    answer = api.post(url, {"content": content, "recipients": ["a@example.com", "b@example.com"]})
    assert answer.status_code == 202, answer.content
    too_many(api.post(url, {"content": content, "recipients": ["c@example.com"]}))
    assert TestMessage.objects.count() == 1
    # A preview sends nothing and counts nothing.
    assert api.post(url, {"content": content}).status_code == 200


def test_the_test_page_shows_the_refusal(settings, login, administrator, make_config):
    settings.PROOFS_PER_HOUR = 1
    config = make_config("email")
    client = login(administrator)
    form = {
        "category": "marketing",
        "content_subject": "Hi",
        "content_html": "<p>Hi</p>",
        "recipients": "a@example.com, b@example.com",
        "action": "send",
    }
    page = client.post(f"/channels/{config.pk}/test/", form).content.decode()
    assert "1 proof or test message an hour" in page
    assert not TestMessage.objects.exists()


def test_approval_requests_stop_at_the_hourly_quota(
    settings, api_for, make_user, no_worker, mailoutbox
):
    settings.APPROVAL_REQUESTS_PER_HOUR = 1
    author = make_user("author", MANAGER, email="author@example.com")
    make_user("checker", APPROVER, email="checker@example.com")
    campaign = ready_email(author)
    api = api_for(author)
    assert api.post(f"/campaigns/{campaign.pk}/request-approval").status_code == 200
    assert api.post(f"/campaigns/{campaign.pk}/cancel-approval").status_code == 200
    mail.outbox.clear()
    body = too_many(api.post(f"/campaigns/{campaign.pk}/request-approval"))
    assert "approval 1 time an hour" in body["detail"]
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT  # rolled back: still a draft
    assert ApprovalRequest.objects.filter(status="pending").count() == 0
    assert mail.outbox == []  # no approver was emailed again


def test_the_campaign_page_shows_the_approval_refusal(settings, login, make_user, no_worker):
    settings.APPROVAL_REQUESTS_PER_HOUR = 2
    author = make_user("author", MANAGER)
    campaign = ready_email(author)
    client = login(author)
    for _ in range(2):
        client.post(f"/campaigns/{campaign.pk}/actions/request_approval/")
        client.post(f"/campaigns/{campaign.pk}/actions/cancel_approval/")
    assert ApprovalRequest.objects.count() == 2
    response = client.post(f"/campaigns/{campaign.pk}/actions/request_approval/", follow=True)
    assert "approval 2 times an hour" in response.content.decode()
    assert ApprovalRequest.objects.count() == 2
    settings.APPROVAL_REQUESTS_PER_HOUR = 0  # no limit
    client.post(f"/campaigns/{campaign.pk}/actions/request_approval/")
    assert ApprovalRequest.objects.filter(status="pending").count() == 1


def test_a_request_without_a_person_and_a_zero_limit_are_not_counted(db):
    quotas.spend(None, "proofs", 5, 1, what=str)  # scripts without a person
    quotas.spend(type("U", (), {"pk": 7})(), "proofs", 5, 0, what=str)  # 0: no limit
    with pytest.raises(quotas.QuotaExceeded):
        quotas.spend(type("U", (), {"pk": 7})(), "proofs", 5, 4, what=str)
