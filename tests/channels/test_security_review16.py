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


# --- 3: comparisons and tests never looked at the clock ---------------------------

COMPARISONS = '{% set t = "a" * 1999000 %}{% set p = "a" * 60 ~ "b" %}' + "{{ p in t }}" * 2000


def test_comparisons_and_tests_look_at_the_clock(monkeypatch):
    """Reproduced: 2,000 ``{{ p in t }}`` (a 24 KB SMS text; each search of a
    2 MB string about 10 ms) rendered for 24 s, and as long again at save
    time: nothing in them spent a unit, so the 5 s deadline was never looked
    at. With the deadline already past, a template of comparisons alone, and
    one of tests alone, must stop."""
    sources = (
        "{{ context.a in 'abc' }}",
        "{{ context.a is in 'abc' }}",
        "{{ context.a < 'c' }}",
        "{{ context.a[::-1] }}",  # a slice: a copy of up to 2 MB
    )
    compiled = [
        compile_content("sms", {"text": source}, category="transactional") for source in sources
    ]
    monkeypatch.setattr(rendering, "MAX_SECONDS", -1.0)
    for content in compiled:
        with pytest.raises(RenderError, match="too long"):
            content.render(profile=None, context={"a": "b"})


def test_the_comparison_payload_is_stopped():
    with pytest.raises(RenderError, match="too long"):
        compile_content("sms", {"text": COMPARISONS}, category="transactional")


def test_tests_still_answer_through_the_guard():
    source = (
        '{{ [1, 2, 3, 4]|select("odd")|list }} {{ 3 is divisibleby 3 }} '
        '{{ [1, 2]|reject("in", [2])|list }} {{ "odd" is test }} {{ 1 < 2 < 3 }}'
    )
    compiled = compile_content("sms", {"text": source}, category="transactional")
    assert compiled.render(profile=None).text == "[1, 3] True [1] True True"


# --- 4: compiling a long template was outside every budget -------------------------


def test_a_field_of_more_than_max_tokens_is_refused_before_it_is_compiled():
    """Reproduced: a text part of 80,000 ``{{ x }}`` (560 KB, under the 5 MB
    body) saved through the API, and each view of the campaign's page by a
    viewer took 35 s (Jinja parses and compiles about 30 µs a token, and the
    page compiles the content several times), past gunicorn's 30 s timeout;
    a 4.9 MB body minutes. The render budget starts after compiling."""
    limit = rendering.MAX_TOKENS
    fits = "{{ x }}" * (limit // 3)  # three tokens each: {{, x, }}
    assert validate_content("sms", {"text": fits}) == {}
    errors = validate_content("sms", {"text": fits + "{{ x }}"})
    assert "too long" in errors["text"][0]
    with pytest.raises(RenderError, match="too long"):
        compile_content("sms", {"text": "{{ x }}" * 80000}, category="transactional")


def test_plain_text_between_tags_is_one_token():
    html = "<p>" + "word " * 200_000 + "{{ profile.firstName }}</p>"
    assert validate_content("email", {"subject": "Hi", "html": html}) == {}


def test_fields_after_the_deadline_are_not_compiled(monkeypatch):
    """Every field of a content, and every language's, compiles under one
    deadline: once it has passed, the next field is refused, not compiled."""
    monkeypatch.setattr(rendering, "MAX_SECONDS", -1.0)
    compiled = []
    monkeypatch.setattr(rendering, "_trial_render", lambda env, s: compiled.append(s))
    errors = validate_content("email", {"subject": "A", "html": "<p>B</p>", "text": "C"})
    assert compiled == [] and "too long" in errors["subject"][0]


# --- 6: values kept in variables were bounded one by one, never in all --------------


@pytest.mark.parametrize(
    "unit",
    [
        '{{% set a{i} = "x" * 1999999 %}}',  # an operator
        "{{% set a{i} = range(100000) %}}",  # a call
        "{{% set a{i} = ('ab ' * 600000).split() %}}",  # a method
        "{{% set a{i} = ('x' * 1999999)|list %}}",  # a filter
        "{{% set a{i} = s ~ s %}}",  # a concatenation
        "{{% set a{i} = s[::-1] ~ '' %}}",  # a slice
    ],
)
def test_what_a_render_builds_is_counted_in_all(unit):
    """Reproduced: 300 ``{% set a1 = "x" * 1999999 %}`` held 0.6 GB, 300
    ``range(100000)`` 1.2 GB, 40 ``s.split()`` 1.9 GB — in one or two
    seconds, within every budget (each value under MAX_OUTPUT, a few hundred
    calls); a few thousand (the 10,000 tokens of a field) are gigabytes, in a
    preview, at save time and for every message."""
    source = '{% set s = "x" * 999999 %}' + "".join(unit.format(i=i) for i in range(30))
    with pytest.raises(RenderError, match="too large"):
        compile_content("sms", {"text": source}, category="transactional")


def test_values_handed_back_as_they_came_are_not_counted_again():
    source = (
        '{% set s = "x" * 1999999 %}'
        "{% for i in range(200) %}{% set t = s|default('') %}{% set u = s.strip() %}{% endfor %}"
        "{{ range(5)|list }}"
    )
    compiled = compile_content("sms", {"text": source}, category="transactional")
    assert compiled.render(profile=None).text == "[0, 1, 2, 3, 4]"
