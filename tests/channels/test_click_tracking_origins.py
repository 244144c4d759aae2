"""Only links whose scheme and host are literal in the authored content are
tracked: a URL from the trigger context or profile data never becomes a
Volley-signed redirect (issue 10 #12)."""

from __future__ import annotations

from types import SimpleNamespace

from channels import tracking
from channels.rendering import compile_content

HTML = (
    '<p><a href="https://shop.example/sale?id={{ context.id }}">Sale</a>'
    '<a href="{{ context.link }}">Yours</a>'
    '<a href="{{ profile.website }}">Site</a>'
    '<a href="https://{{ context.host }}/x">Host</a>'
    '<a href="https://shop.example{{ context.suffix }}">Suffix</a></p>'
)


def person(**attributes):
    return SimpleNamespace(
        attributes=attributes, email="a@example.com", phone="", timezone="", profile_id=""
    )


def _rendered(context):
    compiled = compile_content(
        "email", {"subject": "S", "html": HTML}, category="transactional", track_clicks=True
    )
    return compiled.render(
        profile=person(website="https://evil.example/p"), context=context, delivery_id=7
    ).html


def _signed_targets(html_text: str) -> list[str]:
    import re

    targets = []
    for token in re.findall(r"/t/c/([^\"']+)", html_text):
        parsed = tracking.read_token("click", token)
        if parsed is not None:
            targets.append(parsed.url)
    return targets


def test_a_context_or_profile_url_is_delivered_untracked(db):
    html_text = _rendered(
        {
            "id": "42",
            "link": "https://evil.example/",
            "host": "evil.example",
            "suffix": ".evil.example/",
        }
    )
    targets = _signed_targets(html_text)
    assert targets == ["https://shop.example/sale?id=42"], targets
    assert 'href="https://evil.example/"' in html_text  # still delivered, as-is
    assert 'href="https://evil.example/p"' in html_text
    assert not any("evil" in url for url in targets)


def test_a_context_url_to_an_authored_host_may_be_tracked(db):
    targets = _signed_targets(_rendered({"link": "https://shop.example/other"}))
    assert "https://shop.example/other" in targets


def test_push_url_from_the_context_is_not_tracked(db):
    def url_for(template, context):
        compiled = compile_content(
            "push",
            {"title": "T", "body": "B", "url": template},
            category="transactional",
            track_clicks=True,
        )
        return compiled.render(profile=None, context=context, delivery_id=3).url

    assert url_for("{{ context.link }}", {"link": "https://evil.example/"}) == (
        "https://evil.example/"
    )
    tracked = url_for("https://shop.example/{{ context.path }}", {"path": "a"})
    assert tracked != "https://shop.example/a" and "/t/c/" in tracked
