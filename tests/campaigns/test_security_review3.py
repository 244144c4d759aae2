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
