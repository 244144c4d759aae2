"""Rule audiences: the JSON rule of SPEC §7 compiled into one Q object.

A rule is a group ``{"all": [...]}`` or ``{"any": [...]}`` whose items are
conditions ``{"field", "op", "value"}`` or nested groups. ``compile_rule``
validates the whole rule first and raises ``RuleError`` listing every problem
(field path → messages), so forms and the API answer with errors, never a 500.

Attribute conditions compile to a small SQL expression per database
(``AttributeCondition``) instead of Django's key lookups, because those differ
between SQLite and PostgreSQL exactly where marketers notice: ``"abc" > 30``
is true on SQLite and false on PostgreSQL, ``contains`` on a JSON array is not
supported on SQLite, and ``neq`` silently drops profiles without the key on
one of them. Here both databases give the same answers:

- ``eq`` / ``in`` compare with the JSON type: ``30`` matches ``30`` and ``30.0``
  but not ``"30"``; strings compare case-sensitively.
- ``neq`` is "not eq", so profiles without the attribute match it.
- ``gt`` / ``gte`` / ``lt`` / ``lte`` match numbers only (strings never match).
- ``contains``: a string attribute contains the text (case-insensitive), or a
  list attribute has the value as an element.
- ``exists`` (value ``true``, the default, or ``false``): the attribute is
  present and not ``null``.

Engagement conditions (SPEC §13, retargeting) are
``{"engagement", "campaignId"?, "withinDays", "includeMachine"?}``: whether the
profile received, opened or clicked a campaign (or any unrestricted one,
without ``campaignId``) in the last ``withinDays`` days — people's opens and clicks
only unless ``includeMachine`` (docs/ENGAGEMENT.md). ``not_opened`` /
``not_clicked`` are "received in that time and did not open / click".
campaigns supplies the SQL (``audiences.hooks.engagement_condition``); which
campaigns an actor may name is checked by ``engagement_errors``.

Event conditions (docs/CONVERSIONS.md) are ``{"event", "withinDays"?,
"performed"?}``: whether the profile performed the event (posted to
``POST /api/v1/events``) in the last ``withinDays`` days, or ever without it;
``"performed": false`` selects the profiles that did not. One EXISTS subquery
over the indexed conversion events.
"""

from __future__ import annotations

import json
import math
from typing import Any

from django.db.models import BooleanField, Expression, F, Q
from django.utils.translation import gettext as _

OPERATORS = ("eq", "neq", "in", "contains", "gt", "gte", "lt", "lte", "exists")
NUMERIC_OPS = ("gt", "gte", "lt", "lte")
MAX_DEPTH = 5
MAX_CONDITIONS = 100
MAX_IN_VALUES = 1000
# The longest text a condition compares with. A "contains" is a LIKE pattern,
# which SQLite refuses past 50,000 bytes (a 500: security review 11); no
# profile field holds more than this to compare with anyway (identities are at
# most 512 characters, all of a profile's attributes 32 KB).
MAX_TEXT = 10_000
# All the "contains" texts of one rule together. A LIKE search costs up to the
# text's length times the pattern's on each profile (a pattern of 9,999 "a"
# and a "b" over an attribute of 30,000 "a": 0.3 s a row and condition, so 100
# such conditions held a preview 30 s for one profile; security review 18).
# Within this bound the search costs about what lowering the text does.
MAX_CONTAINS_TEXT = 1_000

# Profile columns a rule may name (API spelling → model field). Attributes are
# ``attributes.<key>[.<key>…]``; consent is ``consent.email|sms|push``.
COLUMN_FIELDS = {
    "email": "email",
    "phone": "phone",
    "pushToken": "push_token",
    "push_token": "push_token",
    "profileId": "profile_id",
    "profile_id": "profile_id",
    "timezone": "timezone",
}
CONSENT_FIELDS = {
    "consent.email": "consent_email",
    "consent.sms": "consent_sms",
    "consent.push": "consent_push",
}
FIELD_CHOICES = ["attributes.", *COLUMN_FIELDS, *CONSENT_FIELDS]

ENGAGEMENTS = ("received", "opened", "clicked", "not_opened", "not_clicked")
ENGAGEMENT_KEYS = {"engagement", "campaignId", "withinDays", "includeMachine"}
MAX_WITHIN_DAYS = 3650
EVENT_KEYS = {"event", "withinDays", "performed"}


class RuleError(ValueError):
    """A rule that cannot be compiled; ``errors`` maps a path to messages."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


def compile_rule(rule: Any, *, stored: bool = False) -> Q:
    """Validate ``rule`` and return the Q object selecting its profiles.

    ``stored``: a rule read back to be evaluated (an audience's), not one being
    written or previewed — bounds added since it was saved (``MAX_TEXT``,
    ``MAX_CONTAINS_TEXT``) are not applied to it, so it keeps selecting what
    it did.

    Raises ``RuleError`` with every problem found (unknown field or operator,
    a value of the wrong type, an empty group, nesting too deep).
    """
    compiler = _Compiler(stored=stored)
    q = compiler.group(rule, "rule", depth=1)
    if compiler.count > MAX_CONDITIONS:
        compiler.error("rule", _("A rule may have at most %d conditions.") % MAX_CONDITIONS)
    if compiler.errors:
        raise RuleError(compiler.errors)
    return q


def validate_rule(rule: Any) -> dict[str, list[str]]:
    """The errors of ``rule`` ({} when it compiles)."""
    try:
        compile_rule(rule)
    except RuleError as exc:
        return exc.errors
    return {}


def _is_number(value: Any) -> bool:
    # Finite and within 64 bits: databases reject infinities and bigger integers.
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and abs(value) < 2**63
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63


def engagement_items(rule: Any, path: str = "rule"):
    """(path, condition) of every engagement condition in ``rule``, nested
    groups included (a rule that does not compile yields what it can)."""
    if not isinstance(rule, dict) or len(rule) != 1:
        return
    ((kind, items),) = rule.items()
    if kind not in ("all", "any") or not isinstance(items, list):
        return
    for index, item in enumerate(items):
        item_path = f"{path}.{kind}.{index}"
        if isinstance(item, dict) and "engagement" in item:
            yield item_path, item
        elif isinstance(item, dict):
            yield from engagement_items(item, item_path)


def named_campaign_ids(rule: Any) -> set[int]:
    """The campaign ids ``rule``'s engagement conditions name."""
    return {
        item["campaignId"]
        for _path, item in engagement_items(rule)
        if _is_int(item.get("campaignId")) and item["campaignId"] > 0
    }


def restricted_campaigns_named(rule: Any) -> set[int]:
    """The restricted campaigns among those ``rule`` names. Who received,
    opened or clicked one is for the people who may see it: an audience whose
    rule names one is restricted too (review 4 #10), whoever built it."""
    from audiences import hooks

    ids = named_campaign_ids(rule)
    if not ids:
        return set()
    return set().union(*hooks.restricted_campaigns(ids=ids))


def engagement_errors(rule: Any, actor) -> dict[str, list[str]]:
    """Campaigns named by ``rule``'s engagement conditions that do not exist or
    that ``actor`` may not see: one answer for both, so a rule cannot probe
    for hidden campaigns (SPEC §2). Who clicked a campaign is its report's
    business: a rule may only name a campaign its author may see."""
    from audiences import hooks

    named = {
        path: item["campaignId"]
        for path, item in engagement_items(rule)
        if _is_int(item.get("campaignId")) and item["campaignId"] > 0
    }
    if not named:
        return {}
    visible = set().union(*hooks.engagement_campaigns(actor=actor, ids=set(named.values())))
    return {
        f"{path}.campaignId": [_("No campaign %d that you may see.") % pk]
        for path, pk in named.items()
        if pk not in visible
    }


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, bool)) or _is_number(value)


class _Compiler:
    def __init__(self, *, stored: bool = False) -> None:
        self.errors: dict[str, list[str]] = {}
        self.count = 0
        self.contains_text = 0
        self.stored = stored

    def error(self, path: str, message: str) -> Q:
        self.errors.setdefault(path, []).append(message)
        return Q()

    def group(self, node: Any, path: str, *, depth: int) -> Q:
        if not isinstance(node, dict) or len(node) != 1 or next(iter(node)) not in ("all", "any"):
            return self.error(path, _('A group is an object with one key, "all" or "any".'))
        if depth > MAX_DEPTH:
            return self.error(path, _("Groups may be nested at most %d deep.") % MAX_DEPTH)
        ((kind, items),) = node.items()
        path = f"{path}.{kind}"
        if not isinstance(items, list) or not items:
            return self.error(path, _("A group needs a list of at least one condition."))
        result = Q()
        for index, item in enumerate(items):
            item_path = f"{path}.{index}"
            if isinstance(item, dict) and ("all" in item or "any" in item):
                q = self.group(item, item_path, depth=depth + 1)
            else:
                q = self.condition(item, item_path)
            result = (result & q) if kind == "all" else (result | q)
        return result

    def condition(self, node: Any, path: str) -> Q:
        self.count += 1
        if not isinstance(node, dict):
            return self.error(path, _('A condition is an object {"field", "op", "value"}.'))
        if "engagement" in node:
            return self.engagement(node, path)
        if "event" in node:
            return self.event(node, path)
        unknown = set(node) - {"field", "op", "value"}
        if unknown:
            return self.error(path, _("Unknown keys: %s.") % ", ".join(sorted(map(str, unknown))))
        field, op, value = node.get("field"), node.get("op"), node.get("value")
        if op not in OPERATORS:
            return self.error(
                f"{path}.op",
                _("Unknown operator %(op)r; use one of %(ops)s.")
                % {"op": op, "ops": ", ".join(OPERATORS)},
            )
        if op == "exists":
            if value is None:
                value = True
            if not isinstance(value, bool):
                return self.error(f"{path}.value", _('"exists" takes true or false.'))
        elif "value" not in node:
            return self.error(f"{path}.value", _("This operator needs a value."))
        message = _check_value(op, value, bound_text=not self.stored)
        if message:
            return self.error(f"{path}.value", message)
        if op == "contains" and isinstance(value, str) and not self.stored:
            self.contains_text += len(value)
            if self.contains_text > MAX_CONTAINS_TEXT:
                return self.error(
                    f"{path}.value",
                    _('The "contains" texts of a rule have at most %(n)d characters in all.')
                    % {"n": MAX_CONTAINS_TEXT},
                )
        if not isinstance(field, str):
            return self.error(f"{path}.field", _("The field must be a string."))
        if field.startswith("attributes."):
            keys = field.split(".")[1:]
            if any(not k for k in keys):
                return self.error(f"{path}.field", _("An attribute name cannot be empty."))
            return Q(AttributeCondition(keys, op, value))
        if field in CONSENT_FIELDS:
            if op not in ("eq", "neq") or not isinstance(value, bool):
                return self.error(
                    f"{path}.op", _("Consent fields take eq or neq with true or false.")
                )
            q = Q(**{CONSENT_FIELDS[field]: value})
            return q if op == "eq" else ~q
        if field in COLUMN_FIELDS:
            return self.column(COLUMN_FIELDS[field], op, value, path)
        return self.error(
            f"{path}.field",
            _("Unknown field %(field)r; use attributes.<name>, %(fields)s.")
            % {"field": field, "fields": ", ".join([*COLUMN_FIELDS, *CONSENT_FIELDS])},
        )

    def engagement(self, node: dict, path: str) -> Q:
        """``{"engagement", "campaignId"?, "withinDays", "includeMachine"?}``."""
        from audiences import hooks

        unknown = set(node) - ENGAGEMENT_KEYS
        if unknown:
            return self.error(path, _("Unknown keys: %s.") % ", ".join(sorted(map(str, unknown))))
        kind, days = node.get("engagement"), node.get("withinDays")
        campaign, machine = node.get("campaignId"), node.get("includeMachine", False)
        before = len(self.errors)
        if kind not in ENGAGEMENTS:
            self.error(
                f"{path}.engagement",
                _("Unknown engagement %(value)r; use one of %(choices)s.")
                % {"value": kind, "choices": ", ".join(ENGAGEMENTS)},
            )
        if not _is_int(days) or not 1 <= days <= MAX_WITHIN_DAYS:
            self.error(
                f"{path}.withinDays",
                _("Give a number of days from 1 to %d.") % MAX_WITHIN_DAYS,
            )
        if campaign is not None and (not _is_int(campaign) or campaign < 1):
            self.error(f"{path}.campaignId", _("A campaign id is a positive whole number."))
        if not isinstance(machine, bool):
            self.error(f"{path}.includeMachine", _("Give true or false."))
        if len(self.errors) > before:
            return Q()
        built = hooks.engagement_condition(
            engagement=kind, campaign_id=campaign, within_days=days, include_machine=machine
        )
        if not built:
            return self.error(path, _("Engagement conditions are not available."))
        return built[0]

    def event(self, node: dict, path: str) -> Q:
        """``{"event", "withinDays"?, "performed"?}``: performed (or not) a
        conversion event, in the last ``withinDays`` days or ever."""
        from datetime import timedelta

        from django.db.models import Exists, OuterRef
        from django.utils import timezone

        from audiences.events import event_name_message, valid_event_name
        from audiences.models import ConversionEvent

        unknown = set(node) - EVENT_KEYS
        if unknown:
            return self.error(path, _("Unknown keys: %s.") % ", ".join(sorted(map(str, unknown))))
        name, days, performed = (
            node.get("event"),
            node.get("withinDays"),
            node.get("performed", True),
        )
        before = len(self.errors)
        if not valid_event_name(name):
            self.error(f"{path}.event", event_name_message())
        if days is not None and (not _is_int(days) or not 1 <= days <= MAX_WITHIN_DAYS):
            self.error(
                f"{path}.withinDays",
                _("Give a number of days from 1 to %d.") % MAX_WITHIN_DAYS,
            )
        if not isinstance(performed, bool):
            self.error(f"{path}.performed", _("Give true or false."))
        if len(self.errors) > before:
            return Q()
        events = ConversionEvent.objects.filter(profile_id=OuterRef("pk"), name=name)
        if days is not None:
            events = events.filter(occurred_at__gte=timezone.now() - timedelta(days=days))
        return Q(Exists(events)) if performed else ~Q(Exists(events))

    def column(self, name: str, op: str, value: Any, path: str) -> Q:
        """Identity and time-zone columns: text, compared as normalized text."""
        if op in NUMERIC_OPS:
            return self.error(
                f"{path}.op", _("This operator compares numbers; this field is text.")
            )
        values = value if op == "in" else [value]
        if op != "exists" and not all(isinstance(v, str) for v in values):
            return self.error(f"{path}.value", _("This field is text: compare it with text."))
        if name == "email" and op != "exists":
            values = [v.strip().lower() for v in values]
        blank = Q(**{f"{name}__isnull": True}) | Q(**{name: ""})
        if op == "exists":
            return ~blank if value else blank
        if op == "in":
            return Q(**{f"{name}__in": values})
        if op == "contains":
            return Q(**{f"{name}__icontains": values[0]})
        eq = Q(**{name: values[0]})
        # Django's negation keeps NULL identities in "neq", as for attributes.
        return eq if op == "eq" else ~eq


def _check_value(op: str, value: Any, *, bound_text: bool = True) -> str | None:
    texts = value if isinstance(value, list) else [value]
    if bound_text and any(isinstance(v, str) and len(v) > MAX_TEXT for v in texts):
        return _("A text in a condition has at most %(n)d characters.") % {"n": MAX_TEXT}
    if op in NUMERIC_OPS and not _is_number(value):
        return _("This operator compares numbers: give a number.")
    if op in ("eq", "neq") and not _is_scalar(value):
        return _("Give a text, a number or true/false.")
    if op == "contains" and not (isinstance(value, str) or _is_number(value)):
        return _('"contains" takes a text or a number.')
    if op == "contains" and value == "":
        return _('"contains" needs a non-empty text.')
    if op == "in":
        if not isinstance(value, list) or not value:
            return _('"in" takes a non-empty list of values.')
        if len(value) > MAX_IN_VALUES:
            return _('"in" takes at most %d values.') % MAX_IN_VALUES
        if not all(_is_scalar(v) for v in value):
            return _('"in" takes a list of texts, numbers or true/false.')
    return None


EQUALITY_OPS = ("eq", "neq")


def _equality(op: str, value, eq, *, false: str) -> tuple[str, list]:
    """eq / neq, built from one database's ``eq(value) -> (sql, params)``
    (``in`` is one membership test per database, never a chain of these).

    ``neq`` is true for profiles without the attribute (SQL NULL becomes false
    before the NOT), on every database alike.
    """
    sql, params = eq(value)
    if op == "neq":
        sql = f"NOT COALESCE({sql}, {false})"
    return sql, params


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class AttributeCondition(Expression):
    """One condition on ``Profile.attributes`` as a boolean SQL expression that
    never evaluates to NULL (so negation and OR behave), per database."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, keys: list[str], op: str, value: Any):
        super().__init__(output_field=BooleanField())
        self.keys, self.op, self.value = keys, op, value
        self.source = F("attributes")

    def get_source_expressions(self):
        return [self.source]

    def set_source_expressions(self, exprs):
        (self.source,) = exprs

    def __repr__(self) -> str:
        return f"AttributeCondition({self.keys!r}, {self.op!r}, {self.value!r})"

    # PostgreSQL: jsonb operators; CASE guards the numeric cast from strings.
    def as_postgresql(self, compiler, connection):
        col, col_params = compiler.compile(self.source)
        j = f"({col} #> %s::text[])"
        jp = [*col_params, self.keys]

        def eq(value):
            return f"({j} = %s::jsonb)", [*jp, json.dumps(value)]

        op, value = self.op, self.value
        if op == "in":
            # One membership test against the values as a set (a hashed
            # subplan): a chain of 1,000 "= %s::jsonb" extracted the path
            # again for every value of every row — 10 such conditions over
            # 20,000 profiles ran six minutes (security review 18).
            sql = f"({j} IN (SELECT jsonb_array_elements(%s::jsonb)))"
            params = [*jp, json.dumps(value)]
        elif op in EQUALITY_OPS:
            sql, params = _equality(op, value, eq, false="false")
        elif op == "contains":
            sql = (
                f"(CASE jsonb_typeof({j}) WHEN 'array' THEN {j} @> %s::jsonb "
                f"WHEN 'string' THEN ({j} #>> '{{}}') ILIKE %s ELSE false END)"
            )
            text = _like_pattern(value) if isinstance(value, str) else ""
            params = [*jp, *jp, json.dumps([value]), *jp, text]
            if not isinstance(value, str):
                sql = f"(CASE jsonb_typeof({j}) WHEN 'array' THEN {j} @> %s::jsonb ELSE false END)"
                params = [*jp, *jp, json.dumps([value])]
        elif op in NUMERIC_OPS:
            sign = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op]
            sql = (
                f"(CASE WHEN jsonb_typeof({j}) = 'number' "
                f"THEN ({j} #>> '{{}}')::numeric {sign} %s ELSE false END)"
            )
            params = [*jp, *jp, value]
        else:  # exists
            sql = f"COALESCE(jsonb_typeof({j}) <> 'null', false)"
            params = list(jp)
            if not value:
                sql = f"NOT {sql}"
        return f"COALESCE({sql}, false)", params

    # SQLite (and anything else with the JSON1 functions).
    def as_sql(self, compiler, connection):
        col, col_params = compiler.compile(self.source)
        path = "$" + "".join("." + json.dumps(k) for k in self.keys)
        t = f"json_type({col}, %s)"
        v = f"json_extract({col}, %s)"
        tp = [*col_params, path]

        def eq(value):
            if isinstance(value, bool):
                return f"({t} = %s)", [*tp, "true" if value else "false"]
            if _is_number(value):
                return f"({t} IN ('integer', 'real') AND {v} = %s)", [*tp, *tp, value]
            return f"({t} = 'text' AND {v} = %s)", [*tp, *tp, value]

        op, value = self.op, self.value
        if op == "in":
            sql, params = self._sqlite_in(t, v, tp, value)
        elif op in EQUALITY_OPS:
            sql, params = _equality(op, value, eq, false="0")
        elif op == "contains":
            element = f"EXISTS (SELECT 1 FROM json_each({col}, %s) AS je WHERE je.value = %s)"
            if isinstance(value, str):
                # LIKE is case-insensitive for ASCII letters on SQLite.
                sql = (
                    f"(CASE {t} WHEN 'array' THEN {element} "
                    f"WHEN 'text' THEN {v} LIKE %s ESCAPE '\\' ELSE 0 END)"
                )
                params = [*tp, *col_params, path, value, *tp, _like_pattern(value)]
            else:
                sql = f"(CASE {t} WHEN 'array' THEN {element} ELSE 0 END)"
                params = [*tp, *col_params, path, value]
        elif op in NUMERIC_OPS:
            sign = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op]
            sql = f"(CASE WHEN {t} IN ('integer', 'real') THEN {v} {sign} %s ELSE 0 END)"
            params = [*tp, *tp, value]
        else:  # exists
            sql = f"COALESCE({t} <> 'null', 0)"
            params = list(tp)
            if not value:
                sql = f"NOT {sql}"
        return f"COALESCE({sql}, 0)", params

    @staticmethod
    def _sqlite_in(t: str, v: str, tp: list, values: list) -> tuple[str, list]:
        """``in`` as one membership test per value type, the values passed as
        one JSON array: a chain of 1,000 ORs exceeds SQLite's expression depth
        limit (1,000), and 4 parameters a value would crowd its variable limit."""
        texts = [x for x in values if isinstance(x, str)]
        numbers = [x for x in values if _is_number(x)]
        bools = sorted({"true" if x else "false" for x in values if isinstance(x, bool)})
        member = "IN (SELECT value FROM json_each(%s))"
        parts, params = [], []
        if texts:
            parts.append(f"({t} = 'text' AND {v} {member})")
            params += [*tp, *tp, json.dumps(texts)]
        if numbers:
            parts.append(f"({t} IN ('integer', 'real') AND {v} {member})")
            params += [*tp, *tp, json.dumps(numbers)]
        if bools:
            parts.append(f"({t} IN ({', '.join(['%s'] * len(bools))}))")
            params += [*tp, *bools]
        return "(" + " OR ".join(parts or ["0"]) + ")", params
