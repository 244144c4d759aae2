"""Low findings earlier reviews left open, closed.

Review 9 #2: the review's forecast (``campaigns/forecast.py``) read the eligible
profiles of each other campaign in a cap's window with a statement each, plus
a statement of runs per recurring campaign: its statements grew with the
campaigns scheduled. It now reads them in one ``UNION ALL`` statement (and the
runs in one), with the same figures.

Review 8 #4: a unitary trigger naming a person hidden from the key's owner
(known only through restricted audiences they may not see) was accepted with
``rejected: []`` — though the dispatcher never sends to them — while an
unknown address is rejected ``unknown_recipient``: "a profile hidden from me"
told from "no such profile". SPEC §2/§7 answer what a key may not see as what
does not exist, and the answer's ``rejected`` lists who is not sent: a hidden
person is now answered exactly as an unknown one, on the lean WSGI path and
through Django alike.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from guardian.shortcuts import assign_perm

from audiences.models import Audience, AudienceMember, Profile
from campaigns.forecast import forecast
from campaigns.models import BusinessRule, Campaign, Run
from tests.campaigns.conftest import make_campaign, make_profiles, upload_audience
from tests.campaigns.test_trigger_hot_path import api_campaign, key_of  # noqa: F401
from tests.campaigns.test_trigger_lean import DJANGO, LEAN, call

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, 13, 0, tzinfo=UTC)
START = datetime(2026, 6, 3, 0, 0, tzinfo=UTC)  # the 48-hour window opens 1 June 00:00
DAILY = {"frequency": "daily", "time": "12:00"}  # 1 and 2 June 12:00 are in the window


def _fixture(pairs: int, tag: str = "s"):
    """``pairs`` one-shot campaigns scheduled in the window and as many daily
    recurring ones (two occurrences each in the window), plus one recurring
    campaign whose first occurrence in the window has started. Cap: at most 3
    messages in 48 hours. Who reaches whom:

    - ``every`` (3): every other campaign — 3 sends at least: held back;
    - ``both`` (2): the first recurring (2) and the first one-shot (1) — 3: held back;
    - ``recurring`` (2): the first recurring only — 2: sent;
    - ``one_shot`` (2): the first one-shot only — 1: sent;
    - ``started`` (2): the started recurring campaign (one occurrence left) and
      the first one-shot — 2: sent (3 if the started run were not seen);
    - ``nobody`` (1).

    So 5 held back, whatever ``pairs``."""
    BusinessRule.objects.create(
        name="Three in two days", channel="email", cap_max_messages=3, cap_window_hours=48
    )
    every = make_profiles(3, prefix=f"{tag}every")
    both = make_profiles(2, prefix=f"{tag}both")
    recurring = make_profiles(2, prefix=f"{tag}recur")
    one_shot = make_profiles(2, prefix=f"{tag}oneshot")
    started = make_profiles(2, prefix=f"{tag}started")
    nobody = make_profiles(1, prefix=f"{tag}nobody")
    for i in range(pairs):
        first = i == 0
        make_campaign(
            upload_audience(every + (both + one_shot + started if first else []), name=f"O{i}"),
            status="scheduled",
            start_at=START - timedelta(hours=1),
        )
        make_campaign(
            upload_audience(every + (both + recurring if first else []), name=f"R{i}"),
            status="live",
            recurrence=DAILY,
            timezone="UTC",
        )
    half = make_campaign(
        upload_audience(started, name="Half"), status="live", recurrence=DAILY, timezone="UTC"
    )
    Run.objects.create(
        campaign=half,
        version=half.live_version,
        kind=Run.Kind.OCCURRENCE,
        status=Run.Status.COMPLETED,
        scheduled_for=datetime(2026, 6, 1, 12, 0, tzinfo=UTC),
    )
    audience = upload_audience(every + both + recurring + one_shot + started + nobody, name="Ours")
    campaign = make_campaign(audience, status="draft", start_at=START)
    return Campaign.objects.get(pk=campaign.pk)


def _statements(campaign) -> tuple[dict, int]:
    with CaptureQueriesContext(connection) as queries:
        result = forecast(campaign, campaign.live_version)
    return result, len(queries.captured_queries)


def test_the_forecast_reads_a_constant_number_of_statements_with_the_same_figures(db):
    with time_machine.travel(NOW, tick=False):
        small = _fixture(1)  # 2 campaigns (+ the started one)
        small_result, small_count = _statements(small)
        assert small_result == {"frequency_cap": 5}
        # Out of every window: the second fixture's campaigns are the only ones.
        Campaign.objects.update(status="completed")
        BusinessRule.objects.all().delete()
        large = _fixture(4, tag="l")  # 8 campaigns (+ the started one)
        large_result, large_count = _statements(large)
    assert large_result == {"frequency_cap": 5}
    assert large_count == small_count, (small_count, large_count)


# --- review 8 #4: a hidden person is answered as an unknown one ---------------


@pytest.fixture
def vip(db):
    audience = Audience.objects.create(name="VIP", kind="upload", restricted=True, size=1)
    secret = Profile.objects.create(email="secret@example.com")
    AudienceMember.objects.create(audience=audience, profile=secret)
    Profile.objects.create(email="public@example.com")
    return audience


def _body(campaign, request_id, *addresses):
    return {
        "requestId": request_id,
        "campaignId": campaign.pk,
        "recipients": [{"userId": a, "namespace": "email", "context": {}} for a in addresses],
    }


def _rejected(answer) -> list:
    assert answer[0] == "202 Accepted", answer
    return json.loads(answer[2])["rejected"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("app", [LEAN, DJANGO], ids=["lean", "django"])
def test_a_hidden_person_is_answered_as_an_unknown_one(app, vip, key_of, manager):
    campaign = api_campaign()
    key = key_of(manager)
    hidden = _rejected(
        call(app, "unitary", key=key, body=_body(campaign, "h", "secret@example.com"))
    )
    unknown = _rejected(
        call(app, "unitary", key=key, body=_body(campaign, "u", "nobody@example.com"))
    )
    assert hidden == [{"userId": "secret@example.com", "reason": "unknown_recipient"}]
    assert unknown == [{"userId": "nobody@example.com", "reason": "unknown_recipient"}]
    both = _body(campaign, "b", "secret@example.com", "public@example.com")
    assert _rejected(call(app, "unitary", key=key, body=both)) == hidden
    # Nobody stored for them: the dispatcher has nothing to drop.
    stored = Run.objects.get(campaign=campaign, request_id="h")
    assert stored.recipients == []


@pytest.mark.django_db(transaction=True)
def test_both_paths_answer_a_hidden_person_byte_for_byte(vip, key_of, manager):
    """Django alone answers the lean path's trigger (a replay), and computes its
    own for the same body under another requestId: the same bytes but the ids."""
    campaign = api_campaign()
    key = key_of(manager)
    with time_machine.travel(NOW, tick=False):
        lean = call(LEAN, "unitary", key=key, body=_body(campaign, "h-1", "secret@example.com"))
        replay = call(DJANGO, "unitary", key=key, body=_body(campaign, "h-1", "secret@example.com"))
        django = call(DJANGO, "unitary", key=key, body=_body(campaign, "h-2", "secret@example.com"))
    assert lean == replay
    assert lean[0] == django[0]

    def headers(answer):  # the length follows the ids' digits
        return [h for h in answer[1] if h[0] != "Content-Length"]

    assert headers(lean) == headers(django)
    first, second = json.loads(lean[2]), json.loads(django[2])
    for answer in (first, second):
        del answer["executionId"], answer["requestId"]
    assert first == second


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("app", [LEAN, DJANGO], ids=["lean", "django"])
def test_a_granted_or_superuser_key_still_reaches_them(app, vip, key_of, manager, make_user):
    campaign = api_campaign()
    assign_perm("audiences.view_audience", manager, vip)
    assert (
        _rejected(
            call(
                app, "unitary", key=key_of(manager), body=_body(campaign, "g", "secret@example.com")
            )
        )
        == []
    )
    root = make_user("root", superuser=True)
    assert (
        _rejected(
            call(app, "unitary", key=key_of(root), body=_body(campaign, "s", "secret@example.com"))
        )
        == []
    )
    stored = Run.objects.get(request_id="g").recipients
    assert [r["value"] for r in stored] == ["secret@example.com"]


@pytest.mark.django_db(transaction=True)
def test_a_visible_single_recipient_still_takes_the_one_statement_path(
    vip, key_of, manager, monkeypatch
):
    """The hidden check costs an accepted trigger no statement: a person in no
    restricted audience is accepted by the guarded INSERT alone, the full
    path's SELECT never runs (an installation with restricted audiences too)."""
    from campaigns.engine import executions

    def full_path(*args, **kwargs):
        raise AssertionError("the full path ran")

    monkeypatch.setattr(executions, "_known_profiles", full_path)
    campaign = api_campaign()
    key = key_of(manager)
    for app, request_id in ((LEAN, "x-1"), (DJANGO, "x-2")):
        answer = call(
            app, "unitary", key=key, body=_body(campaign, request_id, "public@example.com")
        )
        assert _rejected(answer) == []
