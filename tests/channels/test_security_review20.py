"""Security review 20 (issue 10): the content checks remembered as passed
(``validate_content``'s ``_PASSED``) and a content's languages."""

from __future__ import annotations

from collections import OrderedDict

import pytest

from channels import preview, rendering
from channels.preview import PreviewError, render_preview
from channels.rendering import RenderError, compile_content, validate_content


@pytest.fixture
def slow_compiles(monkeypatch):
    """A clock that moves one second whenever a template is compiled: what a
    field at the token bound costs, give or take, without waiting for it."""
    now = [1000.0]
    compiled = [0]
    real = rendering._Environment.from_string

    def from_string(self, source, *args, **kwargs):
        now[0] += 1.0
        compiled[0] += 1
        return real(self, source, *args, **kwargs)

    monkeypatch.setattr(rendering._Environment, "from_string", from_string)
    monkeypatch.setattr(rendering.time, "monotonic", lambda: now[0])
    return compiled


def _tags(count: int) -> list[str]:
    """``count`` language tags (``fr-AA``, ``fr-AB``, …)."""
    return [f"fr-{chr(65 + n // 26)}{chr(65 + n % 26)}" for n in range(count)]


def _twenty_languages() -> dict:
    content = {"text": "Hello {{ profile.firstName }}"}
    content["translations"] = {
        tag: {"text": f"Hello {n} {{{{ profile.firstName }}}}"} for n, tag in enumerate(_tags(20))
    }
    return content


def test_1_languages_checked_before_still_compile_within_one_deadline(db, slow_compiles):
    """Each language, checked alone (the save's check of each translation, a
    preview), is remembered as passed; compiling the whole content must still
    stop at the one deadline its languages share — it compiled all 21, one
    after another (at the token bound, 50 languages: 45 s a page view)."""
    content = _twenty_languages()
    for locale in [None, *content["translations"]]:
        assert validate_content("sms", rendering.localized_content(content, locale)) == {}
    before = slow_compiles[0]
    with pytest.raises(RenderError, match="took too long"):
        compile_content("sms", content, category="marketing")
    assert slow_compiles[0] - before <= rendering.MAX_SECONDS + 1
    with pytest.raises(PreviewError):
        render_preview(channel="sms", content=content, category="marketing")


def test_1_languages_with_the_same_content_compile_once(db, slow_compiles):
    """A translation leaving every field to the default (or repeating it) is the
    default's content: compiled once, not once a language."""
    content = {"text": "Hello {{ profile.firstName }}"}
    content["translations"] = {tag: {} for tag in _tags(50)}
    compiled = compile_content("sms", content, category="marketing")
    assert all(variant is compiled.default for variant in compiled.variants.values())
    assert slow_compiles[0] <= 3  # the check's trial and the compilation of one text
    rendered = render_preview(channel="sms", content=content, category="marketing", locale="fr-AH")
    assert rendered.text == "Hello " and rendered.locale == "fr-AH"


def test_1_a_content_within_the_deadline_still_compiles(db, slow_compiles):
    content = _twenty_languages()
    content["translations"] = dict(list(content["translations"].items())[:1])
    compiled = compile_content("sms", content, category="marketing")
    assert compiled.render(profile=None, locale="fr-AA").text == "Hello 0 "


class _DroppedMeanwhile(OrderedDict):
    """A cache whose key another thread drops (making room for its own)
    between this thread's look-up and its ``move_to_end``."""

    def get(self, key, default=None):
        value = super().get(key, default)
        self.pop(key, None)
        return value

    def __contains__(self, key):
        found = super().__contains__(key)
        self.pop(key, None)
        return found


def test_4_a_content_dropped_by_another_thread_meanwhile_is_no_500(db, monkeypatch):
    """Old code: with GUNICORN_THREADS the look-up and ``move_to_end`` of the
    process's caches could be split by another thread dropping the oldest
    entry — a KeyError, a 500 on the page showing it."""
    content = {"text": "Hello {{ profile.firstName }}"}
    render_preview(channel="sms", content=content, category="marketing")
    monkeypatch.setattr(preview, "_COMPILED", _DroppedMeanwhile(preview._COMPILED))
    monkeypatch.setattr(rendering, "_PASSED", _DroppedMeanwhile(rendering._PASSED))
    assert render_preview(channel="sms", content=content, category="marketing").text == "Hello "
    assert validate_content("sms", {"text": "x"}) == {}
    assert validate_content("sms", {"text": "x"}) == {}
