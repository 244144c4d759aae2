"""Sixteenth outside review of issue 10 (docs/security-review-16.md): the
render budget. Each test reproduced its finding on the code before the fix;
none is timed (the budget's counted units and its errors only)."""

from __future__ import annotations

import pytest

from channels import rendering
from channels.rendering import RenderError, compile_content, validate_content

# --- 2: a recursive loop's inner iterations spent nothing ------------------------------

# ``loop(...)`` by name is refused at save time (not a known function), but
# ``[loop][0](...)`` is a call like any other: the items it iterates went past
# the ``for`` tag's budgeted iterator, and nothing in the body spent a call.
RECURSIVE_LOOP = (
    '{% set s = "a" * 2000000 %}{% for c in [1] recursive %}'
    '{% if loop.depth == 1 %}{{ [loop][0](s) }}{% elif c == "b" or c == "c" %}x{% endif %}'
    "{% endfor %}"
)


def test_a_recursive_loop_spends_the_loop_budget_on_every_item():
    """Reproduced: this SMS text (366 characters with 20 comparisons) rendered
    for 36 s — one preview, per profile in the sender, and at save time —
    against the 5 s deadline and 100,000 iterations: the clock and the
    iteration count are looked at only when something spends. Compiling
    renders once (the save-time check), so the stored content is refused
    there, as it is when the sender compiles it."""
    with pytest.raises(RenderError, match="loop iterations"):
        compile_content("sms", {"text": RECURSIVE_LOOP}, category="transactional")


def test_a_recursive_loop_is_refused_at_save_time():
    errors = validate_content("sms", {"text": RECURSIVE_LOOP})
    assert "loop iterations" in " ".join(errors["text"])


def test_each_item_of_a_recursive_call_is_one_iteration(monkeypatch):
    """Counted units: 3 outer items and 2 x 4 inner ones are 11 iterations."""
    source = (
        "{% for c in [1, 2, 3] recursive %}"
        "{% if loop.depth == 1 and c < 3 %}{{ [loop][0]('abcd') }}{% endif %}{% endfor %}"
    )
    monkeypatch.setattr(rendering, "MAX_ITERATIONS", 11)
    compiled = compile_content("sms", {"text": source}, category="transactional")
    assert compiled.render(profile=None).text == ""
    monkeypatch.setattr(rendering, "MAX_ITERATIONS", 10)
    with pytest.raises(RenderError, match="loop iterations"):
        compiled.render(profile=None)
