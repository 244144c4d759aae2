"""Experiments (SPEC §13): shape checks, the statistics, the API and the pages.

The engine's side (assignment while materializing, holdout, test phase, the
winner) is in test_experiments_engine.py.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from campaigns import services
from campaigns.experiments import (
    assign,
    difference_interval,
    normalize_experiment,
    unit_pair,
    variant_content,
    wilson_interval,
)
from campaigns.models import Campaign
from tests.campaigns.lifecycle_helpers import GOOD_HTML, audience, email_config, sms_config

pytestmark = pytest.mark.usefixtures("no_worker")


def experiment(**over) -> dict:
    value = {
        "variants": [
            {"name": "A", "weight": 1, "content": {}},
            {
                "name": "B",
                "weight": 1,
                "content": {"subject": "Last chance, {{ profile.firstName }}"},
            },
        ],
        "holdoutPercent": 10,
    }
    value.update(over)
    return value


# --- statistics against published values ---------------------------------------


def test_wilson_interval_matches_published_values():
    # Newcombe (1998a), Statistics in Medicine 17:857, table I: 81/263 and 0/20.
    low, high = wilson_interval(81, 263)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    low, high = wilson_interval(0, 20)
    assert (round(low, 4), round(high, 4)) == (0.0, 0.1611)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        # Newcombe (1998b), Statistics in Medicine 17:873, table II, method 10.
        ((56, 70, 48, 80), (0.0524, 0.3339)),
        ((9, 10, 3, 10), (0.1705, 0.8090)),
        ((6, 7, 2, 7), (0.0582, 0.8062)),
        ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ],
)
def test_difference_interval_is_newcombes_hybrid_score_interval(counts, expected):
    difference, low, high = difference_interval(*counts)
    assert round(difference, 4) == round(counts[0] / counts[1] - counts[2] / counts[3], 4)
    assert (round(low, 4), round(high, 4)) == expected


def test_difference_interval_needs_sends_on_both_sides():
    assert difference_interval(0, 0, 5, 10) is None
    assert difference_interval(5, 10, 0, 0) is None


# --- assignment -------------------------------------------------------------------


def test_assignment_is_a_stable_function_of_campaign_and_profile():
    shape = normalize_experiment("email", experiment(testPercent=30))
    assert unit_pair(7, 42) == unit_pair(7, 42)
    assert unit_pair(7, 42) != unit_pair(8, 42)
    first = [assign(shape, 7, pk) for pk in range(1, 3001)]
    assert first == [assign(shape, 7, pk) for pk in range(1, 3001)]
    names = [name for name, _test in first]
    # 10 % holdout, the rest halved: a binomial spread of a few standard deviations.
    assert abs(names.count("holdout") - 300) < 4 * (3000 * 0.1 * 0.9) ** 0.5
    assert abs(names.count("A") - names.count("B")) < 8 * (2700 * 0.25) ** 0.5
    in_test = [test for name, test in first if name != "holdout"]
    assert abs(sum(in_test) - 0.3 * len(in_test)) < 4 * (len(in_test) * 0.21) ** 0.5


def test_weights_share_the_audience_in_proportion():
    shape = normalize_experiment(
        "email",
        {
            "variants": [
                {"name": "A", "weight": 3, "content": {}},
                {"name": "B", "weight": 1, "content": {}},
            ],
            "holdoutPercent": 0,
        },
    )
    names = [assign(shape, 1, pk)[0] for pk in range(1, 4001)]
    assert abs(names.count("A") - 3000) < 4 * (4000 * 0.75 * 0.25) ** 0.5


def test_a_variant_overrides_only_its_own_fields_and_translations():
    base = {
        "subject": "Hi",
        "html": "<p>Hi</p>",
        "translations": {"fr": {"subject": "Salut", "html": "<p>Salut</p>"}},
    }
    merged = variant_content(
        base, {"subject": "Hey", "translations": {"fr": {"subject": "Coucou"}}}
    )
    assert merged["subject"] == "Hey" and merged["html"] == "<p>Hi</p>"
    assert merged["translations"]["fr"] == {"subject": "Coucou", "html": "<p>Salut</p>"}
    assert base["translations"]["fr"]["subject"] == "Salut"  # the campaign's own is untouched


# --- validation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"variants": [{"name": "A", "weight": 1, "content": {}}]}, "experiment.variants"),
        (
            {"variants": [{"name": n, "weight": 1, "content": {}} for n in "ABCDEF"]},
            "experiment.variants",
        ),
        (
            {"variants": [{"name": "A", "weight": 0}, {"name": "B", "weight": 1}]},
            "experiment.variants.0.weight",
        ),
        (
            {"variants": [{"name": "A", "weight": 1}, {"name": "B", "weight": -2}]},
            "experiment.variants.1.weight",
        ),
        (
            {"variants": [{"name": "A", "weight": 1}, {"name": "a", "weight": 1}]},
            "experiment.variants.1.name",
        ),
        (
            {"variants": [{"name": "", "weight": 1}, {"name": "B", "weight": 1}]},
            "experiment.variants.0.name",
        ),
        ({"holdoutPercent": 51}, "experiment.holdoutPercent"),
        ({"holdoutPercent": -1}, "experiment.holdoutPercent"),
        ({"testPercent": 0}, "experiment.testPercent"),
        ({"testPercent": 101}, "experiment.testPercent"),
        ({"winnerMetric": "revenue"}, "experiment.winnerMetric"),
        ({"testHours": 0}, "experiment.testHours"),
        ({"autoWinner": "yes"}, "experiment.autoWinner"),
        ({"colour": "red"}, "experiment.colour"),
        (
            {"variants": [{"name": "A", "weight": 1}, {"name": "B", "content": {"subjet": "x"}}]},
            "experiment.variants.1.content.subjet",
        ),
        (
            {
                "variants": [
                    {"name": "A", "weight": 1},
                    {"name": "B", "content": {"translations": {"not a language!": {}}}},
                ]
            },
            "experiment.variants.1.content.translations.not a language!",
        ),
    ],
)
def test_a_bad_experiment_is_refused_naming_the_field(over, field):
    with pytest.raises(ValidationError) as caught:
        normalize_experiment("email", experiment(**over))
    assert field in caught.value.message_dict


def test_opens_cannot_pick_an_sms_winner_and_api_campaigns_have_no_experiments():
    with pytest.raises(ValidationError) as caught:
        normalize_experiment("sms", experiment(winnerMetric="opens"))
    assert "experiment.winnerMetric" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        normalize_experiment("email", experiment(), campaign_type="api_triggered")
    assert "experiment" in caught.value.message_dict


def test_defaults_are_filled_in():
    shape = normalize_experiment("email", experiment())
    assert shape == {
        "variants": [
            {"name": "A", "weight": 1, "content": {}},
            {
                "name": "B",
                "weight": 1,
                "content": {"subject": "Last chance, {{ profile.firstName }}"},
            },
        ],
        "holdoutPercent": 10,
        "testPercent": None,
        "winnerMetric": "clicks",
        "testHours": 24,
        "autoWinner": True,
    }


def _draft(manager):
    return services.campaign_create(
        actor=manager,
        name="Spring sale",
        channel_configuration=email_config(),
        audience=audience(),
        content={"subject": "Hi", "html": GOOD_HTML, "text": "Hi"},
    )


def test_a_variant_template_error_is_refused_at_save_with_its_line(manager):
    campaign = _draft(manager)
    bad = experiment()
    bad["variants"][1]["content"] = {"html": "<p>fine</p>\n<p>{{ profile.name </p>"}
    with pytest.raises(ValidationError) as caught:
        services.campaign_update(campaign=campaign, actor=manager, experiment=bad)
    messages = caught.value.message_dict["experiment.variants.1.content.html"]
    assert "line 2" in messages[0]
    campaign.refresh_from_db()
    assert campaign.draft_version.experiment is None  # nothing half-written


# --- API ----------------------------------------------------------------------------


def _create_body(config, aud, **over):
    body = {
        "name": "A/B",
        "type": "scheduled",
        "category": "marketing",
        "channelConfigurationId": config.pk,
        "audienceId": aud.pk,
        "content": {"subject": "Hi", "html": GOOD_HTML, "text": "Hi"},
        "experiment": experiment(testPercent=20, testHours=6, winnerMetric="opens"),
    }
    body.update(over)
    return body


def test_api_create_patch_and_get_carry_the_experiment(manager, api_for):
    api = api_for(manager)
    response = api.post("/campaigns", _create_body(email_config(), audience()))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["experiment"]["variants"][1]["name"] == "B"
    assert body["experiment"]["testPercent"] == 20
    assert body["experiment"]["autoWinner"] is True
    pk = body["id"]

    response = api.patch(f"/campaigns/{pk}", {"experiment": experiment(holdoutPercent=25)})
    assert response.status_code == 200, response.content
    assert api.get(f"/campaigns/{pk}").json()["experiment"]["holdoutPercent"] == 25

    # Other edits keep it; null removes it.
    assert api.patch(f"/campaigns/{pk}", {"name": "Renamed"}).json()["experiment"] is not None
    assert api.patch(f"/campaigns/{pk}", {"experiment": None}).json()["experiment"] is None


def test_api_refuses_a_bad_experiment_as_a_problem_naming_the_fields(manager, api_for):
    api = api_for(manager)
    bad = experiment(holdoutPercent=80)
    bad["variants"][1]["weight"] = 0
    response = api.post("/campaigns", _create_body(email_config(), audience(), experiment=bad))
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    errors = response.json()["errors"]
    assert {"experiment.holdoutPercent", "experiment.variants.1.weight"} <= set(errors)
    assert not Campaign.objects.exists()

    response = api.post(
        "/campaigns",
        _create_body(
            sms_config(),
            audience(),
            content={"text": "Hi"},
            experiment=experiment(winnerMetric="opens"),
        ),
    )
    assert response.status_code == 400
    assert "experiment.winnerMetric" in response.json()["errors"]


# --- the edit page ------------------------------------------------------------------


def _form_data(campaign, **over) -> dict:
    from campaigns.forms import CampaignEditForm

    version = campaign.draft_version
    initial = CampaignEditForm.initial_for(campaign, version)
    data = {
        key: value
        for key, value in initial.items()
        if value is not None and not isinstance(value, list | bool)
    }
    data.update(
        {
            "channel_configuration": version.channel_configuration_id,
            "audience": version.audience_id,
            "track_opens": "on",
            "track_clicks": "on",
        }
    )
    data.pop("experiment_on", None)
    data.pop("experiment_auto", None)
    data.update(over)
    return data


def test_the_edit_page_sets_up_an_ab_test_with_a_holdout(manager, login):
    campaign = _draft(manager)
    client = login(manager)
    page = client.get(f"/campaigns/{campaign.pk}/edit/")
    assert page.status_code == 200
    assert b'id="step-experiment"' in page.content
    data = _form_data(
        campaign,
        experiment_on="on",
        experiment_holdout="10",
        experiment_metric="clicks",
        experiment_test_percent="20",
        experiment_test_hours="4",
        experiment_auto="on",
        variant_0_name="A",
        variant_0_weight="1",
        variant_1_name="B",
        variant_1_weight="1",
        variant_1_subject="Only today",
    )
    response = client.post(f"/campaigns/{campaign.pk}/edit/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    campaign.refresh_from_db()
    assert campaign.draft_version.experiment == {
        "variants": [
            {"name": "A", "weight": 1, "content": {}},
            {"name": "B", "weight": 1, "content": {"subject": "Only today"}},
        ],
        "holdoutPercent": 10,
        "testPercent": 20,
        "winnerMetric": "clicks",
        "testHours": 4,
        "autoWinner": True,
    }
    # Shown again as saved.
    page = client.get(f"/campaigns/{campaign.pk}/edit/").content.decode()
    assert 'value="Only today"' in page
    detail = client.get(f"/campaigns/{campaign.pk}/?version=draft").content.decode()
    assert 'id="experiment-summary"' in detail and "holdout 10 %" in detail


def test_the_edit_page_shows_experiment_errors_next_to_the_fields(manager, login):
    campaign = _draft(manager)
    client = login(manager)
    data = _form_data(
        campaign,
        experiment_on="on",
        experiment_holdout="10",
        experiment_metric="clicks",
        variant_0_name="A",
        variant_0_weight="1",
        variant_1_name="B",
        variant_1_weight="1",
        variant_1_subject="{% if %}",
    )
    response = client.post(f"/campaigns/{campaign.pk}/edit/", data)
    assert response.status_code == 200
    form = response.context["form"]
    assert "variant_1_subject" in form.errors
    campaign.refresh_from_db()
    assert campaign.draft_version.experiment is None

    data.update(variant_1_name="", variant_1_subject="")  # one variant only
    response = client.post(f"/campaigns/{campaign.pk}/edit/", data)
    assert response.status_code == 200
    assert "experiment_on" in response.context["form"].errors


def test_turning_the_test_off_on_the_edit_page_removes_it(manager, login):
    campaign = _draft(manager)
    services.campaign_update(campaign=campaign, actor=manager, experiment=experiment())
    client = login(manager)
    response = client.post(f"/campaigns/{campaign.pk}/edit/", _form_data(campaign))
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.draft_version.experiment is None


def test_review_refuses_an_ab_test_without_the_tracking_its_winner_needs(manager):
    from campaigns.review import review_campaign

    campaign = _draft(manager)
    services.campaign_update(
        campaign=campaign, actor=manager, experiment=experiment(), track_clicks=False
    )
    campaign.refresh_from_db()
    assert "experiment_untracked" in review_campaign(campaign).codes()
    services.campaign_update(campaign=campaign, actor=manager, track_clicks=True)
    campaign.refresh_from_db()
    assert "experiment_untracked" not in review_campaign(campaign).codes()
