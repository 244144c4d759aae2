"""CSS inlined into email HTML (SPEC §11): the simple rules of a <style> block
go onto the elements, media queries stay, an element's own style wins."""

from __future__ import annotations

from channels.inline_css import inline_css
from channels.preview import render_preview

HTML = (
    "<html><head><style>/* brand */ p{color:red} .big{font-size:20px !important} #x{margin:0}"
    " a:hover{color:pink} @media (max-width:600px){p{color:blue}} td.pad, h1 {padding: 4px}"
    "</style></head><body>"
    '<p class="big" id="x" style="color:green">Hi {{ profile.name }}</p><p>Plain</p>'
    '<!--[if mso]><p class="big">mso</p><![endif]-->'
    '<table><tr><td class="pad other">x</td></tr></table><a href="{{ u }}" class="{{ c }}">l</a>'
    "</body></html>"
)


def test_simple_rules_are_inlined_and_the_rest_stays():
    out = inline_css(HTML)
    assert '<p class="big" id="x" style="color: green; font-size: 20px; margin: 0">' in out
    assert '<p style="color: red">Plain</p>' in out
    assert '<td class="pad other" style="padding: 4px">' in out
    assert "<style>a:hover{color:pink}@media (max-width:600px){p{color:blue}}</style>" in out
    assert '<!--[if mso]><p class="big">mso</p><![endif]-->' in out  # comments untouched
    assert '<a href="{{ u }}" class="{{ c }}">' in out  # template syntax decides


def test_html_without_style_or_with_template_syntax_in_it_is_unchanged():
    plain = "<p>Hello</p>"
    assert inline_css(plain) == plain
    templated = "<style>{% if profile.x %}p{color:red}{% endif %}</style><p>Hi</p>"
    assert inline_css(templated) == templated


def test_the_message_sent_carries_the_inlined_styles():
    rendered = render_preview(
        channel="email",
        content={
            "subject": "S",
            "html": "<style>.cta{background:#123456}</style><a class=cta href=https://e.com>Go</a>",
        },
        category="transactional",
    )
    assert 'style="background: #123456"' in rendered.html
    assert "<style>" not in rendered.html


def test_inlining_gives_the_same_result_as_before_on_tricky_markup():
    """The linear scans find what the former regular expressions found."""
    html = (
        "<STYLE type='text/css'>p{color:red}</Style ><styles>x</styles><p>a</p>"
        "<!-- <style>p{margin:0}</style> --><p>b</p><!-- unclosed <style>i{x:y}</style><i>c</i>"
        "<style>b{color:blue}</style><b>d</b><style>never closed"
    )
    out = inline_css(html)
    assert '<p style="color: red">a</p>' in out and '<p style="color: red">b</p>' in out
    assert "<!-- <style>p{margin:0}</style> -->" in out
    assert '<i style="x: y">c</i>' in out and '<b style="color: blue">d</b>' in out
    assert out.endswith("<style>never closed")


def test_too_many_rules_times_tags_leaves_the_html_as_written():
    """Review (issue 10): rules × tags was unbounded work in the web process
    (5,000 rules on 5,000 tags, 120 kB of HTML, took seconds per preview; a few
    MB took hours). Past the budget the HTML keeps its <style> block instead."""
    html = "<style>" + ".a{color:red}" * 3000 + "</style>" + "<p class=a>x</p>" * 3000
    assert inline_css(html) == html
