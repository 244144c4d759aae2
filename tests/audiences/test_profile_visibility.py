"""Profiles are shown only to roles that manage profiles, and never a profile
known only through restricted audiences the user may not see (issue 10 #3)."""

from __future__ import annotations

import pytest
from guardian.shortcuts import assign_perm

from audiences.models import Audience, AudienceMember, Profile
from tests.audiences.test_views import builder_data
from tests.campaigns.lifecycle_helpers import ready_email


@pytest.fixture
def secret(db):
    """A member of a restricted upload audience only, and one public profile."""
    hidden = Audience.objects.create(name="VIP list", kind="upload", restricted=True, size=1)
    profile = Profile.objects.create(email="secret@example.com", attributes={"city": "Oslo"})
    AudienceMember.objects.create(audience=hidden, profile=profile)
    Profile.objects.create(email="public@example.com", attributes={"city": "Bergen"})
    return profile


def _campaign_showing_the_address(manager):
    campaign = ready_email(manager)
    version = campaign.draft_version
    version.content = {**version.content, "subject": "To {{ profile.email }}"}
    version.save()
    return campaign


def test_preview_never_renders_for_a_profile_known_only_through_a_restricted_audience(
    login, manager, secret
):
    campaign = _campaign_showing_the_address(manager)
    client = login(manager)
    for value in (secret.pk, secret.email):
        body = client.get(f"/campaigns/{campaign.pk}/preview/?profile={value}").content.decode()
        assert "To secret@example.com" not in body
        assert "sample data" in body
    public = Profile.objects.get(email="public@example.com")
    body = client.get(f"/campaigns/{campaign.pk}/preview/?profile={public.pk}").content.decode()
    assert "To public@example.com" in body
    live = client.post(
        f"/campaigns/{campaign.pk}/preview/",
        {"content_subject": "To {{ profile.email }}", "preview_profile": str(secret.pk)},
    )
    assert "To secret@example.com" not in live.content.decode()


def test_a_grant_on_the_restricted_audience_shows_its_members(login, manager, secret):
    campaign = _campaign_showing_the_address(manager)
    assign_perm("audiences.view_audience", manager, Audience.objects.get(name="VIP list"))
    body = (
        login(manager)
        .get(f"/campaigns/{campaign.pk}/preview/?profile={secret.pk}")
        .content.decode()
    )
    assert "To secret@example.com" in body


def test_viewers_preview_with_sample_data(login, viewer, manager, secret):
    campaign = _campaign_showing_the_address(manager)
    public = Profile.objects.get(email="public@example.com")
    client = login(viewer)
    for profile in (public, secret):
        response = client.get(f"/campaigns/{campaign.pk}/preview/?profile={profile.pk}")
        assert response.status_code == 200
        body = response.content.decode()
        assert "To public@example.com" not in body and "To secret@example.com" not in body
        assert "sample data" in body


def test_rule_preview_neither_counts_nor_lists_hidden_profiles(login, manager, secret):
    client = login(manager)
    rows = (("attributes.city", "eq", "Oslo"),)
    page = client.post("/audiences/new/", builder_data(rows=rows, preview="1")).content.decode()
    assert "secret@example.com" not in page
    assert "0 profiles match." in page
    assert client.post("/audiences/preview/", builder_data(rows=rows)).json()["size"] == 0
    assert (
        client.post(
            "/audiences/preview/", builder_data(rows=(("attributes.city", "eq", "Bergen"),))
        ).json()["size"]
        == 1
    )


def test_rule_audience_page_does_not_list_hidden_profiles(login, manager, viewer, secret):
    oslo = Audience.objects.create(
        name="Oslo",
        kind="rule",
        rule={"all": [{"field": "attributes.city", "op": "eq", "value": "Oslo"}]},
    )
    for user in (manager, viewer):
        assert (
            "secret@example.com" not in login(user).get(f"/audiences/{oslo.pk}/").content.decode()
        )


def test_api_does_not_return_a_profile_known_only_through_a_restricted_audience(
    api_for, manager, secret
):
    api = api_for(manager)
    assert api.get("/profiles/email/secret@example.com").status_code == 404
    assert api.get("/profiles/email/public@example.com").status_code == 200


def test_channel_test_message_page_does_not_find_hidden_profiles(login, administrator, secret):
    """Restricted means restricted from administrators too (SPEC §2)."""
    from tests.campaigns.lifecycle_helpers import email_config

    config = email_config()
    data = {
        "content_subject": "To {{ profile.email }}",
        "content_html": "<p>x</p>",
        "category": "marketing",
        "action": "preview",
    }
    client = login(administrator)
    hidden = client.post(f"/channels/{config.pk}/test/", {**data, "profile_lookup": secret.email})
    assert hidden.context["preview"] is None
    assert "No profile with this email, phone or id." in hidden.content.decode()
    shown = client.post(
        f"/channels/{config.pk}/test/", {**data, "profile_lookup": "public@example.com"}
    )
    assert shown.context["preview"].subject == "To public@example.com"


# Second review of issue 10: the API's PUT answers with the whole profile, and
# export reads it, whoever may see it.


def test_api_put_neither_reveals_nor_changes_a_hidden_profile(api_for, manager, secret):
    api = api_for(manager)
    assert api.get("/profiles/email/secret@example.com").status_code == 404
    response = api.put("/profiles/email/secret@example.com", {"attributes": {"city": "Paris"}})
    assert response.status_code == 404, response.content
    assert b"Oslo" not in response.content
    secret.refresh_from_db()
    assert secret.attributes == {"city": "Oslo"}
    # A profile the manager may see is still created or changed.
    assert (
        api.put("/profiles/email/public@example.com", {"attributes": {"a": 1}}).status_code == 200
    )
    assert api.put("/profiles/email/new@example.com", {"attributes": {"a": 1}}).status_code == 201


def test_api_export_and_erase_ignore_a_hidden_profile(api_for, administrator, secret):
    api = api_for(administrator)
    assert api.get("/profiles/email/secret@example.com").status_code == 404
    response = api.get("/profiles/email/secret@example.com/export")
    assert response.status_code == 404
    assert b"Oslo" not in b"".join(getattr(response, "streaming_content", [response.content]))
    assert api.delete("/profiles/email/secret@example.com").status_code == 404
    assert Profile.objects.filter(pk=secret.pk).exists()


def test_the_admin_neither_lists_nor_opens_a_hidden_profile(login, administrator, secret):
    client = login(administrator)
    listing = client.get("/admin/audiences/profile/").content.decode()
    assert "public@example.com" in listing
    assert "secret@example.com" not in listing
    assert client.get(f"/admin/audiences/profile/{secret.pk}/change/").status_code in (302, 404)
    client.post(
        "/admin/audiences/profile/",
        {"action": "export_selected", "_selected_action": [secret.pk]},
    )
    client.post(
        "/admin/audiences/profile/",
        {"action": "erase_selected", "_selected_action": [secret.pk], "post": "yes"},
    )
    assert Profile.objects.filter(pk=secret.pk, email="secret@example.com").exists()
