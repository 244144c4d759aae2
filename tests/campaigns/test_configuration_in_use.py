"""A channel configuration that campaigns send through cannot be deactivated.

Before, deactivating it was allowed (after a confirmation) and an API trigger
of a live campaign using it was accepted (202) and then failed in the worker.
Now the page, the API and the admin refuse it (409), naming the campaigns
(those the user may not see are counted): stop them, or give their live version
another configuration, first. So a live campaign always has an active
configuration and the trigger's own guard — "the campaign is live" — covers it;
activation locks the configuration's row like the deactivation does, so the two
cannot cross.
"""

from __future__ import annotations

import pytest

from audiences.models import Profile
from campaigns import services
from campaigns.engine import dispatch
from campaigns.engine.schedule import activate_campaign
from campaigns.models import Campaign
from channels.models import ChannelConfiguration
from channels.services import ConfigurationInUse, channel_configuration_set_status
from config.problems import DomainError
from tests.campaigns.conftest import email_config, make_campaign, make_profiles, upload_audience

pytestmark = pytest.mark.django_db(transaction=True)
PROBLEM = "application/problem+json"


@pytest.fixture
def config_in_use(queued):
    config = email_config(name="Main sender")
    for name, status, prefix in [
        ("Spring sale", "live", "a"),
        ("Winter news", "scheduled", "b"),
        ("Old one", "stopped", "c"),
        ("Under review", "in_review", "d"),
    ]:
        campaign = make_campaign(upload_audience(make_profiles(1, prefix=prefix)), config)
        Campaign.objects.filter(pk=campaign.pk).update(name=name, status=status)
    return config


def status_of(config: ChannelConfiguration) -> str:
    config.refresh_from_db()
    return config.status


# --- API -----------------------------------------------------------------------


def test_the_api_refuses_to_deactivate_and_names_the_campaigns(
    api_for, administrator, config_in_use
):
    response = api_for(administrator).post(f"/channel-configurations/{config_in_use.pk}/deactivate")
    assert response.status_code == 409, response.content
    assert response["Content-Type"].startswith(PROBLEM)
    detail = response.json()["detail"]
    assert "“Spring sale”" in detail and "“Winter news”" in detail
    # A stopped campaign sends nothing; one under review is checked again on approval.
    assert "Old one" not in detail and "Under review" not in detail
    assert status_of(config_in_use) == "active"


def test_a_campaign_the_caller_may_not_see_is_counted_not_named(
    api_for, administrator, make_user, config_in_use
):
    from accounts.roles import ADMINISTRATOR

    Campaign.objects.filter(name="Spring sale").update(restricted=True)
    other = make_user("otto", ADMINISTRATOR)
    detail = (
        api_for(other)
        .post(f"/channel-configurations/{config_in_use.pk}/deactivate")
        .json()["detail"]
    )
    assert "Spring sale" not in detail
    assert "“Winter news”, 1 campaign you may not see" in detail
    assert status_of(config_in_use) == "active"


def test_once_the_campaigns_are_stopped_it_is_deactivated(api_for, administrator, config_in_use):
    api = api_for(administrator)
    for campaign in Campaign.objects.filter(status__in=["live", "scheduled"]):
        assert api.post(f"/campaigns/{campaign.pk}/stop", {}).status_code == 200
    response = api.post(f"/channel-configurations/{config_in_use.pk}/deactivate")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "deactivated"
    assert api.post(f"/channel-configurations/{config_in_use.pk}/activate").status_code == 200


def test_an_unused_configuration_is_deactivated_at_once(api_for, administrator, queued):
    config = email_config(name="Spare")
    response = api_for(administrator).post(f"/channel-configurations/{config.pk}/deactivate")
    assert response.status_code == 200 and status_of(config) == "deactivated"


def test_a_trigger_is_never_accepted_for_a_configuration_that_is_deactivated(
    queued, sink, api_for, administrator, manager
):
    """The defect: a trigger was accepted (202) and then failed in the worker."""
    Profile.objects.create(email="known@example.com")
    campaign = make_campaign(
        None,
        config=email_config(purpose="transactional"),
        type="api_triggered",
        category="transactional",
    )
    activate_campaign(campaign.pk)
    config = campaign.live_version.channel_configuration
    admin, api = api_for(administrator), api_for(manager)
    assert admin.post(f"/channel-configurations/{config.pk}/deactivate").status_code == 409

    def trigger(request_id: str):
        body = {
            "requestId": request_id,
            "campaignId": campaign.pk,
            "recipients": [{"userId": "known@example.com", "namespace": "email"}],
        }
        return api.post("/executions/unitary", body)

    # Still active, so the trigger is accepted and sent.
    assert trigger("r-1").status_code == 202
    dispatch.dispatch_batch()
    assert sink.received() == ["known@example.com"]

    assert admin.post(f"/campaigns/{campaign.pk}/stop", {}).status_code == 200
    assert admin.post(f"/channel-configurations/{config.pk}/deactivate").status_code == 200
    refused = trigger("r-2")
    assert refused.status_code == 409 and "stopped" in refused.json()["detail"]
    dispatch.dispatch_batch()
    assert sink.received() == ["known@example.com"]


def test_an_activation_that_read_the_configuration_before_it_was_deactivated_is_refused(
    queued, monkeypatch, approver
):
    """The race: the review saw the configuration active; the deactivation
    committed before the activation's transaction. The activation takes the
    configuration's row lock and looks again."""
    config = email_config(name="Spare")
    campaign = make_campaign(upload_audience(make_profiles(1)), config, status="draft")
    Campaign.objects.filter(pk=campaign.pk).update(
        draft_version=campaign.live_version, live_version=None
    )
    campaign.refresh_from_db()
    monkeypatch.setattr(services, "_require_clean_review", lambda *args, **kwargs: None)
    channel_configuration_set_status(config=config, status="deactivated")  # a draft: allowed

    with pytest.raises(DomainError) as refused:
        services.campaign_activate(campaign=campaign, actor=approver)

    assert refused.value.code == "channel_configuration_deactivated"
    campaign.refresh_from_db()
    assert campaign.status == "draft" and campaign.live_version is None


def test_a_configuration_a_campaign_is_being_activated_with_stays_active(queued, approver):
    config = email_config(name="Main")
    campaign = make_campaign(upload_audience(make_profiles(1)), config, status="draft")
    Campaign.objects.filter(pk=campaign.pk).update(
        draft_version=campaign.live_version, live_version=None
    )
    campaign.refresh_from_db()
    services.campaign_activate(campaign=campaign, actor=approver)
    assert Campaign.objects.get(pk=campaign.pk).status == "activating"

    with pytest.raises(ConfigurationInUse):
        channel_configuration_set_status(config=config, status="deactivated")
    assert status_of(config) == "active"


# --- page ----------------------------------------------------------------------


def test_the_page_refuses_and_links_the_campaigns(login, administrator, config_in_use):
    client = login(administrator)
    response = client.post(f"/channels/{config_in_use.pk}/deactivate/")
    assert response.status_code == 409
    html = response.content.decode()
    assert 'id="configuration-in-use"' in html
    for campaign in Campaign.objects.filter(name__in=["Spring sale", "Winter news"]):
        assert f'href="/campaigns/{campaign.pk}/"' in html
    assert "Old one" not in html and "Under review" not in html
    assert 'name="confirm"' not in html  # no way around it from here
    assert (
        client.post(f"/channels/{config_in_use.pk}/deactivate/", {"confirm": "1"}).status_code
        == 409
    )
    assert status_of(config_in_use) == "active"


def test_the_page_deactivates_an_unused_configuration(login, administrator, queued):
    config = email_config(name="Spare")
    response = login(administrator).post(f"/channels/{config.pk}/deactivate/")
    assert response.status_code == 302 and status_of(config) == "deactivated"


@pytest.mark.parametrize(
    "lang, heading, advice",
    [
        ("nl", "Main sender is in gebruik", "stopt u eerst elk ervan"),
        ("sv", "Main sender används", "stoppa först var och en av dem"),
        ("fr", "Main sender est utilisée", "arrêtez d’abord chacune d’elles"),
    ],
)
def test_the_refusal_reads_in_the_users_language(
    login, api_for, administrator, config_in_use, lang, heading, advice
):
    html = (
        login(administrator)
        .post(f"/channels/{config_in_use.pk}/deactivate/", HTTP_ACCEPT_LANGUAGE=lang)
        .content.decode()
    )
    assert heading in html and advice in html
    assert "send through this configuration" not in html
    detail = (
        api_for(administrator)
        .post(f"/channel-configurations/{config_in_use.pk}/deactivate", HTTP_ACCEPT_LANGUAGE=lang)
        .json()["detail"]
    )
    assert "Spring sale" in detail and "cannot be deactivated" not in detail


# --- admin ---------------------------------------------------------------------


def test_the_admin_action_refuses_it_and_deactivates_the_others(
    login, administrator, config_in_use
):
    spare = email_config(name="Spare")
    client = login(administrator)
    response = client.post(
        "/admin/channels/channelconfiguration/",
        {"action": "deactivate_selected", "_selected_action": [config_in_use.pk, spare.pk]},
        follow=True,
    )
    html = response.content.decode()
    assert "“Main sender” cannot be deactivated" in html and "Spring sale" in html
    assert "1 configuration changed." in html
    assert (status_of(config_in_use), status_of(spare)) == ("active", "deactivated")
    client.post(
        "/admin/channels/channelconfiguration/",
        {"action": "activate_selected", "_selected_action": [spare.pk]},
    )
    assert status_of(spare) == "active"


def test_the_admin_form_does_not_change_the_status(login, administrator, config_in_use):
    client = login(administrator)
    url = f"/admin/channels/channelconfiguration/{config_in_use.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200
    assert 'name="status"' not in page.content.decode()  # read-only: the actions change it


def test_other_roles_have_no_admin_action(login, manager, config_in_use):
    client = login(manager)
    client.post(
        "/admin/channels/channelconfiguration/",
        {"action": "deactivate_selected", "_selected_action": [config_in_use.pk]},
    )
    assert status_of(config_in_use) == "active"
