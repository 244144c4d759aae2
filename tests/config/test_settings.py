"""Environment → settings (SPEC §9): parsing, bad values, production checks."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from config.env import (
    env_bool,
    env_int,
    env_list,
    parse_database_url,
    parse_email_url,
    redis_url_valid,
)

BASE_DIR = Path(settings.BASE_DIR)
SQLITE_DEFAULT = Path("/tmp/volley-test-default.sqlite3")


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    """Run manage.py with production settings and exactly the given variables."""
    unwanted = {"DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE", "EMAIL_URL", "DEBUG"}
    clean = {k: v for k, v in os.environ.items() if k not in unwanted}
    clean.update(env, DJANGO_SETTINGS_MODULE="config.settings")
    return subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), *args],
        cwd=BASE_DIR,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


# -- typed readers ---------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"), [("1", True), ("true", True), ("Yes", True), ("0", False), ("off", False)]
)
def test_env_bool_reads_the_usual_words(monkeypatch, raw, expected):
    monkeypatch.setenv("FLAG", raw)
    assert env_bool("FLAG") is expected


def test_env_bool_refuses_anything_else(monkeypatch):
    monkeypatch.setenv("DEBUG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="DEBUG must be one of .*'maybe'"):
        env_bool("DEBUG")


def test_env_int_checks_type_and_range(monkeypatch):
    monkeypatch.setenv("PORT", "80x")
    with pytest.raises(ImproperlyConfigured, match="PORT must be a whole number"):
        env_int("PORT", 8000)
    monkeypatch.setenv("PORT", "0")
    with pytest.raises(ImproperlyConfigured, match="PORT must be between 1 and 65535"):
        env_int("PORT", 8000, minimum=1, maximum=65535)
    monkeypatch.setenv("PORT", "8123")
    assert env_int("PORT", 8000) == 8123


def test_env_list_splits_on_commas(monkeypatch):
    monkeypatch.setenv("ALLOWED_HOSTS", " volley.example, .example.org ,")
    assert env_list("ALLOWED_HOSTS", []) == ["volley.example", ".example.org"]


# -- DATABASE_URL ----------------------------------------------------------


def test_no_database_url_means_sqlite_in_var_with_immediate_transactions_and_wal():
    config = parse_database_url("", sqlite_default=SQLITE_DEFAULT)
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == str(SQLITE_DEFAULT)
    assert config["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert config["OPTIONS"]["timeout"] >= 5
    assert "journal_mode=WAL" in config["OPTIONS"]["init_command"]


def test_postgres_database_url():
    config = parse_database_url(
        "postgres://volley:s%40cret@db.internal:6432/volley", sqlite_default=SQLITE_DEFAULT
    )
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["USER"], config["PASSWORD"]) == ("volley", "s@cret")
    assert (config["HOST"], int(config["PORT"]), config["NAME"]) == ("db.internal", 6432, "volley")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u@h/db", "must start with postgres:// or sqlite:///"),
        ("postgres://u:pw@h:5432", "must name a database"),
        ("postgres://u@h:notaport/db", "DATABASE_URL"),
        ("sqlite://", "needs a file path"),
    ],
)
def test_bad_database_urls_are_refused_with_the_reason(url, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        parse_database_url(url, sqlite_default=SQLITE_DEFAULT)


def test_a_password_never_appears_in_the_error():
    with pytest.raises(ImproperlyConfigured) as info:
        parse_database_url("mysql://u:hunter2@h/db", sqlite_default=SQLITE_DEFAULT)
    assert "hunter2" not in str(info.value)


def test_a_malformed_database_url_stops_start_up_with_a_clear_message():
    result = manage("check", DATABASE_URL="mysql://volley@db/volley")
    assert result.returncode != 0
    assert "DATABASE_URL must start with postgres:// or sqlite:///" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_database_url_without_a_name_stops_start_up():
    result = manage("check", DATABASE_URL="postgres://volley@127.0.0.1:5432")
    assert result.returncode != 0
    assert "DATABASE_URL must name a database" in result.stderr


# -- EMAIL_URL and REDIS_URL ----------------------------------------------


def test_smtp_email_url_with_tls():
    config = parse_email_url("smtp://mailer:p%2Fw@smtp.example:587?tls=1")
    assert config == {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "smtp.example",
        "EMAIL_PORT": 587,
        "EMAIL_HOST_USER": "mailer",
        "EMAIL_HOST_PASSWORD": "p/w",
        "EMAIL_USE_TLS": True,
        "EMAIL_USE_SSL": False,
        "EMAIL_TIMEOUT": 30,
    }


def test_smtp_email_url_with_ssl_and_default_port():
    config = parse_email_url("smtp://smtp.example?ssl=1")
    assert (config["EMAIL_PORT"], config["EMAIL_USE_SSL"], config["EMAIL_USE_TLS"]) == (
        25,
        True,
        False,
    )


def test_console_and_file_email_urls():
    assert parse_email_url("console:")["EMAIL_BACKEND"].endswith("console.EmailBackend")
    assert parse_email_url("")["EMAIL_BACKEND"].endswith("console.EmailBackend")
    config = parse_email_url("file:///tmp/volley-mail")
    assert config["EMAIL_BACKEND"].endswith("filebased.EmailBackend")
    assert config["EMAIL_FILE_PATH"] == "/tmp/volley-mail"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("pop3://mail.example", "EMAIL_URL must be smtp://"),
        ("smtp://", "needs a host"),
        ("smtp://mail.example:x", "bad port"),
        ("smtp://mail.example?tls=1&ssl=1", "both tls=1 and ssl=1"),
        ("file://", "needs a directory"),
        ("smtp://mail.example?timeout=soon", "timeout must be seconds"),
    ],
)
def test_bad_email_urls_are_refused(url, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        parse_email_url(url)


def test_redis_url_must_be_redis():
    assert redis_url_valid("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    with pytest.raises(ImproperlyConfigured, match="REDIS_URL must start with redis://"):
        redis_url_valid("http://127.0.0.1:6379")


# -- the settings module as a whole ---------------------------------------


def test_the_broker_follows_redis_url():
    if settings.REDIS_URL:
        assert settings.Q_CLUSTER["redis"] == settings.REDIS_URL
        assert "orm" not in settings.Q_CLUSTER
    else:
        assert settings.Q_CLUSTER["orm"] == "default"


def test_tasks_are_retried_after_their_timeout_a_bounded_number_of_times():
    q = settings.Q_CLUSTER
    assert q["retry"] > q["timeout"]
    assert 1 <= q["max_attempts"] <= 10
    assert q["ack_failures"] is True and q["save_limit"] != -1
    assert q["catch_up"] is False


def test_production_settings_pass_the_deploy_check():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="volley.example",
        SITE_URL="https://volley.example",
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_a_short_secret_key():
    result = manage("check", DEBUG="0", SECRET_KEY="short", ALLOWED_HOSTS="volley.example")
    assert result.returncode != 0
    assert "SECRET_KEY must be at least 32 characters" in result.stderr


@pytest.mark.parametrize("variable", ["SMS_WEBHOOK_URL", "PUSH_WEBHOOK_URL"])
def test_a_webhook_provider_needs_its_own_signing_secret(variable):
    env = {"DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "volley.example"}
    env[variable] = "https://provider.example/hook"
    result = manage("check", **env)
    assert result.returncode != 0
    assert f"WEBHOOK_SIGNING_SECRET must be set when {variable} is set" in result.stderr
    assert "Traceback" not in result.stderr.splitlines()[-1]
    assert manage("check", **env, WEBHOOK_SIGNING_SECRET="provider-shared-secret").returncode == 0


def test_the_signing_secret_no_longer_defaults_to_the_secret_key():
    from channels.transports import sign_body, signature_valid

    assert settings.WEBHOOK_SIGNING_SECRET != settings.SECRET_KEY
    body = b'{"event": "delivered"}'
    with override_settings(WEBHOOK_SIGNING_SECRET=""):
        # Without a shared secret nothing verifies: not the SECRET_KEY, not the empty key.
        assert not signature_valid(body, sign_body(body, settings.SECRET_KEY))
        assert not signature_valid(body, sign_body(body, ""))
