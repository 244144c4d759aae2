"""In a real browser: build a rule audience on the page and see its size."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from audiences.models import Audience, Profile


@pytest.mark.django_db(transaction=True)
def test_manager_builds_a_rule_audience_and_sees_its_size(page, live_server, make_user, sign_in):
    from accounts.roles import MANAGER

    make_user("mona", MANAGER)
    for i, city in enumerate(["Paris", "Paris", "Lyon"]):
        Profile.objects.create(email=f"p{i}@example.com", attributes={"city": city, "age": 30 + i})
    sign_in(page, "mona", "pw-mona")
    page.goto(f"{live_server.url}/audiences/new/")
    page.fill("input[name=name]", "Parisians")
    page.select_option("select[name='c-0-field']", "attributes.city")
    page.select_option("select[name='c-0-op']", "eq")
    page.fill("input[name='c-0-value']", "Paris")
    # The live preview (JavaScript) counts while the marketer types.
    # (A locator, not wait_for_function: the page's CSP forbids eval, as it should.)
    expect(page.locator("#preview-size")).to_contain_text("2 profiles match")
    page.click("button[name=save]")
    page.wait_for_url("**/audiences/*/")
    assert page.locator("#audience-size").inner_text() == "2"
    assert Audience.objects.get().name == "Parisians"


@pytest.mark.django_db(transaction=True)
def test_manager_retargets_the_people_who_clicked_a_campaign(page, live_server, make_user, sign_in):
    """The builder's engagement row: pick "clicked", a campaign the manager
    may see (a restricted one is not offered), the days; the live preview
    counts exactly the people who clicked, and the audience saves that rule."""
    from datetime import timedelta

    from django.utils import timezone

    from accounts.roles import MANAGER
    from campaigns.models import Campaign, CampaignVersion, Delivery, Run

    make_user("mona", MANAGER)
    spring = Campaign.objects.create(name="Spring sale", status="completed")
    Campaign.objects.create(name="Secret launch", status="completed", restricted=True)
    version = CampaignVersion.objects.create(campaign=spring)
    run = Run.objects.create(campaign=spring, version=version, kind="one_shot", sent=3)
    now = timezone.now()
    for i, clicked in enumerate([True, True, False]):
        profile = Profile.objects.create(email=f"r{i}@example.com")
        Delivery.objects.create(
            run=run,
            profile=profile,
            status="sent",
            sent_at=now - timedelta(days=2),
            clicked_at=now - timedelta(days=1) if clicked else None,
            machine_clicked_at=None if clicked else now - timedelta(days=2),  # a scanner's
        )
    sign_in(page, "mona", "pw-mona")
    page.goto(f"{live_server.url}/audiences/new/")
    page.fill("input[name=name]", "Clicked the spring sale")
    campaigns = page.locator("select[name='e-0-campaign'] option").all_inner_texts()
    assert "Spring sale" in campaigns and "Secret launch" not in campaigns
    page.select_option("select[name='e-0-engagement']", "clicked")
    page.select_option("select[name='e-0-campaign']", label="Spring sale")
    page.fill("input[name='e-0-within_days']", "7")
    expect(page.locator("#preview-size")).to_contain_text("2 profiles match")
    page.check("input[name='e-0-include_machine']")  # the scanner's click counts too now
    expect(page.locator("#preview-size")).to_contain_text("3 profiles match")
    page.uncheck("input[name='e-0-include_machine']")
    expect(page.locator("#preview-size")).to_contain_text("2 profiles match")
    page.click("button[name=save]")
    page.wait_for_url("**/audiences/*/")
    assert page.locator("#audience-size").inner_text() == "2"
    audience = Audience.objects.get(name="Clicked the spring sale")
    assert audience.rule == {
        "all": [{"engagement": "clicked", "withinDays": 7, "campaignId": spring.pk}]
    }
