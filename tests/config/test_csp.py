"""Content-Security-Policy on every page, and nothing inline that it would block
(issue 10, hardening). The policy has no 'unsafe-inline': a page that needs an
inline script, a <style> block, a style="" or an on…="" attribute is a defect."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group

from audiences.models import Audience, Profile
from tests.campaigns.lifecycle_helpers import email_config, ready_email, sms_config

pytestmark = pytest.mark.django_db

INLINE = [
    # a <script> without src (JSON data blocks are not run, so they may stay)
    re.compile(r"<script\b(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I),
    re.compile(r"<style\b", re.I),
    # attributes, with a real quote (escaped text such as &lt;p style=&quot; is fine)
    re.compile(r"\sstyle\s*=\s*[\"']", re.I),
    re.compile(r"\son[a-z]+\s*=\s*[\"']", re.I),
    re.compile(r"javascript:", re.I),
]


def assert_strict_policy(response) -> None:
    policy = response["Content-Security-Policy"]
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["default-src"] == "'self'"


def assert_nothing_inline(html: str) -> None:
    for pattern in INLINE:
        match = pattern.search(html)
        assert match is None, html[max(0, match.start() - 200) : match.end() + 200]


@pytest.fixture
def world(make_user):
    root = make_user("root", superuser=True)
    config = email_config()
    campaign = ready_email(root, channel_configuration=config)
    profile = Profile.objects.create(email="ann@example.com", attributes={"firstName": "Ann"})
    audience = Audience.objects.create(
        name="Paris",
        kind="rule",
        rule={"all": [{"field": "attributes.city", "op": "exists", "value": True}]},
    )
    return {
        "root": root,
        "campaign": campaign,
        "config": config,
        "sms": sms_config(),
        "audience": audience,
        "profile": profile,
    }


def pages(w) -> list[str]:
    c, a = w["campaign"].pk, w["audience"].pk
    return [
        "/campaigns/",
        "/campaigns/new/",
        f"/campaigns/{c}/",
        f"/campaigns/{c}/edit/",
        f"/campaigns/{c}/preview/?profile=ann@example.com",
        f"/campaigns/{c}/report/",
        f"/campaigns/{c}/access/",
        "/approvals/",
        "/audiences/",
        "/audiences/new/",
        "/audiences/upload/",
        f"/audiences/{a}/",
        f"/audiences/{a}/edit/",
        "/channels/",
        "/channels/new/email/",
        f"/channels/{w['config'].pk}/edit/",
        f"/channels/{w['config'].pk}/test/",
        f"/channels/{w['sms'].pk}/test/",
        "/accounts/settings/",
        "/accounts/password/change/",
        "/admin/",
        "/admin/auth/user/",
        f"/admin/auth/user/{w['root'].pk}/change/",
        "/admin/auth/group/",
        f"/admin/auth/group/{Group.objects.first().pk}/change/",
        f"/admin/campaigns/campaign/{c}/change/",
        "/admin/axes/accessattempt/",
        "/admin/django_q/schedule/add/",
    ]


def test_every_page_has_the_strict_policy_and_nothing_inline(client, world):
    client.force_login(world["root"])
    for path in pages(world):
        response = client.get(path)
        assert response.status_code == 200, path
        assert_strict_policy(response)
        assert_nothing_inline(response.content.decode())


def test_signed_out_pages_too(client):
    for path in ["/accounts/login/", "/accounts/password/reset/", "/accounts/password/reset/sent/"]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert_strict_policy(response)
        assert_nothing_inline(response.content.decode())


def test_a_test_message_preview_keeps_the_email_html_out_of_the_page(client, world):
    client.force_login(world["root"])
    response = client.post(
        f"/channels/{world['config'].pk}/test/",
        {
            "content_subject": "Hi",
            "content_html": '<p style="color: red" onclick="x()">Hi {{ profile.firstName }}</p>',
            "category": "marketing",
            "profile_lookup": "ann@example.com",
            "action": "preview",
        },
    )
    html = response.content.decode()
    assert_nothing_inline(html)
    src = re.search(r'<iframe class="preview"[^>]*\ssrc="([^"]+)"', html).group(1)
    frame = client.get(src)
    assert "Hi Ann" in frame.content.decode()
    assert "sandbox" in frame["Content-Security-Policy"]
    assert "script" not in frame["Content-Security-Policy"]
    assert frame["X-Frame-Options"] == "SAMEORIGIN"
    # Only for the user who rendered it.
    client.force_login(_other(world))
    assert client.get(src).status_code == 404


def _other(world):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user("other", password="x", is_superuser=True)


def test_the_api_docs_load_nothing_from_another_host(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    hosts = re.findall(r'(?:src|href)="(?:https?:)?//([^/"]+)', html)
    assert hosts == []
    assert "/static/ninja/swagger-ui-bundle.js" in html
    assert_strict_policy(response)
    assert_nothing_inline(html)
    from django.contrib.staticfiles import finders

    assert finders.find("ninja/swagger-ui-bundle.js")  # shipped by django-ninja, collected
