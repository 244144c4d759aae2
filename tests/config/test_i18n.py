"""Volley in Dutch, Swedish and French: the browser's language or the switcher
picks the language, dates and numbers follow it, and every catalog is complete."""

from __future__ import annotations

import ast
import datetime
import gettext
import re
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings
from django.utils import translation

from audiences.models import Audience
from campaigns.forms import recurrence_summary
from campaigns.models import Campaign, CampaignStatus
from tests.campaigns.lifecycle_helpers import ready_email

LOCALES = ("nl", "sv", "fr")
LOCALE_DIR = Path(settings.BASE_DIR) / "locale"
MAKEMESSAGES = (
    "manage.py makemessages -l nl -l sv -l fr --ignore=.venv --ignore=var --ignore=tests "
    "--ignore=bench, translate the new entries in locale/<lang>/LC_MESSAGES/django.po, "
    "then manage.py compilemessages"
)

# What a user sees, per language: sign-in heading, navigation, a draft badge.
EXPECTED = {
    "en": {"sign_in": "Sign in to Volley", "nav": ["Campaigns", "Audiences"], "draft": "Draft"},
    "nl": {
        "sign_in": "Aanmelden bij Volley",
        "nav": ["Campagnes", "Doelgroepen"],
        "draft": "Concept",
    },
    "sv": {"sign_in": "Logga in på Volley", "nav": ["Kampanjer", "Målgrupper"], "draft": "Utkast"},
    "fr": {
        "sign_in": "Se connecter à Volley",
        "nav": ["Campagnes", "Audiences"],
        "draft": "Brouillon",
    },
}


@pytest.fixture(autouse=True)
def _english_after_each_test():
    yield
    translation.activate(settings.LANGUAGE_CODE)


def _nav_labels(html: str) -> list[str]:
    nav = re.search(r'<nav class="mainnav".*?</nav>', html, re.S).group(0)
    return re.findall(r"<a [^>]*>([^<]+)</a>", nav)


# --- The browser's language -------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", *LOCALES])
def test_sign_in_page_follows_accept_language(client, db, lang):
    html = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE=lang).content.decode()
    assert f'<html lang="{lang}">' in html
    assert EXPECTED[lang]["sign_in"] in html


@pytest.mark.parametrize("lang", LOCALES)
def test_campaign_list_follows_accept_language(login, manager, lang):
    Campaign.objects.create(name="Spring sale", status=CampaignStatus.DRAFT)
    response = login(manager).get("/campaigns/", HTTP_ACCEPT_LANGUAGE=f"{lang},en;q=0.5")
    html = response.content.decode()
    assert response.status_code == 200
    assert _nav_labels(html)[:2] == EXPECTED[lang]["nav"]
    assert f'<span class="badge draft">{EXPECTED[lang]["draft"]}</span>' in html


def test_an_unknown_browser_language_falls_back_to_english(client, db):
    html = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert '<html lang="en">' in html and "Sign in to Volley" in html


# --- The switcher ---------------------------------------------------------------------------


def test_sign_in_page_has_a_switcher_that_works_without_javascript(client, db):
    html = client.get("/accounts/login/?next=/campaigns/").content.decode()
    form = re.search(r'<form method="post" action="/i18n/setlang/".*?</form>', html, re.S)
    assert form, "the language switcher form is missing from the sign-in page"
    form = form.group(0)
    assert 'name="csrfmiddlewaretoken"' in form and 'type="submit"' in form
    assert 'name="next" value="/accounts/login/?next=/campaigns/"' in form
    codes = re.findall(r'<option value="(\w+)"', form)
    assert codes == ["en", "nl", "sv", "fr"]
    # Each language is offered under its own name, the current one selected.
    assert '<option value="sv" lang="sv">svenska</option>' in form
    assert '<option value="en" lang="en" selected>' in form
    # It comes after the page's own form: "the first submit button" is still Sign in.
    assert html.index('action="/i18n/setlang/"') > html.index('id="id_password"')


@pytest.mark.parametrize("lang", LOCALES)
def test_switcher_sets_the_language_for_the_following_pages(client, db, lang):
    response = client.post("/i18n/setlang/", {"language": lang, "next": "/accounts/login/"})
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    # The choice outranks the browser's language from now on.
    html = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert EXPECTED[lang]["sign_in"] in html
    assert f'<option value="{lang}" lang="{lang}" selected>' in html


def test_switcher_changes_the_signed_in_campaign_list(login, manager):
    Campaign.objects.create(name="Spring sale", status=CampaignStatus.DRAFT)
    client = login(manager)
    client.post("/i18n/setlang/", {"language": "fr", "next": "/campaigns/"})
    html = client.get("/campaigns/").content.decode()
    assert _nav_labels(html)[:2] == EXPECTED["fr"]["nav"]
    assert '<span class="badge draft">Brouillon</span>' in html
    client.post("/i18n/setlang/", {"language": "en", "next": "/campaigns/"})
    assert '<span class="badge draft">Draft</span>' in client.get("/campaigns/").content.decode()


def test_switcher_ignores_a_next_url_off_site_and_an_unknown_language(client, db):
    response = client.post("/i18n/setlang/", {"language": "xx", "next": "https://evil.example/"})
    assert response.status_code == 302 and not response["Location"].startswith("https://evil")
    html = client.get("/accounts/login/").content.decode()
    assert "Sign in to Volley" in html


def test_switcher_refuses_get(client, db):
    # set_language changes state only on POST; a GET just redirects without switching.
    client.get("/i18n/setlang/?language=fr")
    assert "Sign in to Volley" in client.get("/accounts/login/").content.decode()


# --- Dates and numbers ----------------------------------------------------------------------

UPDATED = datetime.datetime(2026, 3, 5, 14, 30, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("lang", "shown"),
    [
        ("en", "03/05/2026 2:30 p.m."),
        ("nl", "5-3-2026 14:30"),
        ("sv", "2026-03-05 14:30"),
        ("fr", "05/03/2026 14:30"),
    ],
)
def test_campaign_list_dates_follow_the_language(login, manager, lang, shown):
    campaign = Campaign.objects.create(name="Spring sale")
    Campaign.objects.filter(pk=campaign.pk).update(updated_at=UPDATED)
    html = login(manager).get("/campaigns/", HTTP_ACCEPT_LANGUAGE=lang).content.decode()
    assert re.search(rf'<td class="date updated"[^>]*>{re.escape(shown)}</td>', html)


@pytest.mark.parametrize(
    ("lang", "shown"),
    [("en", "12,345"), ("nl", "12.345"), ("sv", "12\xa0345"), ("fr", "12\xa0345")],
)
def test_audience_sizes_use_the_language_thousands_separator(login, manager, lang, shown):
    Audience.objects.create(name="Newsletter", kind=Audience.Kind.UPLOAD, size=12345)
    html = login(manager).get("/audiences/", HTTP_ACCEPT_LANGUAGE=lang).content.decode()
    assert f"<td>{shown}</td>" in html


def test_campaign_detail_shows_recurrence_and_throttle_in_the_language(login, manager):
    # The page used to show the stored key ("weekly"), weekday numbers ("0, 4") and "5000".
    campaign = ready_email(manager, throttle_per_second=5000)
    version = campaign.draft_version
    version.recurrence = {
        "frequency": "weekly",
        "time": "09:00",
        "daysOfWeek": [0, 4],
        "dayOfMonth": None,
    }
    version.save()
    client = login(manager)
    html = client.get(f"/campaigns/{campaign.pk}/", HTTP_ACCEPT_LANGUAGE="sv").content.decode()
    assert "<dd>Veckovis 09:00 · måndag, fredag</dd>" in html
    assert "<dd>5\xa0000</dd>" in html
    html = client.get(f"/campaigns/{campaign.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "<dd>Weekly 09:00 · Monday, Friday</dd>" in html and "<dd>5,000</dd>" in html


def test_recurrence_summary_names_frequency_and_days(db):
    recurrence = {"frequency": "weekly", "time": "09:00", "daysOfWeek": [0, 4], "dayOfMonth": None}
    with translation.override("nl"):
        assert recurrence_summary(recurrence) == "Wekelijks 09:00 · maandag, vrijdag"
    with translation.override("fr"):
        monthly = {"frequency": "monthly", "time": "08:15", "daysOfWeek": [], "dayOfMonth": 15}
        assert recurrence_summary(monthly) == "Mensuelle 08:15 · le 15 du mois"
    assert recurrence_summary(None) == ""


# --- The catalogs ---------------------------------------------------------------------------


def _po_entries(path: Path) -> list[dict]:
    """A small .po reader (no gettext tools or polib needed): msgctxt, msgid,
    msgid_plural, msgstr / msgstr[n], flags; obsolete (#~) entries are skipped."""
    entries, entry, field = [], None, None

    def finish():
        if entry is not None and "msgid" in entry:
            entries.append(entry)

    for raw in path.read_text(encoding="utf-8").splitlines() + [""]:
        line = raw.strip()
        if not line:
            finish()
            entry, field = None, None
            continue
        if line.startswith("#~"):
            continue
        if entry is None:
            entry = {"flags": set(), "msgstr": {}}
        if line.startswith("#,"):
            entry["flags"].update(f.strip() for f in line[2:].split(","))
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            value = ast.literal_eval(line)
            if isinstance(field, int):
                entry["msgstr"][field] += value
            else:
                entry[field] += value
        else:
            keyword, _, rest = line.partition(" ")
            value = ast.literal_eval(rest)
            match = re.fullmatch(r"msgstr\[(\d+)\]", keyword)
            if match:
                field = int(match.group(1))
                entry["msgstr"][field] = value
            elif keyword == "msgstr":
                field = 0
                entry["msgstr"][0] = value
            else:
                field = keyword
                entry[field] = value
    return entries


def _catalog(lang: str) -> list[dict]:
    return _po_entries(LOCALE_DIR / lang / "LC_MESSAGES" / "django.po")


def _label(entry: dict) -> str:
    return repr(entry["msgid"])[:80]


@pytest.mark.parametrize("lang", LOCALES)
def test_every_message_is_translated_and_none_is_fuzzy(lang):
    entries = _catalog(lang)
    header, messages = entries[0], entries[1:]
    assert header["msgid"] == "" and "fuzzy" not in header["flags"]
    assert len(messages) > 600, "the catalog looks truncated"
    untranslated = [_label(e) for e in messages if not all(e["msgstr"].values())]
    fuzzy = [_label(e) for e in messages if "fuzzy" in e["flags"]]
    assert not untranslated, (
        f"{len(untranslated)} untranslated message(s) in locale/{lang}: {untranslated[:5]}. "
        f"Run {MAKEMESSAGES}."
    )
    assert not fuzzy, (
        f"{len(fuzzy)} fuzzy message(s) in locale/{lang} (makemessages guessed them; check "
        f"each translation and remove the '#, fuzzy' line): {fuzzy[:5]}. Run {MAKEMESSAGES}."
    )


PLACEHOLDER = re.compile(r"%%|%\([a-z_]+\)[sdr]|%[sdr]|\{\{[^}]*\}\}")


@pytest.mark.parametrize("lang", LOCALES)
def test_translations_keep_every_placeholder(lang):
    wrong = []
    for entry in _catalog(lang)[1:]:
        sources = [entry["msgid"], entry.get("msgid_plural", entry["msgid"])]
        for n, text in entry["msgstr"].items():
            source = sources[min(n, 1)]
            if sorted(PLACEHOLDER.findall(source)) != sorted(PLACEHOLDER.findall(text)):
                wrong.append(f"{source!r} -> {text!r}")
    assert not wrong, f"locale/{lang}: placeholders differ: {wrong[:5]}"


@pytest.mark.parametrize("lang", LOCALES)
def test_compiled_catalog_matches_the_po_file(lang):
    # Volley runs from the committed .mo files (no gettext tools needed to start it).
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "django.mo").open("rb") as mo:
        compiled = gettext.GNUTranslations(mo)
    stale = []
    for entry in _catalog(lang)[1:]:
        context = entry.get("msgctxt")
        if "msgid_plural" in entry:
            got = (
                compiled.npgettext(context, entry["msgid"], entry["msgid_plural"], 1)
                if context
                else compiled.ngettext(entry["msgid"], entry["msgid_plural"], 1)
            )
            want = entry["msgstr"][0]
        else:
            got = (
                compiled.pgettext(context, entry["msgid"])
                if context
                else compiled.gettext(entry["msgid"])
            )
            want = entry["msgstr"][0]
        if got != want:
            stale.append(_label(entry))
    assert not stale, (
        f"locale/{lang}/LC_MESSAGES/django.mo is older than django.po ({stale[:5]}): "
        "run manage.py compilemessages --ignore=.venv and commit the .mo file."
    )


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="gettext tools are not installed")
def test_no_source_string_is_missing_from_the_catalogs(tmp_path, monkeypatch):
    """Run makemessages on a copy of the sources: a string added to the code or a
    template without a translation shows up here as untranslated."""
    base = Path(settings.BASE_DIR)
    skip = shutil.ignore_patterns(".*", "var", "tests", "bench", "docs", "__pycache__", "*.mo")
    for name in ("accounts", "audiences", "campaigns", "channels", "config", "templates", "locale"):
        shutil.copytree(base / name, tmp_path / name, ignore=skip)
    monkeypatch.chdir(tmp_path)
    with override_settings(LOCALE_PATHS=[tmp_path / "locale"]):
        call_command("makemessages", locale=list(LOCALES), verbosity=0, no_obsolete=True)
    for lang in LOCALES:
        entries = _po_entries(tmp_path / "locale" / lang / "LC_MESSAGES" / "django.po")[1:]
        missing = [_label(e) for e in entries if not all(e["msgstr"].values())]
        fuzzy = [_label(e) for e in entries if "fuzzy" in e["flags"]]
        assert not missing and not fuzzy, (
            f"locale/{lang} lacks translations for {missing[:5]}, guesses {fuzzy[:5]}: "
            f"run {MAKEMESSAGES}."
        )
