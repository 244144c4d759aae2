"""A template's access through the API, as its Access page (issue 12 #6 parity
for the templates of issue 15)."""

from __future__ import annotations

import pytest

from accounts.roles import MANAGER

pytestmark = pytest.mark.django_db

EMAIL = {"subject": "Hi", "html": "<p>Hello</p>", "text": "Hello"}


def test_administrators_restrict_a_template_and_others_lose_it(
    api_for, administrator, manager, make_user
):
    other = make_user("other", MANAGER)
    created = api_for(manager).post(
        "/templates", {"name": "News", "channel": "email", "content": EMAIL}
    )
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    admin = api_for(administrator)
    assert admin.get(f"/templates/{pk}/access").json() == {"restricted": False, "grants": []}
    body = {"restricted": True, "grants": [{"user": "mona", "permission": "change"}]}
    answer = admin.put(f"/templates/{pk}/access", body)
    assert answer.status_code == 200, answer.content
    assert answer.json()["restricted"] is True
    assert api_for(other).get(f"/templates/{pk}").status_code == 404
    assert api_for(other).get(f"/templates/{pk}/access").status_code == 404
    assert api_for(manager).get(f"/templates/{pk}").status_code == 200
    # a manager sees the template but does not manage its access
    assert api_for(manager).put(f"/templates/{pk}/access", body).status_code == 403


def test_unknown_names_in_grants_are_a_400_and_change_nothing(api_for, administrator):
    pk = (
        api_for(administrator)
        .post("/templates", {"name": "News", "channel": "email", "content": EMAIL})
        .json()["id"]
    )
    body = {"restricted": True, "grants": [{"user": "nobody", "permission": "view"}]}
    response = api_for(administrator).put(f"/templates/{pk}/access", body)
    assert response.status_code == 400
    assert api_for(administrator).get(f"/templates/{pk}/access").json()["restricted"] is False
