"""Per-person hourly quotas for what a person sends or announces by asking.

A proof, a configuration's test message or an approval request each makes
Volley send email (or an SMS, a push) at a person's word, to addresses they
type or to every approver. None is a campaign: none passes the approval, the
business rules or a configuration's rate limit. Each is small (at most ten
addresses a proof), but without a bound a manager's script could repeat it
all day. Each person gets ``limit`` a clock hour, counted in the same shared
counter as the API's per-key limit (``accounts.ratelimit``: Redis, or a locked
file on the embedded default), so every web process sees one count.

A refused request counts nothing: what it asked for is given back.
"""

from __future__ import annotations

import time

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts import ratelimit
from config.problems import DomainError

WINDOW = 3600


class QuotaExceeded(DomainError):
    """The person's hourly quota is spent (API 429 with ``Retry-After``)."""

    status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after)}


def spend(user, kind: str, amount: int, limit: int, *, what) -> None:
    """Count ``amount`` against ``user``'s hourly ``limit`` for ``kind`` or raise
    ``QuotaExceeded``. ``what(limit)`` words the refusal ("%d proofs an hour").
    A limit of 0 is no limit; a request without a person is not counted."""
    if limit <= 0 or amount <= 0 or not getattr(user, "pk", None):
        return
    now = time.time()
    window = int(now // WINDOW)
    name = f"quota:{kind}:{user.pk}"
    count = ratelimit.hit(name, window, amount=amount, ttl=WINDOW + 120)
    if count <= limit:
        return
    ratelimit.hit(name, window, amount=-amount, ttl=WINDOW + 120)  # give it back
    wait = max(1, int((window + 1) * WINDOW - now) + 1)
    minutes = max(1, -(-wait // 60))
    raise QuotaExceeded(
        _("%(limit)s; try again in %(minutes)s.")
        % {
            "limit": what(limit),
            "minutes": ngettext("%(n)d minute", "%(n)d minutes", minutes) % {"n": minutes},
        },
        retry_after=wait,
    )


def proofs(user, amount: int) -> None:
    """Proofs and test messages: ``PROOFS_PER_HOUR`` messages a person."""
    from django.conf import settings

    spend(
        user,
        "proofs",
        amount,
        settings.PROOFS_PER_HOUR,
        what=lambda n: (
            ngettext(
                "You may send %(n)d proof or test message an hour",
                "You may send %(n)d proofs and test messages an hour",
                n,
            )
            % {"n": n}
        ),
    )


def approval_requests(user) -> None:
    """Approval requests (each emails every approver): ``APPROVAL_REQUESTS_PER_HOUR``."""
    from django.conf import settings

    spend(
        user,
        "approval-requests",
        1,
        settings.APPROVAL_REQUESTS_PER_HOUR,
        what=lambda n: (
            ngettext(
                "You may ask for approval %(n)d time an hour",
                "You may ask for approval %(n)d times an hour",
                n,
            )
            % {"n": n}
        ),
    )
