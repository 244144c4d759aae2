"""Third outside review of issue 10 (docs/security-review-3.md): each test
reproduced its finding on the code before the fix."""

from __future__ import annotations

import re
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
    assert re.search(r'<p style="color: red;\s*margin: 0;?">a</p>', out)
    assert re.search(r'<p style="[^"]*color: blue[^"]*">b</p>', out)  # its own style wins


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
    assert re.search(r'<p style="color: red;?">a</p>', out) and "<b>c</b>" in out
    # An unclosed comment runs to the end of the block, as in a browser.
    out = inline_css("<style>p{color:red}/* i{color:blue}</style><p>a</p><i>c</i>")
    assert re.search(r'<p style="color: red;?">a</p>', out) and "<i>c</i>" in out


def _linear(call, seconds: int = 30):
    import signal

    _hang_guard(seconds)
    try:
        return call()
    finally:
        signal.alarm(0)


def test_link_scan_is_linear_in_compiles_previews_and_reports():
    """Medium: ``<a\\b[^>]*?\\bhref`` crossed ``<`` looking for an href: HTML of
    ``<a href=x `` repeated (no quotes, no ``>``) took 22 s for 80 KB and about
    an hour for 1 MB, each time the content is compiled (every preview, the
    campaign page of every viewer, each run) and on the report page."""
    source = "<a href=x " * 20_000
    compiled = _linear(
        lambda: rendering.compile_content(
            "email", {"subject": "s", "html": source}, category="transactional"
        )
    )
    assert compiled.link_origins == set()
    _linear(lambda: rendering._rewrite_links(source, 1, set(), set()))


def test_link_scan_finds_links_as_before():
    html = (
        "<a href=\"https://a.example.com/x\">a</a><A class=b HREF = 'http://b.example.com'>"
        '<a title="x" href="{{ context.url }}">c</a>'
    )
    assert rendering.authored_origins(html) == {
        ("https", "a.example.com"),
        ("http", "b.example.com"),
    }


def test_preheader_insertion_is_linear():
    """Medium: ``<body\\b[^>]*>`` went quadratic on ``<body `` without ``>``; a
    template can output 2 MB of it cheaply, and the search ran after the render
    budget (600 KB: a minute per preview, 2 MB: ten)."""
    html = "<body " * 100_000
    out = _linear(lambda: rendering._add_preheader(html, "Hi"))
    assert "Hi" in out
    assert rendering._add_preheader("<html><BODY class=x><p>a", "Hi").startswith(
        "<html><BODY class=x><div"
    )


def test_empty_link_warning_is_linear(make_user):
    """Medium: ``href\\s*=\\s*(["'])\\s*#?\\s*\\1`` backtracked quadratically on an
    unclosed quote followed by spaces (8 KB: 1 s; 1 MB: hours), in the review
    every campaign page and ``GET /campaigns/{id}/review`` run."""
    from campaigns.review import _EMPTY_LINK

    assert _linear(lambda: _EMPTY_LINK.search('href="' + " " * 60_000)) is None
    for empty in ('href=""', "href = ' # '", 'HREF="#"', 'href=" "'):
        assert _EMPTY_LINK.search(f"<a {empty}>x</a>"), empty
    assert not _EMPTY_LINK.search('<a href="#top">x</a>')


@pytest.mark.parametrize("unit", ["<a b='", "<a href=x ", "<a\n"])
def test_plain_text_version_is_made_in_linear_time(unit):
    """Medium: Python's own HTML parser (behind html2text) is quadratic on markup
    that never completes (24 KB of ``<a `` took 15 s): an email without a
    plain-text part is converted when compiled, in every preview and on the
    campaign page of every viewer. What it is given is made safe first."""
    source = unit * (120_000 // len(unit))
    _linear(
        lambda: rendering.compile_content(
            "email", {"subject": "s", "html": source}, category="transactional"
        ).render(profile=None)
    )


def test_plain_text_of_a_big_body_skips_the_slow_converter():
    """Linear is not enough at 7 s per MB: past 512 KB the tags are dropped instead."""
    body = "<p>Hello <b>world</b> &amp; you</p>\n" * 20_000
    assert rendering.html_to_text(body).startswith("Hello world & you\nHello world")


def test_marked_section_without_a_name_is_not_a_500(login, manager):
    """Low: ``<![`` made the standard parser raise AssertionError: a 500 on the
    campaign page, the preview and the designer of a content holding it."""
    from campaigns.designer import inline_html
    from channels.preview import render_preview
    from tests.campaigns.lifecycle_helpers import ready_email

    rendered = render_preview(
        channel="email", content={"subject": "s", "html": "<p>a <![ b</p>"}, category="marketing"
    )
    assert "a <![ b" in rendered.text
    assert inline_html("x <![ y") == "x &lt;![ y"
    campaign = ready_email(manager)
    version = campaign.draft_version or campaign.live_version
    version.content = {**version.content, "html": "<p>a <![ b</p>", "text": ""}
    version.save()
    assert login(manager).get(f"/campaigns/{campaign.pk}/").status_code == 200
    assert login(manager).get(f"/campaigns/{campaign.pk}/preview/").status_code == 200


def test_plain_text_conversion_unchanged_for_ordinary_html():
    html = (
        "<!DOCTYPE html><html><head><style>p{color:red}</style></head><body>"
        "<!--[if mso]><p>mso</p><![endif]--><h1>Title</h1><p>Hi <a href='https://e.com/x'>"
        "there</a> &amp; 1 < 2</p></body></html>"
    )
    text = rendering.html_to_text(html)
    assert "# Title" in text and "[there](https://e.com/x)" in text and "1 < 2" in text
    assert "mso" not in text


def test_preview_frames_kept_per_user_are_bounded(rf, make_user, monkeypatch):
    """Medium: every page that shows an email preview kept its HTML (up to 2 MB)
    in the cache for 30 minutes under a new token; the cache is Redis, the task
    broker too. A viewer reloading a campaign page (or a manager previewing
    unsaved content) could fill the broker's memory and stop all sending. Each
    user now has a fixed number of slots, the oldest replaced."""
    from django.core.cache.backends.locmem import LocMemCache

    from channels import frames

    store = LocMemCache("review-3-frames", {"OPTIONS": {"MAX_ENTRIES": 10**6}})
    monkeypatch.setattr(frames, "cache", store)
    user, other = make_user("fran"), make_user("gus")
    request = rf.get("/")
    request.user = user
    first = frames.frame_src(request, "<p>first</p>")
    urls = [frames.frame_src(request, f"<p>{i}</p>") for i in range(3 * frames.FRAMES_PER_USER)]
    kept = [v for v in store._cache.values() if b"html" in v]
    assert len(kept) <= frames.FRAMES_PER_USER

    def answer(url, who):
        request = rf.get(url)
        request.user = who
        try:
            return frames.frame_response(request, url.rstrip("/").rsplit("/", 1)[1])
        except Exception as exc:  # Http404
            return exc

    assert answer(urls[-1], user).content == b"<p>95</p>"
    assert not hasattr(answer(first, user), "content")  # replaced
    assert not hasattr(answer(urls[-1], other), "content")  # never another user's


@pytest.mark.django_db(transaction=True)
def test_export_leaves_out_what_is_restricted_from_the_administrator(
    administrator, api_for, make_user
):
    """Medium: a Campaign Administrator's export of a person they may see named
    the restricted audiences the person belongs to and the restricted campaigns
    that wrote to them ("Board", "Redundancies Q3"): restricted means restricted
    from administrators too (SPEC §2). A superuser's export holds everything."""
    import json

    from audiences.models import Audience, AudienceMember, Profile
    from campaigns.models import Delivery, Run
    from tests.campaigns.conftest import make_campaign, upload_audience

    bea = Profile.objects.create(email="bea@example.com", consent_email=True)
    upload_audience([bea], name="Newsletter")
    secret = Audience.objects.create(name="Redundancies Q3", kind="upload", restricted=True)
    AudienceMember.objects.create(audience=secret, profile=bea)
    Audience.objects.create(
        name="Secret rule",
        kind="rule",
        restricted=True,
        rule={"all": [{"field": "email", "op": "eq", "value": "bea@example.com"}]},
    )
    campaign = make_campaign(secret, status="live")
    campaign.name = "Your job"
    campaign.restricted = True
    campaign.save()
    run = Run.objects.create(campaign=campaign, version=campaign.live_version)
    Delivery.objects.create(run=run, profile=bea, address=bea.email, status="sent")

    def export(user) -> str:
        answer = api_for(user).get("/profiles/email/bea@example.com/export")
        assert answer.status_code == 200
        return b"".join(answer.streaming_content).decode()

    seen = export(administrator)
    assert "Newsletter" in seen
    assert "Redundancies" not in seen and "Secret rule" not in seen and "Your job" not in seen
    assert json.loads(seen)["deliveries"] == []
    everything = export(make_user("root", superuser=True))
    assert "Redundancies" in everything and "Secret rule" in everything
    assert "Your job" in everything


@pytest.mark.parametrize(
    "post",
    [
        {"mode": "code", "html": "<p>a\x00b</p>"},
        {"mode": "design", "design": '{"blocks": [{"type": "text", "html": "a\\u0000b"}]}'},
    ],
)
def test_designer_refuses_a_nul_instead_of_a_500(login, manager, api_for, post):
    """Low: the designer's code mode and design JSON skip the forms' NUL check;
    PostgreSQL refuses a NUL in JSON (a 500 on the template and campaign designers)."""
    from campaigns.models import ContentTemplate
    from tests.campaigns.lifecycle_helpers import ready_email

    template = api_for(manager).post(
        "/templates", {"name": "t", "channel": "email", "content": {"subject": "s"}}
    )
    campaign = ready_email(manager)
    client = login(manager)
    for url in (f"/templates/{template.json()['id']}/design/", f"/campaigns/{campaign.pk}/design/"):
        answer = client.post(url, post)
        assert answer.status_code == 400, url
    assert "\x00" not in str(ContentTemplate.objects.get().content)


@pytest.mark.parametrize("term", ["x" * 70_000])
@pytest.mark.parametrize(
    "changelist", ["campaigns/campaign", "audiences/audience", "channels/channelconfiguration"]
)
def test_admin_search_with_a_huge_or_nul_term_is_not_a_500(login, administrator, changelist, term):
    """Low: SQLite refuses a LIKE pattern over 50,000 bytes ("pattern too
    complex"): the admin's search answered 500 on the default set-up."""
    from audiences.models import Audience
    from tests.campaigns.conftest import email_config, make_campaign

    make_campaign(Audience.objects.create(name="A", kind="upload"), email_config())
    answer = login(administrator).get(f"/admin/{changelist}/", {"q": term})
    assert answer.status_code == 200
