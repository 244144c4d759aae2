"""`manage.py seed_demo`: the demo users of SPEC §9, idempotent."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from accounts import demo
from accounts.roles import ADMINISTRATOR, APPROVER, MANAGER, VIEWER

pytestmark = pytest.mark.django_db
User = get_user_model()


def roles_of(username: str) -> list[str]:
    return list(User.objects.get(username=username).groups.values_list("name", flat=True))


def test_demo_users_hold_their_roles_and_the_demo_password(settings):
    settings.DEMO_PASSWORD = "demo-pass-for-tests"
    demo.seed()
    assert roles_of("admin") == [ADMINISTRATOR]
    assert roles_of("approver") == [APPROVER]
    assert roles_of("manager") == [MANAGER]
    assert roles_of("viewer") == [VIEWER]
    assert User.objects.get(username="admin").is_superuser
    assert not User.objects.filter(is_superuser=True).exclude(username="admin").exists()
    for user in User.objects.all():
        assert user.check_password("demo-pass-for-tests")


def test_seeding_twice_changes_nothing():
    demo.seed()
    before = list(User.objects.order_by("pk").values("pk", "username", "password", "last_login"))
    demo.seed()
    after = list(User.objects.order_by("pk").values("pk", "username", "password", "last_login"))
    assert before == after


def test_seeding_repairs_a_changed_demo_password(settings):
    users = demo.seed()
    users["viewer"].set_password("something else")
    users["viewer"].save()
    demo.seed()
    assert User.objects.get(username="viewer").check_password(settings.DEMO_PASSWORD)


def test_seed_demo_prints_the_logins(monkeypatch, settings):
    for app in ("audiences", "channels", "campaigns"):
        monkeypatch.setattr(f"{app}.demo.seed", lambda **kwargs: None)
    out = StringIO()
    call_command("seed_demo", stdout=out)
    text = out.getvalue()
    assert settings.DEMO_PASSWORD in text
    for username in ("admin", "approver", "manager", "viewer"):
        assert f"  {username} " in text
