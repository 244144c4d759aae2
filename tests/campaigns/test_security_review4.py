"""Fourth outside review of issue 10 (docs/security-review-4.md): each test
reproduced its finding on the code before the fix."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from campaigns import services
from channels import rendering
from tests.campaigns.lifecycle_helpers import GOOD_HTML, audience, email_config
from tests.campaigns.test_security_review3 import _record_deadlines

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_worker")]


def _variants(count: int) -> dict:
    return {
        "variants": [
            {
                "name": f"V{i}",
                "weight": 1,
                "content": {
                    "subject": "{{ 'a'|upper }}",
                    "translations": {"fr": {"subject": "{{ 'b'|upper }}"}},
                },
            }
            for i in range(count)
        ]
    }


@pytest.mark.parametrize("create", [False, True])
def test_one_wall_time_budget_covers_every_experiment_variant(manager, monkeypatch, create):
    """Medium: the content's save-time check had one 5 s budget, then each of
    an experiment's 5 variants got its own: one PATCH (or POST) of a campaign
    held a web worker for 6 × 5 s of CPU."""
    fields = {
        "channel_configuration": email_config(),
        "audience": audience(),
        "content": {"subject": "Hi", "html": GOOD_HTML, "text": "Hi"},
    }
    campaign = None if create else services.campaign_create(actor=manager, name="A/B", **fields)
    started, deadlines = _record_deadlines(monkeypatch)
    try:
        if create:
            services.campaign_create(actor=manager, name="A/B", experiment=_variants(5), **fields)
        else:
            services.campaign_update(campaign=campaign, actor=manager, experiment=_variants(5))
    except (ValidationError, rendering.RenderError):
        pass  # out of time: refused, which is the point
    assert len(deadlines) >= 6  # the content and each variant were checked
    assert max(deadlines) <= started[0] + rendering.MAX_SECONDS + 1
