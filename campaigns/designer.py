"""The visual email designer's server half (SPEC §11): a design (JSON, saved as
``content.design``) is checked and compiled here into email HTML — a table
layout with every style inline (what Gmail, Outlook and Apple Mail render),
one ``<style>`` block kept for the narrow-screen media query. The page's script
(``static/js/email-designer.js``) only edits the JSON; what is sent is always
what this module produced from it, so the designer reopens exactly what it made.

Text blocks carry a small subset of HTML (bold, italic, underline, links, line
breaks); everything else is escaped. Personalization (``{{ profile.* }}``) is
kept as written: the result is a message template like any other.
"""

from __future__ import annotations

import re
from collections import Counter
from html import escape
from html.parser import HTMLParser
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

BLOCKS = ("heading", "text", "image", "button", "divider", "spacer", "columns", "footer")
INNER = ("heading", "text", "image", "button", "divider", "spacer")
MAX_BLOCKS = 200
# Characters of text, addresses and HTML in all the blocks of a design (each
# keeps 20,000): the standard library's parser cleans a block's HTML at about a
# microsecond a character, and 200 full blocks (4 MB) took 3.4 s on every view
# of the designer (security review 7). An email's body is read far below this.
MAX_DESIGN_TEXT = 400_000
WIDTH = 600
_COLOR = re.compile(r"^#[0-9a-fA-F]{3}(?:[0-9a-fA-F]{3})?$")
_URL = re.compile(r"^(?:https?://|mailto:|tel:|\{\{)[^\s\"'<>]*$|^\{\{.*\}\}$")
FONT = "Helvetica,Arial,sans-serif"
DEFAULTS = {
    "heading": {"text": "", "level": 1, "color": "#102a43", "align": "left", "padding": 12},
    "text": {"html": "", "color": "#1f2933", "align": "left", "padding": 12, "size": 16},
    "image": {"src": "", "alt": "", "href": "", "width": 600, "align": "center", "padding": 12},
    "button": {
        "label": "",
        "href": "",
        "color": "#ffffff",
        "background": "#2454d6",
        "align": "left",
        "padding": 12,
    },
    "divider": {"color": "#e4e7eb", "padding": 12},
    "spacer": {"height": 24},
    "columns": {"columns": [[], []], "padding": 0},
    "footer": {"html": "", "color": "#52606d", "align": "center", "padding": 16},
}
SETTINGS = {"background": "#f2f4f7", "content": "#ffffff"}


# --- checking ------------------------------------------------------------------------


def clean_design(design: Any) -> dict:
    """The design with every block's settings checked and completed, or
    ``ValidationError`` naming the block."""
    if not isinstance(design, dict) or not isinstance(design.get("blocks"), list):
        raise ValidationError(_("The design must be an object with a list of blocks."))
    settings = {**SETTINGS, **_only(design.get("settings"), SETTINGS)}
    for key in SETTINGS:
        settings[key] = _color(settings[key], SETTINGS[key])
    count = [0, 0]  # blocks, characters of text
    blocks = [_clean_block(b, BLOCKS, count, f"{n + 1}") for n, b in enumerate(design["blocks"])]
    return {"version": 1, "settings": settings, "blocks": blocks}


def _only(value: Any, allowed: dict) -> dict:
    return {k: v for k, v in value.items() if k in allowed} if isinstance(value, dict) else {}


def _clean_block(block: Any, kinds: tuple, count: list, where: str) -> dict:
    count[0] += 1
    if count[0] > MAX_BLOCKS:
        raise ValidationError(_("A design has at most %(max)d blocks.") % {"max": MAX_BLOCKS})
    if not isinstance(block, dict) or block.get("type") not in kinds:
        raise ValidationError(_("Block %(where)s is not a known block.") % {"where": where})
    kind = block["type"]
    out = {"type": kind, **DEFAULTS[kind], **_only(block, DEFAULTS[kind])}
    for key in ("color", "background"):
        if key in out:
            out[key] = _color(out[key], DEFAULTS[kind][key])
    for key in ("padding", "height", "width", "level", "size"):
        if key in out:
            out[key] = _int(out[key], DEFAULTS[kind][key])
    out["level"] = min(max(out.get("level", 1), 1), 3) if kind == "heading" else None
    if out["level"] is None:
        out.pop("level")
    if "align" in out and out["align"] not in ("left", "center", "right"):
        out["align"] = DEFAULTS[kind]["align"]
    for key in ("href", "src"):
        if key in out and out[key] and not _URL.match(str(out[key]).strip()):
            raise ValidationError(
                _("Block %(where)s: %(url)s is not a web address.")
                % {"where": where, "url": out[key]}
            )
    for key in ("text", "html", "label", "alt", "href", "src"):
        if key in out:
            out[key] = str(out[key] or "")[:20000]
            count[1] += len(out[key])
    if count[1] > MAX_DESIGN_TEXT:
        raise ValidationError(
            _("A design holds at most %(max)d characters of text in all its blocks.")
            % {"max": MAX_DESIGN_TEXT}
        )
    if "html" in out:
        # Stored as the email will show it: the page's script puts it back into
        # the designer with innerHTML (review, issue 10).
        out["html"] = inline_html(out["html"], None)
    if kind == "columns":
        columns = block.get("columns")
        if not isinstance(columns, list) or len(columns) not in (2, 3):
            raise ValidationError(
                _("Block %(where)s: a row has two or three columns.") % {"where": where}
            )
        out["columns"] = [
            [
                _clean_block(b, INNER, count, f"{where}.{c + 1}.{n + 1}")
                for n, b in enumerate(col if isinstance(col, list) else [])
            ]
            for c, col in enumerate(columns)
        ]
    return out


def _color(value: Any, default: str) -> str:
    return value if isinstance(value, str) and _COLOR.match(value) else default


def _int(value: Any, default: int) -> int:
    try:
        return min(max(int(value), 0), 1200)
    except (TypeError, ValueError):
        return default


# --- text ------------------------------------------------------------------------------


class _Inline(HTMLParser):
    """Keeps b/strong/i/em/u/br and a[href]; escapes the rest (text stays text)."""

    KEEP = {"b": "strong", "strong": "strong", "i": "em", "em": "em", "u": "u"}

    def __init__(self, link_color: str | None) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[str] = []
        # How many of each are open: an end tag of one that is not open is
        # answered without reading the stack (``name in self.open`` read it
        # all, for each such end tag: 200 blocks of 3,000 <b> and 2,750 </i>
        # took 12 s to clean, on every view of the designer).
        self.open_count: Counter[str] = Counter()
        self.link_color = link_color

    def handle_starttag(self, tag, attrs):
        if tag == "br":
            self.out.append("<br>")
        elif tag in ("div", "p") and self.out:
            self.out.append("<br>")
        elif tag in self.KEEP:
            self.out.append(f"<{self.KEEP[tag]}>")
            self.open.append(self.KEEP[tag])
            self.open_count[self.KEEP[tag]] += 1
        elif tag == "a":
            href = (dict(attrs).get("href") or "").strip()
            if href and _URL.match(href):
                style = (
                    f' style="color:{self.link_color};text-decoration:underline"'
                    if self.link_color
                    else ""
                )
                self.out.append(f'<a href="{escape(href, quote=True)}"{style}>')
                self.open.append("a")
                self.open_count["a"] += 1

    def handle_endtag(self, tag):
        name = "a" if tag == "a" else self.KEEP.get(tag)
        if name and self.open_count[name]:
            while self.open:
                closing = self.open.pop()
                self.open_count[closing] -= 1
                self.out.append(f"</{closing}>")
                if closing == name:
                    break

    def handle_data(self, data):
        # Quotes stay: {{ profile.firstName | default("there") }} is template syntax.
        self.out.append(escape(data, quote=False))

    def result(self) -> str:
        return "".join(self.out) + "".join(f"</{t}>" for t in reversed(self.open))


def inline_html(value: str, link_color: str | None = "#2454d6") -> str:
    """``value`` reduced to the kept subset; links styled with ``link_color``
    (None: unstyled, as the design stores them)."""
    from channels.htmlscan import parser_safe

    parser = _Inline(link_color)
    # The standard library's parser is quadratic on unclosed markup (and raises
    # on "<!["): it gets the text made safe first (third review).
    parser.feed(parser_safe(value or ""))
    parser.close()
    return parser.result()


# --- rendering --------------------------------------------------------------------------


def _cell(inner: str, block: dict, extra: str = "") -> str:
    pad = block.get("padding", 0)
    align = block.get("align", "left")
    return (
        f'<tr><td class="pad" align="{align}" style="padding:{pad}px 24px;'
        f'text-align:{align};{extra}">{inner}</td></tr>'
    )


def _block(block: dict, width: int) -> str:
    kind = block["type"]
    if kind == "heading":
        size = {1: 28, 2: 22, 3: 18}[block["level"]]
        inner = (
            f'<h{block["level"]} style="margin:0;font-family:{FONT};font-size:{size}px;'
            f'line-height:1.3;color:{block["color"]}">{escape(block["text"], quote=False)}'
            f"</h{block['level']}>"
        )
        return _cell(inner, block)
    if kind in ("text", "footer"):
        size = block.get("size", 12 if kind == "footer" else 16)
        size = 12 if kind == "footer" else size
        inner = (
            f'<div style="font-family:{FONT};font-size:{size}px;line-height:1.5;'
            f'color:{block["color"]}">{inline_html(block["html"], block["color"] if kind == "footer" else "#2454d6")}</div>'
        )
        return _cell(inner, block)
    if kind == "image":
        if not block["src"]:
            return ""
        shown = min(block["width"] or width, width)
        image = (
            f'<img src="{escape(block["src"], quote=True)}" alt="{escape(block["alt"], quote=True)}" '
            f'width="{shown}" style="display:block;width:100%;max-width:{shown}px;height:auto;'
            'border:0;outline:none;text-decoration:none">'
        )
        if block["href"]:
            image = f'<a href="{escape(block["href"], quote=True)}">{image}</a>'
        return _cell(image, block)
    if kind == "button":
        if not block["label"]:
            return ""
        inner = (
            '<table role="presentation" cellpadding="0" cellspacing="0" border="0" '
            f'style="display:inline-table"><tr><td style="background:{block["background"]};'
            f'border-radius:6px"><a href="{escape(block["href"] or "#", quote=True)}" '
            f'style="display:inline-block;padding:12px 24px;font-family:{FONT};font-size:16px;'
            f'font-weight:bold;color:{block["color"]};text-decoration:none">'
            f"{escape(block['label'], quote=False)}</a></td></tr></table>"
        )
        return _cell(inner, block)
    if kind == "divider":
        inner = (
            f'<div style="border-top:1px solid {block["color"]};font-size:0;line-height:0">'
            "&nbsp;</div>"
        )
        return _cell(inner, block)
    if kind == "spacer":
        return (
            f'<tr><td style="height:{block["height"]}px;font-size:0;line-height:0">&nbsp;</td></tr>'
        )
    # columns: side by side on wide screens, stacked on narrow ones (.col)
    share = width // len(block["columns"])
    cells = "".join(
        f'<td class="col" width="{share}" valign="top" style="width:{share}px;vertical-align:top">'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">'
        + "".join(_block(inner, share) for inner in column)
        + "</table></td>"
        for column in block["columns"]
    )
    return (
        '<tr><td><table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
        f'border="0"><tr>{cells}</tr></table></td></tr>'
    )


_STYLE = (
    "<style>@media only screen and (max-width:620px){"
    ".container{width:100%!important}.pad{padding-left:16px!important;padding-right:16px!important}"
    ".col{display:block!important;width:100%!important}}</style>"
)


def render_design(design: dict, *, title: str = "") -> str:
    """The email HTML of a checked design (see ``clean_design``)."""
    settings = design["settings"]
    rows = "".join(_block(block, WIDTH) for block in design["blocks"])
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>{_STYLE}</head>"
        f'<body style="margin:0;padding:0;background:{settings["background"]}">'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
        f'style="background:{settings["background"]}"><tr><td align="center" style="padding:24px 8px">'
        f'<table role="presentation" class="container" width="{WIDTH}" cellpadding="0" '
        f'cellspacing="0" border="0" style="width:{WIDTH}px;max-width:{WIDTH}px;'
        f'background:{settings["content"]};border-radius:8px">'
        f'<tr><td style="height:12px;font-size:0;line-height:0">&nbsp;</td></tr>{rows}'
        '<tr><td style="height:12px;font-size:0;line-height:0">&nbsp;</td></tr>'
        "</table></td></tr></table></body></html>"
    )
