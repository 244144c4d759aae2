"""Seventh outside review of issue 10 (docs/security-review-7.md), resource
exhaustion and bad input: each test reproduced its finding on the code before
the fix. SQLite by default, PostgreSQL + Redis with DATABASE_URL / REDIS_URL."""

from __future__ import annotations

import csv
import io
import os
import random
import re
import subprocess
import sys

import pytest
from django.core.files.base import ContentFile

from audiences import importer
from audiences.importer import ImportFileError, profile_import_create, profile_import_run
from audiences.models import Audience, Profile, ProfileImport
from audiences.services import MAX_ATTRIBUTES, MAX_ATTRIBUTES_CHARS

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _import(data: str, django_capture_on_commit_callbacks, *, audience=None, actor=None):
    audience = audience or Audience.objects.create(name="Upload", kind=Audience.Kind.UPLOAD)
    with django_capture_on_commit_callbacks(execute=False):
        created = profile_import_create(
            audience=audience,
            upload=ContentFile(data.encode()),
            file_name="people.csv",
            actor=actor,
        )
    return profile_import_run(import_id=created.id)


# ---------------------------------------------------------------- finding 1


def _header(columns: int) -> csv.reader:
    names = ["email", *(f"c{i}" for i in range(columns))]
    return csv.reader(io.StringIO(",".join(names) + "\n"))


def test_a_header_of_twenty_thousand_columns_is_refused_before_its_names_are_compared():
    """Finding 1: the duplicate-column check counted each name against every
    other (``names.count``): 20,000 columns (129 KB) took 4.7 s, 40,000 21 s,
    a 5 MB header hours, in the cluster's import worker with no heartbeat —
    the sweep then queued the import again, to a second worker."""
    with pytest.raises(ImportFileError, match=str(MAX_ATTRIBUTES)):
        importer.read_header(_header(20_000))


def test_a_header_at_the_limit_is_read_and_duplicates_are_still_named():
    assert len(importer.read_header(_header(MAX_ATTRIBUTES))) == MAX_ATTRIBUTES + 1
    reader = csv.reader(io.StringIO("email,city,age,city,age\n"))
    with pytest.raises(ImportFileError, match="age, city"):
        importer.read_header(reader)


def test_a_wide_file_fails_the_import_with_the_reason(django_capture_on_commit_callbacks):
    names = ",".join(f"c{i}" for i in range(MAX_ATTRIBUTES + 1))
    result = _import(f"email,{names}\n", django_capture_on_commit_callbacks)
    assert result.status == ProfileImport.Status.FAILED
    assert str(MAX_ATTRIBUTES) in result.error
    assert not Profile.objects.exists()


# ---------------------------------------------------------------- finding 2


def test_the_api_refuses_more_attributes_than_a_profile_holds(manager, api_for):
    """Finding 2: a profile's attributes had no bound. The rule builder reads
    the attributes of the latest 500 profiles on every view, the designer those
    of 200: 100 profiles of 0.8 MB each (one CSV upload or 100 PUTs by a
    manager) made every manager's rule builder take 5 s and 660 MB, the
    designer 7 s; 500 of them, gigabytes."""
    api = api_for(manager)
    many = {f"k{i}": i for i in range(MAX_ATTRIBUTES + 1)}
    response = api.put("/profiles/email/ann@example.com", {"attributes": many})
    assert response.status_code == 400, response.content
    assert "attributes" in response.json()["errors"]
    long = {"notes": "x" * (MAX_ATTRIBUTES_CHARS + 1)}
    response = api.put("/profiles/email/ann@example.com", {"attributes": long})
    assert response.status_code == 400
    assert not Profile.objects.exists()


def test_the_api_refuses_a_merge_past_the_bound_and_keeps_the_profile(manager, api_for):
    api = api_for(manager)
    half = {f"a{i}": i for i in range(MAX_ATTRIBUTES // 2 + 1)}
    assert api.put("/profiles/email/ann@example.com", {"attributes": half}).status_code == 201
    other = {f"b{i}": i for i in range(MAX_ATTRIBUTES // 2 + 1)}
    response = api.put("/profiles/email/ann@example.com", {"attributes": other})
    assert response.status_code == 400
    assert Profile.objects.get().attributes == half
    # Removing keys (null) while adding others stays possible.
    swap = {**{k: None for k in half}, **other}
    assert api.put("/profiles/email/ann@example.com", {"attributes": swap}).status_code == 200
    assert Profile.objects.get().attributes == other


def test_an_import_row_past_the_bound_is_rejected_with_its_line(
    manager, django_capture_on_commit_callbacks
):
    big = "x" * (MAX_ATTRIBUTES_CHARS + 1)
    data = f"email,notes\nann@example.com,short\nbob@example.com,{big}\ncid@example.com,ok\n"
    result = _import(data, django_capture_on_commit_callbacks, actor=manager)
    assert (result.rows_imported, result.rows_rejected) == (2, 1)
    assert result.rejected[0]["line"] == 3
    assert not Profile.objects.filter(email="bob@example.com").exists()


def test_a_second_file_cannot_grow_a_profile_past_the_bound(
    manager, django_capture_on_commit_callbacks
):
    audience = Audience.objects.create(name="Upload", kind=Audience.Kind.UPLOAD)
    count = MAX_ATTRIBUTES // 2 + 1
    first = ",".join(f"a{i}" for i in range(count))
    second = ",".join(f"b{i}" for i in range(count))
    ones = ",".join("1" for _ in range(count))
    _import(
        f"email,{first}\nann@example.com,{ones}\n",
        django_capture_on_commit_callbacks,
        audience=audience,
        actor=manager,
    )
    result = _import(
        f"email,{second}\nann@example.com,{ones}\n",
        django_capture_on_commit_callbacks,
        audience=audience,
        actor=manager,
    )
    assert (result.rows_imported, result.rows_rejected) == (0, 1)
    assert len(Profile.objects.get().attributes) == count


def test_the_rule_builder_reads_a_bounded_amount(manager, login, django_assert_max_num_queries):
    """What the pages that sample profiles read is bounded by the writers:
    at the bound, 500 profiles hold at most 500 × MAX_ATTRIBUTES_CHARS."""
    from audiences.selectors import known_attributes

    at_bound = {f"k{i}": "x" * 40 for i in range(MAX_ATTRIBUTES)}
    assert len(importer.json.dumps(at_bound)) <= MAX_ATTRIBUTES_CHARS
    Profile.objects.bulk_create(
        [Profile(email=f"p{i}@example.com", attributes=at_bound) for i in range(20)]
    )
    assert len(known_attributes(manager)) == 200  # the offered names stay capped
    assert login(manager).get("/audiences/new/").status_code == 200


# ---------------------------------------------------------------- finding 3


def test_an_overlong_line_is_rejected_before_the_csv_reader_splits_it():
    """Finding 3: the csv module builds a whole record in memory, and its
    field limit bounds a field, not a line. One line of ``ab,`` repeated grew
    the import worker by ~24 times its size (10 MB: 258 MB, 40 MB: 964 MB): a
    200 MB upload (the default MAX_UPLOAD_MB) by a manager asked for ~5 GB,
    and the sweep gave the import to the next worker 15 minutes later."""
    seen = []
    original = csv.reader

    def counting_reader(lines, *args, **kwargs):
        def watched():
            for line in lines:
                seen.append(len(line))
                yield line

        return original(watched(), *args, **kwargs)

    data = (
        b"email,city\n"
        + b"ab," * (importer.MAX_LINE // 3 + 1)
        + b"\nann@example.com,Paris\r\nbob@example.com,Lyon\n"
    )
    outcome = importer.Outcome()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(importer.csv, "reader", counting_reader)
        rows = list(importer.read_rows(io.BytesIO(data), outcome))
    assert max(seen) <= importer.MAX_LINE
    assert [r.identities["email"] for r in rows] == ["ann@example.com", "bob@example.com"]
    assert [r.line for r in rows] == [3, 4]
    assert outcome.rejected == 1 and outcome.sample[0]["line"] == 2


def test_an_overlong_header_fails_the_import(django_capture_on_commit_callbacks):
    data = "email," + "c" * importer.MAX_LINE + "\nann@example.com,x\n"
    result = _import(data, django_capture_on_commit_callbacks)
    assert result.status == ProfileImport.Status.FAILED
    assert not Profile.objects.exists()


# ---------------------------------------------------------------- finding 4

_OLD_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)


def test_jinja_tags_are_found_as_the_old_expression_found_them():
    from channels.rendering import _jinja_tags

    pieces = ["{{", "}}", "{%", "%}", "{#", "#}", "{", "}", "%", "#", "a", "\n", " x "]
    rnd = random.Random(7)
    for _ in range(3000):
        source = "".join(rnd.choice(pieces) for _ in range(rnd.randrange(0, 30)))
        expected = [m.span() for m in _OLD_JINJA.finditer(source)]
        assert list(_jinja_tags(source)) == expected, source


_RAW_BRACES = """
import django
django.setup()
from channels.rendering import text_template_from_html
html = '<p><a href="{{ unsubscribe_url }}">x</a></p>{% raw %}' + "{{" * 150000 + "{% endraw %}"
print(text_template_from_html(html) is not None)
"""


def test_a_text_part_is_derived_from_open_braces_in_linear_time():
    """Finding 4: the plain text of an email without one is derived from its
    HTML with the Jinja tags parked; the tags were found by
    ``\\{\\{.*?\\}\\}|…`` (DOTALL), which searched to the end of the source from
    every ``{{`` that no ``}}`` followed. ``{% raw %}`` and 20,000 ``{{``
    (40 KB, a valid template that passes the save-time checks) made a
    **viewer's** campaign page take 3.9 s, 40,000 (80 KB) 15.4 s, on every
    view, every preview and proof, and the sender's compile. 150,000 took
    minutes on the old code; the bound here is generous (a child process,
    killed past it)."""
    from django.conf import settings

    result = subprocess.run(
        [sys.executable, "-c", _RAW_BRACES],
        cwd=settings.BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-500:]
    assert result.stdout.strip() == "True"


# ---------------------------------------------------------------- finding 5

_OPEN_KEYS = """
import django
django.setup()
from channels.preview import render_preview
html = '<p><a href="{{ unsubscribe_url }}">x</a></p>{{ ("%(" * 1000000) | format }}'
try:
    render_preview(channel="email", content={"subject": "S", "html": html}, category="marketing")
except ValueError as exc:
    print(type(exc).__name__)
"""


def test_a_format_string_of_open_keys_is_checked_in_linear_time():
    """Finding 5: the sandbox checks the widths of a printf-style format
    (``"…" % x``, ``| format``) with a regular expression whose optional
    ``\\([^)]*\\)`` key searched to the end of the format from every ``%(``
    that no ``)`` followed, in one C call the render deadline cannot stop.
    The template builds the format itself (``"%(" * N``, 24 characters):
    100,000 took 5.6 s, 1,000,000 (within the 2 MB value bound) about ten
    minutes — at save time, in every preview and viewer's campaign page, and
    per message at send. The old code runs past the bound (child process)."""
    from django.conf import settings

    result = subprocess.run(
        [sys.executable, "-c", _OPEN_KEYS],
        cwd=settings.BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-500:]
    assert result.stdout.strip() == "PreviewError"


@pytest.mark.parametrize(
    "fmt",
    [
        "%99999s",
        "%(a)99999s",
        "%(a(b)c)99999s",
        "%*s",
        "%(a)*s",
        "%.99999f",
        "%%%99999d",
        "%-+ #099999d",
        "%5s %(k)s %99999s",
    ],
)
def test_format_widths_are_still_refused(fmt):
    """Finding 6 is ``%(a(b)c)99999s``: Python reads the key to its matching
    parenthesis, the old expression to the first one, so the width was never
    seen; ``"%(a(b)c)300000000s" % {"a(b)c": 1}`` built 300 MB before the size
    check refused the result (a width of 2³¹ − 1 and an emoji: 8 GB)."""
    from channels.rendering import RenderLimitError, _check_percent

    with pytest.raises(RenderLimitError):
        _check_percent(fmt, {"a": 1, "a(b)c": 1, "k": 1})


@pytest.mark.parametrize("fmt", ["%s", "%(a)s", "%5.2f", "%%", "100%", "%(a(b)c)s", "%(x"])
def test_ordinary_formats_pass_the_check(fmt):
    from channels.rendering import _check_percent

    _check_percent(fmt, {"a": 1})


# ---------------------------------------------------------------- finding 7


@pytest.mark.parametrize(
    "item", ["<ol><li>x", "<ul><li>x", "<UL><LI>x", "<ol><li>x</li>", "<blockquote>x", "<ul>x\n"]
)
def test_deeply_nested_lists_and_quotes_do_not_make_a_quadratic_text_part(item):
    """Finding 7: html2text indents every list item by the depth of its list,
    so the plain text of nested lists grows with items × depth: 36 KB of
    ``<ol><li>x`` became 24 million characters (1 s), 128 KB 300 million
    (62 s) — on every view of a viewer's campaign page, every preview and the
    sender's compile of an email without a text part; 512 KB (under the
    conversion's bound) billions. Nested ``<blockquote>`` the same through
    its "> " marks (260 KB: 400 million characters). The work is bounded by
    what is written."""
    from channels.rendering import html_to_text

    html = item * 4000
    text = html_to_text(html)
    assert len(text) < 4 * len(html)
    assert "x" in text


def test_ordinary_nested_lists_are_still_converted_by_html2text():
    from channels.rendering import html_to_text

    html = "<ul><li>One<ul><li>Two<ol><li>Three</li></ol></li></ul></li></ul>" * 200
    text = html_to_text(html)
    assert "    1. Three" in text and "  * Two" in text
    quoted = html_to_text("<blockquote>Said<blockquote>before</blockquote></blockquote>")
    assert ">> before" in quoted


# ---------------------------------------------------------------- finding 8


def test_end_tags_of_elements_not_open_are_answered_without_reading_the_stack(monkeypatch):
    """Finding 8: the designer keeps b/strong/i/em/u/a in text blocks, and
    each end tag looked its element up in the list of open ones: a block of
    3,000 ``<b>`` and 2,750 ``</i>`` (under the 20,000 characters a block
    keeps) read 8 million entries, 0.06 s, and a design of 200 such blocks
    (the most a design has) took 12 s to clean — on every view of the
    designer page of a campaign or template whose design was stored through
    the API, and on each save. Counted here: the stack is never searched."""
    from campaigns import designer

    searched = []

    class Watched(list):
        def __contains__(self, item):
            searched.append(len(self))
            return super().__contains__(item)

    original = designer._Inline.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.open = Watched()

    monkeypatch.setattr(designer._Inline, "__init__", init)
    value = "<b>" * 3000 + "</i>" * 2750 + "<em>x</b>y"
    out = designer.inline_html(value)
    assert sum(searched) < 10_000
    assert out.endswith("<em>x</em></strong>y" + "</strong>" * 2999)


def test_a_design_reads_a_bounded_amount_of_html(monkeypatch, manager, api_for, login):
    """Finding 8, second part: even linear, the parser takes about a
    microsecond a character, and a design of 200 full blocks (4 MB, stored
    through the API as given) took 3.4 s to clean on every view of its
    designer page. A design holds at most ``MAX_DESIGN_TEXT`` characters: the
    page starts empty (as for any design that does not check) after parsing
    no more than that."""
    from django.core.exceptions import ValidationError

    from campaigns import designer

    fed = []
    original = designer.inline_html

    def counting(value, *args, **kwargs):
        fed.append(len(value))
        return original(value, *args, **kwargs)

    monkeypatch.setattr(designer, "inline_html", counting)
    block = {"type": "text", "html": "<b>" * 3000 + "</i>" * 2750}
    design = {"blocks": [block] * designer.MAX_BLOCKS}
    with pytest.raises(ValidationError):
        designer.clean_design(design)
    assert sum(fed) <= designer.MAX_DESIGN_TEXT
    api = api_for(manager)
    content = {"subject": "S", "html": "<p>x</p>", "design": design}
    template = api.post("/templates", {"name": "T", "channel": "email", "content": content})
    page = login(manager).get(f"/templates/{template.json()['id']}/design/")
    assert page.status_code == 200
    assert sum(fed) <= 2 * designer.MAX_DESIGN_TEXT
    # Twenty full blocks, an email longer than any inbox shows, still check.
    assert len(designer.clean_design({"blocks": [block] * 20})["blocks"]) == 20


# ---------------------------------------------------------------- finding 9


def test_a_file_of_one_address_repeated_is_written_in_few_batches(
    manager, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    """Finding 9: a row naming an identity an earlier row of its batch named
    cut the batch, so a file of one address repeated (or two, alternating)
    was a batch, a transaction and ~4.5 statements a row, 7.6 ms a row on
    SQLite against 0.15 ms for distinct rows: a 200 MB upload of one short
    line repeated (~12 million rows) ran past the import's six-hour timeout,
    and the sweep gave it to a worker again from the start, for ever."""
    lines = "".join(f"{'ann' if i % 2 else 'bob'}@example.com,{i}\n" for i in range(2000))
    with django_assert_max_num_queries(200):
        result = _import("email,n\n" + lines, django_capture_on_commit_callbacks, actor=manager)
    assert (result.rows_imported, result.rows_rejected) == (2000, 0)
    assert Profile.objects.get(email="ann@example.com").attributes == {"n": 1999}
    assert Profile.objects.get(email="bob@example.com").attributes == {"n": 1998}


def _snapshot():
    from audiences.models import ConsentChange

    people = sorted(
        (str(p.email), str(p.phone), sorted(p.attributes.items()), p.consent_email)
        for p in Profile.objects.all()
    )
    changes: dict[tuple, list] = {}  # each person's consent history, in order
    for change in ConsentChange.objects.select_related("profile").order_by("pk"):
        person = (change.profile.email, change.profile.phone)
        changes.setdefault(person, []).append((change.channel, change.granted))
    return people, changes


def _without_ids(reason: str) -> str:
    """A conflict's reason names profile ids (which differ between the runs)
    in their order: the names, sorted, are compared."""
    if ":" not in reason:
        return reason
    head, names = reason.split(":", 1)
    return head + ":" + ",".join(sorted(re.sub(r" \(#\d+\)", "", names).split(",")))


@pytest.mark.parametrize("seed", range(6))
def test_rows_about_the_same_person_in_one_batch_end_as_row_by_row(seed, manager):
    """Whatever the batches, the profiles, their consent history and the
    rejected lines are those of applying the rows one at a time."""
    from audiences.models import Audience, AudienceMember, ConsentChange

    rnd = random.Random(seed)
    # Identities never move from one person to another here: within a batch an
    # identity a row takes away from a profile is still found on it by a later
    # row (the same before this fix; noted in docs/security-review-7.md).
    people = [
        ("a@example.com", ""),
        ("a@example.com", "+33612345678"),
        ("", "+33612345678"),
        ("b@example.com", ""),
        ("c@example.com", "+33612345679"),
        ("", "+33612345679"),
        ("d@example.com", "+33612345670"),
    ]
    lines = ["email,phone,n,consent_email"]
    for i in range(80):
        email, phone = rnd.choice(people)
        lines.append(f"{email},{phone},{i},{rnd.choice(['yes', 'no', ''])}")
    data = ("\n".join(lines) + "\n").encode()
    results = []
    for size in (1, 1000):
        Profile.objects.create(email="b@example.com", attributes={"old": 1})
        Profile.objects.create(phone="+33612345679")
        audience = Audience.objects.create(name=f"U{size}", kind=Audience.Kind.UPLOAD)
        outcome = importer.import_stream(
            io.BytesIO(data), audience_id=audience.pk, import_id=None, size=size, actor=manager
        )
        rejected = [(r["line"], _without_ids(r["reason"])) for r in outcome.sample]
        results.append((_snapshot(), outcome.imported, outcome.rejected, rejected))
        ConsentChange.objects.all().delete()
        AudienceMember.objects.all().delete()
        Profile.objects.all().delete()
    assert results[0] == results[1]


# ---------------------------------------------------------------- finding 10

_OLD_EMAIL = re.compile(
    r"([A-Za-z0-9._%+'!#$&*=?^`{|}~-])[A-Za-z0-9._%+'!#$&*=?^`{|}~-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})"
)


def test_log_masking_finds_what_it_found():
    from config.logmask import _mask_emails

    pieces = ["a", "b.", "-", "@", "x.com", ".", " ", "+", "é", "!", "@ex.org", "\n"]
    rnd = random.Random(10)
    for _ in range(5000):
        text = "".join(rnd.choice(pieces) for _ in range(rnd.randrange(0, 25)))
        assert _mask_emails(text) == _OLD_EMAIL.sub(r"\1***@\2", text), text


_LONG_RUN = """
from config.logmask import mask
print(len(mask("a" * 1_000_000 + " @example.com")))
"""


def test_log_masking_is_linear_in_a_long_run_of_letters():
    """Finding 10 (Low): every log record goes through the personal-data
    mask, whose address expression read a run of local-part characters to its
    end from every position inside it: 20,000 letters with no "@" after them
    took 0.2 s, a million about nine minutes. What reaches a log from outside
    is mostly bounded by the server's header and request-line limits; the
    scan is linear now (a child process, killed past the bound)."""
    from django.conf import settings

    result = subprocess.run(
        [sys.executable, "-c", _LONG_RUN],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-500:]


def test_the_admin_profile_form_keeps_the_bound(administrator, login):
    """Finding 2, the third writer: the admin's profile form (administrators)."""
    import json

    client = login(administrator)
    page = client.get("/admin/audiences/profile/add/")
    assert page.status_code == 200
    data = {"email": "ann@example.com", "attributes": json.dumps({f"k{i}": i for i in range(501)})}
    for formset in page.context["inline_admin_formsets"]:
        prefix = formset.formset.prefix
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    for name in ("timezone", "locale"):
        data[name] = ""
    response = client.post("/admin/audiences/profile/add/", data)
    assert response.status_code == 200
    assert "attributes" in response.context["adminform"].form.errors
    assert not Profile.objects.exists()
