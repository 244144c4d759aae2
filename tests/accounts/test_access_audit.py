"""Audit of SPEC §2 "every check": a restricted campaign, audience or channel
configuration not granted is 404 on every page and API endpoint, absent from
every list and picker, and refused by id; a grant (to the user or a group)
lets the user in. The persona is an administrator — the widest role — to show
that the role alone does not open a restricted object."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from guardian.shortcuts import assign_perm

from accounts.roles import ADMINISTRATOR
from campaigns import services as campaign_services
from campaigns.models import Campaign, Run
from tests.accounts.test_access import make_audience, make_config

pytestmark = pytest.mark.django_db

SECRET = "Zebra-secret"


@pytest.fixture
def api_for_ada(api_for, administrator):
    return api_for(administrator)


def restricted_campaign(owner=None):
    campaign = campaign_services.campaign_create(actor=owner, name=SECRET, channel="email")
    Campaign.objects.filter(pk=campaign.pk).update(restricted=True)
    campaign.refresh_from_db()
    return campaign


def grant(obj, who, level="change"):
    label = f"{obj._meta.app_label}.{level}_{obj._meta.model_name}"
    assign_perm(label, who, obj)


def run_for(campaign):
    return Run.objects.create(
        campaign=campaign, version=campaign.draft_version, kind=Run.Kind.API_AUDIENCE
    )


# (method, path) with {id} the object's id; {run} an execution of the campaign
CAMPAIGN_PAGES = [
    ("get", "/campaigns/{id}/"),
    ("get", "/campaigns/{id}/edit/"),
    ("post", "/campaigns/{id}/edit/"),
    ("get", "/campaigns/{id}/preview/"),
    ("post", "/campaigns/{id}/proofs/"),
    ("post", "/campaigns/{id}/actions/request_approval/"),
    ("post", "/campaigns/{id}/actions/duplicate/"),
    ("get", "/campaigns/{id}/access/"),
    ("get", "/campaigns/{id}/report/"),
    ("get", "/campaigns/{id}/report/deliveries.csv"),
    ("post", "/campaigns/{id}/report/retry/"),
]
CAMPAIGN_API = [
    ("get", "/campaigns/{id}", None),
    ("patch", "/campaigns/{id}", {"name": "Renamed"}),
    ("get", "/campaigns/{id}/review", None),
    ("post", "/campaigns/{id}/duplicate", None),
    ("post", "/campaigns/{id}/activate", None),
    ("get", "/campaigns/{id}/report", None),
    ("get", "/executions/{run}", None),
    ("post", "/executions/audience", {"requestId": "r1", "campaignId": "{id}"}),
    (
        "post",
        "/executions/unitary",
        {
            "requestId": "r2",
            "campaignId": "{id}",
            "recipients": [{"userId": "a@example.com", "namespace": "email"}],
        },
    ),
    ("delete", "/campaigns/{id}", None),  # last: with a grant it deletes
]


def _fill(value, ids):
    if isinstance(value, str):
        text = value.format(**ids)
        return int(text) if value in ("{id}", "{run}") else text
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


def _call_pages(client, pages, ids):
    return {(m, p): getattr(client, m)(p.format(**ids)).status_code for m, p in pages}


def _call_api(api, endpoints, ids):
    return {
        (m, p): getattr(api, m)(p.format(**ids), _fill(body, ids)).status_code
        if body is not None
        else getattr(api, m)(p.format(**ids)).status_code
        for m, p, body in endpoints
    }


# ---------------------------------------------------------------- campaigns


def test_restricted_campaign_is_404_on_every_page_until_granted(login, administrator):
    campaign = restricted_campaign()
    ids = {"id": campaign.pk}
    client = login(administrator)
    refused = _call_pages(client, CAMPAIGN_PAGES, ids)
    assert set(refused.values()) == {404}, sorted(refused.items())
    grant(campaign, administrator)
    allowed = _call_pages(client, CAMPAIGN_PAGES, ids)
    assert 404 not in allowed.values(), allowed


def test_restricted_campaign_is_404_on_every_api_endpoint_until_granted(api_for_ada, administrator):
    campaign = restricted_campaign()
    ids = {"id": campaign.pk, "run": run_for(campaign).pk}
    refused = _call_api(api_for_ada, CAMPAIGN_API, ids)
    assert set(refused.values()) == {404}, sorted(refused.items())
    assert Campaign.objects.filter(pk=campaign.pk, name=SECRET).exists()
    assert Campaign.objects.count() == 1  # no duplicate was made
    grant(campaign, administrator)
    allowed = _call_api(api_for_ada, CAMPAIGN_API, ids)
    assert 404 not in [s for (m, p), s in allowed.items() if p != "/executions/{run}"], allowed


def test_restricted_campaign_absent_from_lists(login, administrator, api_for_ada):
    campaign = restricted_campaign()
    campaign_services.campaign_create(actor=None, name="Open campaign", channel="email")
    client = login(administrator)
    page = client.get("/campaigns/?status=draft").content.decode()
    assert "Open campaign" in page and SECRET not in page
    listed = api_for_ada.get("/campaigns").json()
    assert [c["name"] for c in listed["items"]] == ["Open campaign"]
    changelist = client.get("/admin/campaigns/campaign/").content.decode()
    assert "Open campaign" in changelist and SECRET not in changelist
    assert client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").status_code != 200


def test_restricted_campaign_in_review_absent_from_the_approvals_queue(login, administrator):
    campaign = restricted_campaign()
    Campaign.objects.filter(pk=campaign.pk).update(status="in_review")
    page = login(administrator).get("/approvals/").content.decode()
    assert SECRET not in page


def test_a_group_grant_opens_the_campaign_to_its_members(login, administrator, api_for_ada):
    campaign = restricted_campaign()
    grant(campaign, Group.objects.get(name=ADMINISTRATOR), "view")
    assert login(administrator).get(f"/campaigns/{campaign.pk}/").status_code == 200
    assert api_for_ada.get(f"/campaigns/{campaign.pk}").status_code == 200
    # view only: changing it is refused, and changes nothing
    assert api_for_ada.patch(f"/campaigns/{campaign.pk}", {"name": "x"}).status_code == 403
    campaign.refresh_from_db()
    assert campaign.name == SECRET


# ---------------------------------------------------------------- audiences

AUDIENCE_PAGES = [
    ("get", "/audiences/{id}/"),
    ("get", "/audiences/{id}/edit/"),
    ("post", "/audiences/{id}/edit/"),
    ("get", "/audiences/{id}/upload/"),
    ("get", "/audiences/{id}/access/"),
    ("post", "/audiences/{id}/delete/"),  # last: with a grant it deletes
]
AUDIENCE_API = [
    ("get", "/audiences/{id}", None),
    ("patch", "/audiences/{id}", {"name": "Renamed"}),
    ("delete", "/audiences/{id}", None),
]


def test_restricted_audience_is_404_on_every_page_and_endpoint_until_granted(
    login, administrator, api_for_ada
):
    audience = make_audience(name=SECRET, restricted=True)
    ids = {"id": audience.pk}
    client = login(administrator)
    refused = {
        **_call_pages(client, AUDIENCE_PAGES, ids),
        **_call_api(api_for_ada, AUDIENCE_API, ids),
    }
    assert set(refused.values()) == {404}, sorted(refused.items())
    audience.refresh_from_db()
    assert audience.name == SECRET
    grant(audience, administrator)
    allowed = _call_pages(client, AUDIENCE_PAGES, ids)
    del allowed[("get", "/audiences/{id}/upload/")]  # a rule audience has no upload page
    assert 404 not in allowed.values(), allowed


def test_restricted_audience_absent_from_lists_and_pickers(login, administrator, api_for_ada):
    audience = make_audience(name=SECRET, restricted=True, status="ready")
    make_audience(name="Open audience", status="ready")
    client = login(administrator)
    page = client.get("/audiences/").content.decode()
    assert "Open audience" in page and SECRET not in page
    assert [a["name"] for a in api_for_ada.get("/audiences").json()["items"]] == ["Open audience"]
    changelist = client.get("/admin/audiences/audience/").content.decode()
    assert "Open audience" in changelist and SECRET not in changelist
    # the campaign editor does not offer it, and the API refuses it by id
    campaign = campaign_services.campaign_create(actor=None, name="C", channel="email")
    editor = client.get(f"/campaigns/{campaign.pk}/edit/").content.decode()
    assert "Open audience" in editor and SECRET not in editor
    response = api_for_ada.patch(f"/campaigns/{campaign.pk}", {"audienceId": audience.pk})
    assert response.status_code == 400
    assert "audienceId" in response.json()["errors"]
    campaign.refresh_from_db()
    assert campaign.draft_version.audience is None


# ---------------------------------------------------------------- channel configurations

CHANNEL_PAGES = [
    ("get", "/channels/{id}/edit/"),
    ("post", "/channels/{id}/edit/"),
    ("get", "/channels/{id}/test/"),
    ("post", "/channels/{id}/test/"),
    ("post", "/channels/{id}/deactivate/"),
    ("get", "/channels/{id}/access/"),
]
CHANNEL_API = [
    ("get", "/channel-configurations/{id}", None),
    (
        "put",
        "/channel-configurations/{id}",
        {
            "name": "Renamed",
            "channel": "email",
            "purpose": "marketing",
            "email": {"fromAddress": "x@example.com"},
        },
    ),
    ("post", "/channel-configurations/{id}/deactivate", None),
]


def test_restricted_configuration_is_404_on_every_page_and_endpoint_until_granted(
    login, administrator, api_for_ada
):
    config = make_config(name=SECRET, restricted=True)
    ids = {"id": config.pk}
    client = login(administrator)
    refused = {
        **_call_pages(client, CHANNEL_PAGES, ids),
        **_call_api(api_for_ada, CHANNEL_API, ids),
    }
    assert set(refused.values()) == {404}, sorted(refused.items())
    config.refresh_from_db()
    assert (config.name, config.status) == (SECRET, "active")
    grant(config, administrator)
    allowed = {
        **_call_pages(client, CHANNEL_PAGES, ids),
        **_call_api(api_for_ada, CHANNEL_API, ids),
    }
    assert 404 not in allowed.values(), allowed


def test_restricted_configuration_absent_from_lists_and_pickers(login, administrator, api_for_ada):
    config = make_config(name=SECRET, restricted=True)
    make_config(name="Open config")
    client = login(administrator)
    page = client.get("/channels/").content.decode()
    assert "Open config" in page and SECRET not in page
    listed = api_for_ada.get("/channel-configurations").json()["items"]
    assert [c["name"] for c in listed] == ["Open config"]
    changelist = client.get("/admin/channels/channelconfiguration/").content.decode()
    assert "Open config" in changelist and SECRET not in changelist
    campaign = campaign_services.campaign_create(actor=None, name="C", channel="email")
    editor = client.get(f"/campaigns/{campaign.pk}/edit/").content.decode()
    assert "Open config" in editor and SECRET not in editor
    response = api_for_ada.patch(f"/campaigns/{campaign.pk}", {"channelConfigurationId": config.pk})
    assert response.status_code == 400
    assert "channelConfigurationId" in response.json()["errors"]
    response = api_for_ada.post("/campaigns", {"name": "New", "channelConfigurationId": config.pk})
    assert response.status_code == 400
    assert Campaign.objects.filter(name="New").count() == 0


# ---------------------------------------------------------------- holes found by the audit

CONFIG_IN = {
    "name": "Private sender",
    "channel": "email",
    "purpose": "marketing",
    "email": {"fromAddress": "private@example.com"},
    "restricted": True,
}


def test_creating_a_restricted_configuration_keeps_its_creator_in(api_for_ada):
    response = api_for_ada.post("/channel-configurations", CONFIG_IN)
    assert response.status_code == 201
    config_id = response.json()["id"]
    assert api_for_ada.get(f"/channel-configurations/{config_id}").status_code == 200


def test_restricting_a_configuration_by_editing_it_keeps_the_editor_in(api_for_ada):
    config = make_config()
    response = api_for_ada.put(f"/channel-configurations/{config.pk}", CONFIG_IN)
    assert response.status_code == 200
    assert api_for_ada.get(f"/channel-configurations/{config.pk}").status_code == 200


@pytest.mark.parametrize("kind", ["campaign", "audience", "channel"])
def test_restricting_in_the_admin_keeps_the_editor_in(rf, administrator, kind):
    from django.contrib import admin

    from accounts.permissions import can_see

    obj = {
        "campaign": lambda: campaign_services.campaign_create(actor=None, name="C"),
        "audience": make_audience,
        "channel": make_config,
    }[kind]()
    request = rf.post("/admin/")
    request.user = administrator
    obj.restricted = True
    admin.site._registry[type(obj)].save_model(request, obj, form=None, change=True)
    assert can_see(administrator, obj)


@pytest.mark.parametrize("kind", ["campaign", "audience", "channel"])
def test_admin_object_permissions_page_needs_the_right_to_manage_access(login, administrator, kind):
    obj = {
        "campaign": lambda: restricted_campaign(),
        "audience": lambda: make_audience(restricted=True),
        "channel": lambda: make_config(restricted=True),
    }[kind]()
    url = f"/admin/{obj._meta.app_label}/{obj._meta.model_name}/{obj.pk}/permissions/"
    user_url = f"{url}user-manage/{administrator.pk}/"
    client = login(administrator)
    assert client.get(url).status_code == 404
    grant(obj, administrator, "view")  # may see it, not change it or its access
    assert client.get(url).status_code == 403
    response = client.post(user_url, {"permissions": [f"change_{obj._meta.model_name}"]})
    assert response.status_code == 403
    assert not administrator.has_perm(f"{obj._meta.app_label}.change_{obj._meta.model_name}", obj)
    grant(obj, administrator, "change")
    assert client.get(url).status_code == 200


def test_campaign_page_does_not_name_a_restricted_audience_or_configuration_unseen(
    login, administrator
):
    audience = make_audience(name="Hidden audience", restricted=True, status="ready")
    config = make_config(name="Hidden config", restricted=True)
    campaign = campaign_services.campaign_create(actor=None, name="Visible", channel="email")
    version = campaign.draft_version
    version.audience, version.channel_configuration = audience, config
    version.save()
    page = login(administrator).get(f"/campaigns/{campaign.pk}/").content.decode()
    assert "Hidden audience" not in page and "Hidden config" not in page
    grant(audience, administrator, "view")
    grant(config, administrator, "view")
    page = login(administrator).get(f"/campaigns/{campaign.pk}/").content.decode()
    assert "Hidden audience" in page and "Hidden config" in page


def test_creating_or_editing_a_campaign_restricted_keeps_its_author_in(manager):
    from accounts.permissions import can, can_see

    created = campaign_services.campaign_create(actor=manager, name="Mine", restricted=True)
    assert can_see(manager, created) and can(manager, "campaign.edit", created)
    edited = campaign_services.campaign_create(actor=manager, name="Later")
    campaign_services.campaign_update(campaign=edited, actor=manager, restricted=True)
    edited.refresh_from_db()
    assert edited.restricted
    assert can_see(manager, edited) and can(manager, "campaign.edit", edited)


def test_policy_approvers_not_granted_a_restricted_campaign_are_not_notified(
    manager, approver, make_user
):
    from accounts.models import Notification
    from campaigns.models import ApprovalPolicy, ApprovalRequest

    granted = make_user("gina", "Campaign Approver")
    campaign = restricted_campaign(owner=manager)
    grant(campaign, manager)
    grant(campaign, granted)
    policy = ApprovalPolicy.objects.create(name="Everything")
    policy.approver_users.set([approver, granted])
    request = ApprovalRequest.objects.create(
        campaign=campaign, version=campaign.draft_version, policy=policy, requested_by=manager
    )
    campaign_services._notify_approvers(request)
    assert list(Notification.objects.values_list("user__username", flat=True)) == ["gina"]
