"""How the main pages look at desktop (1366 px) and phone (390 px) width (issue 12,
"Look and feel"): the layout facts that matter are asserted, and a full-page
screenshot of each is kept as an artefact.

Screenshots go to ``$VOLLEY_SCREENSHOT_DIR`` (default ``test-results/screenshots``,
git-ignored) as ``<page>-<width>.png``; a reviewed copy lives in docs/screenshots/.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

WIDTHS = {"desktop": 1366, "phone": 390}
SCREENSHOTS = Path(
    os.environ.get("VOLLEY_SCREENSHOT_DIR") or Path(settings.BASE_DIR) / "test-results/screenshots"
)


@pytest.fixture
def showcase(demo_users) -> dict:
    """A workspace a marketer would recognise: profiles with attributes, an
    audience, a finished email campaign with sends, opens and clicks, drafts."""
    from audiences.models import Audience, Profile
    from campaigns.models import Delivery, Run
    from tests.campaigns.lifecycle_helpers import (
        email_config,
        force_status,
        ready_email,
        sms_config,
    )

    manager = demo_users["manager"]
    cities = ["Amsterdam", "Paris", "Stockholm", "Lyon", "Utrecht"]
    profiles = Profile.objects.bulk_create(
        Profile(
            email=f"reader{i}@example.com",
            attributes={"city": cities[i % 5], "plan": "pro" if i % 3 else "free", "age": 20 + i},
            consent_email=True,
        )
        for i in range(60)
    )
    readers = Audience.objects.create(
        name="Newsletter readers", kind=Audience.Kind.RULE, rule={"all": []}
    )
    config = email_config(name="Newsletter")
    report = ready_email(
        manager,
        name="Autumn collection launch",
        tags=["autumn", "launch"],
        audience=readers,
        channel_configuration=config,
    )
    report = force_status(report, "completed")
    started = (timezone.now() - timedelta(hours=3)).replace(microsecond=0)
    run = Run.objects.create(
        campaign=report,
        version=report.live_version,
        kind=Run.Kind.ONE_SHOT,
        status=Run.Status.COMPLETED,
        scheduled_for=started,
        started_at=started,
        finished_at=started + timedelta(seconds=12),
        targeted=60,
        excluded=4,
        sent=54,
        failed=2,
    )
    deliveries = []
    for i, profile in enumerate(profiles):
        d = Delivery(run=run, profile=profile, address=profile.email)
        if i < 4:
            d.status, d.reason = Delivery.Status.EXCLUDED, Delivery.Reason.NO_CONSENT
        elif i < 6:
            d.status, d.reason = Delivery.Status.FAILED, "rejected"
        else:
            d.status = Delivery.Status.SENT
            d.sent_at = started + timedelta(seconds=(i * 12) // 60, milliseconds=i * 7)
            d.delivered_at = d.sent_at + timedelta(seconds=2)
            if i % 2 == 0:
                d.opened_at = d.sent_at + timedelta(minutes=3 + (i * 37) % 150)
            if i % 6 == 0:
                d.clicked_at = d.opened_at + timedelta(minutes=2)
            if i == 59:
                d.unsubscribed_at = d.sent_at + timedelta(minutes=30)
        deliveries.append(d)
    Delivery.objects.bulk_create(deliveries)

    one_off = ready_email(
        manager,
        name="Winter sale teaser",
        tags=["winter"],
        channel_configuration=config,
        audience=readers,
        description="Warm-up for the winter sale: early access for newsletter readers.",
    )
    sms = ready_email(
        manager,
        name="Flash sale SMS",
        channel="sms",
        channel_configuration=sms_config(),
        content={"text": "Flash sale today only!"},
    )
    weekly = ready_email(manager, name="Weekly digest", tags=["digest"], audience=readers)
    force_status(weekly, "live", recurring=True)
    soon = timezone.now() + timedelta(days=6)
    force_status(
        ready_email(
            manager,
            name="Black Friday early access",
            tags=["sale"],
            audience=readers,
            start_at=soon,
            end_at=soon + timedelta(days=3),
        ),
        "scheduled",
    )
    force_status(ready_email(manager, name="Spring catalogue", audience=readers), "in_review")
    rule = Audience.objects.create(
        name="Parisians on Pro",
        kind=Audience.Kind.RULE,
        rule={
            "all": [
                {"field": "attributes.city", "op": "eq", "value": "Paris"},
                {"field": "attributes.plan", "op": "eq", "value": "pro"},
            ]
        },
        created_by=manager,
    )
    return {"report": report, "one_off": one_off, "sms": sms, "rule": rule}


@pytest.fixture
def open_page(browser, browser_context_args, live_server, settings):
    """``open_page(width)`` → a page of that width, signed in as the manager."""
    contexts = []

    def open_at(width: int):
        context = browser.new_context(
            **{**browser_context_args, "viewport": {"width": width, "height": 900}}
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto("/accounts/login/")
        page.fill("#id_username", "manager")
        page.fill("#id_password", settings.DEMO_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/campaigns/")
        return page

    yield open_at
    for context in contexts:
        context.close()


def _settle_and_shoot(page, name: str, width: int) -> None:
    """Asserts the page does not scroll sideways, then keeps a full-page screenshot."""
    page.wait_for_load_state("networkidle")
    overflow = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert overflow[0] <= overflow[1], f"{name} at {width}px scrolls sideways: {overflow}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # The whole page in one viewport rather than ``full_page``: Chromium leaves
    # the sandboxed preview iframe blank in a stitched full-page capture.
    viewport = page.viewport_size
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": viewport["width"], "height": max(height, viewport["height"])})
    page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"))
    page.set_viewport_size(viewport)


def _inside_viewport(page, locator) -> bool:
    box = locator.bounding_box()
    width = page.viewport_size["width"]
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_report_leads_with_metric_cards_and_charts(showcase, open_page, width):
    page = open_page(width)
    page.goto(f"/campaigns/{showcase['report'].pk}/report/")
    cards = page.locator(".metrics .metric")
    expect(cards).to_have_count(5)
    assert page.locator("#metric-targeted .metric-value").inner_text() == "60"
    assert page.locator("#metric-opened .metric-value").inner_text() == "27"
    assert page.locator("#metric-clicked .metric-value").inner_text() == "9"
    assert "%" in page.locator("#metric-opened .metric-note").inner_text()
    # The cards come before the detail.
    first_card = cards.first.bounding_box()
    totals = page.locator("table.report-totals").bounding_box()
    assert first_card["y"] < totals["y"]
    # Both charts are images that loaded (an SVG each, sized to the screen).
    charts = page.locator("figure.chart img")
    expect(charts).to_have_count(2)
    for index in range(2):
        chart = charts.nth(index)
        assert chart.evaluate("img => img.complete && img.naturalWidth > 0")
        assert _inside_viewport(page, chart)
    _settle_and_shoot(page, "report", width)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_edit_page_in_sections_with_repeat_fields_only_when_repeating(showcase, open_page, width):
    page = open_page(width)
    page.goto(f"/campaigns/{showcase['one_off'].pk}/edit/")
    sections = page.locator("#campaign-form section.step h2")
    assert [s.strip() for s in sections.all_inner_texts()][:3] == [
        "Properties",
        "Audience",
        "Content",
    ]
    # No browser-default fieldset frames, no "Name:" colons.
    assert page.locator("label[for=id_name]").inner_text().strip() == "Name"
    border = page.locator("#campaign-form fieldset").first.evaluate(
        "el => getComputedStyle(el).borderTopStyle"
    )
    assert border == "none"
    # One-off: the repeat details are hidden until a frequency is chosen.
    expect(page.locator("[name=time]")).to_be_hidden()
    expect(page.locator("[name=day_of_month]")).to_be_hidden()
    expect(page.locator("[name=track_opens]")).to_be_visible()
    expect(page.frame_locator("#preview iframe.preview").locator("body")).to_contain_text("Hello")
    _settle_and_shoot(page, "campaign-edit", width)
    page.select_option("[name=frequency]", "weekly")
    expect(page.locator("[name=time]")).to_be_visible()
    expect(page.locator("[name=days_of_week]").first).to_be_visible()
    expect(page.locator("[name=day_of_month]")).to_be_hidden()
    page.select_option("[name=frequency]", "monthly")
    expect(page.locator("[name=day_of_month]")).to_be_visible()
    expect(page.locator("[name=days_of_week]").first).to_be_hidden()
    # The start date only when starting at a date.
    expect(page.locator("[name=start_at]")).to_be_hidden()
    page.locator("[name=start_mode][value=at]").check()
    expect(page.locator("[name=start_at]")).to_be_visible()


@pytest.mark.django_db(transaction=True)
def test_sms_campaign_offers_no_open_tracking(showcase, open_page):
    page = open_page(WIDTHS["desktop"])
    page.goto(f"/campaigns/{showcase['sms'].pk}/edit/")
    expect(page.locator("[name=track_clicks]")).to_be_visible()
    expect(page.locator("[name=track_opens]")).to_have_count(0)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_audience_builder_picks_known_attributes(showcase, open_page, width):
    page = open_page(width)
    page.goto(f"/audiences/{showcase['rule'].pk}/edit/")
    field = page.locator("select[name='c-0-field']")
    # Attributes found in the profiles are offered by name, with their type.
    options = field.locator("option").all_inner_texts()
    assert any("city" in o and "text" in o for o in options), options
    assert any("age" in o and "number" in o for o in options), options
    assert field.input_value() == "attributes.city"
    # Each control's label above it, as in every form (issue 15).
    label = page.locator("label[for=id_name]").bounding_box()
    control = page.locator("#id_name").bounding_box()
    assert label["y"] + label["height"] <= control["y"] + 1
    assert abs(label["x"] - control["x"]) < 2
    # A new attribute name is still accepted.
    page.select_option("select[name='c-1-field']", "attributes.*")
    page.fill("input[name='c-1-attribute']", "loyalty_tier")
    page.fill("input[name='c-1-value']", "gold")
    expect(page.locator("#preview-size")).to_contain_text("0 profiles match")
    page.select_option("select[name='c-1-field']", "attributes.age")
    # The value box says what a number attribute takes.
    expect(page.locator("input[name='c-1-value']")).to_have_attribute(
        "placeholder", "a number, e.g. 30"
    )
    page.select_option("select[name='c-1-op']", "gte")
    page.fill("input[name='c-1-value']", "30")
    expect(page.locator("#preview-size")).to_have_text(re.compile(r"^\s*[1-9]\d* profiles match"))
    _settle_and_shoot(page, "audience-builder", width)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_campaign_list_keeps_status_and_dates_readable(showcase, open_page, width):
    page = open_page(width)
    page.goto("/campaigns/?status=all")
    row = page.locator("#campaign-list tbody tr", has_text="Autumn collection launch")
    status = row.locator("td.status .badge").first
    expect(status).to_be_visible()
    assert _inside_viewport(page, status)
    # A date is one line, not broken between the date and the time.
    updated = row.locator("td.updated")
    lines = updated.evaluate(
        "el => { const r = document.createRange(); r.selectNodeContents(el);"
        " return r.getClientRects().length; }"
    )
    assert lines == 1
    _settle_and_shoot(page, "campaign-list", width)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("language", ["nl", "sv", "fr"])
def test_no_page_scrolls_sideways_on_a_phone_in_other_languages(
    showcase, browser, browser_context_args, settings, language
):
    # Longer words (Dutch compounds, French labels) must wrap, not widen the page.
    context = browser.new_context(
        **{**browser_context_args, "viewport": {"width": 390, "height": 900}, "locale": language}
    )
    try:
        page = context.new_page()
        page.goto("/accounts/login/")
        page.fill("#id_username", "manager")
        page.fill("#id_password", settings.DEMO_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/campaigns/")
        assert page.evaluate("document.documentElement.lang") == language
        for url in (
            f"/campaigns/{showcase['report'].pk}/report/",
            f"/campaigns/{showcase['one_off'].pk}/edit/",
            f"/audiences/{showcase['rule'].pk}/edit/",
            "/campaigns/?status=all",
        ):
            page.goto(url)
            page.wait_for_load_state("networkidle")
            widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            assert widths[0] <= widths[1], f"{url} in {language}: {widths}"
    finally:
        context.close()
