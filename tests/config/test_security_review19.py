"""Review 19: bad environment values stop start-up with a sentence naming the
variable, never a traceback (and never later, in the worker or a send)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import _redact, env_site_url, parse_email_url, redis_url_valid
from tests.config.test_settings import manage

BAD_ENVIRONMENTS = [
    ("DATABASE_URL", "postgres://[::1", "DATABASE_URL is malformed"),
    ("EMAIL_URL", "smtp://[::1", "EMAIL_URL is malformed"),
    ("REDIS_URL", "redis://[::1", "REDIS_URL is malformed"),
    ("REDIS_URL", "redis://h:abc/0", "REDIS_URL has a bad port"),
    ("LOG_LEVEL", "LOUD", "LOG_LEVEL must be one of"),
    ("Q_LOG_LEVEL", "chatty", "Q_LOG_LEVEL must be one of"),
    ("TIME_ZONE", "Mars/Base", "TIME_ZONE must be an IANA time zone"),
    ("LOGIN_LOCKOUT_MINUTES", "99999999999999", "LOGIN_LOCKOUT_MINUTES must be between"),
    ("RETENTION_DELIVERY_DAYS", "99999999999", "RETENTION_DELIVERY_DAYS must be between"),
    ("SITE_URL", "volley.example.com", "SITE_URL must be the public address with its scheme"),
    ("PORT", "abc", "PORT must be a whole number"),
    ("VOLLEY_VAR_DIR", "/proc/1/volley", "VOLLEY_VAR_DIR must be a directory"),
    ("DB_CONN_MAX_AGE", "-5", "DB_CONN_MAX_AGE must be at least 0"),
]


@pytest.mark.parametrize(("name", "value", "message"), BAD_ENVIRONMENTS)
def test_a_bad_value_stops_start_up_with_a_sentence(name, value, message):
    result = manage("check", **{name: value})
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert message in result.stderr


@pytest.mark.parametrize("timeout", ["0", "-1", "999999"])
def test_an_smtp_timeout_that_would_fail_every_send_is_refused(timeout):
    with pytest.raises(ImproperlyConfigured, match="timeout must be seconds between 1 and 3600"):
        parse_email_url(f"smtp://mail.example?timeout={timeout}")


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "https://", "https://v.example/?next=x", "https://u:p@v.example"],
)
def test_site_url_is_an_http_address(monkeypatch, url):
    monkeypatch.setenv("SITE_URL", url)
    with pytest.raises(ImproperlyConfigured):
        env_site_url("SITE_URL", "http://127.0.0.1:8000")


def test_site_url_may_carry_a_path(monkeypatch):
    monkeypatch.setenv("SITE_URL", "https://v.example/volley/")
    assert env_site_url("SITE_URL", "") == "https://v.example/volley"


def test_redis_url_names_its_database_by_number():
    assert redis_url_valid("redis://127.0.0.1:6379/3") == "redis://127.0.0.1:6379/3"
    with pytest.raises(ImproperlyConfigured, match="by number"):
        redis_url_valid("redis://127.0.0.1:6379/volley")


def test_a_password_in_an_unparsable_url_is_hidden():
    assert "hunter2" not in _redact("redis://u:hunter2@[::1/0")


# -- a refused form (CSRF) in the product's look, nothing inline ------------


@pytest.mark.django_db
def test_a_refused_form_has_no_inline_style_and_says_what_to_do(viewer):
    from django.test import Client

    from tests.config.test_csp import assert_nothing_inline, assert_strict_policy

    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"username": "vera", "password": "pw-vera"})
    assert response.status_code == 403
    assert_strict_policy(response)
    html = response.content.decode()
    assert_nothing_inline(html)
    assert "This form has expired" in html
    assert "css/volley.css" in html
    assert "_auth_user_id" not in client.session


# -- django-q's task results stay read-only for superusers too --------------


@pytest.mark.django_db
@pytest.mark.parametrize("model", ["success", "failure"])
def test_task_results_cannot_be_added_even_by_a_superuser(make_user, model):
    from django.test import Client

    client = Client(raise_request_exception=False)
    client.force_login(make_user("root", superuser=True))
    assert client.get(f"/admin/django_q/{model}/").status_code == 200
    assert client.get(f"/admin/django_q/{model}/add/").status_code == 403  # was 500
    assert client.post(f"/admin/django_q/{model}/add/", {"name": "x"}).status_code == 403
    assert client.get("/admin/django_q/schedule/add/").status_code == 200


@pytest.mark.django_db
def test_object_permission_pages_have_nothing_inline(make_user):
    from django.test import Client

    from tests.campaigns.lifecycle_helpers import email_config
    from tests.config.test_csp import assert_nothing_inline, assert_strict_policy

    client = Client()
    client.force_login(make_user("root", superuser=True))
    config = email_config()
    response = client.get(f"/admin/channels/channelconfiguration/{config.pk}/permissions/")
    assert response.status_code == 200
    assert_strict_policy(response)
    html = response.content.decode()
    assert_nothing_inline(html)
    assert "jsi18n" in html and "Object permissions" in html


# -- cookies -----------------------------------------------------------------


def test_production_cookies_are_secure_including_the_language_one():
    import secrets

    code = (
        "from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.LANGUAGE_COOKIE_SECURE, "
        "s.LANGUAGE_COOKIE_HTTPONLY, s.LANGUAGE_COOKIE_SAMESITE)"
    )
    result = manage(
        "shell",
        "-c",
        code,
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="volley.example",
        SITE_URL="https://volley.example",
    )
    assert result.stdout.split()[-5:] == ["True", "True", "True", "True", "Lax"], result.stderr


def test_the_time_zone_cookie_is_secure_on_https():
    from pathlib import Path

    script = (Path(__file__).resolve().parents[2] / "static/js/timezone.js").read_text()
    assert '"; Secure"' in script and 'location.protocol === "https:"' in script


# -- admin model choices past a row id ---------------------------------------


def post_admin_choice(make_user, path: str, field: str, value: str):
    """A superuser posts the user or group add form with ``value`` as a choice
    of ``field``; returns the response and whether any user or group was written."""
    from django.contrib.auth.models import Group, User
    from django.test import Client

    client = Client(raise_request_exception=False)
    client.force_login(make_user("root", superuser=True))
    before = (Group.objects.count(), User.objects.count())
    response = client.post(
        path,
        {
            "username": "newbie",
            "name": "Newbies",
            "password1": "a-long-Passw0rd!",
            "password2": "a-long-Passw0rd!",
            "usable_password": "true",
            field: value,
        },
    )
    return response, (Group.objects.count(), User.objects.count()) != before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "field"),
    [("/admin/auth/user/add/", "groups"), ("/admin/auth/group/add/", "permissions")],
)
def test_an_admin_choice_past_any_row_id_is_a_form_error(make_user, path, field):
    response, written = post_admin_choice(make_user, path, field, "99999999999999999999999")
    assert response.status_code == 200  # the form again, with its error (was 500 on SQLite)
    assert "99999999999999999999999" in response.content.decode()
    assert not written


def test_a_bounded_choice_still_takes_real_ids():
    from django.contrib.auth.models import Group

    from config.admin import _BoundedModelMultipleChoiceField

    field = _BoundedModelMultipleChoiceField(queryset=Group.objects.all())
    with pytest.raises(Exception, match="valid choice"):
        field._refuse_beyond_ids(["-99999999999999999999999"])
    field._refuse_beyond_ids(["1", "abc", "", "9223372036854775807"])
