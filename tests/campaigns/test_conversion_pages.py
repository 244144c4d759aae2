"""The conversion goal on the pages (docs/CONVERSIONS.md): set on the edit page
(errors next to the fields, the API's twin), shown on the campaign page and
the review, and the report page's conversions card with the holdout lift —
numbers in the reader's language."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import translation

from audiences.models import ConversionEvent
from campaigns import services
from campaigns.models import Campaign, Delivery, Run
from campaigns.review import review_campaign
from tests.campaigns.lifecycle_helpers import GOOD_HTML, audience, email_config
from tests.campaigns.test_experiments import _form_data

pytestmark = pytest.mark.usefixtures("no_worker")

T0 = datetime(2030, 3, 2, 9, 0, tzinfo=UTC)


def _draft(manager) -> Campaign:
    return services.campaign_create(
        actor=manager,
        name="Spring sale",
        channel_configuration=email_config(),
        audience=audience(),
        content={"subject": "Hi", "html": GOOD_HTML, "text": "Hi"},
    )


def test_the_edit_page_sets_the_goal_and_the_winner_on_conversions(manager, login):
    campaign = _draft(manager)
    client = login(manager)
    page = client.get(f"/campaigns/{campaign.pk}/edit/").content.decode()
    assert 'id="step-goal"' in page and 'name="conversion_event"' in page
    data = _form_data(
        campaign,
        conversion_event="purchase",
        conversion_window_hours="48",
        experiment_on="on",
        experiment_holdout="10",
        experiment_metric="conversions",
        variant_0_name="A",
        variant_0_weight="1",
        variant_1_name="B",
        variant_1_weight="1",
        variant_1_subject="Only today",
    )
    response = client.post(f"/campaigns/{campaign.pk}/edit/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    campaign.refresh_from_db()
    version = campaign.draft_version
    assert version.conversion == {"event": "purchase", "windowHours": 48}
    assert version.experiment["winnerMetric"] == "conversions"
    detail = client.get(f"/campaigns/{campaign.pk}/?version=draft").content.decode()
    assert 'id="conversion-goal"' in detail and "“purchase” within 48 hours" in detail
    # Nobody has posted a purchase yet: the review says so, without blocking.
    review = review_campaign(campaign)
    assert "conversion_event_unseen" in [w.code for w in review.warnings]
    assert not review.errors

    # Emptying the event removes the goal: then conversions cannot pick the winner.
    data["conversion_event"] = ""
    response = client.post(f"/campaigns/{campaign.pk}/edit/", data)
    assert response.status_code == 200
    assert "experiment_metric" in response.context["form"].errors
    campaign.refresh_from_db()
    assert campaign.draft_version.conversion == {"event": "purchase", "windowHours": 48}


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"conversion_event": "two words"}, "conversion_event"),
        (
            {"conversion_event": "purchase", "conversion_window_hours": "721"},
            "conversion_window_hours",
        ),
        (
            {"conversion_event": "purchase", "conversion_window_hours": "0"},
            "conversion_window_hours",
        ),
    ],
)
def test_a_bad_goal_is_shown_next_to_its_field(manager, login, over, field):
    campaign = _draft(manager)
    response = login(manager).post(f"/campaigns/{campaign.pk}/edit/", _form_data(campaign, **over))
    assert response.status_code == 200
    assert field in response.context["form"].errors
    campaign.refresh_from_db()
    assert campaign.draft_version.conversion is None


def _sent_experiment(manager) -> tuple[Campaign, dict]:
    """A live campaign with an experiment whose deliveries are written by hand:
    A and B sent to 100 people each at T0, 50 held out at T0."""
    from audiences.models import Profile

    campaign = _draft(manager)
    services.campaign_update(
        campaign=campaign,
        actor=manager,
        conversion={"event": "purchase", "windowHours": 24},
        experiment={
            "variants": [{"name": "A", "weight": 1}, {"name": "B", "weight": 1}],
            "holdoutPercent": 20,
        },
    )
    campaign.refresh_from_db()
    Campaign.objects.filter(pk=campaign.pk).update(
        status="live", live_version=campaign.draft_version, draft_version=None
    )
    campaign.refresh_from_db()
    run = Run.objects.create(
        campaign=campaign, version=campaign.live_version, kind="one_shot", status="completed"
    )
    people = Profile.objects.bulk_create(
        [Profile(email=f"r{i}@example.com") for i in range(250)], batch_size=200
    )
    people = list(Profile.objects.filter(email__startswith="r").order_by("id"))
    arms = {"A": people[:100], "B": people[100:200], "holdout": people[200:]}
    rows = []
    for arm, group in arms.items():
        for p in group:
            if arm == "holdout":
                rows.append(
                    Delivery(
                        run=run, profile=p, status="excluded", reason="holdout", held_out_at=T0
                    )
                )
            else:
                rows.append(Delivery(run=run, profile=p, status="sent", variant=arm, sent_at=T0))
    Delivery.objects.bulk_create(rows, batch_size=200)
    buyers = arms["A"][:10] + arms["B"][:40] + arms["holdout"][:5]
    ConversionEvent.objects.bulk_create(
        [
            ConversionEvent(
                profile=p, name="purchase", occurred_at=T0 + timedelta(hours=1), value=1234.5
            )
            for p in buyers
        ]
    )
    return campaign, arms


def test_the_report_page_shows_conversions_and_the_lift_in_the_readers_language(
    manager, viewer, login
):
    campaign, _arms = _sent_experiment(manager)
    client = login(viewer)
    page = client.get(f"/campaigns/{campaign.pk}/report/").content.decode()
    assert 'data-testid="conversion-report"' in page
    assert "50 people performed “purchase” within 24 hours" in page
    assert "out of 200 reached" in page
    # B: 40 % against the holdout's 10 %: +30.0 points, significant.
    assert "+30.0 points against the holdout" in page and "significant" in page
    assert "61,725.00" in page  # 50 × 1,234.50

    client.cookies["django_language"] = "nl"
    with translation.override("nl"):
        page = client.get(
            f"/campaigns/{campaign.pk}/report/", HTTP_ACCEPT_LANGUAGE="nl"
        ).content.decode()
    assert "61.725,00" in page and "+30,0" in page


def test_the_report_api_and_page_agree(manager, viewer, login, api_for):
    campaign, arms = _sent_experiment(manager)
    body = api_for(viewer).get(f"/campaigns/{campaign.pk}/report").json()
    conversion = body["conversion"]
    assert (conversion["profiles"], conversion["conversions"]) == (200, 50)
    assert conversion["holdout"]["conversions"] == 5 and conversion["holdout"]["profiles"] == 50
    rows = {r["name"]: r for r in body["variants"]}
    assert rows["B"]["conversions"] == 40 and rows["B"]["lift"]["significant"] is True
    assert rows["A"]["conversions"] == 10 and rows["A"]["lift"]["significant"] is False
