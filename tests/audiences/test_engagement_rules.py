"""Retargeting (SPEC §13): rule conditions on engagement — received, opened,
clicked, not opened, not clicked a campaign (or any) within N days — people's
opens and clicks unless machines are asked for, evaluated by the database
(these run on SQLite and, with DATABASE_URL, on PostgreSQL) with exact
membership; a campaign its author may not see is refused everywhere."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from guardian.shortcuts import assign_perm

from audiences.models import Audience, Profile
from audiences.rules import RuleError, compile_rule
from audiences.services import audience_create_rule
from campaigns.models import Campaign, CampaignVersion, Delivery, Run

NOW = timezone.now()


def days_ago(n: float):
    return NOW - timedelta(days=n)


def send(campaign: Campaign, profile: Profile, *, sent: float | None, **times: float) -> Delivery:
    """A delivery of ``campaign`` to ``profile`` sent ``sent`` days ago, with
    event times given in days ago (``opened_at=2``)."""
    version = campaign.versions.first() or CampaignVersion.objects.create(campaign=campaign)
    run, _ = Run.objects.get_or_create(campaign=campaign, version=version, kind="api_audience")
    return Delivery.objects.create(
        run=run,
        profile=profile,
        status="sent" if sent is not None else "pending",
        sent_at=days_ago(sent) if sent is not None else None,
        **{field: days_ago(n) for field, n in times.items()},
    )


@pytest.fixture
def world(db):
    """Spring (visible) and Secret (restricted) campaigns and six people:

    - ann: got Spring 3 days ago, opened and clicked it;
    - bob: got Spring 3 days ago, opened it only (a person), a scanner clicked;
    - cy:  got Spring 3 days ago; only Apple's proxy opened it;
    - dee: got Spring 40 days ago and clicked it then; got Secret yesterday, clicked it;
    - eve: got Spring 3 days ago, nothing else;
    - fay: never received anything.
    """
    spring = Campaign.objects.create(name="Spring sale", status="completed")
    secret = Campaign.objects.create(name="Secret launch", status="completed", restricted=True)
    people = {
        name: Profile.objects.create(email=f"{name}@example.com", attributes={"n": i})
        for i, name in enumerate(["ann", "bob", "cy", "dee", "eve", "fay"])
    }
    send(spring, people["ann"], sent=3, opened_at=2.9, clicked_at=2.9)
    send(spring, people["bob"], sent=3, opened_at=2.5, machine_clicked_at=3)
    send(spring, people["cy"], sent=3, machine_opened_at=3)
    send(spring, people["dee"], sent=40, opened_at=39, clicked_at=39)
    send(secret, people["dee"], sent=1, opened_at=0.5, clicked_at=0.5)
    send(spring, people["eve"], sent=3)
    Run.objects.filter(campaign__in=[spring, secret]).update(sent=1)
    return {"spring": spring, "secret": secret, **people}


def members(condition: dict, *more: dict, kind: str = "all") -> set[str]:
    rule = {kind: [condition, *more]}
    return {p.email.split("@")[0] for p in Profile.objects.filter(compile_rule(rule))}


def test_clicked_campaign_x_in_the_last_days(world):
    spring = world["spring"].pk
    assert members({"engagement": "clicked", "campaignId": spring, "withinDays": 30}) == {"ann"}
    assert members({"engagement": "clicked", "campaignId": spring, "withinDays": 60}) == {
        "ann",
        "dee",
    }


def test_machine_clicks_count_only_when_asked(world):
    spring = world["spring"].pk
    condition = {"engagement": "clicked", "campaignId": spring, "withinDays": 30}
    assert members({**condition, "includeMachine": True}) == {"ann", "bob"}
    opened = {"engagement": "opened", "campaignId": spring, "withinDays": 30}
    assert members(opened) == {"ann", "bob"}
    assert members({**opened, "includeMachine": True}) == {"ann", "bob", "cy"}


def test_received_and_any_campaign(world):
    spring = world["spring"].pk
    received = {"engagement": "received", "campaignId": spring, "withinDays": 7}
    assert members(received) == {"ann", "bob", "cy", "eve"}
    # "Any campaign" is any unrestricted one (review 8): Dee's Secret, a
    # restricted campaign, counts only when a rule names it.
    assert members({"engagement": "received", "withinDays": 7}) == {"ann", "bob", "cy", "eve"}
    assert members({"engagement": "clicked", "withinDays": 7}) == {"ann"}
    secret = {"engagement": "clicked", "campaignId": world["secret"].pk, "withinDays": 7}
    assert members(secret) == {"dee"}


def test_not_opened_in_the_last_days_is_received_and_not_opened(world):
    assert members({"engagement": "not_opened", "withinDays": 7}) == {"cy", "eve"}
    with_machines = {"engagement": "not_opened", "withinDays": 7, "includeMachine": True}
    assert members(with_machines) == {"eve"}
    spring = world["spring"].pk
    not_clicked = {"engagement": "not_clicked", "campaignId": spring, "withinDays": 7}
    assert members(not_clicked) == {"bob", "cy", "eve"}
    # Fay never received anything: "did not open" says nothing about her.
    assert "fay" not in members({"engagement": "not_opened", "withinDays": 3650})


def test_engagement_combines_with_attributes_and_groups(world):
    spring = world["spring"].pk
    clicked = {"engagement": "clicked", "campaignId": spring, "withinDays": 30}
    assert members(clicked, {"field": "attributes.n", "op": "gt", "value": 0}) == set()
    assert members(
        clicked, {"field": "email", "op": "eq", "value": "fay@example.com"}, kind="any"
    ) == {
        "ann",
        "fay",
    }
    nested = {"all": [{"field": "attributes.n", "op": "lte", "value": 4}, {"any": [clicked]}]}
    assert {p.email for p in Profile.objects.filter(compile_rule(nested))} == {"ann@example.com"}


@pytest.mark.parametrize(
    "condition, path",
    [
        ({"engagement": "liked", "withinDays": 7}, "rule.all.0.engagement"),
        ({"engagement": "opened"}, "rule.all.0.withinDays"),
        ({"engagement": "opened", "withinDays": 0}, "rule.all.0.withinDays"),
        ({"engagement": "opened", "withinDays": "7"}, "rule.all.0.withinDays"),
        ({"engagement": "opened", "withinDays": True}, "rule.all.0.withinDays"),
        ({"engagement": "opened", "withinDays": 99999}, "rule.all.0.withinDays"),
        ({"engagement": "opened", "withinDays": 7, "campaignId": "x"}, "rule.all.0.campaignId"),
        ({"engagement": "opened", "withinDays": 7, "campaignId": 0}, "rule.all.0.campaignId"),
        (
            {"engagement": "opened", "withinDays": 7, "includeMachine": "yes"},
            "rule.all.0.includeMachine",
        ),
        ({"engagement": "opened", "withinDays": 7, "op": "eq"}, "rule.all.0"),
    ],
)
def test_bad_engagement_conditions_name_the_problem(db, condition, path):
    with pytest.raises(RuleError) as caught:
        compile_rule({"all": [condition]})
    assert path in caught.value.errors


# --- the API -------------------------------------------------------------------


def test_the_api_builds_a_clicked_campaign_audience(world, api_for, manager):
    rule = {"all": [{"engagement": "clicked", "campaignId": world["spring"].pk, "withinDays": 30}]}
    response = api_for(manager).post("/audiences", {"name": "Clicked spring", "rule": rule})
    assert response.status_code == 201, response.content
    assert response.json()["size"] == 1
    audience = Audience.objects.get(name="Clicked spring")
    assert audience.rule == rule
    assert api_for(manager).get(f"/audiences/{audience.pk}").json()["size"] == 1


def test_a_hidden_or_unknown_campaign_is_refused_alike(world, api_for, manager):
    api = api_for(manager)
    answers = []
    for campaign_id in (world["secret"].pk, 999999):
        rule = {"all": [{"engagement": "clicked", "campaignId": campaign_id, "withinDays": 30}]}
        response = api.post("/audiences", {"name": "Probe", "rule": rule})
        assert response.status_code == 400
        assert response["Content-Type"].startswith("application/problem+json")
        errors = response.json()["errors"]
        assert list(errors) == ["rule.all.0.campaignId"]
        answers.append(errors["rule.all.0.campaignId"][0].replace(str(campaign_id), "N"))
        preview = api.post("/audiences/preview", {"rule": rule})  # no count of who clicked it
        assert preview.status_code == 400 and "size" not in preview.json()
    assert answers[0] == answers[1]  # nothing tells a hidden campaign from a missing one
    assert "Secret" not in str(answers)
    assert not Audience.objects.filter(name="Probe").exists()


def test_a_granted_user_may_name_a_restricted_campaign(world, api_for, manager):
    assign_perm("campaigns.view_campaign", manager, world["secret"])
    rule = {"all": [{"engagement": "clicked", "campaignId": world["secret"].pk, "withinDays": 7}]}
    response = api_for(manager).post("/audiences", {"name": "Secret clickers", "rule": rule})
    assert response.status_code == 201 and response.json()["size"] == 1
    assert Audience.objects.get(name="Secret clickers").restricted  # review 4 #10


def test_patching_in_a_hidden_campaign_is_refused_and_changes_nothing(world, api_for, manager):
    audience = audience_create_rule(
        name="Openers", rule={"all": [{"engagement": "opened", "withinDays": 7}]}, actor=manager
    )
    hidden = {"all": [{"engagement": "opened", "campaignId": world["secret"].pk, "withinDays": 7}]}
    response = api_for(manager).patch(f"/audiences/{audience.pk}", {"rule": hidden})
    assert response.status_code == 400
    audience.refresh_from_db()
    assert audience.rule == {"all": [{"engagement": "opened", "withinDays": 7}]}


def test_a_rule_naming_a_hidden_campaign_can_still_be_renamed(world, api_for, manager, make_user):
    boss = make_user("root", superuser=True)
    rule = {"all": [{"engagement": "clicked", "campaignId": world["secret"].pk, "withinDays": 7}]}
    audience = audience_create_rule(name="Secret clickers", rule=rule, actor=boss)
    # Naming a restricted campaign restricts the audience (review 4 #10): the
    # superuser shares it on purpose with the manager, not with everyone.
    assert audience.restricted
    assert api_for(manager).get(f"/audiences/{audience.pk}").status_code == 404
    assign_perm("audiences.change_audience", manager, audience)
    response = api_for(manager).patch(f"/audiences/{audience.pk}", {"name": "Renamed"})
    assert response.status_code == 200
    audience.refresh_from_db()
    assert (audience.name, audience.rule) == ("Renamed", rule)


# --- the rule builder page -----------------------------------------------------


def builder_post(engagement: str, campaign: str, days: str, **extra) -> dict:
    return {
        "name": "Retarget",
        "match": "all",
        "c-TOTAL_FORMS": "1",
        "c-INITIAL_FORMS": "0",
        "c-0-field": "",
        "c-0-op": "eq",
        "c-0-value": "",
        "e-TOTAL_FORMS": "1",
        "e-INITIAL_FORMS": "0",
        "e-0-engagement": engagement,
        "e-0-campaign": campaign,
        "e-0-within_days": days,
        "save": "1",
        **extra,
    }


def test_the_builder_lists_only_campaigns_the_user_may_see(world, login, manager):
    html = login(manager).get("/audiences/new/").content.decode()
    assert 'name="e-0-engagement"' in html
    assert f'<option value="{world["spring"].pk}">Spring sale</option>' in html
    assert "Secret launch" not in html


def test_the_builder_saves_an_engagement_condition(world, login, manager):
    spring = world["spring"].pk
    response = login(manager).post(
        "/audiences/new/",
        builder_post("not_clicked", str(spring), "7", **{"e-0-include_machine": "on"}),
    )
    assert response.status_code == 302
    audience = Audience.objects.get(name="Retarget")
    assert audience.rule == {
        "all": [
            {
                "engagement": "not_clicked",
                "withinDays": 7,
                "campaignId": spring,
                "includeMachine": True,
            }
        ]
    }
    assert audience.size == 2  # cy, eve (bob's scanner click counts when machines do)
    detail = login(manager).get(f"/audiences/{audience.pk}/").content.decode()
    assert f"campaign #{spring}" in detail
    edit = login(manager).get(f"/audiences/{audience.pk}/edit/").content.decode()
    assert f'<option value="{spring}" selected>Spring sale</option>' in edit


def test_the_builder_refuses_a_hidden_campaign_at_its_row(world, login, manager):
    response = login(manager).post(
        "/audiences/new/", builder_post("clicked", str(world["secret"].pk), "7")
    )
    assert response.status_code == 200
    assert not Audience.objects.filter(name="Retarget").exists()
    html = response.content.decode()
    assert "Secret launch" not in html
    preview = login(manager).post(
        "/audiences/preview/", builder_post("clicked", str(world["secret"].pk), "7")
    )
    assert preview.json()["size"] is None


def test_the_builders_live_preview_counts_an_engagement_condition(world, login, manager):
    response = login(manager).post(
        "/audiences/preview/", builder_post("clicked", str(world["spring"].pk), "60")
    )
    assert response.json()["size"] == 2
