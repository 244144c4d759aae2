"""Forms of the audience pages: the rule builder and the CSV upload."""

from __future__ import annotations

import json
import re
from typing import Any

from django import forms
from django.forms import formset_factory
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from audiences.rules import (
    CONSENT_FIELDS,
    ENGAGEMENTS,
    MAX_WITHIN_DAYS,
    OPERATORS,
    RuleError,
    compile_rule,
    engagement_errors,
)
from config import jsonparse

OPERATOR_LABELS = [
    ("eq", gettext_lazy("is")),
    ("neq", gettext_lazy("is not")),
    ("in", gettext_lazy("is one of")),
    ("contains", gettext_lazy("contains")),
    ("gt", gettext_lazy("is greater than")),
    ("gte", gettext_lazy("is at least")),
    ("lt", gettext_lazy("is less than")),
    ("lte", gettext_lazy("is at most")),
    ("exists", gettext_lazy("is set")),
]
assert [op for op, _label in OPERATOR_LABELS] == list(OPERATORS)
_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?")
BLANK_ROWS = 3


# The builder's choice "another attribute": the name is typed beside it.
NEW_ATTRIBUTE = "attributes.*"
KIND_LABELS = {
    "text": gettext_lazy("text"),
    "number": gettext_lazy("number"),
    "boolean": gettext_lazy("yes/no"),
    "list": gettext_lazy("list"),
}


def field_choices(known: list[tuple[str, str]], extra: tuple[str, ...] = ()) -> list:
    """The builder's field list: known attributes by name with their kind,
    the profile's own fields, consent, and "another attribute…"."""
    attributes = [(f"attributes.{name}", f"{name} · {KIND_LABELS[kind]}") for name, kind in known]
    listed = {value for value, _label in attributes}
    for value in extra:
        if value.startswith("attributes.") and value not in listed and value != NEW_ATTRIBUTE:
            attributes.append((value, value.removeprefix("attributes.")))
    return [
        ("", _("Choose a field…")),
        (_("Attributes"), [*attributes, (NEW_ATTRIBUTE, _("Another attribute…"))]),
        (
            _("Profile"),
            [
                ("email", _("Email address")),
                ("phone", _("Phone number")),
                ("timezone", _("Time zone")),
            ],
        ),
        (
            _("Consent (yes/no)"),
            [
                ("consent.email", _("Email consent")),
                ("consent.sms", _("SMS consent")),
                ("consent.push", _("Push consent")),
            ],
        ),
    ]


class FieldSelect(forms.Select):
    """The field list, each option carrying its kind (``data-kind``) so the page
    can hint what the value takes."""

    kinds: dict[str, str] = {}

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        kind = self.kinds.get(str(value))
        if kind:
            option["attrs"]["data-kind"] = kind
        return option


class ConditionForm(forms.Form):
    field = forms.CharField(
        label=gettext_lazy("Field"),
        required=False,
        max_length=200,
        # A list to pick from, yet a CharField: any field a rule accepts still
        # posts (an API-made rule, an attribute no sampled profile carries).
        widget=FieldSelect(attrs={"class": "rule-field"}),
    )
    attribute = forms.CharField(
        label=gettext_lazy("Attribute name"),
        required=False,
        max_length=190,
        widget=forms.TextInput(
            attrs={"class": "rule-attribute", "placeholder": gettext_lazy("e.g. loyalty_tier")}
        ),
    )
    op = forms.ChoiceField(
        label=gettext_lazy("Operator"),
        choices=OPERATOR_LABELS,
        required=False,
        widget=forms.Select(attrs={"class": "rule-op"}),
    )
    value = forms.CharField(
        label=gettext_lazy("Value"),
        required=False,
        max_length=5000,
        widget=forms.TextInput(attrs={"class": "rule-value"}),
    )

    def __init__(self, *args, known_attributes: list[tuple[str, str]] = (), **kwargs):
        super().__init__(*args, **kwargs)
        current = self["field"].value() or ""
        widget = self.fields["field"].widget
        widget.choices = field_choices(list(known_attributes), (current,))
        widget.kinds = {
            **{f"attributes.{name}": kind for name, kind in known_attributes},
            **dict.fromkeys(CONSENT_FIELDS, "boolean"),
        }

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("field") == NEW_ATTRIBUTE:
            name = (cleaned.get("attribute") or "").strip().removeprefix("attributes.")
            if name:
                cleaned["field"] = f"attributes.{name}"
            elif (cleaned.get("value") or "").strip():
                self.add_error("attribute", _("Name the attribute."))
            else:
                cleaned["field"] = ""  # nothing chosen yet: a blank row
        return cleaned

    def condition(self) -> dict[str, Any] | None:
        """The JSON condition of this row, or None for a blank row."""
        field = (self.cleaned_data.get("field") or "").strip()
        op = self.cleaned_data.get("op") or "eq"
        raw = self.cleaned_data.get("value") or ""
        if not field:
            return None
        if op == "exists":
            return {
                "field": field,
                "op": op,
                "value": raw.strip().lower() not in {"no", "false", "0"},
            }
        if op == "in":
            value: Any = [_typed(field, part.strip()) for part in raw.split(",") if part.strip()]
        else:
            value = _typed(field, raw.strip())
        return {"field": field, "op": op, "value": value}


def _typed(field: str, text: str) -> Any:
    """Text typed in the builder → the JSON value a rule compares with.

    Canonical numbers become numbers for attributes (the CSV importer stores
    them the same way); consent fields take yes/no.
    """
    if field in CONSENT_FIELDS:
        lowered = text.lower()
        if lowered in {"true", "yes", "1"}:
            return True
        if lowered in {"false", "no", "0"}:
            return False
        return text
    if field.startswith("attributes.") and _NUMBER.fullmatch(text):
        return float(text) if "." in text else int(text)
    return text


ConditionFormSet = formset_factory(ConditionForm, extra=0, max_num=100, absolute_max=100)

ENGAGEMENT_LABELS = [
    ("received", gettext_lazy("received")),
    ("opened", gettext_lazy("opened")),
    ("clicked", gettext_lazy("clicked")),
    ("not_opened", gettext_lazy("received but did not open")),
    ("not_clicked", gettext_lazy("received but did not click")),
]
assert [kind for kind, _label in ENGAGEMENT_LABELS] == list(ENGAGEMENTS)
# The same row picks a conversion event instead of a campaign (docs/CONVERSIONS.md).
EVENT_LABELS = [
    ("performed", gettext_lazy("performed the event")),
    ("not_performed", gettext_lazy("did not perform the event")),
]
DEFAULT_WITHIN_DAYS = 30


def campaign_choices(actor, current: tuple = ()) -> list:
    """ "Any unrestricted campaign", then the campaigns ``actor`` may see (campaigns supplies
    them, ``audiences.hooks``). A campaign an existing rule names that the
    actor may not see keeps its id only, never its name."""
    from audiences import hooks

    found = [row for rows in hooks.engagement_campaign_choices(actor=actor) for row in rows]
    choices = [("", _("any unrestricted campaign")), *((str(pk), name) for pk, name in found)]
    listed = {pk for pk, _name in found}
    for pk in current:
        if isinstance(pk, int) and pk not in listed:
            choices.append((str(pk), _("campaign #%d") % pk))
    return choices


class EngagementForm(forms.Form):
    """One retargeting condition: received / opened / clicked a campaign."""

    engagement = forms.ChoiceField(
        label=gettext_lazy("Profiles who"),
        choices=[("", gettext_lazy("Choose…")), *ENGAGEMENT_LABELS, *EVENT_LABELS],
        required=False,
        widget=forms.Select(attrs={"class": "rule-engagement"}),
    )
    event = forms.CharField(
        label=gettext_lazy("Event"),
        max_length=100,
        required=False,
        help_text=gettext_lazy("For “performed the event”: e.g. purchase."),
        widget=forms.TextInput(attrs={"class": "rule-event"}),
    )
    campaign = forms.TypedChoiceField(
        label=gettext_lazy("Campaign"),
        coerce=int,
        empty_value=None,
        required=False,
        widget=forms.Select(attrs={"class": "rule-campaign"}),
    )
    within_days = forms.IntegerField(
        label=gettext_lazy("In the last (days)"),
        min_value=1,
        max_value=MAX_WITHIN_DAYS,
        required=False,
        widget=forms.NumberInput(attrs={"class": "rule-days"}),
    )
    include_machine = forms.BooleanField(
        label=gettext_lazy("Count machine opens and clicks too"),
        required=False,
    )

    def __init__(self, *args, campaigns: list | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["campaign"].choices = campaigns or [("", _("any unrestricted campaign"))]

    def condition(self) -> dict[str, Any] | None:
        kind = self.cleaned_data.get("engagement")
        if not kind:
            return None
        days = self.cleaned_data.get("within_days")
        if kind in ("performed", "not_performed"):
            event: dict[str, Any] = {
                "event": (self.cleaned_data.get("event") or "").strip(),
                "withinDays": days if days is not None else DEFAULT_WITHIN_DAYS,
            }
            if kind == "not_performed":
                event["performed"] = False
            return event
        condition: dict[str, Any] = {
            "engagement": kind,
            "withinDays": days if days is not None else DEFAULT_WITHIN_DAYS,
        }
        if self.cleaned_data.get("campaign") is not None:
            condition["campaignId"] = self.cleaned_data["campaign"]
        if self.cleaned_data.get("include_machine"):
            condition["includeMachine"] = True
        return condition


EngagementFormSet = formset_factory(EngagementForm, extra=0, max_num=100, absolute_max=100)


class RuleAudienceForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)
    restricted = forms.BooleanField(
        label=gettext_lazy("Restricted"),
        required=False,
        help_text=gettext_lazy(
            "Only you and the users or groups an administrator grants access can see or use it."
        ),
    )
    match = forms.ChoiceField(
        label=gettext_lazy("Profiles must match"),
        choices=[("all", gettext_lazy("all conditions")), ("any", gettext_lazy("any condition"))],
        initial="all",
    )
    rule_json = forms.CharField(
        label=gettext_lazy("Rule as JSON (advanced)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "class": "code"}),
        help_text=gettext_lazy(
            'Optional. For nested groups: {"all": [{"field": …, "op": …, "value": …}, {"any": […]}]}. '
            "When filled, it replaces the conditions above."
        ),
    )


def build_rule(form: RuleAudienceForm, formset, engagements=None, *, actor=None) -> dict | None:
    """Validate the builder; returns the rule, or None with errors on the forms.

    Attribute rows (``formset``) and engagement rows (``engagements``) join
    one group; with an ``actor``, a campaign they may not see is refused."""
    valid = form.is_valid() & formset.is_valid()
    if engagements is not None:
        valid &= engagements.is_valid()
    if not valid:
        return None
    raw = form.cleaned_data.get("rule_json", "").strip()
    rows = None
    if raw:
        try:
            rule = jsonparse.loads(raw)
        except ValueError as exc:
            form.add_error("rule_json", _("Not valid JSON: %s") % exc)
            return None
    else:
        rows = [(f, f.condition()) for f in formset.forms]
        if engagements is not None:
            rows += [(f, f.condition()) for f in engagements.forms]
        rows = [(f, c) for f, c in rows if c is not None]
        if not rows:
            form.add_error(None, _("Add at least one condition."))
            return None
        rule = {form.cleaned_data["match"]: [c for _f, c in rows]}
    try:
        compile_rule(rule)
    except RuleError as exc:
        _attach_errors(form, exc.errors, rows=rows)
        return None
    if actor is not None:
        errors = engagement_errors(rule, actor)
        if errors:
            _attach_errors(form, errors, rows=rows)
            return None
    return rule


# A rule's key → the builder field it comes from.
_ROW_FIELDS = {
    "field": "field",
    "op": "op",
    "value": "value",
    "engagement": "engagement",
    "campaignId": "campaign",
    "withinDays": "within_days",
    "includeMachine": "include_machine",
    "event": "event",
    "performed": "engagement",
}


def _attach_errors(form, errors, *, rows) -> None:
    """``rows``: the builder's (row form, condition) in rule order, or None
    when the rule came from the JSON box."""
    for path, messages in errors.items():
        parts = path.split(".")
        # rule.all.<n>.<key>: a builder row
        if rows is not None and len(parts) >= 3 and parts[2].isdigit():
            row = rows[int(parts[2])][0]
            target = _ROW_FIELDS.get(parts[3]) if len(parts) > 3 else None
            if target not in row.fields:
                target = None
            for message in messages:
                row.add_error(target, message)
            continue
        for message in messages:
            form.add_error(
                "rule_json" if rows is None else None,
                f"{path}: {message}" if rows is None else message,
            )


def rule_to_initial(rule: dict | None) -> tuple[dict, list[dict], list[dict]]:
    """Form, attribute-row and engagement-row initial data for an existing
    rule; nested rules go to the JSON box."""
    if not rule:
        return {"match": "all"}, [], []
    ((kind, items),) = rule.items()
    flat = all(
        isinstance(i, dict) and ("field" in i or "engagement" in i or "event" in i) for i in items
    )
    # The builder lists attribute rows before engagement rows: only a rule
    # already in that order is shown as rows (else the JSON box keeps it exact).
    # An event condition without a window ("ever") has no row that says so.
    kinds = ["engagement" in i or "event" in i for i in items] if flat else []
    ever = any(isinstance(i, dict) and "event" in i and "withinDays" not in i for i in items)
    if not flat or kinds != sorted(kinds) or ever:
        return {"match": kind, "rule_json": json.dumps(rule, indent=2, ensure_ascii=False)}, [], []
    rows, engaged = [], []
    for item in items:
        if "event" in item:
            engaged.append(
                {
                    "engagement": "performed" if item.get("performed", True) else "not_performed",
                    "campaign": None,
                    "event": item.get("event"),
                    "within_days": item.get("withinDays"),
                }
            )
            continue
        if "engagement" in item:
            engaged.append(
                {
                    "engagement": item.get("engagement"),
                    "campaign": item.get("campaignId"),
                    "within_days": item.get("withinDays"),
                    "include_machine": bool(item.get("includeMachine")),
                }
            )
            continue
        value = item.get("value")
        if isinstance(value, list):
            text = ", ".join(str(v) for v in value)
        elif isinstance(value, bool):
            text = "yes" if value else "no"
        else:
            text = "" if value is None else str(value)
        rows.append({"field": item["field"], "op": item["op"], "value": text})
    return {"match": kind}, rows, engaged


class UploadForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Audience name"), max_length=200)
    file = forms.FileField(
        label=gettext_lazy("CSV file"),
        help_text=gettext_lazy(
            "A header row; identity columns email, phone, push_token, profile_id; "
            "consent_email, consent_sms, consent_push (yes/no); timezone; "
            "every other column becomes an attribute."
        ),
    )
    restricted = forms.BooleanField(
        label=gettext_lazy("Restricted"),
        required=False,
        help_text=gettext_lazy(
            "Only you and the users or groups an administrator grants access can see or use it."
        ),
    )


class ReuploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("CSV file"), help_text=UploadForm.base_fields["file"].help_text
    )
