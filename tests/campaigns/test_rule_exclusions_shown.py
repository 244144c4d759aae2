"""Issue 16 #5: the campaign list and the report show what each business rule
held back (frequency cap, quiet hours) beside the other exclusions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from campaigns.models import Campaign
from campaigns.reports import campaign_report, exclusion_counts
from tests.campaigns.conftest import make_profiles, upload_audience
from tests.campaigns.test_business_rules_engine import cap_rule, quiet_rule, send

pytestmark = pytest.mark.django_db(transaction=True)

# 12:00 UTC: 14:00 in Paris, 21:00 in Tokyo (inside the quiet hours 21:00–08:00).
NOON = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_list_and_report_split_the_rules_reasons(queued, fake_transport, login, viewer):
    cap_rule()
    quiet_rule(action="skip")
    paris = make_profiles(3, prefix="par", timezone="Europe/Paris")
    tokyo = make_profiles(2, prefix="tok", timezone="Asia/Tokyo")
    refused = make_profiles(1, prefix="nc", consent=False, timezone="Europe/Paris")
    audience = upload_audience(paris + tokyo + refused)
    with time_machine.travel(NOON, tick=False):
        send(audience)  # Paris gets it; Tokyo skipped for the night
        second = send(audience)  # Paris capped; Tokyo skipped again
    Campaign.objects.filter(pk=second.campaign.pk).update(name="Second")

    assert campaign_report(second.campaign)["excluded"] == {
        "frequency_cap": 3,
        "quiet_hours": 2,
        "no_consent": 1,
    }
    assert exclusion_counts([second.campaign.pk])[second.campaign.pk] == (
        6,
        {"frequency_cap": 3, "quiet_hours": 2},
    )
    client = login(viewer)
    page = client.get("/campaigns/?status=all").content.decode()
    row = page[page.index("Second") :].split("</tr>")[0]
    assert (
        '6 <span class="muted by-rules">(5 by business rules: Frequency cap 3, Quiet hours 2)'
        in row
    )
    report = client.get(f"/campaigns/{second.campaign.pk}/report/").content.decode()
    marker = '<span class="muted by-rule">(business rule)</span>'
    assert f'title="frequency_cap">Frequency cap {marker}</th><td>3</td>' in report
    assert f'title="quiet_hours">Quiet hours {marker}</th><td>2</td>' in report
    assert 'title="no_consent">No consent</th><td>1</td>' in report  # no marker
    # In French too: the reasons are translated and the counts formatted.
    page = client.get("/campaigns/?status=all", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "(5 par des règles métier : Limite de fréquence 3, " in page
