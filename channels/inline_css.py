"""CSS inlining for email HTML (SPEC §11): "Email HTML leaves with its CSS
inlined; the ``<style>`` block may stay for media queries".

Gmail and Outlook drop or ignore much of a ``<style>`` block, so its rules are
copied onto the elements they match by ``css-inline`` (html5ever and Servo's
selector engine, the matching a browser does), once per run when the content is
compiled (``channels/rendering.py``). What cannot be inlined (``@media``,
``:hover``, rules that match nothing) stays in the ``<style>`` block. An
element's own ``style`` wins over the block, as in a browser; HTML comments
(Outlook's conditional comments) are left as written, and no stylesheet is ever
fetched (``<link>`` stays as written: no request to an author's URL).

The content is still a template when it is inlined, and an HTML parser would
move or escape the template's syntax (a ``{% for %}`` between table rows is
"foster-parented" out of the table, ``{% if a > b %}`` becomes ``&gt;``). So
every ``{{ … }}``, ``{% … %}`` and ``{# … #}`` (and a brace written as an
entity, which the parser would decode into template syntax) is swapped for an inert token
first (an HTML comment between tags, a plain word inside a tag or a comment)
and put back afterwards. A ``<style>`` block holding template syntax leaves the
whole HTML as written.

The work is bounded whatever the HTML (it runs in the web process for every
preview): past ``MAX_HTML`` characters, when rules × tags would exceed
``MAX_WORK`` (css-inline matches every rule against the document), or when the
styles it would write could add more than ``MAX_GROWTH`` characters (a rule's
declarations times the tags it may match: third review), the HTML is left as
written, its ``<style>`` block included (review, issue 10). The scans here are
linear: no pattern that can backtrack over an unclosed ``<!--``, ``<style``,
``/*`` or ``{{``.
"""

from __future__ import annotations

import re
import secrets
from collections import Counter

import css_inline

MAX_HTML = 2_000_000  # characters: beyond it the HTML leaves as written
MAX_WORK = 2_000_000  # rule × tag comparisons one inlining may make
# Characters inlining may add: a rule of thousands of declarations (or one long
# value) copied onto thousands of tags grew 55 KB into 100 MB (third review).
MAX_GROWTH = 2_000_000
# Open elements: css-inline's parser and serializer recurse once per level, and
# 16,000 nested <div> overflowed the stack — a segmentation fault that killed the
# web worker (every view of the campaign page) or the sending worker (fifth
# review). Email HTML is a few dozen levels deep.
MAX_DEPTH = 1000

_INLINER = css_inline.CSSInliner(
    keep_style_tags=True,
    # Only what could not be inlined stays in the block (media queries, :hover).
    remove_inlined_selectors=True,
    keep_link_tags=True,
    load_remote_stylesheets=False,
)
_OPENERS = {"{{": "}}", "{%": "%}", "{#": "#}"}
_TEMPLATE_START = re.compile(r"\{[{%#]")
# A brace written as an entity stays one: the parser would decode it into template syntax.
_BRACE_ENTITY = re.compile(r"&(?:#0*12[35]|#[xX]0*7[bBdD]|[lr]brace|[lr]cub);?")
_TAG = re.compile(r"(<[A-Za-z/][^<>]*>)")
_STYLE_OPEN = re.compile(r"<style\b[^<>]*>", re.IGNORECASE)
_STYLE_CLOSE = re.compile(r"</style\s*>", re.IGNORECASE)
_EMPTY_STYLE = re.compile(r"<style\b[^<>]*>\s*</style>")


def _split_comments(html: str) -> list[str]:
    """``html`` cut into text and ``<!-- … -->`` comments, in linear time:
    an unclosed ``<!--`` is text."""
    parts: list[str] = []
    index = 0
    while True:
        start = html.find("<!--", index)
        end = html.find("-->", start + 4) if start >= 0 else -1
        if end < 0:
            parts.append(html[index:])
            return parts
        parts += [html[index:start], html[start : end + 3]]
        index = end + 3


def _style_css(html: str) -> list[str]:
    """The text of each closed ``<style>`` block (linear: one forward scan)."""
    found: list[str] = []
    index = 0
    while (opened := _STYLE_OPEN.search(html, index)) is not None:
        closed = _STYLE_CLOSE.search(html, opened.end())
        if closed is None:
            break  # no later block is closed either
        found.append(html[opened.end() : closed.start()])
        index = closed.end()
    return found


def _strip_css_comments(css: str) -> str:
    """``css`` without its ``/* … */`` comments, in linear time (the regular
    expression ``/\\*.*?\\*/`` searched to the end from every unclosed ``/*``:
    quadratic, third review). An unclosed comment runs to the end, as in a browser."""
    out: list[str] = []
    index = 0
    while True:
        start = css.find("/*", index)
        if start < 0:
            out.append(css[index:])
            return "".join(out)
        out.append(css[index:start])
        end = css.find("*/", start + 2)
        if end < 0:
            return "".join(out)
        index = end + 2


# Pseudo-classes that take selectors. Servo's engine (behind css-inline) matches
# a combinator inside one of them, and any ``:has()``, without its caches: for
# every element it walks the siblings or ancestors again, quadratic in the
# document (``p:not(x ~ p)`` over 16,000 paragraphs: 8 s; ``p:has(~ x)`` over
# 64,000: 47 s; fifth review). Email clients ignore such selectors anyway.
_SELECTOR_FUNCTION = re.compile(
    r":(?:-(?:moz|webkit)-)?(has|not|is|where|matches|any|nth-child|nth-last-child)\(",
    re.IGNORECASE,
)
_COMBINATOR = re.compile(r"[~+>]|(?<=[\w\])*|.:-])\s+(?=[\w\[*.:#-])")
_OF = re.compile(r"\bof\b", re.IGNORECASE)
# An escape is part of a name in CSS (``:n\6f t(`` is ``:not(``): read as the
# letter or digit it stands for, anything else as a plain letter.
_CSS_ESCAPE = re.compile(r"\\(?:([0-9a-fA-F]{1,6})[ \t\n\r\f]?|(.))", re.DOTALL)


def _unescape(found: re.Match) -> str:
    char = chr(min(int(found.group(1), 16), 0x10FFFF)) if found.group(1) else found.group(2)
    return char if char.isascii() and (char.isalnum() or char in "-_") else "a"


def _slow_selectors(css: str) -> bool:
    """Whether a selector of ``css`` uses ``:has()``, a combinator inside
    ``:not()``/``:is()``/``:where()``, or ``:nth-child(… of …)`` — what Servo
    matches in quadratic time. One forward scan: an argument is looked at up
    to the parenthesis that closes it, nested ones included, once."""
    css = _CSS_ESCAPE.sub(_unescape, _strip_css_comments(css))
    index = 0
    while True:
        found = _SELECTOR_FUNCTION.search(css, index)
        if found is None:
            return False
        name = found.group(1).lower()
        if name == "has":
            return True
        depth, end = 1, found.end()
        while end < len(css) and depth:
            char = css[end]
            if char == "(":
                depth += 1
            elif char == ")":
                depth -= 1
            elif char in "{}":
                break
            end += 1
        argument = css[found.end() : end]
        lowered = argument.lower()
        if ":has(" in lowered or (":nth-" in lowered and _OF.search(argument)):
            return True  # nested: looked at here, the scan goes on after it
        if name.startswith("nth-"):
            if _OF.search(argument):
                return True
        elif _COMBINATOR.search(argument.strip()):
            return True
        index = end


_START_OR_END = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)")
_VOID = frozenset(
    "area base br col embed hr img input keygen link meta param source track wbr".split()
)


def _too_deep(html: str) -> bool:
    """Whether the elements of ``html`` may nest more than ``MAX_DEPTH`` deep. An
    upper bound in one scan: every start tag but a void one opens (``<div/>`` is
    a start tag in HTML), an end tag closes only an element of its name that is
    open (a stray ``</span>`` closes nothing), implied ends are not assumed."""
    open_by_name: Counter = Counter()
    depth = 0
    for found in _START_OR_END.finditer(html):
        name = found.group(2).lower()
        if found.group(1):
            if open_by_name[name]:
                open_by_name[name] -= 1
                depth -= 1
        elif name not in _VOID:
            open_by_name[name] += 1
            depth += 1
            if depth > MAX_DEPTH:
                return True
    return False


_TAG_NAME = re.compile(r"<([A-Za-z][A-Za-z0-9-]*)")
_CLASS_OR_ID = re.compile(r"""\s(class|id)\s*=\s*(?:"([^"<>]*)"|'([^'<>]*)'|([^\s"'<>]+))""", re.I)
_COMPOUND = re.compile(r"^([A-Za-z][A-Za-z0-9-]*)?((?:[.#][A-Za-z_][A-Za-z0-9_-]*)*)")


def _growth(blocks: list[str], html: str) -> int:
    """An upper bound of the characters inlining ``blocks`` into ``html`` would
    add: each rule's declarations times the tags its selectors may match (by
    the last compound's tag name, else its first class or id, else every tag).
    Linear in the CSS and the HTML; stops counting past ``MAX_GROWTH``."""
    tags = Counter(name.lower() for name in _TAG_NAME.findall(html))
    every = sum(tags.values())
    tokens: Counter[str] = Counter()
    for kind, *values in _CLASS_OR_ID.findall(html):
        value = next((v for v in values if v), "")
        prefix = "#" if kind.lower() == "id" else "."
        tokens.update(prefix + token for token in value.split())
    total = 0
    for css in blocks:
        css = _strip_css_comments(css)
        index = 0
        while index < len(css):
            start = css.find("{", index)
            if start < 0:
                break
            head = css[index:start].strip()
            if head.startswith("@"):  # @media and the like stay in the block
                depth, end = 1, start + 1
                while end < len(css) and depth:
                    next_open, next_close = css.find("{", end), css.find("}", end)
                    if next_close < 0:
                        end = len(css)
                        break
                    if 0 <= next_open < next_close:
                        depth, end = depth + 1, next_open + 1
                    else:
                        depth, end = depth - 1, next_close + 1
                index = end
                continue
            end = css.find("}", start + 1)
            end = len(css) if end < 0 else end
            size = end - start
            index = end + 1
            for selector in head.split(","):
                words = selector.split()
                match = _COMPOUND.match(words[-1]) if words else None
                name, rest = (match.group(1), match.group(2)) if match else (None, "")
                if name:
                    candidates = tags[name.lower()]
                elif rest:
                    candidates = tokens[re.match(r"[.#][^.#]+", rest).group(0)]
                else:
                    candidates = every
                total += size * candidates
                if total > MAX_GROWTH:
                    return total
    return total


class _Protected:
    """The template syntax of an HTML source swapped for tokens the parser keeps."""

    def __init__(self, html: str) -> None:
        self.nonce = secrets.token_hex(4)
        self.originals: list[str] = []
        word = re.compile(rf"vtpl{self.nonce}n\d+x")
        parts = []
        for part in _split_comments(html):
            if part.startswith("<!--") and part.endswith("-->"):
                parts.append(self._swap(part))  # a word: a comment cannot nest
                continue
            # Tokens first (a word holds no < or >), then the ones between tags
            # become comments, which the parser keeps where they are, tables included.
            pieces = _TAG.split(self._swap(part))
            for index in range(0, len(pieces), 2):
                pieces[index] = word.sub(r"<!--\g<0>-->", pieces[index])
            parts.append("".join(pieces))
        self.html = "".join(parts)

    def _token(self, original: str) -> str:
        self.originals.append(original)
        return f"vtpl{self.nonce}n{len(self.originals) - 1}x"

    def _swap(self, text: str) -> str:
        text = _BRACE_ENTITY.sub(lambda match: self._token(match.group(0)), text)
        out: list[str] = []
        index = 0
        while (start := _TEMPLATE_START.search(text, index)) is not None:
            end = text.find(_OPENERS[start.group(0)], start.end())
            if end < 0:
                break  # unclosed: the template would not compile anyway
            end += 2
            out += [text[index : start.start()], self._token(text[start.start() : end])]
            index = end
        out.append(text[index:])
        return "".join(out)

    def restore(self, html: str) -> str:
        def original(match: re.Match) -> str:
            return self.originals[int(match.group(1))]

        # A comment token in an escaped context (<title>) comes back escaped; a
        # token in an attribute name's place comes back as an empty attribute.
        pattern = rf'(?:&lt;!--|<!--)?vtpl{self.nonce}n(\d+)x(?:--&gt;|-->|="")?'
        return re.sub(pattern, original, html)


def inline_css(html: str) -> str:
    """``html`` with the rules of its ``<style>`` blocks copied inline."""
    if "<style" not in html.lower() or len(html) > MAX_HTML:
        return html
    blocks = _style_css(html)
    if not blocks or any(("{{" in css or "{%" in css or "{#" in css) for css in blocks):
        return html  # template syntax decides what the block says: leave it to the author
    rules = sum(css.count("{") for css in blocks)
    if rules * html.count("<") > MAX_WORK:
        return html  # too much to inline: the <style> block stays as written
    if _growth(blocks, html) > MAX_GROWTH:
        return html  # it would write too much: the <style> block stays as written
    if _too_deep(html):
        return html  # css-inline would overflow the stack: the block stays as written
    if any(_slow_selectors(css) for css in blocks):
        return html  # selectors matched in quadratic time: the block stays as written
    protected = _Protected(html)
    try:
        inlined = _INLINER.inline(protected.html)
    except css_inline.InlineError:
        return html
    return protected.restore(_EMPTY_STYLE.sub("", inlined))
