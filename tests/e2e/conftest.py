"""Browser tests: Playwright driving Debian's Chromium against pytest-django's live_server.

Reusable by every app's browser tests:

- every test under tests/e2e/ is marked ``browser``;
- without Chromium a test skips with the reason, except in CI (``CI=true``)
  where a missing browser is a failure;
- ``signed_in_page("manager")`` → a Playwright page signed in as that demo
  user (``accounts.demo.seed()``: admin, approver, manager, viewer);
- ``marketer_draft(profiles)`` → (marketer, campaign, transport): a new
  Campaign Manager ("newbie", password "pw-newbie") and their email draft
  "Spring sale" to that many subscribers; the test drives the runs (nothing
  is enqueued) and the messages go to a ``FakeTransport``;
- pytest-playwright's ``page`` works too, with relative URLs against
  ``live_server`` (use ``transactional_db`` so the server sees your rows).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def pytest_collection_modifyitems(config, items) -> None:
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session", autouse=True)
def _allow_orm_beside_playwright() -> Iterator[None]:
    # Playwright's sync API runs an event loop in the test thread; Django's ORM
    # (the test database set-up included) refuses to run there otherwise
    # (SynchronousOnlyOperation). Set only once a browser test runs, not at
    # import, so collecting these tests does not change the others.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    if not os.path.exists(CHROMIUM):
        message = (
            f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)"
        )
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict, live_server) -> dict:
    # pytest-playwright's own ``page`` then resolves "/campaigns/" against live_server.
    return {**browser_context_args, "base_url": live_server.url}


@pytest.fixture
def demo_users(transactional_db) -> dict:
    from accounts import demo

    return demo.seed()


@pytest.fixture
def sign_in() -> Callable:
    """``sign_in(page, username, password)`` through the login form."""

    def submit(page, username: str, password: str) -> None:
        page.goto("/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("form button[type=submit]")
        page.wait_for_url(lambda url: "/accounts/login/" not in url)

    return submit


@pytest.fixture
def signed_in_page(
    live_server, demo_users, browser, browser_context_args, settings
) -> Iterator[Callable]:
    """``signed_in_page(username)`` → a fresh page (own cookies) signed in through the form.

    Several calls in one test give independent sessions (e.g. a manager and an
    approver side by side).
    """
    contexts = []

    def sign_in(username: str):
        context = browser.new_context(**browser_context_args)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto("/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", settings.DEMO_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/campaigns/")
        return page

    yield sign_in
    for context in contexts:
        context.close()


@pytest.fixture
def marketer_draft(make_user, monkeypatch) -> Callable:
    """See the module's docstring: the A/B test and conversion walks start here."""
    from accounts.roles import MANAGER
    from campaigns import services
    from campaigns.engine import messaging, runs
    from tests.campaigns.conftest import FakeTransport, make_profiles, upload_audience
    from tests.campaigns.lifecycle_helpers import GOOD_HTML, email_config

    def make(profiles: int):
        monkeypatch.setattr(runs, "enqueue", lambda func, *args, task_name=None: None)
        transport = FakeTransport()
        monkeypatch.setattr(messaging, "transport_for", lambda config: transport)
        marketer = make_user("newbie", MANAGER)
        campaign = services.campaign_create(
            actor=marketer,
            name="Spring sale",
            channel_configuration=email_config(),
            audience=upload_audience(make_profiles(profiles), name="Subscribers"),
            content={"subject": "Spring is here", "html": GOOD_HTML, "text": "Hi"},
        )
        return marketer, campaign, transport

    return make
