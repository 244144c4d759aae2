"""Personalization: sandbox, escaping, undefined variables, tracking rewrites."""

from __future__ import annotations

import html
import re
from types import SimpleNamespace

import pytest

from channels import tracking
from channels.rendering import RenderError, compile_content, validate_content


def person(**attributes):
    return SimpleNamespace(
        attributes=attributes,
        email="ann@example.com",
        phone="+31612345678",
        timezone="Europe/Amsterdam",
        profile_id="ext-1",
    )


def render(channel, content, *, profile=None, category="marketing"):
    compiled = compile_content(channel, content, category=category)
    return compiled.render(profile=profile or person())


def test_profile_attributes_identities_and_context_are_available():
    compiled = compile_content(
        "sms",
        {
            "text": "{{ profile.firstName }} {{ profile.email }} {{ profile.profileId }} "
            "{{ context.order.items[0].sku }} {{ context.order.items | length }}"
        },
        category="transactional",
    )
    message = compiled.render(
        profile=person(firstName="Ann"),
        context={"order": {"items": [{"sku": "A1"}, {"sku": "B2"}]}},
    )
    assert message.text == "Ann ann@example.com ext-1 A1 2"


def test_dict_method_names_are_data_not_methods():
    message = render(
        "sms", {"text": "{{ context.items }}|{{ profile.keys }}"}, profile=person(keys="k")
    )
    assert message.text == "|k"


def test_undefined_variables_render_empty_and_default_filter_works():
    message = render(
        "sms",
        {"text": "Hi {{ profile.firstName | default('there') }}{{ profile.missing.deeper }}!"},
        profile=person(),
    )
    assert message.text == "Hi there!"


def test_conditionals_and_loops():
    content = {
        "text": "{% if profile.plan == 'pro' %}Pro{% else %}Free{% endif %}:"
        "{% for c in profile.cities %}{{ loop.index }}{{ c }} {% endfor %}"
    }
    assert (
        render("sms", content, profile=person(plan="pro", cities=["A", "B"])).text == "Pro:1A 2B "
    )


def test_html_email_escapes_hostile_attributes_but_text_channels_do_not():
    hostile = '<script>alert("x")</script>'
    email = render(
        "email",
        {"subject": "{{ profile.name }}", "html": "<p>{{ profile.name }}</p>"},
        profile=person(name=hostile),
    )
    assert "<script>" not in email.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in email.html
    assert email.subject == hostile  # a header, not HTML
    sms = render("sms", {"text": "{{ profile.name }}"}, profile=person(name="Tom & Jerry <3"))
    assert sms.text == "Tom & Jerry <3"


def test_subject_newlines_from_attributes_cannot_inject_headers():
    email = render(
        "email",
        {"subject": "Hi {{ profile.name }}", "html": "x"},
        profile=person(name="Ann\r\nBcc: evil@example.com"),
    )
    assert "\n" not in email.subject and "\r" not in email.subject


def test_plain_text_is_generated_from_html_when_empty():
    email = render(
        "email",
        {
            "subject": "s",
            "html": "<h1>Hello {{ profile.firstName }}</h1>"
            "<p><a href='https://ex.com'>Shop</a></p>",
        },
        profile=person(firstName="Ann"),
    )
    assert "Hello Ann" in email.text and "https://ex.com" in email.text
    assert "<h1>" not in email.text


def test_validate_content_reports_syntax_errors_with_their_line():
    errors = validate_content("email", {"subject": "ok", "html": "<p>\n\n{{ profile.x }</p>"})
    assert errors == {"html": ["line 3: unexpected '}'"]}
    assert validate_content("sms", {"text": "{% if x %}no end"})["text"][0].startswith("line 1:")
    assert validate_content("push", {"title": "{{ profile.firstName }}", "body": "b"}) == {}


def test_validate_content_rejects_non_text_fields():
    assert "subject" in validate_content("email", {"subject": 3})
    assert "data" in validate_content("push", {"data": [1, 2]})


SANDBOX_PAYLOADS = [
    "{{ profile.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ self.__init__.__globals__.__builtins__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ joiner.__init__.__globals__.os.popen('id').read() }}",
    "{{ namespace.__init__.__globals__.os.popen('id').read() }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ config.items() }}",
    "{{ settings.SECRET_KEY }}",
    "{{ request.environ }}",
    "{{ profile|attr('__class__') }}",
    "{{ profile['_data'] }}",
    "{{ (profile|attr('_data')) }}",
    "{{ 'a' * 100000000 }}",
    "{{ 10 ** 100000000 }}",
    "{% for x in range(100000000) %}{% endfor %}",
    "{{ context.append(1) }}",
    "{{ [].append(1) }}",
    "{{ ''.format.__globals__ }}",
    "{% set x = profile.__dict__ %}{{ x }}",
    "{% import 'os' as os %}",
    "{% include '/etc/passwd' %}",
    "{% extends '/etc/passwd' %}",
    "{{ '{0.__class__}'.format(profile) }}",
    "{{ '%s'|format(profile.__class__) }}",
    "{% for a in range(1000) %}{% for b in range(1000) %}{% endfor %}{% endfor %}",
    "{% for a in context.big %}{% for b in context.big %}{% for c in context.big %}"
    "{% endfor %}{% endfor %}{% endfor %}",
    "{% for a in range(10000) %}{{ 'x' * 10000 }}{% endfor %}",
]


@pytest.mark.parametrize("payload", SANDBOX_PAYLOADS)
def test_template_injection_payloads_fail_safely(payload, settings):
    """Either refused at save time, or rendered without reaching anything internal."""
    forbidden = [
        "uid=",
        "SECRET",
        settings.SECRET_KEY,
        "class ",
        "<class",
        "root:",
        "module",
        "function",
        "builtin",
        "method",
    ]
    errors = validate_content("sms", {"text": payload})
    try:
        compiled = compile_content("sms", {"text": payload}, category="marketing")
        text = compiled.render(profile=person(), context={"big": list(range(1000))}).text
    except RenderError:
        return  # refused: the send fails with a readable reason, nothing leaks
    assert not errors
    assert not any(word in text for word in forbidden), text
    assert len(text) < 1000


def test_compiled_content_rejects_invalid_templates():
    with pytest.raises(RenderError):
        compile_content("sms", {"text": "{{ x }"}, category="marketing")
    with pytest.raises(ValueError):  # RenderError is a ValueError
        compile_content("sms", {"text": "{{ x.__class__ }}"}, category="marketing")


def test_marketing_email_gets_unsubscribe_url_transactional_does_not():
    content = {"subject": "s", "html": '<a href="{{ unsubscribe_url }}">unsubscribe</a>'}
    marketing = compile_content("email", content, category="marketing").render(
        profile=person(), delivery_id=7
    )
    assert marketing.unsubscribe_url.startswith("http://testserver/t/u/")
    assert marketing.unsubscribe_url in marketing.html
    transactional = compile_content("email", content, category="transactional").render(
        profile=person(), delivery_id=7
    )
    assert transactional.unsubscribe_url == ""
    assert "/t/u/" not in transactional.html


def test_preview_without_delivery_links_to_the_explanation_page():
    content = {"subject": "s", "html": '<a href="{{ unsubscribe_url }}">u</a>'}
    message = compile_content("email", content, category="marketing").render(profile=None)
    assert tracking.preview_unsubscribe_url() in message.html
    assert message.unsubscribe_url == ""


def test_tracking_rewrites_links_and_adds_a_pixel():
    content = {
        "subject": "s",
        "html": '<html><body><a href="https://shop.example/?a=1&amp;b={{ profile.city }}">Shop</a>'
        '<a href="mailto:x@example.com">mail</a><a href="{{ unsubscribe_url }}">u</a>'
        "</body></html>",
    }
    compiled = compile_content(
        "email", content, category="marketing", track_opens=True, track_clicks=True
    )
    message = compiled.render(profile=person(city="Utrecht"), delivery_id=42)
    hrefs = [html.unescape(h) for h in re.findall(r'href="([^"]+)"', message.html)]
    assert hrefs[0].startswith("http://testserver/t/c/")
    token = hrefs[0].rsplit("/", 1)[1]
    signed = tracking.read_token("click", token)
    assert signed.delivery_id == 42 and signed.url == "https://shop.example/?a=1&b=Utrecht"
    assert hrefs[1] == "mailto:x@example.com"
    assert hrefs[2] == message.unsubscribe_url  # never routed through the click redirect
    assert message.html.index("/t/o/") < message.html.index("</body>")


def test_tracking_off_leaves_html_untouched():
    source = '<html><body><a href="https://shop.example/">Shop</a></body></html>'
    message = compile_content(
        "email", {"subject": "s", "html": source}, category="marketing"
    ).render(profile=person(), delivery_id=42)
    assert message.html == source


def test_push_renders_title_body_url_and_data():
    compiled = compile_content(
        "push",
        {
            "title": "Hi {{ profile.firstName }}",
            "body": "b",
            "url": "https://app.example/x",
            "data": {"deep": "app://{{ profile.city }}", "n": 3},
        },
        category="marketing",
        track_clicks=True,
    )
    message = compiled.render(profile=person(firstName="Ann", city="Utrecht"), delivery_id=9)
    assert message.title == "Hi Ann"
    assert message.data == {"deep": "app://Utrecht", "n": 3}
    assert (
        tracking.read_token("click", message.url.rsplit("/", 1)[1]).url == "https://app.example/x"
    )


def test_compiled_once_rendered_for_many_profiles():
    compiled = compile_content("sms", {"text": "{{ profile.n }}"}, category="marketing")
    assert [compiled.render(profile=person(n=i)).text for i in range(3)] == ["0", "1", "2"]


def test_plain_text_derived_once_from_the_html_template_is_personalized_and_unescaped():
    compiled = compile_content(
        "email",
        {
            "subject": "s",
            "html": "<p>Hi {{ profile.name }}</p>"
            "{% if profile.vip %}<p>VIP</p>{% endif %}"
            '<a href="https://ex.com/?u={{ profile.name }}">Go</a>',
        },
        category="transactional",
    )
    assert compiled.text_from_html is not None
    text = compiled.render(profile=person(name="Tom & Jerry", vip=True)).text
    assert "Hi Tom & Jerry" in text and "VIP" in text
    assert "https://ex.com/?u=Tom & Jerry" in text
    assert "VIP" not in compiled.render(profile=person(name="x", vip=False)).text


def test_plain_text_falls_back_to_per_message_conversion_when_tags_would_be_lost():
    compiled = compile_content(
        "email",
        {
            "subject": "s",
            "html": "<style>{% if profile.x %}p{}{% endif %}</style><p>Hi {{ profile.name }}</p>",
        },
        category="transactional",
    )
    assert compiled.text_from_html is None
    assert "Hi Ann" in compiled.render(profile=person(name="Ann")).text


@pytest.mark.parametrize(
    "tag",
    [
        '{% include "footer.html" %}',
        '{% import "macros.html" as m %}',
        '{% from "macros.html" import button %}',
        '{% extends "base.html" %}',
    ],
)
def test_template_loading_tags_are_refused_at_save_with_their_line(tag):
    errors = validate_content("email", {"subject": "Hi", "html": f"<p>Hello</p>\n\n{tag}\n"})
    assert errors["html"], errors
    assert any("line 3" in message for message in errors["html"]), errors
    sms = validate_content("sms", {"text": f"Hi\n{tag}"})
    assert any("line 2" in message for message in sms["text"]), sms
