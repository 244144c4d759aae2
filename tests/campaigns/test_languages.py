"""Content in several languages (SPEC §11, issue 15 point 4): the sender picks
the profile's exact locale, then its language, then the default content — for
scheduled runs, API triggers, previews and proofs alike; review warns about
incomplete translations; the report splits by language."""

from __future__ import annotations

from email import message_from_bytes
from email.header import decode_header, make_header

import pytest
from django.core import mail

from audiences.locales import localized_content, missing_fields, normalize_locale, pick_locale
from audiences.models import Profile
from campaigns import tasks
from campaigns.engine import dispatch
from campaigns.engine.schedule import activate_campaign
from campaigns.models import Campaign, Delivery, Run
from campaigns.reports import campaign_report
from campaigns.review import review_campaign
from channels.preview import render_preview
from tests.campaigns.conftest import email_config, make_campaign, upload_audience
from tests.campaigns.lifecycle_helpers import GOOD_HTML, audience, ready_email

UNSUB = '<a href="{{ unsubscribe_url }}">x</a>'
CONTENT = {
    "subject": "Hello {{ profile.firstName }}",
    "html": "<p>Hello</p>" + UNSUB,
    "text": "Hello",
    "translations": {
        "fr": {"subject": "Bonjour {{ profile.firstName }}", "html": "<p>Bonjour</p>" + UNSUB},
        "fr-CA": {"subject": "Allô {{ profile.firstName }}"},
        "nl": {"subject": "Hallo", "html": "<p>Hallo</p>" + UNSUB, "text": "Hallo"},
    },
}


# --- the choice ----------------------------------------------------------------


def test_locale_tags_are_normalized():
    assert normalize_locale("fr") == "fr"
    assert normalize_locale("FR_ca") == "fr-CA"
    assert normalize_locale("zh-hant-tw") == "zh-Hant-TW"
    for bad in ("", "f", "french language", "fr--CA", None, 12, "x" * 40):
        assert normalize_locale(bad) is None


def test_exact_locale_then_language_then_default():
    available = {"fr", "fr-CA", "nl"}
    assert pick_locale(available, "fr-CA") == "fr-CA"
    assert pick_locale(available, "fr-BE") == "fr"
    assert pick_locale(available, "fr") == "fr"
    assert pick_locale(available, "de") is None
    assert pick_locale(available, "") is None
    assert pick_locale({"fr-CA"}, "fr") is None  # a language does not reach its regions


def test_a_translation_falls_back_field_by_field():
    content = localized_content(CONTENT, "fr-CA")
    assert content["subject"].startswith("Allô")
    assert content["html"] == CONTENT["html"]  # fr-CA has no body: the default's
    assert "translations" not in content
    assert missing_fields(CONTENT, ("subject", "preheader", "html", "text")) == {
        "fr": ["text"],
        "fr-CA": ["html", "text"],
    }


# --- the real send path ---------------------------------------------------------


def _profiles():
    rows = [("fr@example.com", "fr"), ("ca@example.com", "fr-CA"), ("be@example.com", "fr-BE")]
    rows += [("de@example.com", "de"), ("none@example.com", "")]
    return [
        Profile.objects.create(
            email=email, locale=locale, consent_email=True, attributes={"firstName": "Ann"}
        )
        for email, locale in rows
    ]


def _subjects() -> dict[str, str]:
    return {m.to[0]: m.subject for m in mail.outbox}


@pytest.mark.django_db(transaction=True)
def test_each_profile_receives_its_language(queued):
    profiles = _profiles()
    campaign = make_campaign(upload_audience(profiles), content=CONTENT)
    activate_campaign(campaign.pk)
    run = Run.objects.get(campaign=campaign)
    tasks.start_run(run.pk)

    assert _subjects() == {
        "fr@example.com": "Bonjour Ann",
        "ca@example.com": "Allô Ann",  # its exact locale
        "be@example.com": "Bonjour Ann",  # its language
        "de@example.com": "Hello Ann",  # no German: the default
        "none@example.com": "Hello Ann",
    }
    html = {m.to[0]: m.alternatives[0][0] for m in mail.outbox}
    assert "Bonjour" in html["fr@example.com"] and "Hello" in html["ca@example.com"]
    headers = {m.to[0]: m.extra_headers.get("Content-Language") for m in mail.outbox}
    assert headers["fr@example.com"] == "fr" and headers["de@example.com"] is None
    locales = dict(Delivery.objects.values_list("address", "locale"))
    assert locales == {
        "fr@example.com": "fr",
        "ca@example.com": "fr-CA",
        "be@example.com": "fr",
        "de@example.com": "",
        "none@example.com": "",
    }


@pytest.mark.django_db(transaction=True)
def test_report_splits_sent_opens_and_clicks_by_language(queued):
    profiles = _profiles()
    campaign = make_campaign(upload_audience(profiles), content=CONTENT)
    activate_campaign(campaign.pk)
    tasks.start_run(Run.objects.get(campaign=campaign).pk)
    Delivery.objects.filter(address="fr@example.com").update(opened_at="2030-01-01T00:00Z")
    Delivery.objects.filter(address="be@example.com").update(
        opened_at="2030-01-01T00:00Z", clicked_at="2030-01-01T00:01Z"
    )
    assert campaign_report(campaign)["languages"] == [
        {"locale": "", "sent": 2, "opened": 0, "clicked": 0},
        {"locale": "fr", "sent": 2, "opened": 2, "clicked": 1},
        {"locale": "fr-CA", "sent": 1, "opened": 0, "clicked": 0},
    ]


@pytest.mark.django_db(transaction=True)
def test_smtp_message_carries_the_translation_and_its_language(queued, settings):
    from tests.campaigns.smtp_sink import Sink

    with Sink() as sink:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        profiles = _profiles()
        campaign = make_campaign(upload_audience(profiles), content=CONTENT)
        activate_campaign(campaign.pk)
        tasks.start_run(Run.objects.get(campaign=campaign).pk)
        received = {to: message_from_bytes(raw) for to, raw in sink.messages().items()}
    french = received["ca@example.com"]
    assert str(make_header(decode_header(french["Subject"]))) == "Allô Ann"
    assert french["Content-Language"] == "fr-CA"
    assert received["de@example.com"]["Content-Language"] is None


@pytest.mark.django_db(transaction=True)
def test_api_triggers_pick_the_language_too(api_for, manager, queued):
    for email, locale in (("fr@example.com", "fr-CA"), ("de@example.com", "de")):
        Profile.objects.create(email=email, locale=locale)
    campaign = make_campaign(
        None,
        config=email_config(purpose="transactional"),
        type="api_triggered",
        category="transactional",
        content={
            "subject": "Order {{ context.order }}",
            "text": "Hi",
            "translations": {"fr": {"subject": "Commande {{ context.order }}"}},
        },
    )
    activate_campaign(campaign.pk)
    client = api_for(manager)
    for n, email in enumerate(("fr@example.com", "de@example.com")):
        answer = client.post(
            "/executions/unitary",
            {
                "requestId": f"r{n}",
                "campaignId": campaign.pk,
                "recipients": [{"userId": email, "namespace": "email", "context": {"order": 7}}],
            },
        )
        assert answer.status_code == 202
    assert dispatch.dispatch_batch() == 2
    assert _subjects() == {"fr@example.com": "Commande 7", "de@example.com": "Order 7"}


# --- previews, proofs, review -------------------------------------------------------


def test_preview_renders_the_profile_language_or_the_one_asked_for(db):
    fr = Profile(email="x@example.com", locale="fr-CA", attributes={"firstName": "Zoé"})
    preview = render_preview(channel="email", content=CONTENT, category="marketing", profile=fr)
    assert (preview.subject, preview.locale) == ("Allô Zoé", "fr-CA")
    asked = render_preview(channel="email", content=CONTENT, category="marketing", locale="nl")
    assert (asked.subject, asked.locale) == ("Hallo", "nl")


def test_proof_is_sent_in_the_language_chosen(manager, login, monkeypatch):
    from django.utils.module_loading import import_string

    from campaigns.engine import runs

    # Proofs are sent by the cluster: run its task where it is queued.
    monkeypatch.setattr(
        runs, "enqueue", lambda func, *args, task_name=None: import_string(func)(*args)
    )
    campaign = ready_email(manager, content=CONTENT)
    client = login(manager)
    page = client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert 'name="locale"' in page and 'value="fr-CA"' in page
    client.post(
        f"/campaigns/{campaign.pk}/proofs/", {"recipients": "me@example.com", "locale": "nl"}
    )
    assert [m.subject for m in mail.outbox] == ["[Proof] Hallo"]


def test_preview_page_takes_a_locale(manager, login):
    campaign = ready_email(manager, content=CONTENT)
    page = login(manager).get(f"/campaigns/{campaign.pk}/preview/?locale=fr&fragment=1")
    assert "Bonjour" in page.content.decode()


def test_review_warns_about_a_translation_missing_a_field(manager):
    campaign = ready_email(manager, content=CONTENT)
    warnings = [w for w in review_campaign(campaign).warnings if w.code == "translation_incomplete"]
    assert len(warnings) == 2
    assert "fr-CA" in warnings[1].message and "html" in warnings[1].message
    assert review_campaign(campaign).ok  # a warning, not an error


def test_review_warns_about_a_translation_without_unsubscribe_link(manager):
    content = {**CONTENT, "translations": {"fr": {"html": "<p>Bonjour</p>"}}}
    campaign = ready_email(manager, content=content)
    codes = {w.code for w in review_campaign(campaign).warnings}
    assert "translation_no_unsubscribe" in codes


# --- API ---------------------------------------------------------------------------


def _create(api, content):
    return api.post(
        "/campaigns",
        {
            "name": "Multi",
            "type": "scheduled",
            "category": "marketing",
            "channelConfigurationId": email_config().pk,
            "audienceId": audience().pk,
            "content": content,
        },
    )


def test_api_round_trips_translations(manager, api_for, no_worker):
    api = api_for(manager)
    answer = _create(api, {**CONTENT, "translations": {"FR_ca": {"subject": "Allô"}}})
    assert answer.status_code == 201, answer.content
    assert answer.json()["content"]["translations"] == {"fr-CA": {"subject": "Allô"}}
    cid = answer.json()["id"]
    patched = api.patch(f"/campaigns/{cid}", {"content": {"subject": "New"}})
    assert patched.json()["content"]["translations"] == {"fr-CA": {"subject": "Allô"}}
    cleared = api.patch(f"/campaigns/{cid}", {"content": {"translations": {}}})
    assert "translations" not in cleared.json()["content"]


@pytest.mark.parametrize(
    ("translations", "field"),
    [
        ({"french": {"subject": "x"}}, "content.translations.french"),
        ({"fr": {"subjet": "x"}}, "content.translations.fr.subjet"),
        ({"fr": "Bonjour"}, "content.translations.fr"),
        ({"fr": {"html": "{{ oops"}}, "content.translations.fr.html"),
        ([], "content.translations"),
        ({f"x{n:02d}"[:3]: {} for n in range(51)} | {"zz": {}}, "content.translations"),
    ],
)
def test_api_refuses_bad_translations(manager, api_for, no_worker, translations, field):
    answer = _create(api_for(manager), {**CONTENT, "translations": translations})
    assert answer.status_code == 400, answer.content
    assert field in answer.json()["errors"], answer.json()["errors"]
    assert not Campaign.objects.exists()


def test_profile_locale_through_the_api(manager, api_for):
    api = api_for(manager)
    answer = api.put("/profiles/email/ann@example.com", {"locale": "fr_ca"})
    assert answer.status_code == 201, answer.content
    assert answer.json()["locale"] == "fr-CA"
    assert api.get("/profiles/email/ann@example.com").json()["locale"] == "fr-CA"
    bad = api.put("/profiles/email/ann@example.com", {"locale": "french please"})
    assert bad.status_code == 400 and "locale" in bad.json()["errors"]
    assert Profile.objects.get(email="ann@example.com").locale == "fr-CA"
    api.put("/profiles/email/ann@example.com", {"locale": ""})
    assert Profile.objects.get(email="ann@example.com").locale == ""


# --- pages ---------------------------------------------------------------------------


def test_languages_page_adds_edits_and_removes_a_translation(manager, login, no_worker):
    campaign = ready_email(manager)
    client = login(manager)
    assert (
        "Only the default content so far."
        in client.get(f"/campaigns/{campaign.pk}/languages/").content.decode()
    )
    answer = client.post(f"/campaigns/{campaign.pk}/languages/", {"common": "fr"})
    assert answer["Location"] == f"/campaigns/{campaign.pk}/languages/fr/"
    bad = client.post(
        f"/campaigns/{campaign.pk}/languages/fr/", {"content_subject": "{% if", "content_html": ""}
    )
    assert bad.status_code == 400
    saved = client.post(
        f"/campaigns/{campaign.pk}/languages/fr/",
        {
            "content_subject": "Salut",
            "content_html": "",
            "content_preheader": "",
            "content_text": "",
        },
    )
    assert saved.status_code == 302
    campaign.refresh_from_db()
    assert campaign.draft_version.content["translations"] == {"fr": {"subject": "Salut"}}
    listing = client.get(f"/campaigns/{campaign.pk}/languages/").content.decode()
    assert 'data-locale="fr"' in listing and "Missing: html, text" in listing

    # The campaign's own edit form keeps the translations.
    edit = client.get(f"/campaigns/{campaign.pk}/edit/")
    form = edit.context["form"]
    data = {k: v for k, v in form.initial.items() if v is not None and not isinstance(v, list)}
    data.update(content_subject="Hi again", start_mode="now", timezone="UTC")
    assert client.post(f"/campaigns/{campaign.pk}/edit/", data).status_code == 302
    campaign.refresh_from_db()
    assert campaign.draft_version.content["subject"] == "Hi again"
    assert campaign.draft_version.content["translations"] == {"fr": {"subject": "Salut"}}

    client.post(f"/campaigns/{campaign.pk}/languages/fr/delete/")
    campaign.refresh_from_db()
    assert "translations" not in campaign.draft_version.content


def test_languages_page_refuses_viewers_and_bad_tags(viewer, manager, login):
    campaign = ready_email(manager)
    client = login(viewer)
    assert client.get(f"/campaigns/{campaign.pk}/languages/").status_code == 403
    assert client.post(f"/campaigns/{campaign.pk}/languages/fr/", {}).status_code == 403
    client = login(manager)
    bad = client.post(f"/campaigns/{campaign.pk}/languages/", {"other": "not a tag"})
    assert bad.status_code == 400
    assert client.get(f"/campaigns/{campaign.pk}/languages/FR/").status_code == 404
    assert client.post(f"/campaigns/{campaign.pk}/languages/de/delete/").status_code == 404


def test_report_page_shows_the_language_split(manager, login):
    campaign = ready_email(manager, content=CONTENT)
    run = Run.objects.create(
        campaign=campaign, version=campaign.draft_version, kind="one_shot", status="completed"
    )
    profile = Profile.objects.create(email="a@example.com")
    Delivery.objects.create(
        run=run, profile=profile, status="sent", sent_at="2030-01-01T00:00Z", locale="fr"
    )
    page = login(manager).get(f"/campaigns/{campaign.pk}/report/").content.decode()
    assert 'id="report-languages"' in page and 'data-locale="fr"' in page


def test_good_html_is_unchanged(db):
    # The default content alone is rendered exactly as before translations existed.
    plain = render_preview(
        channel="email", content={"subject": "S", "html": GOOD_HTML}, category="marketing"
    )
    assert plain.locale == "" and "Hello there" in plain.html
