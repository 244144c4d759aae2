"""Every main page, in Dutch, Swedish and French, shows no English sentence of
the catalog (issue 12, defect 4): the action buttons, the review messages, the
forms, the notifications.

How: the French catalog's longer English source strings (four words or more,
split at their placeholders) must not appear in the visible text of a page
rendered in the language; short labels are checked where they matter most (the
action buttons). A string whose translation is the English itself is not
counted (brand names, "OK"…).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

from accounts.roles import ADMINISTRATOR, APPROVER, MANAGER, VIEWER
from accounts.services import notify
from audiences.models import Audience
from campaigns import services
from campaigns.actions import ACTIONS
from campaigns.models import ApprovalPolicy
from campaigns.services import campaign_create
from tests.campaigns.lifecycle_helpers import email_config, force_status, ready_email

LANGUAGES = ("nl", "sv", "fr")
# Words that read the same in every language we ship.
ALLOWLIST = {"Volley", "cURL", "API", "CSV", "SMS", "Email", "HTML", "E.164", "IANA"}
_PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]|\{\{.*?\}\}|\{%.*?%\}|<[^>]+>")


class _VisibleText(HTMLParser):
    """Text a person reads: text nodes (not inside script, style, code or pre)
    and the labels of controls (placeholder, aria-label, title, value of buttons)."""

    SKIP = {"script", "style", "code", "pre", "textarea", "option"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("placeholder", "aria-label", "title", "alt"):
            if attrs.get(name):
                self.parts.append(attrs[name])
        if tag == "input" and attrs.get("type") in {"submit", "button"} and attrs.get("value"):
            self.parts.append(attrs["value"])
        if tag in self.SKIP:
            self.skipping.append(tag)

    def handle_endtag(self, tag):
        if self.skipping and self.skipping[-1] == tag:
            self.skipping.pop()

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _VisibleText()
    parser.feed(html)
    return re.sub(r"\s+", " ", " ".join(parser.parts))


def _catalog(lang: str) -> dict[str, str]:
    """msgid → msgstr of the language's catalog (singular entries and plurals' first form)."""
    path = Path(settings.BASE_DIR) / "locale" / lang / "LC_MESSAGES" / "django.po"
    entries: dict[str, str] = {}
    msgid = msgstr = None
    field = None
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if line.startswith("msgid "):
            if msgid is not None:
                entries[msgid] = msgstr or ""
            msgid, msgstr, field = _unquote(line[6:]), None, "id"
        elif line.startswith("msgid_plural"):
            field = "plural"
        elif line.startswith(("msgstr ", "msgstr[0] ")):
            msgstr, field = _unquote(line.split(" ", 1)[1]), "str"
        elif line.startswith("msgstr["):
            field = "other"
        elif line.startswith('"') and field == "id":
            msgid += _unquote(line)
        elif line.startswith('"') and field == "str":
            msgstr += _unquote(line)
    if msgid is not None:
        entries[msgid] = msgstr or ""
    entries.pop("", None)
    return entries


def _unquote(text: str) -> str:
    return text.strip()[1:-1].replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")


def english_phrases(lang: str) -> set[str]:
    """The catalog's English phrases of four words or more that the language
    translates differently."""
    phrases = set()
    for msgid, msgstr in _catalog(lang).items():
        if msgstr == msgid:
            continue
        for chunk in _PLACEHOLDER.split(msgid):
            chunk = re.sub(r"\s+", " ", chunk).strip(" .,:;“”\"'()—-")
            if len(chunk.split()) >= 4 and chunk not in ALLOWLIST:
                phrases.add(chunk)
    return phrases


@pytest.fixture
def pages(make_user, django_capture_on_commit_callbacks, monkeypatch):
    """Every main page's path, with data that makes each show its parts."""
    monkeypatch.setattr("campaigns.engine.enqueue_activation", lambda pk: None)
    # Data is written in English, whatever the previous request activated.
    translation.activate("en")
    everyone = make_user("allroles", ADMINISTRATOR, APPROVER, MANAGER, VIEWER)
    author = make_user("author", MANAGER)
    config = email_config()
    aud = Audience.objects.create(
        name="Parisians",
        kind=Audience.Kind.RULE,
        rule={"all": [{"field": "attributes.city", "op": "eq", "value": "Paris"}]},
    )
    # A draft with review warnings (no text version, no unsubscribe link).
    draft = ready_email(
        everyone,
        name="Warnings",
        channel_configuration=config,
        audience=aud,
        content={"subject": "Hi", "html": "<p>Hello</p>", "text": ""},
    )
    live = force_status(ready_email(everyone, name="Running", channel_configuration=config), "live")
    policy = ApprovalPolicy.objects.create(name="Legal", tags=["legal"])
    policy.approver_users.add(everyone)
    waiting = ready_email(author, name="Waiting", tags=["legal"], channel_configuration=config)
    with django_capture_on_commit_callbacks(execute=True):
        services.campaign_request_approval(campaign=waiting, actor=author, comment="please")
    api = campaign_create(
        actor=everyone,
        name="Receipt",
        type="api_triggered",
        category="transactional",
        channel_configuration=email_config(name="Tx", purpose="transactional"),
        content={"subject": "{{ context.order }}", "html": "<p>x</p>", "text": "x"},
    )
    notify(user=everyone, message="A notice", url="/campaigns/")
    signed_in = [
        "/campaigns/",
        "/campaigns/new/",
        f"/campaigns/{draft.pk}/",
        f"/campaigns/{draft.pk}/edit/",
        f"/campaigns/{draft.pk}/languages/",
        f"/campaigns/{draft.pk}/languages/fr/",
        f"/campaigns/{draft.pk}/preview/?device=mobile",
        f"/campaigns/{draft.pk}/design/",
        f"/campaigns/{live.pk}/",
        f"/campaigns/{live.pk}/report/",
        f"/campaigns/{waiting.pk}/",
        f"/campaigns/{api.pk}/",
        "/approvals/",
        "/calendar/",
        "/calendar/?view=week&date=2026-06-10",
        "/templates/",
        "/images/",
        "/templates/new/?starter=email-newsletter",
        "/campaigns/new/?starter=email-receipt",
        "/audiences/",
        "/audiences/new/",
        "/audiences/upload/",
        f"/audiences/{aud.pk}/",
        "/channels/",
        "/channels/new/email/",
        f"/channels/{config.pk}/edit/",
        "/accounts/settings/",
        "/accounts/notifications/",
    ]
    return everyone, signed_in, ["/accounts/login/"]


def _get(client: Client, path: str, lang: str) -> str:
    response = client.get(path, HTTP_ACCEPT_LANGUAGE=lang)
    assert response.status_code == 200, (path, response.status_code)
    return response.content.decode()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_english_sentence_is_left_on_any_page(lang, pages):
    user, signed_in, anonymous = pages
    phrases = english_phrases(lang)
    assert len(phrases) > 100  # the catalog was read
    left: dict[str, list[str]] = {}
    client = Client()
    for path in anonymous:
        text = visible_text(_get(client, path, lang))
        left[path] = sorted(p for p in phrases if p in text)
    client.force_login(user)
    for path in signed_in:
        text = visible_text(_get(client, path, lang))
        left[path] = sorted(p for p in phrases if p in text)
    assert {path: found for path, found in left.items() if found} == {}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_action_buttons_and_review_messages_are_translated(lang, pages):
    user, signed_in, _ = pages
    client = Client()
    client.force_login(user)
    catalog = _catalog(lang)
    english = {}
    for action in ACTIONS.values():
        for label in (action.label, action.label_for_version):
            if label:
                with translation.override("en"):
                    source = str(label)
                if catalog.get(source, "") != source:
                    english[source] = catalog.get(source)
    seen = set()
    for path in signed_in:
        html = _get(client, path, lang)
        for button in re.findall(r"<button\b[^>]*>(.*?)</button>", html, re.S):
            label = visible_text(button).strip()
            seen.add(label)
            assert label not in english, (path, label)
    # The pages did offer actions, in the language.
    with translation.override(lang):
        assert str(ACTIONS["approve"].label) in seen
        assert str(ACTIONS["archive"].label) in seen
    draft = _get(client, signed_in[2], lang)
    assert 'data-code="no_text_version"' in draft
    # The message, in the language; the code stays a machine detail (attribute).
    message = re.search(r'data-code="no_text_version">(.*?)</li>', draft, re.S).group(1)
    assert "plain-text" not in message and message.strip()
    assert "no_text_version" not in message
