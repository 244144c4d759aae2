"""HTML made safe to hand to Python's ``html.parser`` (third review, issue 10).

The standard library's parser (behind html2text's plain-text version and the
designer's text cleaning) is quadratic on markup that never completes: every
``<a href=x`` or ``<a b='`` without its ``>``, every unclosed ``<!--``, is
scanned to the end of the input again (24 KB of ``<a `` took 15 s, 1 MB hours),
and ``<![`` without a name raises ``AssertionError``. The CPython fix (gh-135661)
is not in the Python this runs on, so ``parser_safe`` escapes, in one linear
pass, every ``<`` that does not open a construct completed before the next
``<``: those become text, which is what the parser falls back to anyway.
"""

from __future__ import annotations

import re

# The parser's own end of a comment ("-- >" ends one too).
_COMMENT_CLOSE = re.compile(r"--\s*>")
_OPENERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ/!?")


def parser_safe(html: str) -> str:
    """``html`` with each ``<`` that opens nothing complete written ``&lt;``."""
    out: list[str] = []
    index = 0  # copied up to here
    at = html.find("<")
    comments_closed = True  # False once a "<!--" had no end after it: none later has
    while at >= 0:
        follow = html[at + 1 : at + 2]
        following = html.find("<", at + 1)
        if html.startswith("<!--", at):
            # Kept when it ends somewhere. The "<" inside it are looked at like
            # any other: the parser may not see a comment where this scan does
            # (a quoted attribute value can run over it).
            complete = comments_closed and _COMMENT_CLOSE.search(html, at + 4) is not None
            comments_closed = complete
        elif follow in _OPENERS and not html.startswith("<![", at):
            # A tag, a declaration or a processing instruction must end before
            # the next "<" (bounded by it: each character is looked at once).
            end = following if following >= 0 else len(html)
            complete = html.find(">", at + 1, end) >= 0
        else:
            complete = False
        if not complete:
            out += [html[index:at], "&lt;"]
            index = at + 1
        at = following
    out.append(html[index:])
    return "".join(out)
