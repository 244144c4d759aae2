"""Everything a user can do in the pages can be done through `/api/v1` (SPEC §7,
issue 12 #6).

The test walks the web URL configuration with Django's resolver, finds every
page that accepts a POST (by asking it: a signed-in superuser's POST to a page
that does not take one answers 405), and requires each to be mapped below to
its API twin — an operation that exists in the API's own OpenAPI document. A
new page action without a twin, or a twin that is not (or no longer) in the
API, fails here.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from campaigns.actions import USER_ACTIONS

pytestmark = pytest.mark.django_db

# Whole namespaces (or URL prefixes) that are not marketer actions, and why.
EXCLUDED_NAMESPACES = {
    "admin": "the Django admin: its own UI over the same models (SPEC §2), not a page action",
    "api": "the API itself",
    "public": "login-free links in messages (open pixel, click, unsubscribe, preferences): "
    "the recipient's, not the marketer's",
    "anymail": "ESP webhooks (providers call them; the API's twin is POST /feedback)",
}
# Single pages that are not API material, and why.
EXCLUDED_PAGES = {
    "accounts:login": "signing in: the API authenticates with a key",
    "accounts:logout": "signing out: the API has no session",
    "accounts:invite": "accepting an invitation sets a password (a person's, in a browser)",
    "accounts:password_reset": "password pages: the API authenticates with a key",
    "accounts:password_reset_done": "password pages",
    "accounts:password_reset_confirm": "password pages",
    "accounts:password_reset_complete": "password pages",
    "accounts:password_change": "password pages",
    "accounts:password_change_done": "password pages",
    "set_language": "the page language (a cookie); the API follows Accept-Language",
    "/": "the root redirect to the campaign list",
    "healthz": "the health check of load balancers and compose",
    "asset": "an uploaded image served to mail clients without login (GET only)",
}

# URL name → the API operations ("method path", path as in the OpenAPI document,
# without /api/v1) that do what the page's POST does. Pages taking an action
# name in the URL map each name they accept.
TWINS: dict[str, list[str]] = {
    # campaigns
    "campaigns:new": ["post /campaigns"],
    "campaigns:edit": ["patch /campaigns/{campaign_id}"],
    "campaigns:preview": ["post /campaigns/{campaign_id}/preview"],
    "campaigns:proofs": ["post /campaigns/{campaign_id}/proofs"],
    "campaigns:proof_retry": ["post /campaigns/{campaign_id}/proofs/{proof_id}/retry"],
    "campaigns:access": [
        "get /campaigns/{campaign_id}/access",
        "put /campaigns/{campaign_id}/access",
    ],
    "campaigns:action": [
        (
            "delete /campaigns/{campaign_id}"
            if action.http_method == "DELETE"
            else f"{action.http_method.lower()} /campaigns/{{campaign_id}}/{action.slug}"
        )
        for action in USER_ACTIONS.values()
    ],
    "reports:retry": ["post /campaigns/{campaign_id}/retry-failed"],
    "reports:winner": ["post /campaigns/{campaign_id}/experiment/winner"],
    # the designer and the language pages edit the content: design, html, translations
    "campaigns:designer": ["patch /campaigns/{campaign_id}"],
    "campaigns:languages": ["patch /campaigns/{campaign_id}"],
    "campaigns:translation": ["patch /campaigns/{campaign_id}"],
    "campaigns:translation_delete": ["patch /campaigns/{campaign_id}"],
    "campaigns:save_template": ["get /campaigns/{campaign_id}", "post /templates"],
    # templates and images (SPEC §11)
    "templates:new": ["post /templates"],
    "templates:edit": ["patch /templates/{template_id}"],
    "templates:designer": ["patch /templates/{template_id}"],
    "templates:delete": ["delete /templates/{template_id}"],
    "templates:access": [
        "get /templates/{template_id}/access",
        "put /templates/{template_id}/access",
    ],
    "images:library": ["post /assets"],
    # audiences
    "audiences:new": ["post /audiences"],
    "audiences:edit": ["patch /audiences/{audience_id}"],
    "audiences:preview": ["post /audiences/preview"],
    "audiences:upload": ["post /audiences/upload"],
    "audiences:reupload": ["post /audiences/upload"],  # with audienceId
    "audiences:delete": ["delete /audiences/{audience_id}"],
    "audiences:access": [
        "get /audiences/{audience_id}/access",
        "put /audiences/{audience_id}/access",
    ],
    # channel configurations
    "channels:create": ["post /channel-configurations"],
    "channels:edit": ["put /channel-configurations/{config_id}"],
    "channels:status": ["post /channel-configurations/{config_id}/{action}"],
    "channels:test": ["post /channel-configurations/{config_id}/test-message"],
    "channels:test_retry": [
        "post /channel-configurations/{config_id}/test-messages/{message_id}/retry"
    ],
    "channels:access": [
        "get /channel-configurations/{config_id}/access",
        "put /channel-configurations/{config_id}/access",
    ],
    # the user's own things
    "accounts:settings": ["post /me/api-keys"],
    "accounts:time_zone": ["patch /me"],
    "accounts:revoke_key": ["delete /me/api-keys/{key_id}"],
    "accounts:notification_read": ["post /notifications/{notification_id}/read"],
    "accounts:notifications_read_all": ["post /notifications/read-all"],
}

# Pages whose URL carries the action's name: every name the page accepts has
# its twin (the enum of the API's path parameter).
NAMED_ACTIONS = {
    "channels:status": ("post /channel-configurations/{config_id}/{action}", "action"),
}
CHANNEL_STATUS_ACTIONS = ("activate", "deactivate")


@dataclass(frozen=True)
class PageRoute:
    name: str  # "namespace:name"
    route: str  # the URL pattern, e.g. "campaigns/<int:pk>/proofs/"
    pattern: URLPattern
    namespace: str


def walk(resolver: URLResolver | None = None, prefix: str = "", namespace: str = ""):
    """Every named URL pattern of the web URL configuration, with its full route."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = entry.namespace or ""
            full = f"{namespace}:{inner}".strip(":") if inner else namespace
            yield from walk(entry, route, full)
        else:  # an unnamed pattern is named by its route, so none escapes the walk
            name = entry.name or f"/{route}"
            name = f"{namespace}:{name}" if namespace else name
            yield PageRoute(name, route, entry, namespace)


SAMPLE = {"int": 987654321, "str": "zz", "slug": "zz", "path": "zz", "uuid": None}


def sample_url(page: PageRoute) -> str:
    """The page's URL for made-up arguments (objects that do not exist)."""
    converters = page.pattern.pattern.converters
    kwargs = {}
    for arg, converter in converters.items():
        kind = type(converter).__name__.replace("Converter", "").lower()
        kwargs[arg] = SAMPLE.get(kind, "zz")
    if page.pattern.name is None:
        return "/" + page.route.format(**kwargs)
    return reverse(page.name, kwargs=kwargs)


def is_excluded(page: PageRoute) -> bool:
    top = page.namespace.split(":")[0]
    # The trigger routes' hot-path views sit in front of the API's namespace
    # (config/urls.py) but are the API itself.
    api_itself = page.route.startswith("api/v1/")
    return top in EXCLUDED_NAMESPACES or page.name in EXCLUDED_PAGES or api_itself


def accepts_post(client, page: PageRoute) -> bool:
    """Does the page take a POST? Asked of the page itself: a view that does
    not answers 405 before looking at anything (require_GET & co.)."""
    response = client.post(sample_url(page), {})
    return response.status_code != 405


def page_actions(client) -> list[PageRoute]:
    return [p for p in walk() if not is_excluded(p) and accepts_post(client, p)]


def api_operations() -> set[str]:
    from config.api import api

    schema = api.get_openapi_schema()
    return {
        f"{method} {path.removeprefix('/api/v1')}"
        for path, operations in schema["paths"].items()
        for method in operations
    }


def missing_twins(actions: list[str], twins: dict[str, list[str]], operations: set[str]):
    """Problems: a page action without a mapping, or mapped to an operation the
    API does not have."""
    problems = []
    for name in actions:
        if not twins.get(name):
            problems.append(f"{name}: a page action with no API twin")
            continue
        for operation in twins[name]:
            if operation not in operations:
                problems.append(f"{name}: its twin {operation!r} is not in the OpenAPI document")
    return problems


@pytest.fixture
def superuser_client(client, make_user):
    client.force_login(make_user("root", superuser=True))
    return client


def test_every_page_action_has_an_api_twin(superuser_client):
    actions = [p.name for p in page_actions(superuser_client)]
    assert actions, "the walk found no page action at all"
    assert missing_twins(actions, TWINS, api_operations()) == []


def test_the_walk_finds_post_pages_and_leaves_read_only_ones(superuser_client):
    actions = {p.name for p in page_actions(superuser_client)}
    assert {"campaigns:proofs", "reports:retry", "channels:test", "audiences:access"} <= actions
    assert not {"campaigns:list", "campaigns:detail", "reports:report", "approvals:queue"} & actions
    assert not {"accounts:login", "admin:index", "public:unsubscribe"} & actions


def test_every_mapping_names_a_page_that_exists():
    names = {p.name for p in walk()}
    assert set(TWINS) - names == set()
    assert set(EXCLUDED_PAGES) - names == set()


def test_a_page_action_without_a_twin_fails_the_check():
    operations = api_operations()
    assert missing_twins(["campaigns:new", "campaigns:launch"], TWINS, operations) == [
        "campaigns:launch: a page action with no API twin"
    ]
    assert missing_twins(
        ["reports:retry"], {"reports:retry": ["post /campaigns/{campaign_id}/retry"]}, operations
    ) == [
        "reports:retry: its twin 'post /campaigns/{campaign_id}/retry' is not in the OpenAPI document"
    ]


def test_every_campaign_action_of_the_page_is_an_api_operation():
    operations = api_operations()
    for action in USER_ACTIONS.values():
        twin = TWINS["campaigns:action"][list(USER_ACTIONS).index(action.name)]
        assert twin in operations, action.name


def test_named_page_actions_are_all_accepted_by_their_twin():
    """The channel status page takes activate/deactivate in its URL: the API's
    path parameter must accept both."""
    from config.api import api

    schema = api.get_openapi_schema()
    operation, parameter = NAMED_ACTIONS["channels:status"]
    method, path = operation.split(" ", 1)
    params = schema["paths"]["/api/v1" + path][method]["parameters"]
    (param,) = [p for p in params if p["name"] == parameter]
    assert set(CHANNEL_STATUS_ACTIONS) <= set(param["schema"]["enum"])
