"""The ready-to-copy request of an API-triggered campaign (issue 12, defect 11)."""

from __future__ import annotations

import json
import shlex

import pytest

from campaigns.services import campaign_create
from campaigns.trigger_example import context_variables
from tests.campaigns.lifecycle_helpers import email_config, ready_email, sms_config

HTML = (
    "<p>Hello {{ profile.attributes.firstName }}, order {{ context.order.id }}"
    " of {{ context.order.total | default('0') }}.</p>"
    "{% for line in context.lines %}<li>{{ line.name }}</li>{% endfor %}"
    '<p>{{ context["coupon"] }}</p><a href="{{ unsubscribe_url }}">stop</a>'
)


@pytest.fixture
def api_campaign(manager):
    return campaign_create(
        actor=manager,
        name="Order confirmation",
        type="api_triggered",
        category="transactional",
        channel_configuration=email_config(purpose="transactional"),
        content={"subject": "Order {{ context.order.id }}", "html": HTML, "text": "x"},
    )


def test_context_variables_are_found_in_the_syntax_tree():
    content = {"subject": "{{ context.a }}", "html": HTML, "data": {"k": "{{ context.d.e }}"}}
    assert context_variables(content) == [
        "a",
        "coupon",
        "d.e",
        "lines",
        "order.id",
        "order.total",
    ]


def test_campaign_page_shows_a_curl_request_to_copy(login, manager, api_campaign):
    page = login(manager).get(f"/campaigns/{api_campaign.pk}/").content.decode()
    assert 'id="trigger-example"' in page
    assert "http://testserver/api/v1/executions/unitary" in page
    assert "jane.doe@example.com" in page
    assert "&lt;order.id&gt;" in page and "coupon" in page and "lines" in page
    assert 'href="/api/v1/docs"' in page or "http://testserver/api/v1/docs" in page
    assert "js/copy.js" in page and "<script>" not in page


def test_api_gives_the_same_example_and_its_body_is_valid_json(api_for, manager, api_campaign):
    answer = api_for(manager).get(f"/campaigns/{api_campaign.pk}")
    example = answer.json()["triggerExample"]
    assert example["url"] == "http://testserver/api/v1/executions/unitary"
    body = example["body"]
    assert body["campaignId"] == api_campaign.pk
    [recipient] = body["recipients"]
    assert recipient["namespace"] == "email" and recipient["userId"] == "jane.doe@example.com"
    assert recipient["context"] == {
        "coupon": "<coupon>",
        "lines": "<lines>",
        "order": {"id": "<order.id>", "total": "<order.total>"},
    }
    # The cURL command's data is exactly that body (shell-quoted).
    words = shlex.split(example["curl"].replace("\\\n", " "))
    assert json.loads(words[words.index("--data") + 1]) == body
    assert "Authorization: Bearer <YOUR_API_KEY>" in words


def test_sms_campaign_example_uses_the_phone_namespace(api_for, manager):
    campaign = campaign_create(
        actor=manager,
        name="Code",
        type="api_triggered",
        category="transactional",
        channel="sms",
        channel_configuration=sms_config(purpose="transactional"),
        identity_namespace="phone",
        content={"text": "Your code is {{ context.code }}"},
    )
    example = api_for(manager).get(f"/campaigns/{campaign.pk}").json()["triggerExample"]
    [recipient] = example["body"]["recipients"]
    assert recipient["namespace"] == "phone" and recipient["userId"].startswith("+")
    assert recipient["context"] == {"code": "<code>"}


def test_scheduled_campaign_has_no_trigger_example(login, api_for, manager):
    campaign = ready_email(manager)
    assert api_for(manager).get(f"/campaigns/{campaign.pk}").json()["triggerExample"] is None
    page = login(manager).get(f"/campaigns/{campaign.pk}/").content.decode()
    assert 'id="trigger-example"' not in page
