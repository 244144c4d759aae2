"""A page that shows a stored version checks and compiles its content once per
process, not at every view: review 16 noted the campaign page checking it in
the review, again in the preview and again when compiling it, each up to the
deadline."""

from __future__ import annotations

import pytest

from channels import preview, rendering
from tests.campaigns.lifecycle_helpers import ready_email


@pytest.fixture
def compiles(monkeypatch):
    """How many times content was checked (its templates parsed and tried) and compiled."""
    counts = {"checked": 0, "compiled": 0}
    real_check, real_compile = rendering._validate_sources, preview.compile_content

    def check(*args, **kwargs):
        counts["checked"] += 1
        return real_check(*args, **kwargs)

    def compile_(*args, **kwargs):
        counts["compiled"] += 1
        return real_compile(*args, **kwargs)

    monkeypatch.setattr(rendering, "_validate_sources", check)
    monkeypatch.setattr(preview, "compile_content", compile_)
    return counts


def test_the_campaign_page_compiles_a_stored_version_once(login, manager, compiles):
    campaign = ready_email(manager)
    client = login(manager)
    for _ in range(3):
        assert client.get(f"/campaigns/{campaign.pk}/").status_code == 200
        assert client.get(f"/campaigns/{campaign.pk}/preview/").status_code == 200
    assert compiles == {"checked": 1, "compiled": 1}


def test_changed_content_is_checked_again_and_a_failure_is_not_kept(db, compiles):
    content = {"subject": "Hi {{ profile.firstName }}", "html": "<p>A</p>"}
    for _ in range(2):
        rendered = preview.render_preview(channel="email", content=content, category="marketing")
    assert rendered.subject == "Hi" and compiles["compiled"] == 1
    changed = {**content, "html": "<p>B</p>"}
    assert (
        "B" in preview.render_preview(channel="email", content=changed, category="marketing").html
    )
    assert compiles["compiled"] == 2
    broken = {**content, "subject": "{{ profile.x | nosuchfilter }}"}
    for _ in range(2):
        with pytest.raises(preview.PreviewError):
            preview.render_preview(channel="email", content=broken, category="marketing")
    assert compiles["checked"] == 4  # each failing view checks again


def test_the_same_words_in_another_channel_or_category_compile_on_their_own(db, compiles):
    content = {"subject": "Hi", "html": "<p>A</p>", "text": "Hi"}
    preview.render_preview(channel="email", content=content, category="marketing")
    preview.render_preview(channel="email", content=content, category="transactional")
    assert compiles["compiled"] == 2


def test_only_the_latest_contents_are_kept(db, compiles, monkeypatch):
    monkeypatch.setattr(preview, "COMPILED_KEPT", 2)
    for n in (1, 2, 3, 1):
        preview.render_preview(channel="sms", content={"text": f"n{n}"}, category="marketing")
    assert compiles["compiled"] == 4  # n1 was dropped when n3 came


def test_what_is_kept_is_bounded_by_its_size_too(db, compiles, monkeypatch):
    # Review 20 #6: 32 contents at the bounds held about 100 MB a process.
    monkeypatch.setattr(preview, "COMPILED_CHARS", 300)
    small, large = "x" * 100, "y" * 400
    for text in (small, large, large, small):
        preview.render_preview(channel="sms", content={"text": text}, category="marketing")
    assert compiles["compiled"] == 3  # the large one is never kept; the small one is
    assert sum(size for _compiled, size in preview._COMPILED.values()) <= 300
    for n in range(3):  # 3 × ~110 characters: the oldest goes
        preview.render_preview(channel="sms", content={"text": f"{n}" * 100}, category="marketing")
    assert len(preview._COMPILED) == 2
