"""Third outside review of issue 10 (docs/security-review-3.md): each test
reproduced its finding on the code before the fix."""

from __future__ import annotations

import types

import pytest

from channels import rendering

pytestmark = pytest.mark.django_db


def _record_deadlines(monkeypatch) -> tuple[list[float], list[float]]:
    """A clock that moves a second at every reading, and the deadline of every
    render budget created: (first reading, deadlines)."""
    clock = iter(range(0, 10**6))
    started: list[float] = []

    def monotonic() -> float:
        value = float(next(clock))
        if not started:
            started.append(value)
        return value

    monkeypatch.setattr(rendering, "time", types.SimpleNamespace(monotonic=monotonic))
    deadlines: list[float] = []
    original = rendering._Budget.__init__

    def init(self) -> None:
        original(self)
        deadlines.append(self.deadline)

    monkeypatch.setattr(rendering._Budget, "__init__", init)
    return started, deadlines


def _translated(count: int) -> dict:
    return {
        "subject": "{{ 'a'|upper }}",
        "html": "<p>{{ 'b'|upper }}</p>",
        "translations": {
            f"{lang}": {"subject": "{{ 'c'|upper }}"}
            for lang in [f"{a}{b}" for a in "abcdefgh" for b in "abcdefgh"][:count]
        },
    }


@pytest.mark.parametrize("entry", ["template_errors", "compile_content", "render_preview"])
def test_one_wall_time_budget_covers_every_translation(monkeypatch, entry):
    """Medium: each of a message's 50 translations got its own 5 s deadline, at
    save time (``template_errors``), when compiled and in every preview: one
    request (PATCH a campaign or template, POST a preview with unsaved content)
    held a web worker for 51 × 5 s of CPU (the gunicorn timeout is 300 s)."""
    from campaigns.validation import template_errors
    from channels.preview import PreviewError, render_preview

    content = _translated(50)
    started, deadlines = _record_deadlines(monkeypatch)
    call = {
        "template_errors": lambda: template_errors("email", content),
        "compile_content": lambda: rendering.compile_content(
            "email", content, category="transactional"
        ),
        "render_preview": lambda: render_preview(
            channel="email", content=content, category="transactional"
        ),
    }[entry]
    try:
        call()
    except (rendering.RenderError, PreviewError):
        pass  # out of time: refused, which is the point
    assert deadlines
    assert max(deadlines) <= started[0] + rendering.MAX_SECONDS + 1


@pytest.mark.parametrize(
    "css",
    [
        "p{" + ";".join(f"a{i}:b" for i in range(5000)) + "}",  # many declarations
        "p{color:" + "x" * 50_000 + "}",  # one long value
    ],
)
def test_css_inlining_output_is_bounded(css):
    """Medium: the bound counted rules × tags only. One rule of 5,000
    declarations (or one 50 KB value) copied onto 2,000 tags made 55 KB of
    HTML into ~100 MB in every preview and on the campaign page of every
    viewer; the 5 MB a request may carry reached gigabytes (the web worker's
    memory, or the machine's)."""
    from channels.inline_css import inline_css

    html = f"<style>{css}</style>" + "<p>x</p>" * 2000
    out = inline_css(html)
    assert len(out) <= len(html) + 2_100_000


def test_css_inlining_still_inlines_ordinary_styles():
    from channels.inline_css import inline_css

    out = inline_css("<style>p{color:red;margin:0}</style><p>a</p><p style='color:blue'>b</p>")
    assert '<p style="color: red; margin: 0">a</p>' in out
    assert "color: blue" in out


def _hang_guard(seconds: int):
    """Fail (instead of hanging for hours) when quadratic work comes back."""
    import signal

    def expire(*_args):
        raise AssertionError(f"still running after {seconds} s: not linear")

    signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)


def test_css_comments_are_removed_in_linear_time():
    """Medium: ``/\\*.*?\\*/`` searched to the end of the CSS from every unclosed
    ``/*``: 60 KB of ``/* `` took 14 s, 1 MB about an hour, in every preview and
    on the campaign page of every viewer (200 KB here: minutes before the fix)."""
    import signal

    from channels.inline_css import inline_css

    html = "<style>" + "/* " * 70_000 + "</style><p>x</p>"
    _hang_guard(30)
    try:
        out = inline_css(html)
    finally:
        signal.alarm(0)
    assert "<p>x</p>" in out


def test_css_comments_still_removed_as_before():
    from channels.inline_css import inline_css

    out = inline_css("<style>/* x */p{color:red}/*b{color:blue}*/</style><p>a</p><b>c</b>")
    assert '<p style="color: red">a</p>' in out and "<b>c</b>" in out
    # An unclosed comment runs to the end of the block, as in a browser.
    out = inline_css("<style>p{color:red}/* i{color:blue}</style><p>a</p><i>c</i>")
    assert '<p style="color: red">a</p>' in out and "<i>c</i>" in out
