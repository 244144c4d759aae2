"""Personalization: sandboxed Jinja2 templates for email, SMS and push (SPEC §4).

A campaign's content is compiled once per run (``compile_content``) and the
compiled templates are rendered for every profile; Jinja2 templates are safe to
render from several threads at once. Templates run in Jinja2's immutable
sandbox with no globals at all, so ``cycler``, ``lipsum``, ``config`` or
``self.__init__.__globals__`` lead nowhere; any underscore attribute is refused
when the content is saved (``validate_content``) and again at render time.
An undefined variable renders empty so one profile without ``firstName`` never
fails a send.
"""

from __future__ import annotations

import contextvars
import html
import re
from dataclasses import dataclass, field
from typing import Any

import html2text
from django.utils.translation import gettext as _
from jinja2 import ChainableUndefined, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from audiences.models import Channel

FIELDS: dict[str, tuple[str, ...]] = {
    Channel.EMAIL: ("subject", "preheader", "html", "text"),
    Channel.SMS: ("text",),
    Channel.PUSH: ("title", "body", "url", "data"),
}
# Multiplying a string or list by a huge number is the cheapest way to exhaust
# a worker's memory from a template; refuse results larger than this.
MAX_REPEAT = 10_000
# A template runs once per profile: loops over data and the output of one field
# are bounded so a template cannot keep a worker busy (or its memory full).
MAX_ITERATIONS = 100_000
MAX_OUTPUT = 2_000_000
_BUDGET: contextvars.ContextVar[list[int]] = contextvars.ContextVar("render_budget")


def _spend() -> None:
    budget = _BUDGET.get(None)
    if budget is not None:
        budget[0] -= 1
        if budget[0] < 0:
            raise SecurityError(_("Too many loop iterations."))


class RenderError(ValueError):
    """A template failed at render time (refused access, bad operation)."""


class _Environment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset(["*", "**"])

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int) and abs(right) > 100:
            raise SecurityError(_("Exponent too large."))
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(n, int) and n > MAX_REPEAT:
                    raise SecurityError(_("Repetition too large."))
        return super().call_binop(context, operator, left, right)


def _make_env(autoescape: bool) -> _Environment:
    env = _Environment(
        autoescape=autoescape,
        undefined=ChainableUndefined,
        keep_trailing_newline=True,
        auto_reload=False,
        cache_size=0,
    )
    # Nothing but our own variables and the sandbox's bounded range(): no
    # cycler/joiner/namespace/lipsum/dict, whose __init__ leads to Python globals.
    safe_range = env.globals["range"]
    env.globals.clear()
    env.globals["range"] = lambda *args: _Seq(safe_range(*args))
    return env


HTML_ENV = _make_env(autoescape=True)
TEXT_ENV = _make_env(autoescape=False)


class Namespace:
    """Read-only attribute access to a JSON object (profile attributes, context).

    A plain dict would expose its methods: ``{{ context.items }}`` would be the
    bound method instead of the key "items".
    """

    __slots__ = ("_data",)

    def __init__(self, data: dict) -> None:
        self._data = data

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return _wrap(self._data[name])
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, key: str) -> Any:
        return _wrap(self._data[key])

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self):
        for key in self._data:
            _spend()
            yield key

    def __len__(self) -> int:
        return len(self._data)

    def __bool__(self) -> bool:
        return bool(self._data)

    def __str__(self) -> str:
        return ""


class _Seq(list):
    """A list whose iteration spends the render's loop budget."""

    def __iter__(self):
        for item in super().__iter__():
            _spend()
            yield item


def _wrap(value: Any) -> Any:
    if isinstance(value, dict):
        return Namespace(value)
    if isinstance(value, list):
        return _Seq(_wrap(v) for v in value)
    return value


def profile_namespace(profile) -> Namespace:
    """What ``{{ profile.* }}`` sees: the attributes plus the identities."""
    if profile is None:
        return Namespace({})
    data = dict(profile.attributes or {})
    data.update(
        email=profile.email or "",
        phone=profile.phone or "",
        timezone=profile.timezone or "",
        profileId=profile.profile_id or "",
    )
    return Namespace(data)


@dataclass
class RenderedMessage:
    subject: str = ""
    preheader: str = ""
    html: str = ""
    text: str = ""
    title: str = ""
    body: str = ""
    url: str = ""
    data: dict | None = None
    # Set for marketing email rendered for a delivery (the List-Unsubscribe header).
    unsubscribe_url: str = ""
    extra: dict = field(default_factory=dict)


def _unsafe_attributes(tree: nodes.Template) -> list[tuple[int, str]]:
    found = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        name = node.attr if isinstance(node, nodes.Getattr) else None
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            name = node.arg.value if isinstance(node.arg.value, str) else None
        if name and name.startswith("_"):
            found.append((node.lineno, _("access to '%(name)s' is not allowed") % {"name": name}))
    macros = {m.name for m in tree.find_all(nodes.Macro)} | {"range", "caller"}
    for call in tree.find_all(nodes.Call):
        if isinstance(call.node, nodes.Name) and call.node.name not in macros:
            found.append(
                (call.lineno, _("'%(name)s' is not a known function") % {"name": call.node.name})
            )
    return sorted(found)


def _field_sources(channel: str, content: dict) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The template text of every field (push data values as ``data.<key>``)."""
    sources: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for name in FIELDS.get(channel, ()):
        value = content.get(name)
        if value is None or value == "":
            continue
        if name == "data":
            if not isinstance(value, dict):
                errors[name] = [_("Custom data must be an object of text values.")]
                continue
            for key, item in value.items():
                if not isinstance(item, str | int | float | bool):
                    errors.setdefault(name, []).append(
                        _("%(key)s: values must be text, numbers or booleans.") % {"key": key}
                    )
                elif isinstance(item, str):
                    sources[f"data.{key}"] = item
            continue
        if not isinstance(value, str):
            errors[name] = [_("Must be text.")]
            continue
        sources[name] = value
    return sources, errors


def validate_content(channel: str, content: dict) -> dict[str, list[str]]:
    """``{field: [messages]}`` for template errors (with their line); ``{}`` when fine."""
    if not isinstance(content, dict):
        return {"content": [_("Content must be an object.")]}
    sources, errors = _field_sources(channel, content)
    for name, source in sources.items():
        env = HTML_ENV if (channel == Channel.EMAIL and name == "html") else TEXT_ENV
        key = name.split(".")[0]
        try:
            tree = env.parse(source)
        except TemplateSyntaxError as exc:
            errors.setdefault(key, []).append(
                _("line %(line)s: %(message)s") % {"line": exc.lineno, "message": exc.message}
            )
            continue
        for line, message in _unsafe_attributes(tree):
            errors.setdefault(key, []).append(
                _("line %(line)s: %(message)s") % {"line": line, "message": message}
            )
    return errors


# --- tracking rewrites --------------------------------------------------------

_HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
_BODY_START = re.compile(r"<body\b[^>]*>", re.IGNORECASE)


def _rewrite_links(html_text: str, delivery_id: int, skip: set[str]) -> str:
    from channels.tracking import click_url

    def replace(match: re.Match) -> str:
        url = html.unescape(match.group(3)).strip()
        if not url.lower().startswith(("http://", "https://")) or url in skip:
            return match.group(0)
        quote = match.group(2)
        return f"{match.group(1)}{quote}{html.escape(click_url(delivery_id, url))}{quote}"

    return _HREF.sub(replace, html_text)


def _add_pixel(html_text: str, delivery_id: int) -> str:
    from channels.tracking import open_url

    pixel = (
        f'<img src="{html.escape(open_url(delivery_id))}" width="1" height="1" alt="" '
        'style="display:block;width:1px;height:1px;border:0">'
    )
    ends = list(_BODY_END.finditer(html_text))
    if not ends:
        return html_text + pixel
    at = ends[-1].start()
    return html_text[:at] + pixel + html_text[at:]


def _add_preheader(html_text: str, preheader: str) -> str:
    if not preheader:
        return html_text
    hidden = (
        '<div style="display:none;max-height:0;overflow:hidden;mso-hide:all">'
        f"{html.escape(preheader)}</div>"
    )
    match = _BODY_START.search(html_text)
    if match is None:
        return hidden + html_text
    return html_text[: match.end()] + hidden + html_text[match.end() :]


def html_to_text(html_text: str) -> str:
    converter = html2text.HTML2Text(bodywidth=0)
    converter.ignore_images = True
    converter.ignore_emphasis = True
    return converter.handle(html_text).strip() + "\n"


_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)


def text_template_from_html(source: str):
    """A plain-text template derived from an HTML template, or None.

    Converting HTML to text costs more than rendering; doing it once on the
    template (with the Jinja tags set aside) instead of once per profile keeps
    sends fast. When a tag would be lost (inside <style>, an attribute
    html2text drops…) we return None and convert per message instead.
    """
    tags: list[str] = []

    def park(match: re.Match) -> str:
        tags.append(match.group(0))
        return f"JINJAPH{len(tags) - 1:05d}Z"

    converted = html_to_text(_JINJA.sub(park, source))
    found = re.findall(r"JINJAPH(\d{5})Z", converted)
    if [int(n) for n in found] != list(range(len(tags))):
        return None
    text = re.sub(r"JINJAPH(\d{5})Z", lambda m: tags[int(m.group(1))], converted)
    try:
        return TEXT_ENV.from_string(text)
    except TemplateError:
        return None


def _bounded(template, variables: dict) -> str:
    """Render with a loop budget and an output cap (streamed, so a huge output
    is refused before it is ever assembled)."""
    token = _BUDGET.set([MAX_ITERATIONS])
    try:
        chunks: list[str] = []
        size = 0
        for chunk in template.generate(variables):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise SecurityError(_("The message is too large."))
            chunks.append(chunk)
        return "".join(chunks)
    finally:
        _BUDGET.reset(token)


# --- compiled content ---------------------------------------------------------


class CompiledContent:
    """A campaign's content compiled once; ``render`` is called per profile."""

    def __init__(
        self,
        channel: str,
        content: dict,
        *,
        category: str,
        track_opens: bool = False,
        track_clicks: bool = False,
    ) -> None:
        errors = validate_content(channel, content)
        if errors:
            raise RenderError(
                "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in errors.items())
            )
        self.channel = channel
        self.category = category
        self.track_opens = track_opens
        self.track_clicks = track_clicks
        sources, _errors = _field_sources(channel, content)
        self.templates = {
            name: (
                HTML_ENV if (channel == Channel.EMAIL and name == "html") else TEXT_ENV
            ).from_string(source)
            for name, source in sources.items()
        }
        if channel == Channel.EMAIL and "html" in self.templates and "text" not in self.templates:
            self.text_from_html = text_template_from_html(sources["html"])
        else:
            self.text_from_html = None
        # Non-text custom data values (numbers, booleans) pass through unchanged.
        self.static_data = (
            {k: v for k, v in (content.get("data") or {}).items() if not isinstance(v, str)}
            if channel == Channel.PUSH and isinstance(content.get("data"), dict)
            else {}
        )

    def _render_field(self, name: str, variables: dict) -> str:
        template = self.templates.get(name)
        if template is None:
            return ""
        return self._render_template(name, template, variables)

    @staticmethod
    def _render_template(name: str, template, variables: dict) -> str:
        try:
            return _bounded(template, variables)
        except SecurityError as exc:
            raise RenderError(_("%(field)s: %(error)s") % {"field": name, "error": exc}) from exc
        except (TemplateError, ArithmeticError, TypeError, ValueError) as exc:
            raise RenderError(_("%(field)s: %(error)s") % {"field": name, "error": exc}) from exc

    def render(
        self, *, profile, context: dict | None = None, delivery_id: int | None = None
    ) -> RenderedMessage:
        """Render for one profile. Raises ``RenderError`` for a template failure."""
        from channels import tracking

        marketing_email = self.channel == Channel.EMAIL and self.category == "marketing"
        unsubscribe = ""
        if marketing_email:
            unsubscribe = (
                tracking.unsubscribe_url(delivery_id)
                if delivery_id is not None
                else tracking.preview_unsubscribe_url()
            )
        variables = {
            "profile": profile_namespace(profile),
            "context": Namespace(context if isinstance(context, dict) else {}),
            "unsubscribe_url": unsubscribe,
        }
        if self.channel == Channel.EMAIL:
            return self._render_email(variables, delivery_id, unsubscribe, marketing_email)
        if self.channel == Channel.SMS:
            return RenderedMessage(text=self._render_field("text", variables))
        return self._render_push(variables, delivery_id)

    def _render_email(self, variables, delivery_id, unsubscribe, marketing) -> RenderedMessage:
        # A subject is one header line: a profile attribute with a newline must not
        # break it (Django would refuse the whole message).
        subject = " ".join(self._render_field("subject", variables).split())
        preheader = " ".join(self._render_field("preheader", variables).split())
        body = self._render_field("html", variables)
        text = self._render_field("text", variables)
        if not text.strip() and body:
            if self.text_from_html is not None:
                text = self._render_template("text", self.text_from_html, variables)
            else:
                text = html_to_text(body)
        if body and delivery_id is not None:
            if self.track_clicks:
                body = _rewrite_links(body, delivery_id, skip={unsubscribe})
            if self.track_opens:
                body = _add_pixel(body, delivery_id)
        body = _add_preheader(body, preheader)
        return RenderedMessage(
            subject=subject,
            preheader=preheader,
            html=body,
            text=text,
            unsubscribe_url=unsubscribe if (marketing and delivery_id is not None) else "",
        )

    def _render_push(self, variables, delivery_id) -> RenderedMessage:
        from channels import tracking

        url = self._render_field("url", variables).strip()
        if url and delivery_id is not None and self.track_clicks:
            if url.lower().startswith(("http://", "https://")):
                url = tracking.click_url(delivery_id, url)
        data = dict(self.static_data)
        for name in self.templates:
            if name.startswith("data."):
                data[name[5:]] = self._render_field(name, variables)
        return RenderedMessage(
            title=self._render_field("title", variables),
            body=self._render_field("body", variables),
            url=url,
            data=data,
        )


def compile_content(
    channel: str,
    content: dict,
    *,
    category: str,
    track_opens: bool = False,
    track_clicks: bool = False,
) -> CompiledContent:
    """Compile once per run; raises ``RenderError`` (a ValueError) on template errors."""
    return CompiledContent(
        channel, content, category=category, track_opens=track_opens, track_clicks=track_clicks
    )
