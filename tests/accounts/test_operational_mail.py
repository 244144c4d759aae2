"""Operational email (approval notices, invitations) is sent by the worker
cluster, never inside the web request (SPEC §5; accounts/mailer.py)."""

from __future__ import annotations

import smtplib

import pytest
from django.contrib.auth.models import Group
from django.core import mail

from accounts import mailer
from accounts.roles import APPROVER, MANAGER
from campaigns import services
from campaigns.models import ApprovalPolicy
from tests.campaigns.lifecycle_helpers import ready_email
from tests.campaigns.test_engine_cluster import (  # noqa: F401  (fixtures)
    cluster_db,
    sink,
    start_cluster,
    wait_for,
)


def _request_with_two_approvers(make_user):
    author = make_user("author", MANAGER)
    make_user("approver1", APPROVER)
    make_user("approver2", APPROVER)
    policy = ApprovalPolicy.objects.create(name="p")
    policy.approver_groups.add(Group.objects.get(name=APPROVER))
    return author, ready_email(author)


@pytest.mark.real_mail_queue
@pytest.mark.django_db(transaction=True)
def test_an_approval_request_queues_the_emails_and_sends_none_itself(make_user, monkeypatch):
    monkeypatch.setattr("campaigns.engine.enqueue_activation", lambda pk: None)
    queued = []
    monkeypatch.setattr(
        "django_q.tasks.async_task", lambda func, *args, **kw: queued.append((func, *args))
    )
    author, campaign = _request_with_two_approvers(make_user)
    services.campaign_request_approval(campaign=campaign, actor=author, comment="please")
    assert mail.outbox == []
    assert sorted(args[3] for args in queued) == [
        "approver1@example.com",
        "approver2@example.com",
    ]
    assert {args[0] for args in queued} == {mailer.TASK}


@pytest.mark.real_mail_queue
@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_request_queues_nothing(monkeypatch):
    from django.db import transaction

    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *args, **kw: queued.append(args))
    with pytest.raises(RuntimeError), transaction.atomic():
        mailer.send_later(subject="s", body="b", to=["a@example.com"])
        raise RuntimeError
    assert queued == []


def test_the_task_raises_when_the_mail_server_is_down_so_the_cluster_retries(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    with pytest.raises((OSError, smtplib.SMTPException)):
        mailer.deliver("s", "b", "a@example.com")


@pytest.mark.cluster
@pytest.mark.django_db(transaction=True)
def test_approvers_emails_reach_the_smtp_sink_through_the_cluster(
    start_cluster,  # noqa: F811
    sink,  # noqa: F811
    make_user,
    monkeypatch,
):
    monkeypatch.setattr("campaigns.engine.enqueue_activation", lambda pk: None)
    author, campaign = _request_with_two_approvers(make_user)
    services.campaign_request_approval(campaign=campaign, actor=author, comment="please")
    assert sink.received() == []
    start_cluster()
    wait_for(lambda: len(sink.received()) >= 2, 120, "the approvers' emails")
    assert sorted(sink.received()) == ["approver1@example.com", "approver2@example.com"]
