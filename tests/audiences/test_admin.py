"""Admin pages for profiles and the suppression list (administrators only)."""

from __future__ import annotations

from audiences.models import ConsentChange, Profile, Suppression


def test_administrator_manages_the_suppression_list(login, administrator):
    client = login(administrator)
    assert client.get("/admin/audiences/suppression/").status_code == 200
    response = client.post(
        "/admin/audiences/suppression/add/",
        {"channel": "email", "address": " Bounce@Example.COM ", "reason": "manual"},
    )
    assert response.status_code == 302, response.content
    assert Suppression.objects.get().address == "bounce@example.com"


def test_a_bad_suppression_address_is_a_form_error(login, administrator):
    response = login(administrator).post(
        "/admin/audiences/suppression/add/",
        {"channel": "sms", "address": "not a phone", "reason": "manual"},
    )
    assert response.status_code == 200
    assert "address" in response.context["adminform"].form.errors
    assert not Suppression.objects.exists()


def test_others_cannot_reach_the_admin(login, manager, viewer):
    for user in (manager, viewer):
        response = login(user).get("/admin/audiences/suppression/")
        assert response.status_code == 302  # to the sign-in page
        assert "login" in response["Location"]


def test_administrator_edits_a_profile_and_consent_is_recorded(login, administrator):
    profile = Profile.objects.create(email="a@example.com")
    client = login(administrator)
    assert client.get("/admin/audiences/profile/?q=a@example.com").status_code == 200
    data = {
        "email": "A@example.com",
        "phone": "",
        "push_token": "",
        "profile_id": "",
        "attributes": '{"city": "Paris"}',
        "timezone": "Europe/Paris",
        "consent_email": "on",
        "consent_changes-TOTAL_FORMS": "0",
        "consent_changes-INITIAL_FORMS": "0",
    }
    response = client.post(f"/admin/audiences/profile/{profile.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    profile.refresh_from_db()
    assert (profile.email, profile.phone, profile.consent_email) == ("a@example.com", None, True)
    assert ConsentChange.objects.get().source == "admin"


def test_admin_audience_list(login, administrator):
    assert login(administrator).get("/admin/audiences/audience/").status_code == 200
    assert login(administrator).get("/admin/audiences/profileimport/").status_code == 200
