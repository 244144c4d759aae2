"""The report counts people (SPEC §13): unique opens, clicks, rates and top
links from human events, with machine opens and clicks beside them — in the
API, on the page and in the CSVs."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
import time_machine

from campaigns import tasks
from campaigns.engine.schedule import activate_campaign
from campaigns.models import Delivery, Run
from channels import services as channel_services
from tests.campaigns.conftest import make_campaign, make_profiles, upload_audience

pytestmark = pytest.mark.django_db(transaction=True)

SHOP = "https://shop.example.com/sale"
BLOG = "https://blog.example.com/news"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


@pytest.fixture
def engaged_campaign(queued, fake_transport):
    """Five received it. Ann opened; Bob's Apple Mail prefetched it (MPP) and
    nothing else; Cy's mail gateway clicked both links at once; Dee's phone
    prefetched it, then Dee clicked the shop an hour later; Eve's gateway
    followed only the hidden trap link."""
    ann, bob, cy, dee, eve = make_profiles(5)
    links = f'<a href="{SHOP}">Sale</a> <a href="{BLOG}">News</a>'
    content = {"subject": "Hi", "text": "Hi", "html": f"<p>{links}</p>"}
    campaign = make_campaign(upload_audience([ann, bob, cy, dee, eve]), content=content)
    activate_campaign(campaign.pk)
    tasks.start_run(Run.objects.get(campaign=campaign).pk)
    delivery = {d.profile_id: d for d in Delivery.objects.filter(run__campaign=campaign)}
    sent_at = max(d.sent_at for d in delivery.values())

    def at(seconds):
        return time_machine.travel(sent_at + timedelta(seconds=seconds), tick=False)

    with at(3):
        channel_services.delivery_record_open(delivery=delivery[bob.pk], user_agent="Mozilla/5.0")
        channel_services.delivery_record_open(
            delivery=delivery[dee.pk], user_agent="Mozilla/5.0", ip="17.1.2.3"
        )
    with at(120):
        channel_services.delivery_record_click(
            delivery=delivery[cy.pk], url=SHOP, user_agent=FIREFOX
        )
    with at(120.4):
        channel_services.delivery_record_click(
            delivery=delivery[cy.pk], url=BLOG, user_agent=FIREFOX
        )
    with at(600):
        channel_services.delivery_record_open(delivery=delivery[ann.pk], user_agent=FIREFOX)
        channel_services.delivery_record_click(
            delivery=delivery[eve.pk], url="", user_agent=FIREFOX, trap=True
        )
    with at(3600):
        channel_services.delivery_record_click(
            delivery=delivery[dee.pk], url=SHOP, user_agent=FIREFOX
        )
    return campaign


def test_the_api_report_counts_people_and_shows_machines_beside_them(
    engaged_campaign, api_for, viewer
):
    report = api_for(viewer).get(f"/campaigns/{engaged_campaign.pk}/report").json()
    assert report["sent"] == 5
    assert (report["opened"], report["machineOpens"]) == (2, 1)  # Ann, Dee | Bob
    assert (report["clicked"], report["machineClicks"]) == (1, 2)  # Dee | Cy, Eve
    assert report["rates"] == {"openRate": 0.4, "clickRate": 0.2, "clickToOpenRate": 0.5}
    # Cy's gateway clicked the blog: no person did, so it is no top link; nor
    # is the trap link, which is in no version's content.
    assert report["topLinks"] == [{"url": SHOP, "uniqueClicks": 1, "clicks": 1}]


def test_the_report_page_shows_machine_counts_beside_the_people(engaged_campaign, login, viewer):
    html = login(viewer).get(f"/campaigns/{engaged_campaign.pk}/report/").content.decode()
    assert '<td id="opened">2</td>' in html and '<td id="machine-opens">1</td>' in html
    assert '<td id="clicked">1</td>' in html and '<td id="machine-clicks">2</td>' in html
    assert 'id="metric-opened-machines"' in html and "+ 1 by machines only" in html


def test_the_deliveries_csv_has_the_machine_times(engaged_campaign, login, administrator):
    response = login(administrator).get(f"/campaigns/{engaged_campaign.pk}/report/deliveries.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    machine_opened = [r for r in rows if r["machine_opened_at"]]
    machine_clicked = [r for r in rows if r["machine_clicked_at"]]
    assert len(machine_opened) == 2 and len(machine_clicked) == 2  # Bob, Dee | Cy, Eve
    assert sum(1 for r in rows if r["clicked_at"]) == 1


def test_the_links_csv_counts_peoples_clicks(engaged_campaign, login, viewer):
    response = login(viewer).get(f"/campaigns/{engaged_campaign.pk}/report/links.csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert rows == [{"url": SHOP, "unique_clicks": "1", "clicks": "1"}]


def test_the_openapi_document_names_the_machine_counts(client, db):
    schemas = client.get("/api/v1/openapi.json").json()["components"]["schemas"]
    assert {"machineOpens", "machineClicks"} <= set(schemas["ReportOut"]["properties"])
