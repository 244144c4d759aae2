"""CSS inlining for email HTML (SPEC §11): "Email HTML leaves with its CSS
inlined; the ``<style>`` block may stay for media queries".

Gmail and Outlook drop or ignore much of a ``<style>`` block, so its simple
rules are copied onto the elements they match, once per run when the content
is compiled (``channels/rendering.py``). Deliberately small: selectors made of
a tag, classes and an id (``p``, ``.btn``, ``td.pad``, ``#hero``, lists of
them) are inlined; anything else (``@media``, combinators, pseudo-classes) stays
in the ``<style>`` block, which is kept only when something is left in it. An
element's own ``style`` wins over the block, as in a browser. A block holding
template syntax, and everything inside HTML comments (Outlook's conditional
comments), is left as written. The designer's output needs none of this: it
writes its styles inline itself.

The work is bounded whatever the HTML (it runs in the web process for every
preview): comments and ``<style>`` blocks are found by a linear scan (the
regular expressions they replace went quadratic on thousands of unclosed
``<!--`` or ``<style``), and when rules × tags would exceed ``MAX_WORK`` the
HTML is left as written, its ``<style>`` block included (review, issue 10); so
it is when the styles written would add more than ``MAX_GROWTH`` characters
(declarations count as work too: third review).
"""

from __future__ import annotations

import re

_STYLE_CLOSE = re.compile(r"</style\s*>")
MAX_WORK = 2_000_000  # rule × tag comparisons one inlining may make
# Characters inlining may add: a rule of thousands of declarations (or one long
# value) copied onto thousands of tags grew 55 KB into 100 MB (third review).
MAX_GROWTH = 2_000_000


class _TooLarge(Exception):
    pass


_SELECTOR = re.compile(r"^([a-zA-Z][a-zA-Z0-9]*)?((?:[.#][A-Za-z_][A-Za-z0-9_-]*)*)$")
_TAG = re.compile(r"""<([a-zA-Z][a-zA-Z0-9]*)((?:[^<>"']|"[^"]*"|'[^']*')*?)(/?)>""")
_ATTR = re.compile(r"""\s(class|id|style)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)
_SKIP_TAGS = {"html", "head", "meta", "title", "link", "style", "script", "br"}


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


def _rules(css: str) -> tuple[list[tuple[tuple, int, tuple, list]], str]:
    """(inlinable rules, the CSS text that must stay in a <style> block)."""
    css = _strip_css_comments(css)
    rules: list = []
    kept: list[str] = []
    index, order = 0, 0
    while index < len(css):
        start = css.find("{", index)
        if start < 0:
            break
        head = css[index:start].strip()
        depth, end = 1, start + 1
        while end < len(css) and depth:
            depth += {"{": 1, "}": -1}.get(css[end], 0)
            end += 1
        body = css[start + 1 : end - 1]
        index = end
        if head.startswith("@") or "{" in body:
            kept.append(f"{head}{{{body}}}")
            continue
        declarations = [
            (name.strip().lower(), value.replace("!important", "").strip())
            for name, _sep, value in (d.partition(":") for d in body.split(";"))
            if name.strip() and value.strip()
        ]
        leftover = []
        for selector in (s.strip() for s in head.split(",")):
            match = _SELECTOR.match(selector)
            if not selector or not match or not (match.group(1) or match.group(2)):
                leftover.append(selector)
                continue
            tag = (match.group(1) or "").lower()
            parts = re.findall(r"[.#][A-Za-z_][A-Za-z0-9_-]*", match.group(2) or "")
            ids = tuple(p[1:] for p in parts if p[0] == "#")
            classes = tuple(p[1:] for p in parts if p[0] == ".")
            specificity = (len(ids), len(classes), 1 if tag else 0)
            rules.append((specificity, order, (tag, ids, classes), declarations))
            order += 1
        if leftover:
            kept.append(f"{', '.join(leftover)}{{{body}}}")
    return rules, "".join(kept)


def _attrs(text: str) -> dict[str, str]:
    found = {}
    for match in _ATTR.finditer(text):
        value = (
            next(v for v in match.groups()[1:] if v is not None)
            if any(v is not None for v in match.groups()[1:])
            else ""
        )
        found[match.group(1).lower()] = value
    return found


def _declarations(style: str) -> list[tuple[str, str]]:
    return [
        (name.strip().lower(), value.strip())
        for name, _sep, value in (d.partition(":") for d in style.split(";"))
        if name.strip() and value.strip()
    ]


def _apply(segment: str, rules: list, budget: list[int]) -> str:
    """``segment`` with the rules inlined; ``_TooLarge`` once the styles written
    would exceed ``budget[0]`` more characters (shared by all segments)."""

    def rewrite(match: re.Match) -> str:
        tag, rest, closing = match.group(1).lower(), match.group(2), match.group(3)
        if tag in _SKIP_TAGS:
            return match.group(0)
        attrs = _attrs(rest)
        if (
            "{" in attrs.get("class", "")
            or "{" in attrs.get("id", "")
            or "{" in attrs.get("style", "")
        ):
            return match.group(0)  # template syntax decides: leave it to the author
        classes = set(attrs.get("class", "").split())
        element_id = attrs.get("id", "")
        merged: dict[str, str] = {}
        for _spec, _order, (rule_tag, ids, rule_classes), declarations in rules:
            if rule_tag and rule_tag != tag:
                continue
            if any(i != element_id for i in ids) or not set(rule_classes) <= classes:
                continue
            merged.update(declarations)
        if not merged:
            return match.group(0)
        merged.update(_declarations(attrs.get("style", "")))  # the element's own wins
        budget[0] -= sum(len(k) + len(v) + 4 for k, v in merged.items())
        if budget[0] < 0:
            raise _TooLarge
        style = "; ".join(f"{k}: {v}" for k, v in merged.items()).replace('"', "'")
        rest = _ATTR.sub(lambda m: "" if m.group(1).lower() == "style" else m.group(0), rest)
        return f'<{match.group(1)}{rest} style="{style}"{closing}>'

    return _TAG.sub(rewrite, segment)


def _split_comments(html: str) -> list[str]:
    """``html`` cut into text and ``<!-- … -->`` comments (as ``re.split`` with
    ``(<!--.*?-->)`` would, in linear time): an unclosed ``<!--`` is text."""
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


def _style_blocks(segment: str, take) -> str:
    """``segment`` with each ``<style …>css</style>`` replaced by
    ``take(css, whole)`` (case-insensitive, in linear time)."""
    low = segment.lower()
    out: list[str] = []
    index = 0
    search = 0
    while True:
        start = low.find("<style", search)
        if start < 0:
            break
        after = start + 6
        if after < len(low) and (low[after].isalnum() or low[after] == "_"):
            search = after  # <styles>, <style_x>: not a style tag
            continue
        opened = low.find(">", after)
        if opened < 0:
            break
        close = _STYLE_CLOSE.search(low, opened + 1)
        if close is None:
            break  # no later block is closed either
        out += [
            segment[index:start],
            take(segment[opened + 1 : close.start()], segment[start : close.end()]),
        ]
        index = search = close.end()
    out.append(segment[index:])
    return "".join(out)


def inline_css(html: str) -> str:
    """``html`` with the simple rules of its ``<style>`` blocks copied inline."""
    if "<style" not in html.lower():
        return html
    rules: list = []

    def take(css: str, whole: str) -> str:
        if "{{" in css or "{%" in css:
            return whole
        found, kept = _rules(css)
        rules.extend(found)
        return f"<style>{kept}</style>" if kept.strip() else ""

    parts = _split_comments(html)
    parts = [p if p.startswith("<!--") else _style_blocks(p, take) for p in parts]
    if not rules:
        return "".join(parts)
    # Each rule's declarations are copied too: they count as work.
    work = len(rules) + sum(len(rule[3]) for rule in rules)
    if work * html.count("<") > MAX_WORK:
        return html  # too much to inline: the <style> block stays as written
    rules.sort(key=lambda rule: (rule[0], rule[1]))
    budget = [MAX_GROWTH]
    try:
        return "".join(p if p.startswith("<!--") else _apply(p, rules, budget) for p in parts)
    except _TooLarge:
        return html
