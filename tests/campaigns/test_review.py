"""Each review error and warning of SPEC §3, by its stable code."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Campaign, CampaignVersion
from campaigns.review import review_campaign
from tests.campaigns.lifecycle_helpers import (
    GOOD_HTML,
    email_config,
    push_config,
    ready_email,
    sms_config,
)


def _review(campaign: Campaign, **version_fields):
    version: CampaignVersion = campaign.draft_version
    for name, value in version_fields.items():
        setattr(version, name, value)
    version.save()
    return review_campaign(campaign)


def _errors(review) -> set[str]:
    return {i.code for i in review.errors}


def _warnings(review) -> set[str]:
    return {i.code for i in review.warnings}


def test_a_ready_campaign_passes_clean(db):
    review = review_campaign(ready_email())
    assert review.ok and not review.warnings


def test_missing_channel_configuration(db):
    assert "missing_channel_configuration" in _errors(
        _review(ready_email(), channel_configuration=None)
    )


def test_deactivated_channel_configuration(db):
    campaign = ready_email()
    campaign.draft_version.channel_configuration.status = "deactivated"
    campaign.draft_version.channel_configuration.save()
    assert "channel_configuration_deactivated" in _errors(review_campaign(campaign))


def test_missing_audience_for_scheduled(db):
    assert "missing_audience" in _errors(_review(ready_email(), audience=None))


def test_missing_audience_for_api_marketing_but_not_api_transactional(db):
    marketing = ready_email(type="api_triggered")
    assert "missing_audience" in _errors(_review(marketing, audience=None))
    tx = ready_email(
        type="api_triggered",
        category="transactional",
        channel_configuration=email_config(name="tx", purpose="transactional"),
    )
    assert "missing_audience" not in _errors(_review(tx, audience=None))


@pytest.mark.parametrize(
    "content,code",
    [
        ({"subject": "", "html": GOOD_HTML, "text": "t"}, "missing_subject"),
        ({"subject": "Hi", "html": "  ", "text": "t"}, "missing_body"),
        ({"subject": "Hi {{ profile.name", "html": GOOD_HTML, "text": "t"}, "template_syntax"),
    ],
)
def test_email_content_errors(db, content, code):
    assert code in _errors(_review(ready_email(), content=content))


def test_template_syntax_error_names_its_line(db):
    review = _review(
        ready_email(), content={"subject": "x", "html": "<p>\n\n{% for %}</p>", "text": "t"}
    )
    issue = next(i for i in review.errors if i.code == "template_syntax")
    assert "3" in issue.message


def test_sms_empty(db):
    campaign = ready_email(
        channel="sms",
        channel_configuration=sms_config(),
        content={"text": ""},
        identity_namespace="phone",
    )
    assert "sms_empty" in _errors(review_campaign(campaign))


def test_push_missing_title_and_body(db):
    campaign = ready_email(
        channel="push",
        channel_configuration=push_config(),
        content={"title": "", "body": ""},
        identity_namespace="push_token",
    )
    assert {"push_missing_title", "push_missing_body"} <= _errors(review_campaign(campaign))


def test_start_in_the_past(db):
    past = timezone.now() - timedelta(hours=1)
    assert "start_in_past" in _errors(_review(ready_email(), start_at=past))


def test_end_before_start(db):
    start = timezone.now() + timedelta(days=2)
    review = _review(ready_email(), start_at=start, end_at=start - timedelta(days=1))
    assert "end_before_start" in _errors(review)


def test_no_unsubscribe_link_warns_for_marketing_only(db):
    content = {"subject": "x", "html": "<p>Hi</p>", "text": "t"}
    assert "no_unsubscribe_link" in _warnings(_review(ready_email(), content=content))
    tx = ready_email(
        category="transactional",
        channel_configuration=email_config(name="tx", purpose="transactional"),
    )
    assert "no_unsubscribe_link" not in _warnings(_review(tx, content=content))


def test_no_text_version_warns(db):
    review = _review(ready_email(), content={"subject": "x", "html": GOOD_HTML, "text": ""})
    assert "no_text_version" in _warnings(review) and review.ok


def test_body_too_large_warns(db):
    html = GOOD_HTML + "x" * (100 * 1024 + 1)
    review = _review(ready_email(), content={"subject": "x", "html": html, "text": "t"})
    assert "body_too_large" in _warnings(review) and review.ok


@pytest.mark.parametrize("link", ['href=""', 'href="#"', "href='#'"])
def test_empty_links_warn(db, link):
    html = GOOD_HTML + f"<a {link}>here</a>"
    review = _review(ready_email(), content={"subject": "x", "html": html, "text": "t"})
    assert "empty_link" in _warnings(review)


def test_warnings_do_not_block_activation(db, make_user, no_worker):
    from campaigns.services import campaign_activate

    boss = make_user("boss", superuser=True)
    campaign = ready_email(boss, content={"subject": "x", "html": '<a href="#">x</a>'})
    campaign_activate(campaign=campaign, actor=boss)
    assert campaign.status == "activating"
