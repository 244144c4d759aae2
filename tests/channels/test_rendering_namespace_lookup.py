"""``{{ profile.x }}`` takes a short path through the sandbox (issue 9): it
must answer exactly what the sandbox's own attribute lookup answers."""

from __future__ import annotations

import pytest

from channels import rendering

DATA = {
    "firstName": "Ann",
    "encode": "bytes are refused",
    "items": [1, {"a": 2}],
    "nested": {"k": "v", "deeper": {"x": "y"}},
    "none": None,
    "number": 3,
    "format": "{0}",
    "html": "<b>bold</b>",
}

EXPRESSIONS = [
    "{{ p.firstName }}",
    "{{ p.missing }}",
    "{{ p.missing is defined }}",
    "{{ p.nested.missing }}",
    "{{ p.encode }}",
    "{{ p._data }}",
    "{{ p.__class__ }}",
    "{{ p.__init__ }}",
    "{{ p.items|length }}",
    "{{ p.items[1].a }}",
    "{{ p.nested.k }}{{ p.nested.deeper.x }}",
    "{{ p.none }}",
    "{{ p.number + 1 }}",
    "{{ p.format }}",
    "{{ p.html }}",
    "{{ p['firstName'] }}",
    "{% for i in p.items %}{{ i }}{% endfor %}",
    "{{ p.nested.items }}",
]


def _generic(self, obj, attribute):
    return rendering._safe_result(super(rendering._Environment, self).getattr(obj, attribute))


@pytest.mark.parametrize("env", [rendering.TEXT_ENV, rendering.HTML_ENV], ids=["text", "html"])
@pytest.mark.parametrize("source", EXPRESSIONS)
def test_a_namespace_lookup_answers_as_the_sandbox_does(env, source, monkeypatch):
    template = env.from_string(source)
    short = template.render(p=rendering.Namespace(DATA))
    monkeypatch.setattr(rendering._Environment, "getattr", _generic)
    generic = env.from_string(source).render(p=rendering.Namespace(DATA))
    assert short == generic
