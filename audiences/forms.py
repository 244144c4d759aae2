"""Forms of the audience pages: the rule builder and the CSV upload."""

from __future__ import annotations

import json
import re
from typing import Any

from django import forms
from django.forms import formset_factory
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from audiences.rules import CONSENT_FIELDS, OPERATORS, RuleError, compile_rule
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


def build_rule(form: RuleAudienceForm, formset) -> dict | None:
    """Validate the builder; returns the rule, or None with errors on the forms."""
    if not (form.is_valid() & formset.is_valid()):
        return None
    raw = form.cleaned_data.get("rule_json", "").strip()
    if raw:
        try:
            rule = jsonparse.loads(raw)
        except ValueError as exc:
            form.add_error("rule_json", _("Not valid JSON: %s") % exc)
            return None
    else:
        rows = [(i, f.condition()) for i, f in enumerate(formset.forms)]
        rows = [(i, c) for i, c in rows if c is not None]
        if not rows:
            form.add_error(None, _("Add at least one condition."))
            return None
        rule = {form.cleaned_data["match"]: [c for _i, c in rows]}
    try:
        compile_rule(rule)
    except RuleError as exc:
        _attach_errors(
            form, formset, rule, exc.errors, raw_mode=bool(raw), rows=None if raw else rows
        )
        return None
    return rule


def _attach_errors(form, formset, rule, errors, *, raw_mode: bool, rows) -> None:
    for path, messages in errors.items():
        parts = path.split(".")
        # rule.all.<n>.<field>: a builder row
        if not raw_mode and len(parts) >= 3 and parts[2].isdigit():
            index = rows[int(parts[2])][0]
            target = parts[3] if len(parts) > 3 and parts[3] in {"field", "op", "value"} else None
            for message in messages:
                formset.forms[index].add_error(target, message)
            continue
        for message in messages:
            form.add_error(
                "rule_json" if raw_mode else None, f"{path}: {message}" if raw_mode else message
            )


def rule_to_initial(rule: dict | None) -> tuple[dict, list[dict]]:
    """Form and formset initial data for an existing rule; nested rules go to the JSON box."""
    if not rule:
        return {"match": "all"}, []
    ((kind, items),) = rule.items()
    flat = all(isinstance(i, dict) and "field" in i for i in items)
    if not flat:
        return {"match": kind, "rule_json": json.dumps(rule, indent=2, ensure_ascii=False)}, []
    rows = []
    for item in items:
        value = item.get("value")
        if isinstance(value, list):
            text = ", ".join(str(v) for v in value)
        elif isinstance(value, bool):
            text = "yes" if value else "no"
        else:
            text = "" if value is None else str(value)
        rows.append({"field": item["field"], "op": item["op"], "value": text})
    return {"match": kind}, rows


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
