"""Jinja compiles a template to Python, and Python has limits of its own that
Jinja's parser does not check (200 nested parentheses, 20 nested blocks): a
template past them is a template error at save time, never a 500 (review 18
handed this on)."""

from __future__ import annotations

import pytest

from channels.rendering import validate_content
from tests.campaigns.lifecycle_helpers import ready_email

DEEP = {
    "conditions": "{{ " + " and ".join(["x"] * 250) + " }}",
    "parentheses": "{{ " + "(" * 150 + "x" + ")" * 150 + " }}",
    "loops": "{% for a in [1] %}" * 25 + "x" + "{% endfor %}" * 25,
}


@pytest.mark.parametrize("source", DEEP.values(), ids=DEEP.keys())
def test_past_pythons_limits_is_a_template_error(source):
    errors = validate_content("sms", {"text": source})
    assert "nested too deeply" in " ".join(errors["text"])


def test_saving_such_a_subject_answers_400(api_for, manager):
    campaign = ready_email(manager)
    response = api_for(manager).patch(
        f"/campaigns/{campaign.pk}", {"content": {"subject": DEEP["conditions"]}}
    )
    assert response.status_code == 400, response.content
    assert "nested too deeply" in response.content.decode()
