"""Sixth outside review of issue 10 (docs/security-review-6.md): each test
reproduced its finding on the code before the fix. SQLite by default,
PostgreSQL + Redis with DATABASE_URL / REDIS_URL."""

from __future__ import annotations

import pytest
from guardian.shortcuts import assign_perm

from audiences.models import Audience, Profile
from audiences.services import audience_create_rule
from campaigns.models import Campaign, CampaignVersion, Delivery, Run

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser(make_user):
    return make_user("root", superuser=True)


# --- review 4 #10: an audience built on a restricted campaign's engagement -------


@pytest.fixture
def secret_clickers(db):
    """A restricted campaign that two people clicked and one other visible campaign."""
    from django.utils import timezone

    secret = Campaign.objects.create(name="Secret launch", status="completed", restricted=True)
    spring = Campaign.objects.create(name="Spring sale", status="completed")
    people = [Profile.objects.create(email=f"p{i}@example.com") for i in range(3)]
    for campaign in (secret, spring):
        version = CampaignVersion.objects.create(campaign=campaign)
        run = Run.objects.create(campaign=campaign, version=version, kind="api_audience", sent=2)
        for person in people[:2]:
            Delivery.objects.create(
                run=run,
                profile=person,
                status="sent",
                sent_at=timezone.now(),
                clicked_at=timezone.now(),
            )
    return {"secret": secret, "spring": spring, "people": people}


def _clicked(campaign) -> dict:
    return {"all": [{"engagement": "clicked", "campaignId": campaign.pk, "withinDays": 30}]}


def test_an_audience_naming_a_restricted_campaign_is_restricted_when_created(
    secret_clickers, api_for, login, make_user
):
    from accounts.roles import MANAGER, VIEWER

    granted = make_user("gran", MANAGER)
    assign_perm("campaigns.view_campaign", granted, secret_clickers["secret"])
    other, reader = make_user("otto", MANAGER), make_user("rita", VIEWER)
    rule = _clicked(secret_clickers["secret"])

    # through the API, not asking for a restriction
    response = api_for(granted).post("/audiences", {"name": "Secret clickers", "rule": rule})
    assert response.status_code == 201, response.content
    audience = Audience.objects.get(name="Secret clickers")
    assert audience.restricted
    assert api_for(granted).get(f"/audiences/{audience.pk}").json()["size"] == 2
    for outsider in (other, reader):
        assert api_for(outsider).get(f"/audiences/{audience.pk}").status_code == 404
        assert "Secret clickers" not in login(outsider).get("/audiences/").content.decode()
        assert login(outsider).get(f"/audiences/{audience.pk}/").status_code == 404

    # through the builder page, restricted unticked
    page = login(granted).post(
        "/audiences/new/",
        {
            "name": "Built on secret",
            "match": "all",
            "c-TOTAL_FORMS": "1",
            "c-INITIAL_FORMS": "0",
            "c-0-field": "",
            "c-0-op": "eq",
            "c-0-value": "",
            "e-TOTAL_FORMS": "1",
            "e-INITIAL_FORMS": "0",
            "e-0-engagement": "clicked",
            "e-0-campaign": str(secret_clickers["secret"].pk),
            "e-0-within_days": "30",
            "save": "1",
        },
    )
    assert page.status_code == 302
    built = Audience.objects.get(name="Built on secret")
    assert built.restricted
    assert login(other).get(f"/audiences/{built.pk}/").status_code == 404
    assert login(granted).get(f"/audiences/{built.pk}/").status_code == 200


def test_a_rule_changed_to_name_a_restricted_campaign_restricts_the_audience(
    secret_clickers, api_for, make_user
):
    from accounts.roles import MANAGER

    granted, other = make_user("gran", MANAGER), make_user("otto", MANAGER)
    assign_perm("campaigns.view_campaign", granted, secret_clickers["secret"])
    audience = audience_create_rule(
        name="Spring clickers", rule=_clicked(secret_clickers["spring"]), actor=granted
    )
    assert not audience.restricted
    response = api_for(granted).patch(
        f"/audiences/{audience.pk}", {"rule": _clicked(secret_clickers["secret"])}
    )
    assert response.status_code == 200, response.content
    audience.refresh_from_db()
    assert audience.restricted
    assert api_for(granted).get(f"/audiences/{audience.pk}").status_code == 200
    assert api_for(other).get(f"/audiences/{audience.pk}").status_code == 404


def test_such_an_audience_cannot_be_opened_again(
    secret_clickers, api_for, login, make_user, administrator
):
    from accounts.roles import MANAGER

    granted = make_user("gran", MANAGER)
    assign_perm("campaigns.view_campaign", granted, secret_clickers["secret"])
    assign_perm("campaigns.view_campaign", administrator, secret_clickers["secret"])
    audience = audience_create_rule(
        name="Secret clickers", rule=_clicked(secret_clickers["secret"]), actor=granted
    )
    assert audience.restricted
    # the creator manages its access; neither the API nor the page opens it
    response = api_for(granted).patch(f"/audiences/{audience.pk}", {"restricted": False})
    assert response.status_code == 400
    response = api_for(granted).put(
        f"/audiences/{audience.pk}/access", {"restricted": False, "grants": []}
    )
    assert response.status_code == 400
    page = login(granted).post(f"/audiences/{audience.pk}/access/", {"op": "restrict"})
    assert page.status_code == 400
    audience.refresh_from_db()
    assert audience.restricted
    # nor the admin (an administrator granted on both)
    assign_perm("audiences.change_audience", administrator, audience)
    admin = login(administrator).post(
        f"/admin/audiences/audience/{audience.pk}/change/",
        {
            "name": audience.name,
            "rule": '{"all": [{"engagement": "clicked", "campaignId": %d, "withinDays": 30}]}'
            % secret_clickers["secret"].pk,
            "restricted": "",
            "imports-TOTAL_FORMS": "0",
            "imports-INITIAL_FORMS": "0",
        },
    )
    assert admin.status_code == 200, admin.status_code
    audience.refresh_from_db()
    assert audience.restricted


def test_restricting_a_campaign_restricts_the_audiences_built_on_it(
    secret_clickers, api_for, make_user, superuser
):
    from accounts.roles import MANAGER

    spring = secret_clickers["spring"]
    author, other = make_user("auth", MANAGER), make_user("otto", MANAGER)
    audience = audience_create_rule(name="Spring clickers", rule=_clicked(spring), actor=author)
    assert not audience.restricted
    assign_perm("campaigns.view_campaign", author, spring)
    response = api_for(superuser).put(
        f"/campaigns/{spring.pk}/access", {"restricted": True, "grants": [{"user": "auth", "permission": "view"}]}
    )
    assert response.status_code == 200, response.content
    audience.refresh_from_db()
    assert audience.restricted
    assert api_for(other).get(f"/audiences/{audience.pk}").status_code == 404
    # its author, who may see the campaign, keeps it
    assert api_for(author).get(f"/audiences/{audience.pk}").json()["size"] == 2


def test_the_migration_restricts_existing_open_audiences_naming_one(secret_clickers, make_user):
    import importlib

    from django.apps import apps

    from accounts.permissions import can_see
    from accounts.roles import MANAGER

    author, other = make_user("auth", MANAGER), make_user("otto", MANAGER)
    rule = {"any": [{"all": [_clicked(secret_clickers["secret"])["all"][0]]}]}  # nested
    old = Audience.objects.create(name="Old", kind="rule", rule=rule, created_by=author)
    fine = Audience.objects.create(
        name="Fine", kind="rule", rule=_clicked(secret_clickers["spring"]), created_by=author
    )
    migration = importlib.import_module(
        "campaigns.migrations.0015_restrict_audiences_naming_restricted_campaigns"
    )
    migration.restrict(apps, None)
    old.refresh_from_db()
    fine.refresh_from_db()
    assert old.restricted and not fine.restricted
    author = type(author).objects.get(pk=author.pk)  # fresh permission cache
    assert can_see(author, old) and not can_see(other, old)


# --- an administrator taking over a pending invitee who holds more than they do ---


def _invitee_form(user, email: str) -> dict:
    return {
        "username": user.username,
        "email": email,
        "is_active": "on",
        "groups": [g.pk for g in user.groups.all()],
        "date_joined_0": "2026-01-01",
        "date_joined_1": "10:00:00",
    }


@pytest.mark.parametrize("holds", ["object_grant", "group_grant", "permission"])
def test_an_administrator_cannot_take_over_an_invitee_holding_more(
    holds, login, administrator, make_user, django_capture_on_commit_callbacks, mailoutbox
):
    """A superuser invites Nina and grants her a restricted campaign (or puts
    her in a group with such a grant, or gives her a permission administrators
    lack). Before she chooses a password, an administrator not granted the
    campaign changed her address to their own and sent a new invitation: the
    link let them set Nina's password and read the campaign as her."""
    from django.contrib.auth.models import Group, Permission

    from accounts.roles import MANAGER

    secret = Campaign.objects.create(name="Secret launch", restricted=True)
    nina = make_user("nina", MANAGER, email="nina@example.com")
    nina.set_unusable_password()
    nina.save()
    if holds == "object_grant":
        assign_perm("campaigns.view_campaign", nina, secret)
    elif holds == "group_grant":
        board = Group.objects.create(name="Board")
        assign_perm("campaigns.view_campaign", board, secret)
        nina.groups.add(board)
    else:
        nina.user_permissions.add(
            Permission.objects.get(content_type__app_label="django_q", codename="add_schedule")
        )
    client = login(administrator)
    client.post(f"/admin/auth/user/{nina.pk}/change/", _invitee_form(nina, "ada-owns@example.com"))
    nina.refresh_from_db()
    assert nina.email == "nina@example.com"
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/admin/auth/user/", {"action": "send_invitation", "_selected_action": [nina.pk]}
        )
    assert all("ada-owns@example.com" not in m.to for m in mailoutbox)
    assert mailoutbox == []  # an invitation for her is a superuser's to send again


def test_an_administrator_still_fixes_an_ordinary_invitees_address(
    login, administrator, make_user, django_capture_on_commit_callbacks, mailoutbox
):
    from accounts.roles import MANAGER

    nina = make_user("nina", MANAGER, email="nina@exmaple.com")
    nina.set_unusable_password()
    nina.save()
    client = login(administrator)
    client.post(f"/admin/auth/user/{nina.pk}/change/", _invitee_form(nina, "nina@example.com"))
    nina.refresh_from_db()
    assert nina.email == "nina@example.com"
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/admin/auth/user/", {"action": "send_invitation", "_selected_action": [nina.pk]}
        )
    assert [m.to for m in mailoutbox] == [["nina@example.com"]]


# --- re-importing an upload audience that decides who receives a committed campaign ---


@pytest.fixture
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.mark.parametrize("status", ["live", "scheduled", "in_review"])
def test_a_manager_cannot_reimport_an_upload_audience_in_use(
    status, api_for, login, manager, media_in_tmp
):
    """Changing a rule audience used by a committed campaign needs the
    permission to activate it (issue 10 #4); an upload audience's membership
    is its definition, but a manager re-imported it freely: a new file made an
    approved (live) campaign's next run go to other people, with no approver."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from audiences.models import ProfileImport
    from tests.campaigns.lifecycle_helpers import force_status, ready_email

    members = Audience.objects.create(name="Members", kind="upload")
    force_status(ready_email(None, name="Spring sale", audience=members), status)
    csv = b"email\nsomeone-else@example.com\n"
    from django.test import Client

    from accounts.services import api_key_create

    _key, plain = api_key_create(user=manager, name="t")
    answer = Client().post(
        "/api/v1/audiences/upload",
        {"audienceId": str(members.pk), "file": SimpleUploadedFile("x.csv", csv, "text/csv")},
        HTTP_AUTHORIZATION=f"Bearer {plain}",
    )
    assert answer.status_code == 409, answer.content
    assert "Spring sale" in answer.json()["detail"]
    page = login(manager).post(
        f"/audiences/{members.pk}/upload/",
        {"file": SimpleUploadedFile("x.csv", csv, "text/csv")},
    )
    assert page.status_code == 409
    assert "Spring sale" in page.content.decode()
    assert not ProfileImport.objects.filter(audience=members).exists()


def test_an_approver_may_reimport_it_and_anyone_an_unused_one(
    api_for, login, approver, manager, media_in_tmp
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from audiences.models import ProfileImport
    from tests.campaigns.lifecycle_helpers import force_status, ready_email

    members = Audience.objects.create(name="Members", kind="upload")
    spare = Audience.objects.create(name="Spare", kind="upload")
    force_status(ready_email(None, name="Spring sale", audience=members), "live")
    csv = b"email\nsomeone-else@example.com\n"
    page = login(approver).post(
        f"/audiences/{members.pk}/upload/", {"file": SimpleUploadedFile("x.csv", csv, "text/csv")}
    )
    assert page.status_code == 302
    page = login(manager).post(
        f"/audiences/{spare.pk}/upload/", {"file": SimpleUploadedFile("x.csv", csv, "text/csv")}
    )
    assert page.status_code == 302
    assert ProfileImport.objects.filter(audience__in=[members, spare]).count() == 2


# --- the admin's delivery-event log and the suppression list ---------------------


@pytest.fixture
def secret_mail(db):
    """A restricted campaign sent to Hugo (known only through a restricted
    upload audience) and to Olga (in an open one); the open campaign sent to
    Olga. Hugo clicked a personalized link and his mail server bounced; both
    are logged, and Hugo's address is on the suppression list."""
    from django.utils import timezone

    from audiences.models import AudienceMember, Suppression
    from channels.models import DeliveryEvent

    hugo = Profile.objects.create(email="hugo@secret.example", consent_email=True)
    olga = Profile.objects.create(email="olga@example.com", consent_email=True)
    board = Audience.objects.create(name="Board", kind="upload", restricted=True)
    AudienceMember.objects.create(audience=board, profile=hugo)
    everyone = Audience.objects.create(name="Everyone", kind="upload")
    AudienceMember.objects.create(audience=everyone, profile=olga)
    secret = Campaign.objects.create(name="Secret launch", status="completed", restricted=True)
    spring = Campaign.objects.create(name="Spring sale", status="completed")
    events = {}
    for campaign in (secret, spring):
        version = CampaignVersion.objects.create(campaign=campaign)
        run = Run.objects.create(campaign=campaign, version=version, kind="scheduled", sent=1)
        for person in (hugo, olga) if campaign is secret else (olga,):
            delivery = Delivery.objects.create(
                run=run, profile=person, status="sent", sent_at=timezone.now(),
                address=person.email,
            )
            events[(campaign.name, person.email)] = DeliveryEvent.objects.create(
                delivery=delivery,
                kind="click",
                channel="email",
                address=person.email,
                detail=f"https://{'secret-merger' if campaign is secret else 'shop'}.example/"
                f"?who={person.email}",
            )
    # a provider's STOP for Hugo's phone that named no message (no delivery)
    hugo.phone = "+15550001111"
    hugo.save()
    events["stop"] = DeliveryEvent.objects.create(
        kind="sms_stop", channel="sms", address="+15550001111"
    )
    Suppression.objects.create(channel="email", address="hugo@secret.example", reason="complaint")
    Suppression.objects.create(channel="sms", address="+15550001111", reason="unsubscribe")
    Suppression.objects.create(channel="email", address="olga@example.com", reason="hard_bounce")
    Suppression.objects.create(channel="email", address="nobody@example.com", reason="manual")
    return {"secret": secret, "spring": spring, "board": board, "events": events, "hugo": hugo}


def test_the_delivery_event_log_hides_restricted_campaigns_and_hidden_people(
    secret_mail, login, administrator, make_user
):
    """The admin's delivery events listed every event of every campaign: an
    administrator not granted a restricted campaign read who received it,
    what they clicked (personalized links) and their bounces — what review 4
    #4 withheld from the administrators' webhooks — and the addresses of
    people known only through a restricted audience."""
    client = login(administrator)
    page = client.get("/admin/channels/deliveryevent/").content.decode()
    assert "secret-merger" not in page
    assert "hugo@secret.example" not in page
    assert "+15550001111" not in page
    assert "olga@example.com" in page  # the open campaign's events stay
    shop = secret_mail["events"][("Spring sale", "olga@example.com")]
    shown = client.get(f"/admin/channels/deliveryevent/{shop.pk}/change/")
    assert shown.status_code == 200 and "shop.example" in shown.content.decode()
    for key in (("Secret launch", "olga@example.com"), ("Secret launch", "hugo@secret.example"), "stop"):
        event = secret_mail["events"][key]
        response = client.get(f"/admin/channels/deliveryevent/{event.pk}/change/")
        assert response.status_code == 302  # "does not exist", as for an unknown id
    searched = client.get("/admin/channels/deliveryevent/?q=hugo").content.decode()
    assert "hugo@secret.example" not in searched
    # granted both, they see them; a superuser always does
    assign_perm("campaigns.view_campaign", administrator, secret_mail["secret"])
    assign_perm("audiences.view_audience", administrator, secret_mail["board"])
    administrator = type(administrator).objects.get(pk=administrator.pk)
    page = login(administrator).get("/admin/channels/deliveryevent/").content.decode()
    assert "hugo@secret.example" in page and "+15550001111" in page
    secret_click = secret_mail["events"][("Secret launch", "hugo@secret.example")]
    detail = login(administrator).get(f"/admin/channels/deliveryevent/{secret_click.pk}/change/")
    assert "secret-merger" in detail.content.decode()
    root = make_user("root", superuser=True)
    page = login(root).get("/admin/channels/deliveryevent/").content.decode()
    assert "hugo@secret.example" in page and "+15550001111" in page


def test_the_suppression_list_hides_people_known_only_through_restricted_audiences(
    secret_mail, login, api_for, administrator, make_user
):
    """Administrators not granted a restricted audience read the addresses of
    its members on the suppression list (API and admin), with why they are
    there — how review 4 #4 treated their unsubscribes in webhooks."""
    from audiences.models import Suppression

    api = api_for(administrator)
    listed = api.get("/suppressions").json()
    addresses = {item["address"] for item in listed["items"]}
    assert addresses == {"olga@example.com", "nobody@example.com"}
    assert listed["count"] == 2
    assert api.get("/suppressions?search=hugo").json()["count"] == 0
    hidden = Suppression.objects.get(address="hugo@secret.example")
    assert api.delete(f"/suppressions/{hidden.pk}").status_code == 404
    assert Suppression.objects.filter(pk=hidden.pk).exists()
    # adding it again answers like a new entry and keeps the stronger reason
    again = api.post(
        "/suppressions", {"channel": "email", "address": "hugo@secret.example", "reason": "manual"}
    )
    assert again.status_code == 201
    assert Suppression.objects.get(pk=hidden.pk).reason == "complaint"
    known = api.post(
        "/suppressions", {"channel": "email", "address": "olga@example.com", "reason": "manual"}
    )
    assert known.status_code == 200
    client = login(administrator)
    page = client.get("/admin/audiences/suppression/").content.decode()
    assert "hugo@secret.example" not in page and "+15550001111" not in page
    assert "olga@example.com" in page
    assert client.get(f"/admin/audiences/suppression/{hidden.pk}/change/").status_code == 302
    root = make_user("root", superuser=True)
    assert api_for(root).get("/suppressions").json()["count"] == 4


# --- outbound webhooks: an open campaign's deliveries to hidden people -----------


def test_webhooks_do_not_tell_deliveries_to_people_known_only_through_restricted_audiences(db):
    """Review 4 #4 withheld a restricted campaign's events and the
    unsubscribes of people known only through restricted audiences from the
    administrators' endpoints, but an *open* campaign sending to a restricted
    audience (its owner granted) still told every endpoint each member's
    address and identifiers in ``delivery.sent`` (and opened, clicked …): the
    restricted list, to any administrator who subscribes a URL."""
    from django.utils import timezone

    from audiences.models import AudienceMember
    from campaigns.webhook_events import delivery_data
    from webhooks import outbox

    hugo = Profile.objects.create(email="hugo@secret.example")
    olga = Profile.objects.create(email="olga@example.com")
    board = Audience.objects.create(name="Board", kind="upload", restricted=True)
    AudienceMember.objects.create(audience=board, profile=hugo)
    letter = Campaign.objects.create(name="Board letter", status="live")  # open
    version = CampaignVersion.objects.create(campaign=letter, audience=board)
    run = Run.objects.create(campaign=letter, version=version, kind="scheduled")
    to_hugo, to_olga = (
        Delivery.objects.create(
            run=run, profile=p, status="sent", sent_at=timezone.now(), address=p.email
        )
        for p in (hugo, olga)
    )
    data = delivery_data([to_hugo.pk, to_olga.pk])
    assert data[to_hugo.pk] is outbox.WITHHELD
    assert data[to_olga.pk]["address"] == "olga@example.com"


# --- sign-in lock-outs: an administrator unlocking a superuser's guesses -------


def _lockout(username: str):
    from axes.models import AccessAttempt

    return AccessAttempt.objects.create(
        username=username,
        ip_address="203.0.113.9",
        user_agent="guesser",
        path_info="/accounts/login/",
        failures_since_start=5,
        get_data="",
        post_data="",
    )


def test_an_administrator_cannot_lift_the_lockout_of_someone_holding_more(
    login, administrator, make_user
):
    """Administrators may unlock sign-ins (delete a lock-out), also a
    superuser's: guessing a superuser's password four times, lifting the
    lock-out, and again, took away the only bound on guessing it online."""
    from axes.models import AccessAttempt

    from accounts.roles import MANAGER

    make_user("root", superuser=True)
    make_user("mona2", MANAGER)
    root_lock, mona_lock = _lockout("root"), _lockout("mona2")
    client = login(administrator)
    client.post(f"/admin/axes/accessattempt/{root_lock.pk}/delete/", {"post": "yes"})
    client.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": [root_lock.pk], "post": "yes"},
    )
    assert AccessAttempt.objects.filter(pk=root_lock.pk).exists()
    # an ordinary user's lock-out is still theirs to lift
    client.post(f"/admin/axes/accessattempt/{mona_lock.pk}/delete/", {"post": "yes"})
    assert not AccessAttempt.objects.filter(pk=mona_lock.pk).exists()
