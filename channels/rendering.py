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
import hashlib
import html
import json
import re
import string
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import html2text
from django.conf import settings
from django.utils.translation import gettext as _
from jinja2 import ChainableUndefined, TemplateSyntaxError, Undefined, nodes, pass_context
from jinja2.compiler import CodeGenerator
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.runtime import LoopContext, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import _PassArg

from audiences.locales import localized_content, pick_locale, translations_of
from audiences.models import Channel
from channels.inline_css import inline_css

FIELDS: dict[str, tuple[str, ...]] = {
    Channel.EMAIL: ("subject", "preheader", "html", "text"),
    Channel.SMS: ("text",),
    Channel.PUSH: ("title", "body", "url", "data"),
}
# A template runs once per profile, in previews, proofs, the review page and the
# sender: everything it can do is bounded so that no template keeps a worker busy
# (or its memory full). The budget is per rendered field.
MAX_ITERATIONS = 100_000  # loop iterations, strings included, and items filters walk
MAX_CALLS = 100_000  # macro, method and filter calls
MAX_DEPTH = 40  # nested calls (macro recursion)
MAX_OUTPUT = 2_000_000  # characters of one field, and of any value built on the way
MAX_PRODUCED = 20_000_000  # characters output in all (macro bodies included)
MAX_BUILT = 20_000_000  # about the characters of every value calls, filters and operators build
MAX_WIDTH = 10_000  # widths and precisions (center, indent, wordwrap, format specs)
MAX_INT_BITS = 16_384
MAX_SECONDS = 5.0
# Compiling is not rendering: Jinja takes about 30 µs a token (a name, an
# operator, a literal, a tag's delimiters) to parse and compile, outside any
# budget, and content is compiled each time a page shows it. 10,000 tokens a
# field (a message's plain text and markup between tags are one token each).
MAX_TOKENS = 10_000
# Each push custom data value is a template of its own, compiled on its own;
# the providers take 4 KB of data in all (FCM, APNs).
MAX_DATA_KEYS = 100


class RenderError(ValueError):
    """A template failed at render time (refused access, bad operation)."""


class RenderLimitError(SecurityError):
    """A template exceeded the render budget (refused at save time when detectable)."""


class _Budget:
    __slots__ = ("built", "calls", "deadline", "depth", "iterations", "produced")

    def __init__(self) -> None:
        self.iterations = MAX_ITERATIONS
        self.calls = MAX_CALLS
        self.depth = 0
        self.produced = MAX_PRODUCED
        self.built = MAX_BUILT
        self.deadline = time.monotonic() + MAX_SECONDS
        message_deadline = _MESSAGE_DEADLINE.get(None)
        if message_deadline is not None:
            self.deadline = min(self.deadline, message_deadline)


_BUDGET: contextvars.ContextVar[_Budget] = contextvars.ContextVar("render_budget")
# The wall time is one budget for a whole message (all its fields, push data
# included) and for a whole save-time check, not MAX_SECONDS per field.
_MESSAGE_DEADLINE: contextvars.ContextVar[float] = contextvars.ContextVar("render_deadline")


class _message_deadline:  # noqa: N801 - used as a context manager
    def __enter__(self) -> None:
        outer = _MESSAGE_DEADLINE.get(None)
        deadline = time.monotonic() + MAX_SECONDS
        self.token = _MESSAGE_DEADLINE.set(deadline if outer is None else min(outer, deadline))

    def __exit__(self, *exc_info: Any) -> None:
        _MESSAGE_DEADLINE.reset(self.token)


# One wall-time budget for a whole piece of work that renders or checks many
# messages at once: a content's default and its (up to 50) translations, when
# saved, compiled or previewed. Each used to get its own MAX_SECONDS, so one
# request could keep a web worker busy 51 times as long (issue 10, third review).
render_deadline = _message_deadline


def _check_clock(budget: _Budget) -> None:
    if time.monotonic() > budget.deadline:
        raise RenderLimitError(_("The template took too long to render."))


def _spend() -> None:
    budget = _BUDGET.get(None)
    if budget is not None:
        budget.iterations -= 1
        if budget.iterations < 0:
            raise RenderLimitError(_("Too many loop iterations."))
        if not budget.iterations & 1023:
            _check_clock(budget)


def _spend_call() -> None:
    budget = _BUDGET.get(None)
    if budget is not None:
        budget.calls -= 1
        if budget.calls < 0:
            raise RenderLimitError(_("Too many calls (macros, methods or filters)."))
        _check_clock(budget)


def _tick(value: Any = None) -> Any:
    """The clock, for what spends no unit: comparisons and tests (``p in t``
    over two 2 MB strings is milliseconds, and a template can hold thousands)."""
    budget = _BUDGET.get(None)
    if budget is not None:
        _check_clock(budget)
    return value


def _too_large() -> RenderLimitError:
    return RenderLimitError(_("The message is too large."))


def _size(value: Any, limit: int = MAX_OUTPUT) -> int:
    """About how many characters ``str(value)`` has; stops counting past ``limit``."""
    total, stack = 0, [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item) + 2
        elif isinstance(item, list | tuple | set | frozenset):
            total += 2 + 2 * len(item)
            if total <= limit:  # a _Seq measured is not a loop: list's own iterator
                stack.extend(list.__iter__(item) if isinstance(item, list) else item)
        elif isinstance(item, dict):
            total += 2 + 4 * len(item)
            if total <= limit:
                stack.extend(item.keys())
                stack.extend(item.values())
        elif isinstance(item, Namespace):
            total += 2
        else:
            total += 32
    return total


def _built(result: Any, *inputs: Any) -> Any:
    """Count what a call, filter or operator built against the render's
    budget: each value is bounded (MAX_OUTPUT), but ``{% set a1 = range(100000) %}``
    and ``{% set a2 = "x" * 1999999 %}`` repeated kept every one of them alive
    (300 of either held 0.6 to 1.2 GB, in about a second). A value handed back
    as it came (``default``, ``strip`` with nothing to strip) is not new."""
    budget = _BUDGET.get(None)
    if budget is None or not isinstance(result, str | list | tuple | set | frozenset | dict):
        return result
    for value in inputs:
        if result is value:
            return result
    if isinstance(result, str):
        budget.built -= len(result)
    else:
        budget.built -= _size(result, max(budget.built, 0))
    if budget.built < 0:
        raise _too_large()
    return result


def _check_size(*values: Any) -> None:
    total = 0
    for value in values:
        total += len(value) if isinstance(value, str) else _size(value, MAX_OUTPUT - total)
        if total > MAX_OUTPUT:
            raise _too_large()


def _check_width(width: Any) -> None:
    if isinstance(width, int) and abs(width) > MAX_WIDTH:
        raise RenderLimitError(
            _("A width of more than %(max)d characters is not allowed.") % {"max": MAX_WIDTH}
        )
    if isinstance(width, str) and len(width) > MAX_WIDTH:
        raise _too_large()


# printf-style conversions (``"%10s" % x``, ``|format``): widths are bounded, ``*`` refused.
# What follows a conversion's ``%`` and its ``(key)``: flags, width, precision, type.
_PERCENT_REST = re.compile(r"[#0\- +]*(\*|\d+)?(?:\.(\*|\d*))?[hlL]?", re.DOTALL)
_PAREN = re.compile(r"[()]")


def _percent_numbers(fmt: str) -> Iterator[tuple[str | None, str | None]]:
    """(width, precision) as written in each conversion of ``fmt``, read as
    Python's ``%`` reads them, in linear time. A regular expression with an
    optional ``\\([^)]*\\)`` key searched to the end of the format from every
    ``%(`` that no ``)`` followed: ``"%(" * 100000`` (built by the template
    itself) took 5.6 s in one call the render deadline cannot interrupt, a
    million ten minutes. A key that is never closed ends the scan: Python
    refuses the format there, before anything after it is used."""
    position = 0
    while (start := fmt.find("%", position)) != -1:
        position = start + 1
        if fmt.startswith("(", position):
            depth, position = 1, position + 1
            while depth:  # Python counts nested parentheses in a key
                paren = _PAREN.search(fmt, position)
                if paren is None:
                    return
                depth += 1 if paren.group() == "(" else -1
                position = paren.end()
        match = _PERCENT_REST.match(fmt, position)
        yield match.group(1, 2)
        position = match.end() + 1  # the conversion's type (or "%")


# str.format specs: [[fill]align][sign][z][#][0][width][grouping][.precision][type]
_SPEC = re.compile(r"^(?:.?[<>=^])?[+\- ]?z?#?0?(\d*)[,_]?(?:\.(\d+))?")


def _check_repeated(fmt: str, fields: int, args: tuple) -> None:
    """A format string repeats its arguments: ``"{0}" * 600000`` with one long
    argument would build a string far past the limit before it is checked."""
    biggest = max((_size(arg) for arg in args), default=0)
    if len(fmt) + fields * biggest > MAX_OUTPUT:
        raise _too_large()


def _check_percent(fmt: Any, args: Any = ()) -> None:
    if not isinstance(fmt, str):
        return
    if args != ():
        values = args.values() if isinstance(args, dict) else args
        values = tuple(values) if isinstance(values, list | tuple | type({}.values())) else (args,)
        _check_repeated(fmt, fmt.count("%"), values)
    for numbers in _percent_numbers(fmt):
        for number in numbers:
            if number == "*":
                raise RenderLimitError(_("'*' widths are not allowed in format strings."))
            if number and len(number) > 6:
                raise RenderLimitError(
                    _("A width of more than %(max)d characters is not allowed.")
                    % {"max": MAX_WIDTH}
                )
            if number:
                _check_width(int(number))


def _check_spec(spec: str) -> None:
    match = _SPEC.match(spec or "")
    for number in match.group(1, 2) if match else ():
        if number:
            _check_width(int(number) if len(number) <= 6 else MAX_WIDTH + 1)


def _estimate_replace(text: str, old: Any, new: Any) -> None:
    if isinstance(old, str) and isinstance(new, str):
        count = len(text) + 1 if old == "" else text.count(old)
        if len(text) + count * max(0, len(new) - len(old)) > MAX_OUTPUT:
            raise _too_large()


def _check_str_method(method: Any, args: tuple, kwargs: dict) -> None:
    """Bound what the str methods that grow a string can allocate."""
    owner = getattr(method, "__self__", None)
    if not isinstance(owner, str):
        return
    name = getattr(method, "__name__", "")
    if name == "translate" and args:
        table = args[0]
        values = table.values() if isinstance(table, dict) else table
        if not isinstance(values, list | tuple | type({}.values())):
            raise RenderLimitError(_("A translation table must be a mapping or a list."))
        longest = max((len(v) for v in values if isinstance(v, str)), default=1)
        if len(owner) * longest > MAX_OUTPUT:
            raise _too_large()
    if name in ("center", "ljust", "rjust", "zfill"):
        _check_width(args[0] if args else kwargs.get("width"))
    elif name == "expandtabs":
        tabsize = args[0] if args else kwargs.get("tabsize", 8)
        if isinstance(tabsize, int) and len(owner) * max(tabsize, 1) > MAX_OUTPUT:
            _check_width(tabsize)
    elif name == "replace" and len(args) >= 2:
        _estimate_replace(owner, args[0], args[1])
    elif name == "join" and args:
        items = args[0]
        if isinstance(items, str | list | tuple):
            if len(owner) * len(items) > MAX_OUTPUT:
                raise _too_large()
            _check_size(items)


_ADDRESS = re.compile(r" (?:object )?at 0x[0-9a-fA-F]+")


class _Method:
    """A method or other callable reached through an attribute: callable as
    before, but printed without its memory address."""

    __slots__ = ("func",)

    def __init__(self, func: Any) -> None:
        self.func = func

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)

    def __repr__(self) -> str:
        name = getattr(self.func, "__name__", "")
        return f"<method {name}>" if isinstance(name, str) and name else "<method>"

    __str__ = __repr__


def _safe_result(value: Any) -> Any:
    """What a filter or attribute hands back to the template: generators are
    walked (spending the loop budget), callables lose their memory address."""
    if isinstance(value, str | int | float | bool | list | tuple | dict | Namespace | _Method):
        return value
    if value is None or isinstance(value, Undefined | Macro | LoopContext):
        return value
    if isinstance(value, Iterator):
        items = _Seq()
        for item in value:
            _spend()
            items.append(item)
        return items
    if callable(value):
        return _Method(value)
    return value


# Filters that walk their input item by item (or word by word) in Python, in one
# call: each item is a loop iteration of the budget, spent before the call.
_WALKING_FILTERS = frozenset(
    {"sort", "unique", "min", "max", "groupby", "dictsort", "wordwrap", "urlize", "sum"}
)


def _spend_items(value: Any) -> None:
    budget = _BUDGET.get(None)
    if budget is not None and isinstance(value, str | list | tuple | dict):
        budget.iterations -= len(value)
        if budget.iterations < 0:
            raise RenderLimitError(_("Too many loop iterations."))


def _guard_filter(name: str, func: Any) -> Any:
    pass_arg = _PassArg.from_obj(func)

    @pass_context
    def guarded(context, value, *args, **kwargs):
        _spend_call()
        _check_size(value, *args, *kwargs.values())
        if name in _WALKING_FILTERS:
            _spend_items(value)
        if name == "center":
            _check_width(args[0] if args else kwargs.get("width", 80))
        elif name == "indent":
            width = args[0] if args else kwargs.get("width", 4)
            _check_width(width)
            if isinstance(value, str) and isinstance(width, str | int):
                step = len(width) if isinstance(width, str) else width
                if len(value) + (value.count("\n") + 1) * step > MAX_OUTPUT:
                    raise _too_large()
        elif name == "wordwrap":
            _check_width(args[0] if args else kwargs.get("width", 79))
            wrap = args[2] if len(args) > 2 else kwargs.get("wrapstring")
            if isinstance(value, str) and isinstance(wrap, str):
                if len(value) * (len(wrap) + 1) > MAX_OUTPUT:
                    raise _too_large()
        elif name == "format":
            _check_percent(value, args or kwargs)
        elif name == "replace" and isinstance(value, str) and len(args) >= 2:
            _estimate_replace(value, args[0], args[1])
        elif name in ("slice", "batch"):
            count = args[0] if args else kwargs.get("slices", kwargs.get("linecount"))
            if isinstance(count, int) and count > MAX_ITERATIONS:
                raise RenderLimitError(_("Too many loop iterations."))
        elif name == "join":
            value = _safe_result(iter(value)) if not isinstance(value, str | list) else value
            separator = args[0] if args else kwargs.get("d", "")
            if isinstance(separator, str) and len(separator) * len(value) > MAX_OUTPUT:
                raise _too_large()
        if pass_arg is _PassArg.context:
            result = func(context, value, *args, **kwargs)
        elif pass_arg is _PassArg.eval_context:
            result = func(context.eval_ctx, value, *args, **kwargs)
        elif pass_arg is _PassArg.environment:
            result = func(context.environment, value, *args, **kwargs)
        else:
            result = func(value, *args, **kwargs)
        return _built(_safe_result(result), value, *args, *kwargs.values())

    return guarded


def _spending(iterable: Any):
    for item in iterable:
        _spend()
        yield item


def _guard_test(func: Any) -> Any:
    pass_arg = _PassArg.from_obj(func)

    @pass_context
    def guarded(context, value, *args, **kwargs):
        _tick()
        if pass_arg is _PassArg.context:
            return func(context, value, *args, **kwargs)
        if pass_arg is _PassArg.eval_context:
            return func(context.eval_ctx, value, *args, **kwargs)
        if pass_arg is _PassArg.environment:
            return func(context.environment, value, *args, **kwargs)
        return func(value, *args, **kwargs)

    return guarded


@pass_context  # never folded into a constant at compile time
def _budget_iter(context, iterable: Any):
    """What every ``for`` loop iterates through (see ``_Environment._generate``)."""
    return _spending(iterable)


class _CodeGenerator(CodeGenerator):
    def visit_Compare(self, node, frame) -> None:  # noqa: N802
        self.write("environment.budget_tick(")
        super().visit_Compare(node, frame)
        self.write(")")

    def visit_Getitem(self, node, frame) -> None:  # noqa: N802
        # Jinja writes a slice as Python's (not through ``getitem``).
        if not isinstance(node.arg, nodes.Slice):
            return super().visit_Getitem(node, frame)
        self.write("environment.budget_built(")
        super().visit_Getitem(node, frame)
        self.write(")")
        return None

    def visit_Concat(self, node, frame) -> None:  # noqa: N802
        # As Jinja's own, with the parts checked before they are joined.
        if frame.eval_ctx.volatile:
            func_name = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            func_name = "markup_join"
        else:
            func_name = "str_join"
        self.write(f"environment.budget_concat({func_name}, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


_ITER_FILTER = "budget_iter"


# Ways to bytes, whose methods (center, zfill, *, %, replace…) the size checks
# do not see: templates have no use for bytes, so none can be made.
_BYTES_METHODS = frozenset({"encode", "to_bytes", "from_bytes", "fromhex"})


class _Environment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset(["*", "**", "+", "%"])
    code_generator_class = _CodeGenerator

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if attr in _BYTES_METHODS or isinstance(obj, bytes | bytearray | memoryview):
            return False
        return super().is_safe_attribute(obj, attr, value)

    def _generate(self, source, name, filename, defer_init=False):
        for loop in source.find_all(nodes.For):
            if not (isinstance(loop.iter, nodes.Filter) and loop.iter.name == _ITER_FILTER):
                loop.iter = nodes.Filter(
                    loop.iter, _ITER_FILTER, [], [], None, None, lineno=loop.iter.lineno
                )
        return super()._generate(source, name, filename, defer_init=defer_init)

    budget_tick = staticmethod(_tick)

    @staticmethod
    def budget_built(value: Any) -> Any:
        _tick()
        return _built(value)

    @staticmethod
    def budget_concat(join, parts: tuple) -> str:
        _spend_call()
        _check_size(*parts)
        return _built(join(parts))

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        _spend_call()
        if operator == "**" and isinstance(right, int):
            if abs(right) > 100 or (
                isinstance(left, int) and left.bit_length() * abs(right) > MAX_INT_BITS
            ):
                raise RenderLimitError(_("Exponent too large."))
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(n, int):
                    limit = MAX_OUTPUT if isinstance(seq, str) else MAX_ITERATIONS
                    if n > limit or len(seq) * n > limit:
                        raise RenderLimitError(_("Repetition too large."))
                    if not isinstance(seq, str) and _size(seq) * n > MAX_OUTPUT:
                        raise _too_large()
            if isinstance(left, int) and isinstance(right, int):
                if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                    raise RenderLimitError(_("Number too large."))
        if operator == "+" and isinstance(left, str | list | tuple):
            _check_size(left, right)
        if operator == "%":
            _check_percent(left, right)
            _check_size(left, right)
        return _built(super().call_binop(context, operator, left, right), left, right)

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 - Jinja's signature
        _spend_call()
        budget = _BUDGET.get(None)
        if isinstance(__obj, _Method):
            __obj = __obj.func
        if isinstance(__obj, LoopContext) and args:
            # A recursive loop's ``loop(items)`` iterates ``items`` outside the
            # ``for`` tag that ``_generate`` wraps: each item spends the budget too.
            args = (_spending(args[0]), *args[1:])
        _check_str_method(__obj, args, kwargs)
        if budget is not None:
            budget.depth += 1
            if budget.depth > MAX_DEPTH:
                budget.depth -= 1
                raise RenderLimitError(
                    _("Calls nested more than %(max)d deep (recursive macro?).")
                    % {"max": MAX_DEPTH}
                )
        try:
            result = super().call(__context, __obj, *args, **kwargs)
        finally:
            if budget is not None:
                budget.depth -= 1
        if isinstance(result, str):
            _check_size(result)
        return _built(_safe_result(result), getattr(__obj, "__self__", None), *args)

    def getattr(self, obj: Any, attribute: str) -> Any:
        # ``{{ profile.firstName }}``, the everyday lookup, answered as the
        # sandbox would answer it without its detour through Python's
        # attribute machinery (a tenth of a trigger's sending CPU): a
        # Namespace's only attributes are underscored, which keep the sandbox's
        # own path, like the names it refuses whatever the object.
        if (
            type(obj) is Namespace
            and type(attribute) is str
            and not attribute.startswith("_")
            and attribute not in _BYTES_METHODS
        ):
            data = obj._data
            if attribute in data:
                return _safe_result(_wrap(data[attribute]))
            return self.undefined(obj=obj, name=attribute)
        return _safe_result(super().getattr(obj, attribute))

    def getitem(self, obj: Any, argument: Any) -> Any:
        _tick()  # a slice copies up to MAX_OUTPUT items, and spends no unit
        return _safe_result(super().getitem(obj, argument))

    def wrap_str_format(self, value: Any):
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        # Widths and precisions are bounded; nested specs ("{:{w}}") are refused.
        for _text, _name, spec, _conv in _FORMATTER.parse(value.__self__):
            if spec and "{" in spec:
                raise RenderLimitError(_("Nested format specifications are not allowed."))
            _check_spec(spec or "")

        fields = sum(1 for _t, name, _s, _c in _FORMATTER.parse(value.__self__) if name is not None)

        def checked(*args: Any, **kwargs: Any) -> str:
            _check_size(value.__self__, *args, *kwargs.values())
            _check_repeated(value.__self__, fields, (*args, *kwargs.values()))
            return wrapper(*args, **kwargs)

        return checked


_FORMATTER = string.Formatter()


def _finalize(value: Any) -> Any:
    """Every ``{{ … }}`` output: counted against the budget; never a memory address."""
    if not isinstance(value, str | int | float | bool | Undefined) and value is not None:
        _check_size(value)
        value = _ADDRESS.sub("", str(value))
    budget = _BUDGET.get(None)
    if budget is not None and isinstance(value, str):
        budget.produced -= len(value)
        if budget.produced < 0:
            raise _too_large()
    return value


class _Range:
    """The sandbox's bounded ``range()``, printed as ``range``."""

    def __init__(self, safe_range) -> None:
        self._range = safe_range

    def __call__(self, *args: Any) -> _Seq:
        return _Seq(self._range(*args))

    def __repr__(self) -> str:
        return "range"

    __str__ = __repr__


def _make_env(autoescape: bool) -> _Environment:
    env = _Environment(
        autoescape=autoescape,
        undefined=ChainableUndefined,
        keep_trailing_newline=True,
        auto_reload=False,
        cache_size=0,
        finalize=_finalize,
    )
    # Nothing but our own variables and the sandbox's bounded range(): no
    # cycler/joiner/namespace/lipsum/dict, whose __init__ leads to Python globals.
    safe_range = env.globals["range"]
    env.globals.clear()
    env.globals["range"] = _Range(safe_range)
    env.filters = {name: _guard_filter(name, func) for name, func in env.filters.items()}
    env.filters[_ITER_FILTER] = _budget_iter
    env.tests = {name: _guard_test(func) for name, func in env.tests.items()}
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

    def __repr__(self) -> str:
        return "<object>"


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
    # The translation rendered ("fr"), "" for the default content (SPEC §11).
    locale: str = ""
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
    # Content is one self-contained template: there is nothing to load, so
    # refuse loading tags here rather than let them fail at preview or send.
    loaders = (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)
    for node in tree.find_all(loaders):
        tag = _LOADING_TAGS[type(node)]
        found.append(
            (
                node.lineno,
                _("{%% %(tag)s %%} is not supported: a message cannot load other templates")
                % {"tag": tag},
            )
        )
    return sorted(found)


_LOADING_TAGS = {
    nodes.Include: "include",
    nodes.Import: "import",
    nodes.FromImport: "from … import",
    nodes.Extends: "extends",
}


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
            if len(value) > MAX_DATA_KEYS:
                errors[name] = [_("Custom data has at most %(max)d keys.") % {"max": MAX_DATA_KEYS}]
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
    """``{field: [messages]}`` for template errors (with their line); ``{}`` when fine.

    A content that passed is remembered (by its digest): the campaign page's
    review, its preview and the compilation each check the content they are
    given, and a stored version is the same content every time."""
    if not isinstance(content, dict):
        return {"content": [_("Content must be an object.")]}
    key = content_key(channel, content)
    if key is not None and key in _PASSED:
        # With GUNICORN_THREADS, another thread may drop the key in between.
        with suppress(KeyError):
            _PASSED.move_to_end(key)
        return {}
    sources, errors = _field_sources(channel, content)
    with _message_deadline():
        _validate_sources(channel, sources, errors)
    if not errors and key is not None:
        # Only what passed: a check that ran out of time may pass another time.
        _PASSED[key] = None
        with suppress(KeyError):  # another thread emptied it first
            while len(_PASSED) > PASSED_KEPT:
                _PASSED.popitem(last=False)
    return errors


_PASSED: OrderedDict[tuple, None] = OrderedDict()
PASSED_KEPT = 256


def content_key(channel: str, content: dict, *more: str) -> tuple | None:
    """What a content is, for remembering work done on it: the channel, ``more``
    and a digest of the content; None for what is not JSON (checked every time)."""
    return content_key_and_size(channel, content, *more)[0]


def content_key_and_size(channel: str, content: dict, *more: str) -> tuple[tuple | None, int]:
    """``content_key`` and the length of the content's JSON text (0 for no key)."""
    try:
        text = json.dumps(content, sort_keys=True, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        return None, 0
    return (channel, *more, hashlib.blake2b(text.encode(), digest_size=20).digest()), len(text)


def forget_checked() -> None:
    _PASSED.clear()


def _check_compile_clock(deadline: float | None, field_name: str) -> None:
    """``RenderError`` once ``deadline`` (if any) has passed, before a field compiles."""
    if deadline is not None and time.monotonic() > deadline:
        raise RenderError(
            _("%(field)s: %(error)s")
            % {"field": field_name, "error": _("The template took too long to render.")}
        )


def _too_many_tokens(env, source: str) -> bool:
    """Whether ``source`` has more than MAX_TOKENS tokens; reads no further."""
    count = 0
    for _line, kind, _value in env.lex(source):
        if kind != "whitespace":
            count += 1
            if count > MAX_TOKENS:
                return True
    return False


def _validate_sources(channel: str, sources: dict[str, str], errors: dict) -> None:
    deadline = _MESSAGE_DEADLINE.get()
    for name, source in sources.items():
        env = HTML_ENV if (channel == Channel.EMAIL and name == "html") else TEXT_ENV
        key = name.split(".")[0]
        if time.monotonic() > deadline:
            # Every field (and every language's) compiles within one deadline.
            errors.setdefault(key, []).append(_("The template took too long to render."))
            return
        try:
            if _too_many_tokens(env, source):
                errors.setdefault(key, []).append(
                    _("The template is too long: more than %(max)d names, operators and tags.")
                    % {"max": MAX_TOKENS}
                )
                continue
            tree = env.parse(source)
            unsafe = _unsafe_attributes(tree)
        except TemplateSyntaxError as exc:
            errors.setdefault(key, []).append(
                _("line %(line)s: %(message)s") % {"line": exc.lineno, "message": exc.message}
            )
            continue
        except (RecursionError, MemoryError):
            # Nesting past the parser's recursion limit (issue 10, third review).
            errors.setdefault(key, []).append(_("The template is nested too deeply."))
            continue
        for line, message in unsafe:
            errors.setdefault(key, []).append(
                _("line %(line)s: %(message)s") % {"line": line, "message": message}
            )
        failure = None if unsafe else _trial_render(env, source)
        if failure is not None:
            line, message = failure
            errors.setdefault(key, []).append(
                _("line %(line)s: %(message)s") % {"line": line or 1, "message": message}
            )


# --- tracking rewrites --------------------------------------------------------

# A tag's attributes never cross "<": with [^>] every unclosed "<a" or "<body"
# searched to the end of the HTML (quadratic: an hour for 1 MB, third review).
_HREF = re.compile(r"""(<a\b[^<>]*?\bhref\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
_BODY_START = re.compile(r"<body\b[^<>]*>", re.IGNORECASE)


# A link's scheme and host, when nothing but letters, digits, dots, dashes and a
# port stand between "://" and the first "/", "?", "#" or the end.
_ORIGIN = re.compile(r"^(https?)://([A-Za-z0-9.\-]+(?::\d{1,5})?)(?=[/?#]|$)", re.IGNORECASE)


def _origin(url: str) -> tuple[str, str] | None:
    match = _ORIGIN.match(url)
    return (match.group(1).lower(), match.group(2).lower()) if match else None


def authored_origins(source: str, *, html_source: bool = True) -> set[tuple[str, str]]:
    """The (scheme, host) of every link whose scheme and host are literal text
    in the template (issue 10 #12). Only links to these are tracked: a URL made
    by an expression (``{{ context.link }}``, profile data) could send a
    Volley-signed redirect anywhere."""
    if not html_source:
        found = _origin(source.strip())
        return {found} if found else set()
    origins = set()
    for match in _HREF.finditer(source):
        found = _origin(html.unescape(match.group(3)).strip())
        if found:
            origins.add(found)
    return origins


def _rewrite_links(
    html_text: str, delivery_id: int, skip: set[str], origins: set[tuple[str, str]]
) -> str:
    """Each tracked link signed. The rewrite is part of the message: it runs
    under the message's deadline (50,000 links take seconds to sign), read
    every ``_CLOCK_EVERY`` links, so no message costs more than MAX_SECONDS in
    all (review 16 #7)."""
    from channels.tracking import click_url

    deadline = _MESSAGE_DEADLINE.get(None)
    seen = 0

    def replace(match: re.Match) -> str:
        nonlocal seen
        seen += 1
        if deadline is not None and not seen % _CLOCK_EVERY and time.monotonic() > deadline:
            raise RenderError(
                _("%(field)s: %(error)s")
                % {"field": "html", "error": _("The template took too long to render.")}
            )
        url = html.unescape(match.group(3)).strip()
        if url in skip or _origin(url) not in origins:
            return match.group(0)
        quote = match.group(2)
        return f"{match.group(1)}{quote}{html.escape(click_url(delivery_id, url))}{quote}"

    return _HREF.sub(replace, html_text)


_CLOCK_EVERY = 64


def _pixel(delivery_id: int) -> str:
    from channels.tracking import open_url

    return (
        f'<img src="{html.escape(open_url(delivery_id))}" width="1" height="1" alt="" '
        'style="display:block;width:1px;height:1px;border:0">'
    )


def _trap(delivery_id: int) -> str:
    """The hidden trap link (docs/ENGAGEMENT.md): empty, not displayed, hidden
    from screen readers and out of the tab order, so no person can follow it;
    scanners that follow every href do. Not content: it is in no version's
    HTML, so never among the report's links or the review's."""
    from channels.tracking import trap_url

    return (
        f'<a href="{html.escape(trap_url(delivery_id))}" aria-hidden="true" tabindex="-1" '
        'style="display:none;font-size:0;line-height:0;max-height:0;overflow:hidden;'
        'mso-hide:all"></a>'
    )


def _add_before_body_end(html_text: str, tail: str) -> str:
    """``tail`` just before the last ``</body>`` (one pass over the HTML for
    the trap link and the pixel together), or at the end."""
    if not tail:
        return html_text
    ends = list(_BODY_END.finditer(html_text))
    if not ends:
        return html_text + tail
    at = ends[-1].start()
    return html_text[:at] + tail + html_text[at:]


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


# Past this size the plain text is made by dropping the tags (html2text takes
# about 7 s per MB: a 5 MB body held a web worker for half a minute per preview).
MAX_TEXT_CONVERSION = 512 * 1024
_ANY_TAG = re.compile(r"<[^<>]*>")
# html2text indents each list item by the depth of its lists and prefixes each
# line of a quotation with "> " per level: the text of nested lists and quotes
# grows with lines × depth. ``<ol><li>x`` repeated (128 KB) wrote about 300
# million characters in 62 s; ``<blockquote>x`` (260 KB) 400 million. Past
# this many characters of indentation in all (an upper bound,
# ``_indentation``) the tags are dropped instead.
MAX_INDENTATION = 200_000
_TAG_OR_NEWLINE = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)|\n")
_INDENTING = frozenset({"ul", "ol", "blockquote"})


def _indentation(html_text: str) -> int:
    """An upper bound on the indentation and quote marks html2text would write:
    for every start tag and newline (each may begin a line), three characters
    per list or quotation open around it (one opens at each start tag and
    closes only at an end tag of its name while one is open)."""
    open_by_name = dict.fromkeys(_INDENTING, 0)
    depth = total = 0
    for found in _TAG_OR_NEWLINE.finditer(html_text):
        name = (found.group(2) or "").lower()
        if found.group(1):
            if open_by_name.get(name):
                open_by_name[name] -= 1
                depth -= 1
            continue
        total += depth
        if name in _INDENTING:
            open_by_name[name] += 1
            depth += 1
    return 3 * total


def html_to_text(html_text: str) -> str:
    from channels.htmlscan import parser_safe

    if len(html_text) > MAX_TEXT_CONVERSION or _indentation(html_text) > MAX_INDENTATION:
        text = html.unescape(_ANY_TAG.sub(" ", html_text))
        return (
            "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip()) + "\n"
        )
    converter = html2text.HTML2Text(bodywidth=0)
    converter.ignore_images = True
    converter.ignore_emphasis = True
    # The standard library's parser is quadratic on unclosed markup (and raises
    # on "<!["): what it is given is made safe first (third review).
    return converter.handle(parser_safe(html_text)).strip() + "\n"


_JINJA_OPEN = re.compile(r"\{[{%#]")
_JINJA_CLOSE = {"{": "}}", "%": "%}", "#": "#}"}


def _jinja_tags(source: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each ``{{ … }}``, ``{% … %}`` and ``{# … #}`` in
    ``source``: each opener up to the first closer of its kind, as the regular
    expression this replaces found them (lazily, across lines), in linear
    time. The expression searched from every opener to the end of the source
    when no closer came: ``{% raw %}`` and 40,000 ``{{`` (a valid template of
    80 KB) took 15 s per compile. A closer not found after one opener is not
    found after a later one either."""
    position, missing = 0, set()
    while match := _JINJA_OPEN.search(source, position):
        kind = match.group(0)[1]
        end = -1 if kind in missing else source.find(_JINJA_CLOSE[kind], match.end())
        if end == -1:
            missing.add(kind)
            position = match.start() + 1
            continue
        yield match.start(), end + 2
        position = end + 2


def text_template_from_html(source: str):
    """A plain-text template derived from an HTML template, or None.

    Converting HTML to text costs more than rendering; doing it once on the
    template (with the Jinja tags set aside) instead of once per profile keeps
    sends fast. When a tag would be lost (inside <style>, an attribute
    html2text drops…) we return None and convert per message instead.
    """
    tags: list[str] = []

    def park(tag: str) -> str:
        tags.append(tag)
        return f"JINJAPH{len(tags) - 1:05d}Z"

    parts, last = [], 0
    for start, end in _jinja_tags(source):
        parts += [source[last:start], park(source[start:end])]
        last = end
    converted = html_to_text("".join([*parts, source[last:]]))
    found = re.findall(r"JINJAPH(\d{5})Z", converted)
    if [int(n) for n in found] != list(range(len(tags))):
        return None
    text = re.sub(r"JINJAPH(\d{5})Z", lambda m: tags[int(m.group(1))], converted)
    try:
        return TEXT_ENV.from_string(text)
    except (TemplateError, RecursionError, MemoryError, SyntaxError):
        return None


def _bounded(template, variables: dict) -> str:
    """Render within the budget (loops, calls, depth, size, time) and an output
    cap (streamed, so a huge output is refused before it is ever assembled)."""
    token = _BUDGET.set(_Budget())
    try:
        chunks: list[str] = []
        size = 0
        for chunk in template.generate(variables):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise _too_large()
            chunks.append(chunk)
        return "".join(chunks)
    except (RecursionError, MemoryError) as exc:
        raise RenderLimitError(_("The template is too complex to render.")) from exc
    finally:
        _BUDGET.reset(token)


def _template_line(exc: BaseException) -> int | None:
    """The template line an error was raised on (Jinja rewrites the traceback)."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _trial_render(env, source: str) -> tuple[int | None, str] | None:
    """Render once with an empty profile and context: a template that exceeds
    the budget (or cannot compile) even then is refused when it is saved."""
    try:
        template = env.from_string(source)
    except TemplateSyntaxError as exc:
        return exc.lineno, exc.message or str(exc)
    except (RecursionError, MemoryError, SyntaxError):
        # SyntaxError: Python's own limits on the code Jinja generates (200
        # nested parentheses, 20 nested blocks), past what the parser checks.
        return None, _("The template is nested too deeply.")
    variables = {"profile": Namespace({}), "context": Namespace({}), "unsubscribe_url": ""}
    try:
        _bounded(template, variables)
    except (SecurityError, OverflowError) as exc:
        return _template_line(exc), str(exc)
    except Exception:  # noqa: BLE001 - data-dependent failures are reported per send
        return None
    return None


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
        # Compiling spends the deadline it runs under (a content's languages
        # share one, ``render_deadline``): a check remembered as passed
        # (``validate_content``) no longer reads the clock, so without this a
        # content's 50 translations compiled one after another for a minute
        # (security review 20).
        deadline = _MESSAGE_DEADLINE.get(None)
        if channel == Channel.EMAIL and "html" in sources:
            # Gmail and Outlook ignore much of a <style> block (SPEC §11).
            _check_compile_clock(deadline, "html")
            sources["html"] = inline_css(sources["html"])
        self.templates = {}
        for name, source in sources.items():
            _check_compile_clock(deadline, name.split(".")[0])
            env = HTML_ENV if (channel == Channel.EMAIL and name == "html") else TEXT_ENV
            self.templates[name] = env.from_string(source)
        if channel == Channel.PUSH:
            self.link_origins = authored_origins(sources.get("url", ""), html_source=False)
        else:
            self.link_origins = authored_origins(sources.get("html", ""))
        if channel == Channel.EMAIL and "html" in self.templates and "text" not in self.templates:
            _check_compile_clock(deadline, "text")
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
        except Exception as exc:  # noqa: BLE001 - whatever a template raises is its failure
            # Not only TemplateError, ArithmeticError, TypeError and ValueError:
            # ``"{a}".format()`` raises KeyError, ``"{0}".format()`` IndexError,
            # ``"x"|truncate(-5)`` AssertionError, ``"x"|xmlattr`` AttributeError;
            # each was a 500 on every page showing the campaign (review 16).
            raise RenderError(_("%(field)s: %(error)s") % {"field": name, "error": exc}) from exc

    def render(
        self,
        *,
        profile,
        context: dict | None = None,
        delivery_id: int | None = None,
        locale: str | None = None,
    ) -> RenderedMessage:
        """Render for one profile. Raises ``RenderError`` for a template failure.
        (One language only: ``locale`` is chosen by ``LocalizedContent``.)"""
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
        with _message_deadline():
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
            tail = ""
            if self.track_clicks:
                body = _rewrite_links(
                    body, delivery_id, skip={unsubscribe}, origins=self.link_origins
                )
                if settings.TRACKING_TRAP_LINK:
                    tail += _trap(delivery_id)
            if self.track_opens:
                tail += _pixel(delivery_id)
            body = _add_before_body_end(body, tail)
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
            if _origin(url) is not None and _origin(url) in self.link_origins:
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


class LocalizedContent:
    """Content with translations (SPEC §11): each language compiled once, and
    per profile the one ``audiences.locales.pick_locale`` chooses from the
    profile's ``locale`` (or the ``locale`` asked for, in previews and proofs)."""

    def __init__(self, channel: str, content: dict, **options: Any) -> None:
        # Languages whose content is the same (a translation leaving every field
        # to the default, or repeating it) share one compiled content.
        compiled: dict[tuple, CompiledContent] = {}

        def compile_one(localized: dict) -> CompiledContent:
            key = content_key(channel, localized)
            if key is not None and key in compiled:
                return compiled[key]
            result = CompiledContent(channel, localized, **options)
            if key is not None:
                compiled[key] = result
            return result

        with render_deadline():  # every language's check and compilation: one budget
            self.default = compile_one(localized_content(content, None))
            self.variants = {
                locale: compile_one(localized_content(content, locale))
                for locale in translations_of(content)
            }

    def choose(self, profile, locale: str | None = None) -> str | None:
        return pick_locale(self.variants, locale or getattr(profile, "locale", None))

    def render(
        self,
        *,
        profile,
        context: dict | None = None,
        delivery_id: int | None = None,
        locale: str | None = None,
    ) -> RenderedMessage:
        chosen = self.choose(profile, locale)
        compiled = self.variants[chosen] if chosen else self.default
        rendered = compiled.render(profile=profile, context=context, delivery_id=delivery_id)
        rendered.locale = chosen or ""
        return rendered


def compile_content(
    channel: str,
    content: dict,
    *,
    category: str,
    track_opens: bool = False,
    track_clicks: bool = False,
) -> CompiledContent | LocalizedContent:
    """Compile once per run; raises ``RenderError`` (a ValueError) on template errors.
    Content with ``translations`` compiles each language."""
    options = {"category": category, "track_opens": track_opens, "track_clicks": track_clicks}
    if translations_of(content):
        return LocalizedContent(channel, content, **options)
    return CompiledContent(channel, content, **options)
