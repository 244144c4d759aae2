"""CSS inlined into email HTML (SPEC §11) by css-inline: the rules of a <style>
block go onto the elements, media queries stay, an element's own style wins,
the template syntax of the content survives, the work is bounded."""

from __future__ import annotations

from channels.inline_css import MAX_HTML, inline_css
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


def _style(html: str, opening: str) -> dict[str, str]:
    """The declarations of the ``style`` attribute of the element opened by ``opening``."""
    tag = html[html.index(opening) :]
    value = tag[tag.index('style="') + 7 :]
    value = value[: value.index('"')]
    return {
        name.strip(): body.strip()
        for name, _sep, body in (d.partition(":") for d in value.split(";"))
        if name.strip()
    }


def test_simple_rules_are_inlined_and_the_rest_stays():
    out = inline_css(HTML)
    assert _style(out, '<p class="big"') == {
        "color": "green",  # the element's own style wins
        "font-size": "20px !important",
        "margin": "0",
    }
    assert _style(out, "<p style=") == {"color": "red"}
    assert _style(out, '<td class="pad other"') == {"padding": "4px"}
    # What cannot be inlined stays in the block: the hover rule and the media query.
    block = out[out.index("<style>") : out.index("</style>")]
    assert "a:hover" in block and "@media (max-width:600px){p{color:blue}}" in block
    assert "font-size" not in block and "margin" not in block  # the inlined rules left it
    assert '<!--[if mso]><p class="big">mso</p><![endif]-->' in out  # comments untouched
    assert '<a class="{{ c }}" href="{{ u }}">' in out  # template syntax decides
    assert "Hi {{ profile.name }}</p>" in out


def test_html_without_style_or_with_template_syntax_in_it_is_unchanged():
    plain = "<p>Hello</p>"
    assert inline_css(plain) == plain
    templated = "<style>{% if profile.x %}p{color:red}{% endif %}</style><p>Hi</p>"
    assert inline_css(templated) == templated


def test_template_syntax_survives_the_html_parser():
    """The content is inlined while it is still a template: a loop between table
    rows stays in the table, a comparison is not escaped, and tags in attribute
    places, in <title> and in Outlook's comments come back as written."""
    html = (
        "<html><head><title>{{ subject }}</title><style>td{padding:1px}</style></head><body>"
        "<table>{% for x in items %}<tr><td>{{ x }} {% if a > b %}more{% endif %}</td></tr>"
        "{% endfor %}</table>"
        '<p style="color: {{ colour }}" {{ extra }}>p</p><!--[if mso]>{{ z }}<![endif]-->'
        '<a href="{{ url|default("x>y") }}">l</a>{# a note #}</body></html>'
    )
    out = inline_css(html)
    assert "<title>{{ subject }}</title>" in out
    assert out.index("<table>") < out.index("{% for x in items %}") < out.index("<tr>")
    assert '<td style="padding: 1px;">{{ x }} {% if a > b %}more{% endif %}</td>' in out
    assert '<p style="color: {{ colour }}" {{ extra }}>' in out
    assert "<!--[if mso]>{{ z }}<![endif]-->" in out
    assert '<a href="{{ url|default("x>y") }}">' in out and "{# a note #}" in out
    assert "vtpl" not in out


def test_a_brace_written_as_an_entity_does_not_become_template_syntax():
    html = "<style>p{color:red}</style><p>Write &#123;&#123; name &#x7D;&#x7d; &lbrace;</p>"
    out = inline_css(html)
    assert '<p style="color: red;">Write &#123;&#123; name &#x7D;&#x7d; &lbrace;</p>' in out


def test_the_message_sent_carries_the_inlined_styles():
    rendered = render_preview(
        channel="email",
        content={
            "subject": "S",
            "html": "<style>.cta{background:#123456}</style><a class=cta href=https://e.com>Go</a>",
        },
        category="transactional",
    )
    assert _style(rendered.html, "<a ") == {"background": "#123456"}
    assert "<style" not in rendered.html  # nothing was left in it


def test_no_stylesheet_is_fetched():
    """A <link> is left as written: inlining never requests an author's URL."""
    html = (
        '<link rel="stylesheet" href="http://127.0.0.1:9/x.css"><style>p{color:red}</style><p>a</p>'
    )
    out = inline_css(html)
    assert '<link rel="stylesheet" href="http://127.0.0.1:9/x.css">' in out
    assert _style(out, "<p ") == {"color": "red"}


def test_tricky_markup():
    html = (
        "<STYLE type='text/css'>p{color:red}</Style ><styles>x</styles><p>a</p>"
        "<!-- <style>p{margin:0}</style> --><p>b</p><!-- unclosed <style>i{x:y}</style><i>c</i>"
    )
    out = inline_css(html)
    assert '<p style="color: red;">a</p>' in out and '<p style="color: red;">b</p>' in out
    assert "<!-- <style>p{margin:0}</style> -->" in out  # a comment is not a stylesheet
    assert "<styles>x</styles>" in out
    never_closed = "<p>a</p><style>never closed"
    assert inline_css(never_closed) == never_closed


def test_too_many_rules_times_tags_leaves_the_html_as_written():
    """Review (issue 10): rules × tags was unbounded work in the web process
    (5,000 rules on 5,000 tags, 120 kB of HTML, took seconds per preview; a few
    MB took hours). Past the budget the HTML keeps its <style> block instead."""
    html = "<style>" + ".a{color:red}" * 3000 + "</style>" + "<p class=a>x</p>" * 3000
    assert inline_css(html) == html


def test_huge_html_is_left_as_written():
    html = "<style>p{color:red}</style>" + "<p>x</p>" * (MAX_HTML // 8 + 1)
    assert inline_css(html) is html
