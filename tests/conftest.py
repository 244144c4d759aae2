"""Shared fixtures: one persona per role (SPEC §2) and an API client helper."""

from __future__ import annotations

import contextlib
import json

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from accounts.roles import ADMINISTRATOR, APPROVER, MANAGER, VIEWER


@pytest.fixture
def make_user(db, django_user_model):
    def make(username: str, *roles: str, superuser: bool = False, email: str | None = None):
        user = django_user_model.objects.create_user(
            username=username,
            password="pw-" + username,
            email=email or f"{username}@example.com",
            is_superuser=superuser,
        )
        for role in roles:
            user.groups.add(Group.objects.get(name=role))
        return user

    return make


@pytest.fixture
def viewer(make_user):
    return make_user("vera", VIEWER)


@pytest.fixture
def manager(make_user):
    return make_user("mona", MANAGER)


@pytest.fixture
def approver(make_user):
    return make_user("alex", APPROVER)


@pytest.fixture
def administrator(make_user):
    return make_user("ada", ADMINISTRATOR)


@pytest.fixture
def outsider(make_user):
    """Signed in, but holds no role at all."""
    return make_user("oscar")


@pytest.fixture
def login(client):
    def as_user(user) -> Client:
        client.force_login(user)
        return client

    return as_user


class ApiClient:
    """A test client that speaks to /api/v1/ with a bearer key."""

    def __init__(self, key: str | None):
        self.client = Client()
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}

    def _send(self, method: str, path: str, data=None, **extra):
        content_type = extra.pop("content_type", "application/json")
        kwargs = {**self.headers, **extra}
        if data is not None and not isinstance(data, (str, bytes)):
            data = json.dumps(data)
        func = getattr(self.client, method)
        if method in {"get", "delete"} and data is None:
            return func(f"/api/v1{path}", **kwargs)
        return func(
            f"/api/v1{path}",
            data=data,
            content_type=content_type,
            **kwargs,
        )

    def get(self, path: str, data=None, **extra):
        return self.client.get(f"/api/v1{path}", data=data, **{**self.headers, **extra})

    def post(self, path: str, data=None, **extra):
        return self._send("post", path, data if data is not None else {}, **extra)

    def put(self, path: str, data=None, **extra):
        return self._send("put", path, data if data is not None else {}, **extra)

    def patch(self, path: str, data=None, **extra):
        return self._send("patch", path, data if data is not None else {}, **extra)

    def delete(self, path: str, **extra):
        return self._send("delete", path, **extra)


@contextlib.contextmanager
def instances_loaded(model):
    """The ``model`` instances Django builds inside the block (``post_init``):
    a page that must count rows, not load them, leaves the list empty."""
    from django.db.models.signals import post_init

    loaded: list = []

    def count(sender, instance, **kwargs):
        loaded.append(instance)

    post_init.connect(count, sender=model)
    try:
        yield loaded
    finally:
        post_init.disconnect(count, sender=model)


@pytest.fixture
def api_for(db):
    """``api_for(user)`` → an ApiClient authenticated with a fresh key of ``user``."""
    from accounts.services import api_key_create

    def make(user) -> ApiClient:
        _key, plain = api_key_create(user=user, name="test")
        return ApiClient(plain)

    return make


@pytest.fixture
def anonymous_api(db) -> ApiClient:
    return ApiClient(None)


def pytest_sessionfinish(session, exitstatus) -> None:
    """Remove this run's file cache and SQLite test database side files from var/."""
    import shutil
    from pathlib import Path

    from django.conf import settings

    name = settings.Q_CLUSTER["name"]
    shutil.rmtree(Path(settings.VAR_DIR) / f"test-cache-{name}", ignore_errors=True)
    for suffix in ("", "-wal", "-shm"):
        Path(settings.VAR_DIR, f"test-{name}.sqlite3{suffix}").unlink(missing_ok=True)


@pytest.fixture(autouse=True)
def _private_provider_urls(settings):
    """The suite's provider fakes listen on 127.0.0.1 (channels/netguard.py);
    tests of the guard itself turn this off again."""
    settings.VOLLEY_ALLOW_PRIVATE_PROVIDER_URLS = True


@pytest.fixture(autouse=True)
def _default_language_after_each_test():
    """A request's LocaleMiddleware leaves its language active in the thread
    (Django deactivates nothing after a response): a test that asked for a
    Dutch page must not make the next one's messages Dutch."""
    yield
    from django.utils import translation

    translation.deactivate()


def _forget_quotas() -> None:
    """Per-person hourly quotas (accounts/quotas.py) are counted by user id, and
    ids are reused after a flush: each test starts with none spent."""
    import glob
    import os

    from accounts.ratelimit import _directory
    from config.redis import namespaced, redis_client

    client = redis_client()
    if client is not None:
        keys = list(client.scan_iter(namespaced("rate:quota:*")))
        if keys:
            client.delete(*keys)
    else:
        for path in glob.glob(str(_directory() / "quota_*")):
            os.unlink(path)


@pytest.fixture(autouse=True)
def _forget_process_memory():
    """Per-process memories of the trigger path (keys, campaign snapshots) must
    not carry one test's rows into the next (ids are reused after a flush)."""
    from accounts import keycache, ratelimit
    from campaigns.engine import dispatch, executions, send

    keycache.forget()
    ratelimit._leases.clear()
    _forget_quotas()
    executions.forget_snapshots()
    send._compiled_cache.clear()
    from channels import preview, rendering

    preview.forget_compiled()
    rendering.forget_checked()
    dispatch._versions.clear()
    from webhooks import outbox

    outbox.forget_subscribers()
    yield


@pytest.fixture
def no_worker(monkeypatch):
    """Activations and reschedules are not handed to the engine: the test looks
    at what the request itself did."""
    monkeypatch.setattr("campaigns.engine.enqueue_activation", lambda pk: None)
    monkeypatch.setattr("campaigns.engine.enqueue_reschedule", lambda pk: None)


@pytest.fixture(autouse=True)
def _mail_tasks_run_at_once(request, monkeypatch):
    """Operational email (accounts/mailer.py) is a cluster task; outside the
    tests that start a real cluster, the task runs where it is queued, so
    ``mailoutbox`` shows what the worker would send. Mark a test
    ``real_mail_queue`` to keep the real queueing."""
    if request.node.get_closest_marker("real_mail_queue") or request.node.get_closest_marker(
        "cluster"
    ):
        return
    from django.utils.module_loading import import_string

    from accounts import mailer

    monkeypatch.setattr(mailer, "_enqueue", lambda task, *args: import_string(task)(*args))
