"""/campaigns/: the default filter, Clear filters, each filter, and a query
count that does not grow with the number of campaigns (SPEC §8, §10)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.models import Campaign, CampaignStatus, CampaignVersion, Tag
from tests.campaigns.lifecycle_helpers import force_status, ready_email

S = CampaignStatus


@pytest.fixture
def one_of_each(db):
    """One campaign in every status, named after it."""
    made = {}
    for status in S.values:
        campaign = Campaign.objects.create(name=f"c-{status}", status=status)
        made[status] = campaign
    return made


def _names(response) -> set[str]:
    return {c.name for c in response.context["page"].object_list}


def test_default_filter_shows_draft_scheduled_and_live(login, viewer, one_of_each):
    response = login(viewer).get("/campaigns/")
    assert response.status_code == 200
    assert _names(response) == {"c-draft", "c-scheduled", "c-live"}


def test_clear_filters_shows_every_status(login, viewer, one_of_each):
    client = login(viewer)
    page = client.get("/campaigns/").content.decode()
    assert 'href="?status=all"' in page and "Clear filters" in page
    assert _names(client.get("/campaigns/?status=all")) == {f"c-{s}" for s in S.values}


def test_status_filter_is_a_link(login, viewer, one_of_each):
    response = login(viewer).get("/campaigns/?status=stopped&status=archived")
    assert _names(response) == {"c-stopped", "c-archived"}


def test_type_channel_tag_and_search_filters(login, viewer):
    a = Campaign.objects.create(name="Welcome email", type="api_triggered")
    b = Campaign.objects.create(name="Flash sms", channel="sms")
    c = Campaign.objects.create(name="Weekly news")
    c.tags.add(Tag.objects.create(name="news"))
    client = login(viewer)
    assert _names(client.get("/campaigns/?type=api_triggered")) == {a.name}
    assert _names(client.get("/campaigns/?channel=sms")) == {b.name}
    assert _names(client.get("/campaigns/?tag=news")) == {c.name}
    assert _names(client.get("/campaigns/?search=WEEK")) == {c.name}


def test_sorting_and_pagination(login, viewer):
    for i in range(30):
        Campaign.objects.create(name=f"n{i:02d}")
    client = login(viewer)
    first = client.get("/campaigns/?sort=name")
    assert [c.name for c in first.context["page"].object_list][:2] == ["n00", "n01"]
    second = client.get("/campaigns/?sort=name&page=2")
    assert [c.name for c in second.context["page"].object_list] == [
        f"n{i:02d}" for i in range(25, 30)
    ]
    assert first.context["page"].paginator.count == 30


def test_open_draft_version_marker(login, approver):
    from campaigns.services import campaign_modify

    campaign = force_status(ready_email(approver), S.LIVE, recurring=True)
    page = login(approver).get("/campaigns/").content.decode()
    assert "open draft version" not in page
    campaign_modify(campaign=campaign, actor=approver)
    page = login(approver).get("/campaigns/").content.decode()
    assert "open draft version" in page
    assert f"/campaigns/{campaign.pk}/?version=draft" in page


def test_restricted_campaigns_are_hidden_unless_granted(login, viewer):
    from guardian.shortcuts import assign_perm

    secret = Campaign.objects.create(name="secret", restricted=True)
    Campaign.objects.create(name="open")
    client = login(viewer)
    assert _names(client.get("/campaigns/")) == {"open"}
    assign_perm("campaigns.view_campaign", viewer, secret)
    assert _names(client.get("/campaigns/")) == {"open", "secret"}


def test_outsider_gets_403_and_anonymous_goes_to_login(client, login, outsider):
    assert client.get("/campaigns/").status_code == 302
    assert login(outsider).get("/campaigns/").status_code == 403


def test_list_rejects_post(login, viewer):
    assert login(viewer).post("/campaigns/").status_code == 405


def _make(n: int) -> None:
    campaigns = Campaign.objects.bulk_create(
        [Campaign(name=f"bulk {i}", status=S.LIVE if i % 2 else S.DRAFT) for i in range(n)]
    )
    versions = CampaignVersion.objects.bulk_create(
        [CampaignVersion(campaign=c, number=1) for c in campaigns]
    )
    tag = Tag.objects.create(name=f"t{n}")
    for c, v in zip(campaigns, versions, strict=True):
        c.live_version = v if c.status == S.LIVE else None
        c.draft_version = v if c.status == S.DRAFT else None
    Campaign.objects.bulk_update(campaigns, ["live_version", "draft_version"])
    Campaign.tags.through.objects.bulk_create(
        [Campaign.tags.through(campaign=c, tag=tag) for c in campaigns]
    )


def _count_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/campaigns/?status=all&sort=name")
    assert response.status_code == 200
    return len(queries)


def test_query_count_is_the_same_at_10_and_500_campaigns(login, viewer):
    client = login(viewer)
    _make(10)
    client.get("/campaigns/")  # warm the session and permission caches
    at_10 = _count_queries(client)
    _make(490)
    at_500 = _count_queries(client)
    assert at_10 == at_500
    assert at_500 <= 12


def test_the_campaign_count_agrees_with_its_number(login, viewer):
    ready_email(None)
    html = login(viewer).get("/campaigns/").content.decode()
    assert "· 1 campaign<" in html
    ready_email(None)
    assert "· 2 campaigns<" in login(viewer).get("/campaigns/").content.decode()


def test_a_campaign_with_several_tags_is_listed_once(login, viewer):
    # The tag filter is an EXISTS, so the list needs no DISTINCT to stay unique.
    campaign = Campaign.objects.create(name="twice tagged")
    campaign.tags.add(Tag.objects.create(name="news"), Tag.objects.create(name="promo"))
    client = login(viewer)
    for path in ("/campaigns/", "/campaigns/?tag=news", "/campaigns/?status=all&sort=name"):
        page = client.get(path).context["page"]
        assert [c.name for c in page.object_list] == ["twice tagged"]
        assert page.paginator.count == 1


def test_rows_show_translated_type_channel_and_status(login, viewer):
    Campaign.objects.create(name="labelled", type="api_triggered", channel="sms")
    page = login(viewer).get("/campaigns/").content.decode()
    assert "API-triggered" in page and "SMS" in page and "Draft" in page
