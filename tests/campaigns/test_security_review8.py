"""Security review 8 (issue 10): probes of the trigger routes' lean WSGI path
(config/hotpath.py) against Django's answer, and of review 6's fixes.

Each probe sends the same request through ``config.wsgi.application`` (the lean
path in front of Django) and through Django's handler alone: the lean path may
only ever accept what Django accepts.
"""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group
from guardian.shortcuts import assign_perm, remove_perm

from accounts import keycache
from accounts.models import ApiKey
from audiences.models import Profile
from campaigns.engine import executions
from campaigns.models import Campaign, Run
from tests.campaigns.test_trigger_hot_path import api_campaign, key_of, unitary  # noqa: F401
from tests.campaigns.test_trigger_lean import LEAN, call, fresh_apps

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fresh_memories():
    keycache.forget()
    executions.forget_snapshots()
    yield
    keycache.forget()
    executions.forget_snapshots()


@pytest.fixture
def known(db):
    return Profile.objects.create(email="known@example.com")


def _status(answer):
    return answer[0].split()[0]


ENVIRON_TRICKS = {
    "script name prefix": {"SCRIPT_NAME": "/volley"},
    "lower-case method": {"REQUEST_METHOD": "post"},
    "trailing slash": {"PATH_INFO": "/api/v1/executions/unitary/"},
    "double slash": {"PATH_INFO": "//api/v1/executions/unitary"},
    "encoded path": {"PATH_INFO": "/api/v1/executions/unit%61ry"},
    "chunked": {"HTTP_TRANSFER_ENCODING": "chunked"},
    "content-length short": {"CONTENT_LENGTH": "10"},
    "content-length negative": {"CONTENT_LENGTH": "-1"},
    "content-length junk": {"CONTENT_LENGTH": "12x"},
    "forged counter header": {"HTTP_VOLLEY.RATE_COUNTED": "1", "HTTP_VOLLEY_RATE_COUNTED": "1"},
    "text/plain body": {"CONTENT_TYPE": "text/plain"},
    "multipart type": {"CONTENT_TYPE": "multipart/form-data; boundary=x"},
    "forwarded host": {"HTTP_X_FORWARDED_HOST": "evil.example"},
    "forwarded proto": {"HTTP_X_FORWARDED_PROTO": "https"},
    "basic scheme": {"HTTP_AUTHORIZATION": "Basic abc"},
    "bearer tab": {"HTTP_AUTHORIZATION": "Bearer\tx"},
}


@pytest.mark.parametrize("trick", sorted(ENVIRON_TRICKS))
def test_environ_tricks_are_answered_as_django_answers(trick, known, key_of, manager):
    campaign = api_campaign()
    key = key_of(manager)
    headers = dict(ENVIRON_TRICKS[trick])
    lean_app, django_app = fresh_apps()
    lean = call(lean_app, "unitary", key=key, body=unitary(campaign, "t-1"), headers=headers)
    stored = Run.objects.count()
    Run.objects.all().delete()
    keycache.forget()
    django = call(django_app, "unitary", key=key, body=unitary(campaign, "t-1"), headers=headers)
    assert _status(lean) == _status(django), (lean, django)
    assert stored == Run.objects.count()


def _forget_in_this_process_only(fn):
    """Do ``fn`` as another process would: the change's bump reaches the
    database, this process's key memory is kept."""
    saved = dict(keycache._entries)
    fn()
    keycache._entries.update(saved)


@pytest.mark.parametrize(
    "change", ["role removed", "deactivated", "revoked", "made viewer", "grant removed"]
)
def test_a_change_made_by_another_process_is_honoured_by_the_lean_path(
    change, known, key_of, manager, viewer
):
    from accounts.roles import MANAGER, VIEWER

    restricted = change == "grant removed"
    campaign = api_campaign()
    if restricted:
        Campaign.objects.filter(pk=campaign.pk).update(restricted=True)
        assign_perm("campaigns.change_campaign", manager, campaign)
        assign_perm("campaigns.view_campaign", manager, campaign)
    key = key_of(manager)
    assert _status(call(LEAN, "unitary", key=key, body=unitary(campaign, "first"))) == "202"

    def act():
        if change == "role removed":
            manager.groups.remove(Group.objects.get(name=MANAGER))
        elif change == "made viewer":
            manager.groups.set([Group.objects.get(name=VIEWER)])
        elif change == "deactivated":
            manager.is_active = False
            manager.save()
        elif change == "revoked":
            ApiKey.objects.filter(user=manager).update(revoked_at="2026-01-01T00:00:00Z")
        else:
            remove_perm("campaigns.change_campaign", manager, campaign)
            remove_perm("campaigns.view_campaign", manager, campaign)

    _forget_in_this_process_only(act)
    answer = call(LEAN, "unitary", key=key, body=unitary(campaign, "second"))
    assert _status(answer) in ("401", "403", "404"), answer
    assert not Run.objects.filter(request_id="second").exists()
    # Nor the audience route.
    assert Run.objects.count() == 1


def test_the_rate_limit_holds_on_the_lean_path(known, key_of, manager, settings):
    """Triggers through the lean path, some handed to Django (a bad body, an
    unknown campaign): no more than the limit is let through in a minute."""
    from accounts import ratelimit

    settings.API_RATE_LIMIT_PER_MINUTE = 4
    ratelimit._leases.clear()
    campaign = api_campaign()
    key = key_of(manager)
    answers = []
    for n in range(8):
        body = unitary(campaign, f"rl-{n}")
        if n % 3 == 1:
            body["campaignId"] = 999_999  # 404 from Django, after the lean path counted it
        answers.append(_status(call(LEAN, "unitary", key=key, body=body)))
    assert answers.count("429") == 4, answers
    assert answers[4:] == ["429"] * 4
    assert Run.objects.count() == sum(1 for a in answers if a == "202")


def test_the_remembered_role_does_not_outlive_the_key_memory(
    known, key_of, manager, monkeypatch
):
    """A role taken away without a signal (raw SQL: no ``auth_version`` bump)
    is honoured once the key memory's entry expires: ``_role_may``'s memo lives
    on the remembered user and goes with it."""
    from django.db import connection

    campaign = api_campaign()
    key = key_of(manager)
    assert _status(call(LEAN, "unitary", key=key, body=unitary(campaign, "a"))) == "202"
    with connection.cursor() as cursor:
        table = type(manager).groups.through._meta.db_table
        cursor.execute(f"DELETE FROM {table} WHERE user_id = %s", [manager.pk])
    now = keycache._clock()
    monkeypatch.setattr(keycache, "_clock", lambda: now + keycache.ttl() + 0.1)
    answer = call(LEAN, "unitary", key=key, body=unitary(campaign, "b"))
    assert _status(answer) == "404", answer
    assert not Run.objects.filter(request_id="b").exists()


def test_a_revoked_key_is_not_answered_a_replay(known, key_of, manager):
    """A key revoked by another process, still in this process's memory, sends
    a requestId already stored: the commit point refuses the key (401), rather
    than answering the stored trigger (202)."""
    campaign = api_campaign()
    key = key_of(manager)
    assert _status(call(LEAN, "unitary", key=key, body=unitary(campaign, "x"))) == "202"
    _forget_in_this_process_only(
        lambda: ApiKey.objects.filter(user=manager).update(revoked_at="2026-01-01T00:00:00Z")
    )
    lean_app, django_app = fresh_apps()
    lean = call(lean_app, "unitary", key=key, body=unitary(campaign, "x"))
    assert _status(lean) == "401", lean


# --- an upload queued before the approval, imported after it -----------------------


@pytest.fixture
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _import(audience, csv: bytes, actor):
    from django.core.files.base import ContentFile

    from audiences.importer import profile_import_create

    return profile_import_create(
        audience=audience, upload=ContentFile(csv), file_name="x.csv", actor=actor, enqueue=False
    )


def _members(audience):
    return sorted(audience.members.values_list("profile__email", flat=True))


@pytest.mark.parametrize("status", ["live", "scheduled", "in_review"])
def test_a_file_queued_before_the_approval_does_not_replace_the_approved_audience(
    status, manager, approver, media_in_tmp
):
    """Review 6 #2 refuses a new file into an upload audience used by a
    committed campaign, when it is uploaded. A file uploaded while the campaign
    was a draft, imported by the cluster once the campaign was approved (a
    large file, a busy or stopped cluster), still replaced who the approved
    campaign sends to, no approver involved."""
    from audiences.importer import profile_import_run
    from audiences.models import Audience, ProfileImport
    from tests.campaigns.lifecycle_helpers import force_status, ready_email

    members = Audience.objects.create(name="Members", kind="upload")
    first = _import(members, b"email\nann@example.com\n", manager)
    profile_import_run(import_id=first.pk)
    assert _members(members) == ["ann@example.com"]
    campaign = ready_email(None, name="Spring sale", audience=members)
    second = _import(members, b"email\nmallory@example.com\n", manager)  # a draft: allowed
    force_status(campaign, status)  # submitted, approved
    done = profile_import_run(import_id=second.pk)
    assert done.status == ProfileImport.Status.FAILED
    # Shown to whoever sees the audience: counted, not named.
    assert "1 other campaign" in done.error and "Spring sale" not in done.error
    assert _members(members) == ["ann@example.com"]
    # An approver's file queued the same way is imported, and any file into
    # an audience no committed campaign uses.
    third = _import(members, b"email\nbob@example.com\n", approver)
    assert profile_import_run(import_id=third.pk).status == ProfileImport.Status.SUCCEEDED
    assert _members(members) == ["bob@example.com"]


# --- "any campaign" engagement conditions and restricted campaigns ------------------


@pytest.fixture
def secret_and_spring(db):
    """A restricted campaign sent to (and clicked by) two people; an open one
    sent to a third."""
    from django.utils import timezone

    from campaigns.models import CampaignVersion, Delivery

    secret = Campaign.objects.create(name="Secret launch", status="completed", restricted=True)
    spring = Campaign.objects.create(name="Spring sale", status="completed")
    people = [Profile.objects.create(email=f"p{i}@example.com") for i in range(3)]
    for campaign, who in ((secret, people[:2]), (spring, people[2:])):
        version = CampaignVersion.objects.create(campaign=campaign)
        run = Run.objects.create(campaign=campaign, version=version, kind="api_audience", sent=2)
        for person in who:
            Delivery.objects.create(
                run=run,
                profile=person,
                status="sent",
                sent_at=timezone.now(),
                clicked_at=timezone.now(),
            )
    return {"secret": secret, "spring": spring, "people": people}


@pytest.mark.parametrize("engagement", ["received", "clicked", "not_opened"])
def test_any_campaign_engagement_does_not_tell_who_received_a_restricted_campaign(
    engagement, secret_and_spring, api_for, make_user
):
    """An audience naming a restricted campaign is restricted (review 4 #10),
    but a condition naming no campaign ("received any campaign in the last
    day") counted the restricted campaign's deliveries too: any manager saw,
    in an open audience's size and sample (one address at a time with an
    ``email eq`` condition), who received or clicked a campaign they may not
    see, beside the visible campaigns' own recipients lists."""
    from accounts.roles import MANAGER

    other = make_user("otto", MANAGER)
    rule = {"all": [{"engagement": engagement, "withinDays": 1}]}
    response = api_for(other).post("/audiences", {"name": "Anyone engaged", "rule": rule})
    assert response.status_code == 201, response.content
    audience = response.json()
    assert not audience.get("restricted")
    size = api_for(other).get(f"/audiences/{audience['id']}").json()["size"]
    assert size == 1  # p2, through the open campaign only
    probe = {
        "all": [
            {"engagement": engagement, "withinDays": 1},
            {"field": "email", "op": "eq", "value": "p0@example.com"},
        ]
    }
    response = api_for(other).post("/audiences", {"name": "Is p0 in it", "rule": probe})
    assert api_for(other).get(f"/audiences/{response.json()['id']}").json()["size"] == 0


# --- every role against open and restricted campaigns: lean == Django -------------


@pytest.mark.parametrize("role", ["viewer", "manager", "approver", "administrator", "outsider"])
@pytest.mark.parametrize("access", ["open", "restricted granted", "restricted"])
@pytest.mark.parametrize("route", ["unitary", "audience"])
def test_the_lean_path_accepts_exactly_what_django_accepts(
    role, access, route, known, key_of, request
):
    from audiences.models import Audience

    user = request.getfixturevalue(role)
    campaign = api_campaign()
    audience = Audience.objects.create(name="Everyone", kind="upload")
    type(campaign.live_version).objects.filter(pk=campaign.live_version_id).update(
        audience=audience
    )
    if access != "open":
        Campaign.objects.filter(pk=campaign.pk).update(restricted=True)
    if access == "restricted granted":
        assign_perm("campaigns.change_campaign", user, campaign)
    key = key_of(user)
    if route == "unitary":
        body = unitary(campaign, "m-1")
    else:
        body = {"requestId": "m-1", "campaignId": campaign.pk}
    lean_app, django_app = fresh_apps()
    lean = call(lean_app, route, key=key, body=body)
    lean_runs = Run.objects.count()
    Run.objects.all().delete()
    keycache.forget()
    executions.forget_snapshots()
    django = call(django_app, route, key=key, body=body)
    assert _status(lean) == _status(django), (lean, django)
    assert lean_runs == Run.objects.count()
    if _status(lean) != "202":
        assert lean[2] == django[2]
