"""A campaign activated from the UI is delivered to the SMTP sink and its progress shows."""

from __future__ import annotations

import pytest
from django_q.conf import Conf

from campaigns.models import Run
from tests.campaigns.conftest import make_profiles, upload_audience
from tests.campaigns.lifecycle_helpers import ready_email

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def inline_cluster(monkeypatch):
    """django-q2's sync mode: each enqueued task runs at once, in this process."""
    monkeypatch.setattr(Conf, "SYNC", True)


def test_activated_from_the_ui_reaches_the_sink_with_progress(
    login, approver, sink, inline_cluster
):
    profiles = make_profiles(12)
    campaign = ready_email(approver, audience=upload_audience(profiles))
    client = login(approver)

    response = client.post(f"/campaigns/{campaign.pk}/actions/activate/")

    assert response.status_code in (200, 302)
    campaign.refresh_from_db()
    assert campaign.status == "live"
    assert sink.counts() == {p.email: 1 for p in profiles}
    run = Run.objects.get(campaign=campaign)
    assert (run.status, run.sent) == ("completed", 12)
    report = client.get(f"/campaigns/{campaign.pk}/report/").content.decode()
    assert 'id="sent">12<' in report
