"""Outside review of the content studio merge (issue 10): bad input on the
preview and proof pages is a form answer, never a 500."""

from __future__ import annotations

import pytest

from tests.campaigns.lifecycle_helpers import ready_email

pytestmark = pytest.mark.usefixtures("no_worker")


@pytest.mark.parametrize("locale", ["\x00", "fr\x00", "not a tag", "x" * 300])
def test_proof_page_refuses_a_locale_that_is_not_a_tag(login, manager, locale):
    """The page passed the posted locale as typed; a NUL reached PostgreSQL (500)."""
    from campaigns.models import Proof

    campaign = ready_email(manager)
    answer = login(manager).post(
        f"/campaigns/{campaign.pk}/proofs/", {"recipients": "a@example.com", "locale": locale}
    )
    assert answer.status_code == 400
    assert "language tag" in answer.content.decode()
    assert not Proof.objects.exists()


def test_preview_and_campaign_pages_ignore_a_profile_with_a_nul(login, manager):
    campaign = ready_email(manager)
    client = login(manager)
    assert client.get(f"/campaigns/{campaign.pk}/preview/", {"profile": "a\x00"}).status_code == 200
    assert client.get(f"/campaigns/{campaign.pk}/", {"profile": "1\x00"}).status_code == 200


def test_review_forecast_never_counts_profiles_hidden_from_the_reader(login, api_for, manager):
    """The forecast counted every profile of the campaign's audience: with quiet
    hours active, a rule audience ``email eq X and attributes.salary gt N``
    answered, through "Quiet hours will hold back 1 profile", what a hidden
    person's attributes are (the rule size oracle of issue 10, again)."""
    from datetime import time

    from audiences.models import Audience, AudienceMember, Profile
    from campaigns.forecast import forecast
    from campaigns.models import BusinessRule
    from tests.campaigns.conftest import make_campaign

    BusinessRule.objects.create(
        name="Always quiet", channel="email", quiet_start=time(0), quiet_end=time(23, 59)
    )
    vip = Audience.objects.create(name="Board", kind="upload", restricted=True, size=1)
    hidden = Profile.objects.create(
        email="ceo@example.com", consent_email=True, attributes={"salary": 90000}
    )
    AudienceMember.objects.create(audience=vip, profile=hidden)
    probe = Audience.objects.create(
        name="Probe",
        kind="rule",
        rule={
            "all": [
                {"field": "email", "op": "eq", "value": "ceo@example.com"},
                {"field": "attributes.salary", "op": "gt", "value": 50000},
            ]
        },
    )
    campaign = make_campaign(probe, status="draft")
    version = campaign.draft_version or campaign.live_version
    assert forecast(campaign, version) == {"quiet_hours": 1}  # the operator's view
    assert forecast(campaign, version, user=manager) == {}
    review = api_for(manager).get(f"/campaigns/{campaign.pk}/review").json()
    assert "forecast_quiet_hours" not in str(review)
    page = login(manager).get(f"/campaigns/{campaign.pk}/").content.decode()
    assert "Quiet hours will hold back" not in page


def test_template_gallery_search_with_a_nul_is_not_a_500(login, manager, api_for):
    """PostgreSQL refuses a NUL in a LIKE pattern: the gallery's search was a 500."""
    assert login(manager).get("/templates/", {"search": "a\x00"}).status_code in (200, 400)
    assert api_for(manager).get("/templates?search=a%00").status_code in (200, 400)
