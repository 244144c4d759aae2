"""Reproductions for docs/security-review-11.md (each failed on the old code)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.models import Campaign, Tag
from campaigns.services import MAX_TAGS
from tests.campaigns.lifecycle_helpers import audience, email_config, ready_email
from tests.campaigns.test_api import _body
from tests.campaigns.test_pages import _edit_data

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_worker")]

# 2,000 tags: the old code wrote them all (a few statements each; 10,000 held
# the request 8 s on SQLite and made every viewer's campaign list take 3.6 s).
MANY = [f"t{i}" for i in range(2000)]


def test_1_a_campaign_created_with_too_many_tags_is_a_400_and_writes_nothing(api_for, manager):
    client = api_for(manager)
    with CaptureQueriesContext(connection) as queries:
        answer = client.post("/campaigns", _body(email_config(), tags=MANY))
    assert answer.status_code == 400, answer.content
    assert "tags" in answer.json()["errors"]
    assert not Campaign.objects.exists() and not Tag.objects.exists()
    assert len(queries) < 50  # refused before the tags were looked up one by one


def test_1_the_bound_is_inclusive(api_for, manager):
    tags = [f"t{i}" for i in range(MAX_TAGS)]
    answer = api_for(manager).post("/campaigns", _body(email_config(), tags=tags))
    assert answer.status_code == 201, answer.content
    assert Tag.objects.count() == MAX_TAGS


def test_1_a_patch_with_too_many_tags_is_a_400_and_keeps_the_old_tags(api_for, manager):
    client = api_for(manager)
    created = client.post("/campaigns", _body(email_config()))
    assert created.status_code == 201
    campaign_id = created.json()["id"]
    answer = client.patch(f"/campaigns/{campaign_id}", {"tags": MANY})
    assert answer.status_code == 400, answer.content
    assert "tags" in answer.json()["errors"]
    assert sorted(Tag.objects.values_list("name", flat=True)) == ["onboarding", "q3"]


def test_1_the_pages_refuse_too_many_tags_as_a_form_error(login, manager):
    client = login(manager)
    answer = client.post(
        "/campaigns/new/",
        {
            "name": "Spring",
            "type": "scheduled",
            "category": "marketing",
            "channel": "email",
            "tags": ", ".join(MANY),
        },
    )
    assert answer.status_code == 200 and "tags" in answer.context["form"].errors
    assert not Campaign.objects.exists() and not Tag.objects.exists()

    campaign = ready_email(manager)
    data = _edit_data(email_config(name="b"), audience(), tags=", ".join(MANY))
    answer = client.post(f"/campaigns/{campaign.pk}/edit/", data)
    assert answer.status_code == 200 and "tags" in answer.context["form"].errors
    assert not Tag.objects.exists()


def test_3_the_campaign_list_page_does_not_load_content_or_descriptions(login, viewer, manager):
    """Old code: each row's live and draft versions were read whole (25 drafts
    of 3.8 MB: 190 MB and over a second for each view of every reader's
    landing page), though a row shows no content."""
    campaign = ready_email(manager)
    assert campaign.draft_version.content
    client = login(viewer)
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/campaigns/", {"status": "draft"})
    assert page.status_code == 200 and campaign.name in page.content.decode()
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    for column in ('."content"', '."description"', '."experiment"'):
        assert column not in sql


def test_3_the_calendar_and_the_approval_queue_do_not_load_content(
    login, api_for, viewer, manager, approver
):
    """Old code: the calendar read every planned campaign's versions whole (not
    paged: 20 drafts of 3.8 MB made one viewer's ``?drafts=1`` month trace 152 MB,
    200 about 1.5 GB); the approvers' queue read each request's version whole."""
    from datetime import timedelta

    from django.utils import timezone

    from campaigns.models import ApprovalRequest, CampaignStatus

    campaign = ready_email(manager)
    start = timezone.now() + timedelta(days=3)
    version = campaign.draft_version
    version.start_at = start
    version.save()
    day = start.date().isoformat()
    ApprovalRequest.objects.create(
        campaign=campaign, version=version, requested_by=manager, status="pending"
    )
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.IN_REVIEW)
    page, api = login(viewer), api_for(viewer)
    reads = [
        lambda: page.get("/calendar/", {"date": day, "drafts": "1"}),
        lambda: api.get("/calendar", {"from": day, "to": day, "drafts": "true"}),
    ]
    for read in reads:
        with CaptureQueriesContext(connection) as queries:
            answer = read()
        assert answer.status_code == 200, answer.content[:300]
        assert campaign.name in answer.content.decode()
        sql = " ".join(q["sql"] for q in queries.captured_queries)
        assert '."content"' not in sql and '."experiment"' not in sql
    with CaptureQueriesContext(connection) as queries:
        answer = login(approver).get("/approvals/")
    assert answer.status_code == 200 and campaign.name in answer.content.decode()
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    assert '."content"' not in sql and '."experiment"' not in sql


def test_3_the_template_gallery_does_not_load_content(login, api_for, manager, viewer):
    """Old code: each card's template was read whole (24 a page, up to megabytes each)."""
    made = api_for(manager).post(
        "/templates",
        {"name": "Spring", "channel": "email", "content": {"subject": "Hi", "html": "<p>Hi</p>"}},
    )
    assert made.status_code == 201, made.content
    with CaptureQueriesContext(connection) as queries:
        page = login(viewer).get("/templates/")
    assert page.status_code == 200 and "Spring" in page.content.decode()
    sql = " ".join(q["sql"] for q in queries.captured_queries if "contenttemplate" in q["sql"])
    assert sql and '."content"' not in sql


def test_5_the_report_does_not_load_the_runs_trigger_contexts(login, api_for, manager, viewer):
    """Old code: the report (page and API) read every run whole, its trigger
    context included (up to 200 KB a run, one run per API trigger): 1,000 runs
    of 100 KB made each view trace 200 MB (500: 100 MB)."""
    from campaigns.models import Run

    campaign = ready_email(manager)
    Run.objects.create(
        campaign=campaign, version=campaign.draft_version, status="completed", context={"a": 1}
    )
    for read in (
        lambda: login(viewer).get(f"/campaigns/{campaign.pk}/report/"),
        lambda: api_for(viewer).get(f"/campaigns/{campaign.pk}/report"),
    ):
        with CaptureQueriesContext(connection) as queries:
            answer = read()
        assert answer.status_code == 200, answer.content[:300]
        sql = " ".join(q["sql"] for q in queries.captured_queries)
        assert '"campaigns_run"."id"' in sql and '"campaigns_run"."context"' not in sql


NUL = "a\x00b"


@pytest.mark.parametrize("query", [{"tag": NUL}, {"search": NUL}, {"type": NUL, "channel": NUL}])
def test_6_a_nul_in_the_campaign_list_filters_is_no_500(query, login, viewer):
    """Old code, PostgreSQL: ``?tag=`` and ``?search=`` with a NUL went to the
    query as given: a 500 (PostgreSQL refuses NUL in a comparison)."""
    answer = login(viewer).get("/campaigns/", query)
    assert answer.status_code == 200


def test_6_a_nul_in_an_admin_list_filter_is_no_500(login, administrator):
    """Old code, PostgreSQL: ``/admin/campaigns/campaign/?status__exact=a%00b`` a 500."""
    client = login(administrator)
    answer = client.get("/admin/campaigns/campaign/", {"status__exact": NUL})
    assert answer.status_code == 302 and answer.url.endswith("?e=1")
    assert client.get("/admin/campaigns/campaign/", {"q": NUL}).status_code == 200


# --- #9: a campaign's description is bounded where it is written -------------
# Every list endpoint returns it (SPEC §7): 20 campaigns with a 4.9 MB
# description made one GET /campaigns trace 294 MB. The old code stored any size.


def test_9_a_campaign_created_with_a_too_long_description_is_a_400_and_writes_nothing(
    api_for, manager
):
    from campaigns.models import MAX_DESCRIPTION

    answer = api_for(manager).post(
        "/campaigns", _body(email_config(), description="x" * (MAX_DESCRIPTION + 1))
    )
    assert answer.status_code == 400, answer.content
    assert answer["Content-Type"].startswith("application/problem+json")
    assert "description" in answer.json()["errors"]
    assert not Campaign.objects.exists()


def test_9_the_description_bound_is_inclusive(api_for, manager):
    from campaigns.models import MAX_DESCRIPTION

    answer = api_for(manager).post(
        "/campaigns", _body(email_config(), description="x" * MAX_DESCRIPTION)
    )
    assert answer.status_code == 201, answer.content
    assert len(Campaign.objects.get().description) == MAX_DESCRIPTION


def test_9_a_patch_with_a_too_long_description_is_a_400_and_keeps_the_old_one(api_for, manager):
    from campaigns.models import MAX_DESCRIPTION

    client = api_for(manager)
    created = client.post("/campaigns", _body(email_config()))
    assert created.status_code == 201
    campaign_id = created.json()["id"]
    answer = client.patch(f"/campaigns/{campaign_id}", {"description": "x" * (MAX_DESCRIPTION + 1)})
    assert answer.status_code == 400, answer.content
    assert "description" in answer.json()["errors"]
    assert Campaign.objects.get(pk=campaign_id).description == "First mail"


def test_9_the_services_refuse_a_too_long_description_for_every_caller(manager):
    from django.core.exceptions import ValidationError

    from campaigns import services
    from campaigns.models import MAX_DESCRIPTION

    with pytest.raises(ValidationError) as refused:
        services.campaign_create(
            actor=manager, name="Spring", description="x" * (MAX_DESCRIPTION + 1)
        )
    assert "description" in refused.value.message_dict
    assert not Campaign.objects.exists()
    campaign = ready_email(manager)
    with pytest.raises(ValidationError) as refused:
        services.campaign_update(
            campaign=campaign, actor=manager, description="x" * (MAX_DESCRIPTION + 1)
        )
    assert "description" in refused.value.message_dict
    campaign.refresh_from_db()
    assert len(campaign.description) <= MAX_DESCRIPTION


def test_9_the_pages_refuse_a_too_long_description_as_a_form_error(login, manager):
    from campaigns.models import MAX_DESCRIPTION

    client = login(manager)
    long = "x" * (MAX_DESCRIPTION + 1)
    answer = client.post(
        "/campaigns/new/",
        {
            "name": "Spring",
            "description": long,
            "type": "scheduled",
            "category": "marketing",
            "channel": "email",
        },
    )
    assert answer.status_code == 200 and "description" in answer.context["form"].errors
    assert not Campaign.objects.exists()

    campaign = ready_email(manager)
    data = _edit_data(email_config(name="b"), audience(), description=long)
    answer = client.post(f"/campaigns/{campaign.pk}/edit/", data)
    assert answer.status_code == 200 and "description" in answer.context["form"].errors
    campaign.refresh_from_db()
    assert campaign.description != long


def test_9_the_openapi_document_states_the_bound(client):
    from campaigns.models import MAX_DESCRIPTION

    schemas = client.get("/api/v1/openapi.json").json()["components"]["schemas"]
    for name in ("CampaignIn", "CampaignPatch"):
        description = schemas[name]["properties"]["description"]
        bounded = [description, *description.get("anyOf", [])]
        assert any(s.get("maxLength") == MAX_DESCRIPTION for s in bounded), description
