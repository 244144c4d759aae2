"""Audience pages' actions and the suppression list through the API (issue 12 #6):
`PATCH /audiences/{id} {"restricted"}`, `POST /audiences/preview`,
`GET/POST /suppressions`, `DELETE /suppressions/{id}`."""

from __future__ import annotations

import pytest
from guardian.shortcuts import get_users_with_perms

from accounts.roles import MANAGER
from audiences.models import Audience, Profile, Suppression

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
RULE = {"all": [{"field": "attributes.city", "op": "eq", "value": "Paris"}]}


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith(PROBLEM)
    return response.json()


def rule_audience(**fields) -> Audience:
    return Audience.objects.create(
        name=fields.pop("name", "Paris"), kind="rule", rule=RULE, **fields
    )


# ------------------------------------------------- PATCH /audiences/{id} restricted


def test_patch_restricted_true_restricts_and_keeps_the_callers_access(
    api_for, administrator, viewer
):
    audience = rule_audience()
    response = api_for(administrator).patch(f"/audiences/{audience.pk}", {"restricted": True})
    assert response.status_code == 200, response.content
    assert response.json()["restricted"] is True
    audience.refresh_from_db()
    assert audience.restricted
    assert administrator in get_users_with_perms(audience)
    assert api_for(viewer).get(f"/audiences/{audience.pk}").status_code == 404
    assert api_for(administrator).get(f"/audiences/{audience.pk}").status_code == 200
    # …and open again.
    response = api_for(administrator).patch(f"/audiences/{audience.pk}", {"restricted": False})
    assert response.status_code == 200 and response.json()["restricted"] is False
    assert api_for(viewer).get(f"/audiences/{audience.pk}").status_code == 200


def test_the_audiences_creator_may_restrict_it(api_for, manager):
    response = api_for(manager).post("/audiences", {"name": "Mine", "rule": RULE})
    audience_id = response.json()["id"]
    response = api_for(manager).patch(f"/audiences/{audience_id}", {"restricted": True})
    assert response.status_code == 200 and response.json()["restricted"] is True


def test_a_manager_may_edit_but_not_restrict_someone_elses_audience(api_for, manager, make_user):
    audience = rule_audience(created_by=make_user("other", MANAGER))
    api = api_for(manager)
    problem(api.patch(f"/audiences/{audience.pk}", {"name": "Renamed", "restricted": True}), 403)
    audience.refresh_from_db()
    assert (audience.name, audience.restricted) == ("Paris", False)  # nothing written
    assert api.patch(f"/audiences/{audience.pk}", {"name": "Renamed"}).status_code == 200
    # Saying what it already is asks nothing more.
    assert api.patch(f"/audiences/{audience.pk}", {"restricted": False}).status_code == 200


def test_patch_restricted_of_a_restricted_audience_not_granted_is_404(api_for, administrator):
    audience = rule_audience(restricted=True)
    problem(api_for(administrator).patch(f"/audiences/{audience.pk}", {"restricted": False}), 404)


def test_patch_restricted_with_a_bad_value_is_400(api_for, administrator):
    audience = rule_audience()
    problem(api_for(administrator).patch(f"/audiences/{audience.pk}", {"restricted": "maybe"}), 400)


# ------------------------------------------------- POST /audiences/preview


def test_rule_preview_counts_matching_profiles_without_saving(api_for, manager):
    Profile.objects.create(email="a@example.com", attributes={"city": "Paris"})
    Profile.objects.create(email="b@example.com", attributes={"city": "Lyon"})
    response = api_for(manager).post("/audiences/preview", {"rule": RULE})
    assert response.status_code == 200 and response.json() == {"size": 1}
    assert not Audience.objects.exists()


def test_rule_preview_is_for_roles_that_build_audiences(api_for, viewer):
    problem(api_for(viewer).post("/audiences/preview", {"rule": RULE}), 403)


def test_rule_preview_of_a_bad_rule_is_a_400_problem(api_for, manager):
    bad = {"all": [{"field": "attributes.city", "op": "near", "value": "Paris"}]}
    body = problem(api_for(manager).post("/audiences/preview", {"rule": bad}), 400)
    assert body["errors"]


# ------------------------------------------------- suppressions


def test_add_list_and_remove_a_suppression(api_for, administrator):
    api = api_for(administrator)
    response = api.post(
        "/suppressions", {"channel": "email", "address": " Bob@Example.COM ", "reason": "manual"}
    )
    assert response.status_code == 201, response.content
    entry = response.json()
    assert (entry["channel"], entry["address"], entry["reason"]) == (
        "email",
        "bob@example.com",
        "manual",
    )
    # Adding it again changes nothing (200), a complaint replaces a weaker reason.
    again = api.post("/suppressions", {"channel": "email", "address": "bob@example.com"})
    assert again.status_code == 200 and again.json()["id"] == entry["id"]
    stronger = api.post(
        "/suppressions", {"channel": "email", "address": "bob@example.com", "reason": "complaint"}
    )
    assert stronger.status_code == 200 and stronger.json()["reason"] == "complaint"
    api.post("/suppressions", {"channel": "sms", "address": "+31 6 12345678", "reason": "manual"})
    listed = api.get("/suppressions").json()
    assert listed["count"] == 2
    assert api.get("/suppressions?channel=sms").json()["items"][0]["address"] == "+31612345678"
    assert [i["address"] for i in api.get("/suppressions?search=BOB").json()["items"]] == [
        "bob@example.com"
    ]
    assert api.delete(f"/suppressions/{entry['id']}").status_code == 204
    assert not Suppression.objects.filter(address="bob@example.com").exists()
    problem(api.delete(f"/suppressions/{entry['id']}"), 404)


def test_an_address_suppressed_through_the_api_gets_no_marketing_until_removed(
    api_for, administrator
):
    from audiences.selectors import annotate_eligibility

    profile = Profile.objects.create(email="ann@example.com", consent_email=True)

    def reason():
        row = annotate_eligibility(
            Profile.objects.filter(pk=profile.pk), channel="email", category="marketing"
        ).values("exclusion_reason")
        return row[0]["exclusion_reason"]

    assert not reason()
    api = api_for(administrator)
    entry = api.post("/suppressions", {"channel": "email", "address": "ANN@example.com"}).json()
    assert reason() == "suppressed"
    api.delete(f"/suppressions/{entry['id']}")
    assert not reason()


@pytest.mark.parametrize("persona", ["viewer", "manager", "approver"])
def test_the_suppression_list_is_for_administrators(api_for, request, persona):
    entry = Suppression.objects.create(channel="email", address="x@example.com", reason="manual")
    api = api_for(request.getfixturevalue(persona))
    problem(api.get("/suppressions"), 403)
    problem(api.post("/suppressions", {"channel": "email", "address": "y@example.com"}), 403)
    problem(api.delete(f"/suppressions/{entry.pk}"), 403)
    assert list(Suppression.objects.values_list("address", flat=True)) == ["x@example.com"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"channel": "fax", "address": "a@example.com"}, "channel"),
        ({"channel": "email", "address": "not-an-email"}, "address"),
        ({"channel": "sms", "address": "call me"}, "address"),
        ({"channel": "email", "address": "a@example.com", "reason": "whim"}, "reason"),
        ({"channel": "email"}, "address"),
    ],
)
def test_bad_suppressions_are_a_400_problem(api_for, administrator, body, field):
    errors = problem(api_for(administrator).post("/suppressions", body), 400)["errors"]
    assert any(key.startswith(field) for key in errors), errors
    assert not Suppression.objects.exists()


def test_an_erased_persons_entry_is_listed_without_its_address_and_can_be_removed(
    api_for, administrator
):
    entry = Suppression.objects.create(channel="email", address="gone@example.com", reason="manual")
    Suppression.objects.filter(pk=entry.pk).update(address=None, address_hash="0" * 64)
    api = api_for(administrator)
    assert api.get("/suppressions").json()["items"][0]["address"] is None
    assert api.delete(f"/suppressions/{entry.pk}").status_code == 204
