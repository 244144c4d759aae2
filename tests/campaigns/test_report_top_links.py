"""Top links (issue 12 #5): the most clicked links, unique and total, on the
report page, in the API report and in a CSV."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from campaigns import tasks
from campaigns.engine.schedule import activate_campaign
from campaigns.models import Delivery, Run
from campaigns.reports import top_links
from channels import services as channel_services
from tests.campaigns.conftest import make_campaign, make_profiles, upload_audience

pytestmark = pytest.mark.django_db(transaction=True)

SHOP = "https://shop.example.com/sale?utm_source=volley"
BLOG = "https://blog.example.com/news"
HELP = "https://help.example.com/"


@pytest.fixture
def clicked_campaign(queued, fake_transport):
    """Three people received it: Ann clicks the shop twice and the help page,
    Bob the shop and the blog, Cy the blog."""
    ann, bob, cy = make_profiles(3)
    links = "".join(f'<a href="{url}">link</a>' for url in (SHOP, BLOG, HELP))
    content = {"subject": "Hi", "text": "Hi", "html": f"<p>{links}</p>".replace("&", "&amp;")}
    campaign = make_campaign(upload_audience([ann, bob, cy]), content=content)
    activate_campaign(campaign.pk)
    tasks.start_run(Run.objects.get(campaign=campaign).pk)
    delivery = {d.profile_id: d for d in Delivery.objects.filter(run__campaign=campaign)}
    for minute, (person, url) in enumerate(
        [(ann, SHOP), (ann, SHOP), (ann, HELP), (bob, SHOP), (bob, BLOG), (cy, BLOG)], start=1
    ):
        # People, a minute apart: a click seconds after the send, or two links
        # of one message within a second or two, would be a scanner's.
        with time_machine.travel(timezone.now() + timedelta(minutes=minute), tick=False):
            channel_services.delivery_record_click(delivery=delivery[person.pk], url=url)
    return campaign


EXPECTED = [
    {"url": SHOP, "uniqueClicks": 2, "clicks": 3},
    {"url": BLOG, "uniqueClicks": 2, "clicks": 2},
    {"url": HELP, "uniqueClicks": 1, "clicks": 1},
]


def test_top_links_count_people_and_clicks_most_people_first(clicked_campaign):
    assert top_links(clicked_campaign) == EXPECTED
    assert top_links(clicked_campaign, limit=1) == EXPECTED[:1]


def test_a_person_clicking_in_two_runs_is_one_unique_click(clicked_campaign, fake_transport):
    run = Run.objects.get(campaign=clicked_campaign)
    second = Run.objects.create(
        campaign=clicked_campaign, version=run.version, kind=Run.Kind.API_AUDIENCE
    )
    ann_first = Delivery.objects.filter(run=run).order_by("profile_id").first()
    again = Delivery.objects.create(run=second, profile_id=ann_first.profile_id, status="sent")
    channel_services.delivery_record_click(delivery=again, url=SHOP)
    assert top_links(clicked_campaign)[0] == {"url": SHOP, "uniqueClicks": 2, "clicks": 4}


def test_the_api_report_lists_the_top_links(clicked_campaign, api_for, viewer):
    response = api_for(viewer).get(f"/campaigns/{clicked_campaign.pk}/report")
    assert response.status_code == 200
    assert response.json()["topLinks"] == EXPECTED


def test_the_report_page_shows_the_top_links_as_a_table(clicked_campaign, login, viewer):
    html = login(viewer).get(f"/campaigns/{clicked_campaign.pk}/report/").content.decode()
    section = html[html.index('id="top-links"') :]
    section = section[: section.index("</table>")]
    assert section.index(SHOP.replace("&", "&amp;")) < section.index(BLOG) < section.index(HELP)
    assert "<td>2</td><td>3</td>" in section  # the shop: two people, three clicks
    assert f'href="/campaigns/{clicked_campaign.pk}/report/links.csv"' in html


def test_the_report_page_says_when_nothing_was_clicked(queued, fake_transport, login, viewer):
    campaign = make_campaign(upload_audience(make_profiles(1)))
    html = login(viewer).get(f"/campaigns/{campaign.pk}/report/").content.decode()
    assert "No link clicked yet." in html


def test_the_links_csv_has_every_clicked_link(clicked_campaign, login, viewer):
    response = login(viewer).get(f"/campaigns/{clicked_campaign.pk}/report/links.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "links.csv" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert rows == [
        {
            "url": link["url"],
            "unique_clicks": str(link["uniqueClicks"]),
            "clicks": str(link["clicks"]),
        }
        for link in EXPECTED
    ]


def test_the_links_csv_is_guarded_like_the_report(clicked_campaign, login, viewer, outsider):
    url = f"/campaigns/{clicked_campaign.pk}/report/links.csv"
    assert login(outsider).get(url).status_code == 404
    assert login(viewer).post(url).status_code == 405
    type(clicked_campaign).objects.filter(pk=clicked_campaign.pk).update(restricted=True)
    assert login(viewer).get(url).status_code == 404


def test_the_openapi_document_describes_the_report(client, db):
    schemas = client.get("/api/v1/openapi.json").json()["components"]["schemas"]
    report = schemas["ReportOut"]["properties"]
    assert {"cancelled", "pending", "topLinks", "runs", "excluded", "failed"} <= set(report)
    assert set(schemas["TopLinkOut"]["properties"]) == {"url", "uniqueClicks", "clicks"}
    assert {"cancelled", "pending"} <= set(schemas["RunReportOut"]["properties"])


@pytest.mark.parametrize(
    "lang, words",
    [
        ("nl", ["Meest geklikte links", "Unieke klikken", "Geannuleerd (wordt niet verzonden)"]),
        ("sv", ["Mest klickade länkar", "Unika klick", "Avbrutna (skickas inte)"]),
        ("fr", ["Liens les plus cliqués", "Clics uniques", "Annulés (ne seront pas envoyés)"]),
    ],
)
def test_the_new_report_labels_read_in_the_users_language(
    clicked_campaign, login, viewer, lang, words
):
    html = (
        login(viewer)
        .get(f"/campaigns/{clicked_campaign.pk}/report/", HTTP_ACCEPT_LANGUAGE=lang)
        .content.decode()
    )
    assert all(word in html for word in words)
    assert "Top links" not in html and "Unique clicks" not in html


def test_personalized_links_never_show_a_persons_data(api_for, viewer, manager):
    """Outside review (issue 10): a link made with profile data or the context is
    one person's; the report counts it under "Personalized links" and never
    shows its URL."""
    from campaigns.engine import runs as engine_runs  # noqa: F401  (the engine is loaded)
    from campaigns.models import Campaign, CampaignVersion, Delivery, Run
    from channels.models import DeliveryEvent
    from tests.campaigns.conftest import make_campaign, make_profiles, upload_audience

    people = make_profiles(2, prefix="pl")
    html = (
        '<a href="https://shop.example/sale">Sale</a>'
        '<a href="https://shop.example/me?email={{ profile.email }}">Me</a>'
    )
    campaign = make_campaign(
        upload_audience(people), content={"subject": "S", "text": "t", "html": html}
    )
    version = CampaignVersion.objects.filter(campaign=campaign).first()
    run = Run.objects.create(campaign=campaign, version=version, kind="scheduled")
    for person in people:
        delivery = Delivery.objects.create(
            run=run, profile=person, address=person.email, status="sent"
        )
        for url in ("https://shop.example/sale", f"https://shop.example/me?email={person.email}"):
            DeliveryEvent.objects.create(delivery=delivery, kind="click", detail=url)
    Campaign.objects.filter(pk=campaign.pk).update(status="completed")
    report = api_for(viewer).get(f"/campaigns/{campaign.pk}/report").json()
    urls = {link["url"]: link["uniqueClicks"] for link in report["topLinks"]}
    assert urls == {"https://shop.example/sale": 2, "Personalized links": 2}
    assert "pl0" not in str(report["topLinks"])
