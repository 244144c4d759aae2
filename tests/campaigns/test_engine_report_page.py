"""The report page (SPEC §8), its CSV export and the retry action."""

from __future__ import annotations

import pytest

from campaigns import tasks
from campaigns.engine.schedule import activate_campaign
from campaigns.models import Delivery, Run
from tests.campaigns.conftest import (
    make_campaign,
    make_profiles,
    upload_audience,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sent_campaign(queued, fake_transport):
    profiles = make_profiles(4)
    fake_transport.outcomes[profiles[0].email] = (True, "550 no such user")
    campaign = make_campaign(
        upload_audience(profiles + make_profiles(1, prefix="nc", consent=False))
    )
    activate_campaign(campaign.pk)
    tasks.start_run(Run.objects.get(campaign=campaign).pk)
    fake_transport.outcomes.clear()
    return campaign


def test_report_page_shows_progress_reasons_chart_and_runs(login, viewer, sent_campaign):
    response = login(viewer).get(f"/campaigns/{sent_campaign.pk}/report/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="sent">3<' in html and 'id="failed">1<' in html and 'id="targeted">5<' in html
    assert "no_consent" in html and "rejected" in html
    chart = f'src="/campaigns/{sent_campaign.pk}/report/chart.svg"'
    assert chart in html  # the send-rate chart, an image of its own
    assert ">No consent<" in html  # exclusion reasons read in words, not as codes
    assert "kozea.github.io" not in html  # the chart loads no script from the internet
    assert "Retry failed deliveries" not in html  # viewers may not retry
    assert 'http-equiv="refresh"' not in html  # nothing is sending


def test_the_chart_is_an_svg_image_with_its_own_policy(login, viewer, sent_campaign):
    response = login(viewer).get(f"/campaigns/{sent_campaign.pk}/report/chart.svg")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("image/svg+xml")
    assert b"<svg" in response.content and b"kozea.github.io" not in response.content
    assert "script-src" not in response["Content-Security-Policy"]
    type(sent_campaign).objects.filter(pk=sent_campaign.pk).update(restricted=True)
    assert login(viewer).get(f"/campaigns/{sent_campaign.pk}/report/chart.svg").status_code == 404


def test_report_refreshes_itself_while_a_run_is_sending(login, viewer, sent_campaign):
    Run.objects.filter(campaign=sent_campaign).update(status="sending")
    html = login(viewer).get(f"/campaigns/{sent_campaign.pk}/report/").content.decode()
    assert 'http-equiv="refresh"' in html


def test_report_page_rejects_wrong_method_and_hides_restricted(login, viewer, sent_campaign):
    client = login(viewer)
    assert client.post(f"/campaigns/{sent_campaign.pk}/report/").status_code == 405
    type(sent_campaign).objects.filter(pk=sent_campaign.pk).update(restricted=True)
    assert client.get(f"/campaigns/{sent_campaign.pk}/report/").status_code == 404


def test_report_needs_a_role(login, outsider, sent_campaign):
    assert login(outsider).get(f"/campaigns/{sent_campaign.pk}/report/").status_code == 404


def test_csv_export_streams_every_delivery(login, viewer, sent_campaign):
    response = login(viewer).get(f"/campaigns/{sent_campaign.pk}/report/deliveries.csv")
    assert response.status_code == 200 and response.streaming
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0].startswith("id,run_id,profile_id,address,status,reason")
    assert len(lines) == 1 + 5


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_cells_that_a_spreadsheet_would_run_are_written_as_text(
    login, viewer, sent_campaign, start
):
    import csv
    import io

    payload = start + 'cmd|"/c calc"!A1'  # fits the 40-character reason column
    Delivery.objects.filter(run__campaign=sent_campaign).update(reason=payload)
    response = login(viewer).get(f"/campaigns/{sent_campaign.pk}/report/deliveries.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows and all(row["reason"] == "'" + payload for row in rows)
    assert all(row["id"].isdigit() for row in rows)  # numbers stay numbers


def test_publisher_retries_failed_deliveries(login, approver, sent_campaign, fake_transport):
    response = login(approver).post(f"/campaigns/{sent_campaign.pk}/report/retry/")
    assert response.status_code == 302
    run = Run.objects.get(campaign=sent_campaign)
    tasks.send_run(run.pk)
    assert Delivery.objects.filter(run=run, status="failed").count() == 0
    run.refresh_from_db()
    assert (run.sent, run.failed) == (4, 0)


def test_viewer_may_not_retry(login, viewer, sent_campaign):
    client = login(viewer)
    assert client.post(f"/campaigns/{sent_campaign.pk}/report/retry/").status_code == 403
    assert client.get(f"/campaigns/{sent_campaign.pk}/report/retry/").status_code == 405
    assert Delivery.objects.filter(status="failed").count() == 1


def test_report_of_an_impossible_id_is_404(login, viewer):
    assert login(viewer).get(f"/campaigns/{2**70}/report/").status_code == 404


def _csv_rows(response) -> list[dict]:
    import csv
    import io

    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_csv_export_shows_addresses_only_of_profiles_the_user_may_see(
    login, viewer, manager, sent_campaign
):
    """Second review of issue 10 (#3's class): profiles are shown only to roles
    that manage profiles, never one known only through restricted audiences;
    a visible campaign's CSV listed every recipient's address."""
    from audiences.models import Audience

    url = f"/campaigns/{sent_campaign.pk}/report/deliveries.csv"
    rows = _csv_rows(login(viewer).get(url))
    assert rows and all(row["address"] == "" for row in rows)
    from campaigns.models import CampaignVersion

    audience_ids = CampaignVersion.objects.filter(campaign=sent_campaign).values("audience_id")
    Audience.objects.filter(pk__in=audience_ids).update(restricted=True)
    rows = _csv_rows(login(manager).get(url))
    assert rows and all(row["address"] == "" for row in rows)
    Audience.objects.filter(pk__in=audience_ids).update(restricted=False)
    rows = _csv_rows(login(manager).get(url))
    assert any("@" in row["address"] for row in rows)
