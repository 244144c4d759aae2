"""Operational email — approval notices, invitations — composed where it happens
and sent by the worker cluster (SPEC §5: nothing is sent inside a web request).

``send_later`` queues one task per recipient once the caller's transaction has
committed (a rolled-back request sends nothing); ``later`` queues a task that
composes its message in the worker (an invitation: its one-time link is then
never stored in the queue or in django-q2's results). A task raises when the mail
server refuses or is down, so django-q2 retries it (``Q_CLUSTER`` retry and
``max_attempts``) and keeps the failure in its admin once the attempts are spent.
"""

from __future__ import annotations

from django.core.mail import send_mail
from django.db import transaction

TASK = "accounts.mailer.deliver"


def send_later(*, subject: str, body: str, to: list[str]) -> int:
    """Queue ``subject``/``body`` to each address of ``to`` (one message each, so
    nobody sees another's address); the number of messages queued."""
    recipients = sorted({address for address in to if address})
    for address in recipients:
        later(TASK, subject, body, address)
    return len(recipients)


def later(task: str, *args) -> None:
    """Queue the mail task ``task`` (a dotted path) with ``args`` after commit."""
    transaction.on_commit(lambda: _enqueue(task, *args))


def _enqueue(task: str, *args) -> None:
    from django_q.tasks import async_task

    async_task(task, *args, task_name=f"mail {task.rsplit('.', 1)[-1]}", group="mail")


def deliver(subject: str, body: str, address: str) -> None:
    """The task: one message through ``EMAIL_URL``'s backend.

    The subject is one line: it carries names users type (a campaign's), and a
    line break in a header makes every attempt fail (``BadHeaderError``)."""
    subject = " ".join(subject.split())
    send_mail(subject, body, None, [address], fail_silently=False)
