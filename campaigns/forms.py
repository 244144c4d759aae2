"""Campaign authoring forms: properties on creation, then one edit form with the
channel configuration, the content of the campaign's channel, the audience and
the schedule. Validation reuses ``campaigns.validation`` so the pages and the
API refuse the same things with the same words."""

from __future__ import annotations

import json
from datetime import datetime

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext_lazy as _

from accounts.permissions import can, visible
from audiences.channel_facts import CONTENT_EXTRAS
from audiences.models import Audience, Channel
from campaigns.models import (
    MAX_DESCRIPTION,
    Campaign,
    CampaignType,
    CampaignVersion,
    IdentityNamespace,
)
from campaigns.validation import (
    FREQUENCIES,
    THROTTLE_MAX,
    THROTTLE_MIN,
    normalize_schedule,
    template_errors,
)
from channels.models import ChannelConfiguration, Purpose
from config import jsonparse
from config.timezones import TimeZoneField

WEEKDAYS = [
    (0, _("Monday")),
    (1, _("Tuesday")),
    (2, _("Wednesday")),
    (3, _("Thursday")),
    (4, _("Friday")),
    (5, _("Saturday")),
    (6, _("Sunday")),
]
FREQUENCY_LABELS = {"daily": _("Daily"), "weekly": _("Weekly"), "monthly": _("Monthly")}


def recurrence_summary(recurrence: dict | None) -> str:
    """The recurrence in the active language, e.g. "Weekly 09:00 · Monday, Friday"."""
    if not recurrence:
        return ""
    frequency = recurrence.get("frequency", "")
    parts = [f"{FREQUENCY_LABELS.get(frequency, frequency)} {recurrence.get('time', '')}".strip()]
    weekdays = dict(WEEKDAYS)
    if recurrence.get("daysOfWeek"):
        parts.append(", ".join(str(weekdays.get(d, d)) for d in recurrence["daysOfWeek"]))
    if recurrence.get("dayOfMonth"):
        parts.append(str(_("day %(day)s of the month") % {"day": recurrence["dayOfMonth"]}))
    return " · ".join(parts)


def parse_tags(value: str) -> list[str]:
    return sorted({t.strip() for t in (value or "").split(",") if t.strip()})


def _bounded_tags(tags: list[str]) -> list[str]:
    from campaigns.services import MAX_TAGS, tag_count_message

    if len(tags) > MAX_TAGS:
        raise ValidationError(tag_count_message())
    return tags


class CampaignCreateForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    description = forms.CharField(
        label=_("Description"),
        max_length=MAX_DESCRIPTION,
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text=_("For your team: what this campaign is for. Recipients never see it."),
    )
    tags = forms.CharField(
        label=_("Tags"), required=False, help_text=_("Separate tags with commas.")
    )
    type = forms.ChoiceField(
        label=_("Type"),
        choices=CampaignType.choices,
        initial=CampaignType.SCHEDULED,
        widget=forms.RadioSelect,
        help_text=_(
            "Scheduled: sent to an audience. API-triggered: sent when your system calls the API."
        ),
    )
    category = forms.ChoiceField(
        label=_("Category"),
        choices=Purpose.choices,
        initial=Purpose.MARKETING,
        widget=forms.RadioSelect,
    )
    channel = forms.ChoiceField(
        label=_("Channel"), choices=Channel.choices, initial=Channel.EMAIL, widget=forms.RadioSelect
    )
    fieldsets = [
        (_("About the campaign"), ["name", "description", "tags"]),
        (_("How it is sent"), ["type", "category", "channel"]),
    ]

    def clean_tags(self) -> list[str]:
        tags = parse_tags(self.cleaned_data["tags"])
        if any(len(t) > 50 for t in tags):
            raise ValidationError(_("A tag has at most 50 characters."))
        return _bounded_tags(tags)


class CampaignEditForm(forms.Form):
    """Edits the campaign's properties and one version (the draft)."""

    name = forms.CharField(label=_("Name"), max_length=200)
    description = forms.CharField(
        label=_("Description"),
        max_length=MAX_DESCRIPTION,
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text=_("For your team: what this campaign is for. Recipients never see it."),
    )
    tags = forms.CharField(
        label=_("Tags"), required=False, help_text=_("Separate tags with commas.")
    )
    channel_configuration = forms.ModelChoiceField(
        label=_("Channel configuration"),
        queryset=ChannelConfiguration.objects.none(),
        required=False,
    )
    audience = forms.ModelChoiceField(
        label=_("Audience"), queryset=Audience.objects.none(), required=False
    )
    identity_namespace = forms.ChoiceField(label=_("Identity"), choices=IdentityNamespace.choices)
    # schedule
    start_mode = forms.ChoiceField(
        label=_("Start"),
        choices=[("now", _("On activation")), ("at", _("At a date and time"))],
        widget=forms.RadioSelect,
        initial="now",
    )
    start_at = forms.DateTimeField(
        label=_("Start date and time"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    end_at = forms.DateTimeField(
        label=_("End date and time"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    timezone = TimeZoneField(
        label=_("Time zone"),
        initial="UTC",
        help_text=_(
            "Start, end and repeat times are in this zone. Type to search, e.g. Amsterdam."
        ),
    )
    frequency = forms.ChoiceField(
        label=_("Repeat"),
        choices=[("", _("Does not repeat")), *[(f, FREQUENCY_LABELS[f]) for f in FREQUENCIES]],
        required=False,
    )
    time = forms.CharField(
        label=_("At time of day"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}),
        initial="09:00",
    )
    days_of_week = forms.TypedMultipleChoiceField(
        label=_("Days of the week"),
        choices=WEEKDAYS,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    day_of_month = forms.IntegerField(
        label=_("Day of the month"), min_value=1, max_value=31, required=False
    )
    throttle_per_second = forms.IntegerField(
        label=_("Throttle (messages per second)"),
        min_value=THROTTLE_MIN,
        max_value=THROTTLE_MAX,
        required=False,
    )
    use_profile_timezone = forms.BooleanField(
        label=_("Send in each profile's time zone"), required=False
    )
    track_opens = forms.BooleanField(label=_("Track opens"), required=False)
    track_clicks = forms.BooleanField(label=_("Track clicks"), required=False)

    CONTENT_FIELDS = {
        "email": [
            ("subject", forms.CharField, _("Subject"), None),
            ("preheader", forms.CharField, _("Preheader"), None),
            (
                "html",
                forms.CharField,
                _("HTML body"),
                forms.Textarea(attrs={"rows": 14, "class": "code"}),
            ),
            ("text", forms.CharField, _("Plain-text body"), forms.Textarea(attrs={"rows": 6})),
        ],
        "sms": [
            (
                "text",
                forms.CharField,
                _("Text"),
                forms.Textarea(attrs={"rows": 4, "data-sms-counter": "1"}),
            )
        ],
        "push": [
            ("title", forms.CharField, _("Title"), None),
            ("body", forms.CharField, _("Message"), forms.Textarea(attrs={"rows": 3})),
            ("url", forms.CharField, _("Click URL"), None),
            (
                "data",
                forms.CharField,
                _("Custom data (JSON)"),
                forms.Textarea(attrs={"rows": 3, "class": "code"}),
            ),
        ],
    }

    def __init__(self, *args, campaign: Campaign, version: CampaignVersion, user, **kwargs):
        self.campaign, self.version = campaign, version
        kwargs.setdefault("initial", self.initial_for(campaign, version))
        super().__init__(*args, **kwargs)
        configs = ChannelConfiguration.objects.filter(
            channel=campaign.channel, purpose=campaign.category, status="active"
        )
        self.fields["channel_configuration"].queryset = visible(user, configs)
        # Every ready audience is a choice, named; their rules stay unread (review 11).
        self.fields["audience"].queryset = visible(
            user, Audience.objects.filter(status="ready").defer("rule")
        )
        self.fields["audience"].label_from_instance = _audience_label
        if campaign.live_version_id is None:
            # Never activated: type and category may still change.
            self.fields["type"] = forms.ChoiceField(
                label=_("Type"),
                choices=CampaignType.choices,
                widget=forms.RadioSelect,
                required=False,
            )
            self.fields["category"] = forms.ChoiceField(
                label=_("Category"),
                choices=Purpose.choices,
                widget=forms.RadioSelect,
                required=False,
            )
        for name, field_class, label, widget in self.CONTENT_FIELDS[campaign.channel]:
            self.fields[f"content_{name}"] = field_class(
                label=label, required=False, widget=widget, strip=False
            )
        if not self.needs_audience:
            del self.fields["audience"]
        if campaign.channel != Channel.EMAIL:
            # Only an email can carry the pixel that tells an open.
            del self.fields["track_opens"]
        ConversionFields.add_fields(self)
        if campaign.type == CampaignType.SCHEDULED:
            ExperimentFields.add_fields(self, campaign.channel)
        if can(user, "rule.manage"):
            # Administrators only (SPEC §12): service messages that caps and
            # quiet hours must not hold back.
            self.fields["exempt_from_rules"] = forms.BooleanField(
                label=_("Exempt from business rules"),
                required=False,
                initial=campaign.exempt_from_rules,
                help_text=_("Frequency caps and quiet hours do not apply (service messages)."),
            )

    @property
    def needs_audience(self) -> bool:
        """Transactional API-triggered campaigns send to the recipients of each call."""
        c = self.campaign
        return not (c.type == CampaignType.API_TRIGGERED and c.category == Purpose.TRANSACTIONAL)

    @property
    def has_experiment(self) -> bool:
        return "experiment_on" in self.fields

    @property
    def variant_slots(self) -> list[dict]:
        return ExperimentFields.slots(self) if self.has_experiment else []

    @property
    def content_fields(self):
        return [self[f"content_{n}"] for n, *_rest in self.CONTENT_FIELDS[self.campaign.channel]]

    @staticmethod
    def initial_for(campaign: Campaign, version: CampaignVersion) -> dict:
        recurrence = version.recurrence or {}
        tz = version.timezone or "UTC"
        initial = {
            "name": campaign.name,
            "description": campaign.description,
            "type": campaign.type,
            "category": campaign.category,
            "tags": ", ".join(t.name for t in campaign.tags.all()),
            "channel_configuration": version.channel_configuration_id,
            "audience": version.audience_id,
            "identity_namespace": version.identity_namespace,
            "start_mode": "at" if version.start_at else "now",
            "start_at": _local(version.start_at, tz),
            "end_at": _local(version.end_at, tz),
            "timezone": tz,
            "frequency": recurrence.get("frequency", ""),
            "time": recurrence.get("time", "09:00"),
            "days_of_week": recurrence.get("daysOfWeek", []),
            "day_of_month": recurrence.get("dayOfMonth"),
            "throttle_per_second": version.throttle_per_second,
            "use_profile_timezone": version.use_profile_timezone,
            "track_opens": version.track_opens,
            "track_clicks": version.track_clicks,
        }
        for key, value in (version.content or {}).items():
            initial[f"content_{key}"] = json.dumps(value) if key == "data" else value
        initial.update(ExperimentFields.initial(version.experiment, campaign.channel))
        initial.update(ConversionFields.initial(version.conversion))
        return initial

    def clean_tags(self) -> list[str]:
        return _bounded_tags(parse_tags(self.cleaned_data["tags"]))

    def clean_content_data(self):
        return custom_data(self.cleaned_data.get("content_data"))

    def clean(self):
        cleaned = super().clean()
        content = {
            name: cleaned.get(f"content_{name}", "" if name != "data" else {})
            for name, *_rest in self.CONTENT_FIELDS[self.campaign.channel]
        }
        for key, messages in template_errors(self.campaign.channel, content).items():
            self.add_error(f"content_{key}", messages)
        # The languages page edits the translations (and the designer its
        # design): this form keeps them as they are.
        for key in CONTENT_EXTRAS:
            if (self.version.content or {}).get(key):
                content[key] = self.version.content[key]
        cleaned["content"] = content
        self._clean_schedule(cleaned)
        ConversionFields.clean(self, cleaned)
        if self.has_experiment:
            ExperimentFields.clean(self, cleaned, self.campaign.channel, self.version.experiment)
        return cleaned

    def _clean_schedule(self, cleaned: dict) -> None:
        frequency = cleaned.get("frequency")
        schedule = {
            "timezone": cleaned.get("timezone") or "UTC",
            "startAt": cleaned.get("start_at") if cleaned.get("start_mode") == "at" else None,
            "endAt": cleaned.get("end_at"),
            "recurrence": {
                "frequency": frequency,
                "time": cleaned.get("time") or "09:00",
                "daysOfWeek": cleaned.get("days_of_week") or [],
                "dayOfMonth": cleaned.get("day_of_month"),
            }
            if frequency
            else None,
            "throttlePerSecond": cleaned.get("throttle_per_second"),
            "useProfileTimezone": cleaned.get("use_profile_timezone", False),
        }
        if cleaned.get("start_mode") == "at" and not cleaned.get("start_at"):
            self.add_error("start_at", _("Choose the start date and time."))
        # Form widgets give naive local times: drop the zone Django attached so
        # that they are read in the schedule's own time zone.
        for key in ("startAt", "endAt"):
            if isinstance(schedule[key], datetime) and timezone.is_aware(schedule[key]):
                schedule[key] = timezone.make_naive(schedule[key])
        try:
            cleaned["schedule"] = normalize_schedule(schedule)
        except ValidationError as exc:
            names = {
                "schedule.timezone": "timezone",
                "schedule.recurrence.frequency": "frequency",
                "schedule.recurrence.time": "time",
                "schedule.recurrence.daysOfWeek": "days_of_week",
                "schedule.recurrence.dayOfMonth": "day_of_month",
                "schedule.throttlePerSecond": "throttle_per_second",
            }
            for key, messages in exc.message_dict.items():
                self.add_error(names.get(key), messages)

    def service_fields(self) -> dict:
        """cleaned_data → ``campaign_update`` keyword arguments."""
        c = self.cleaned_data
        fields = {
            "name": c["name"],
            "description": c["description"],
            "channel_configuration": c.get("channel_configuration"),
            "identity_namespace": c["identity_namespace"],
            "content": c["content"],
            "track_opens": c.get("track_opens", self.version.track_opens),
            "track_clicks": c["track_clicks"],
            **c["schedule"],
        }
        for name in ("type", "category"):
            if name in self.fields:
                fields[name] = c.get(name) or getattr(self.campaign, name)
        if self.needs_audience:
            fields["audience"] = c.get("audience")
        if self.has_experiment:
            fields["experiment"] = c.get("experiment")
        fields["conversion"] = c.get("conversion")
        return fields


class ConversionFields:
    """The edit form's conversion goal (campaigns/conversions.py): the event
    that counts as a conversion and the window after the send; an empty event
    means no goal."""

    ERRORS = {
        "conversion.event": "conversion_event",
        "conversion.windowHours": "conversion_window_hours",
        "conversion": "conversion_event",
    }

    @staticmethod
    def add_fields(form: forms.Form) -> None:
        from campaigns.conversions import DEFAULT_WINDOW_HOURS, WINDOW_MAX, WINDOW_MIN

        form.fields["conversion_event"] = forms.CharField(
            label=_("Conversion event"),
            max_length=100,
            required=False,
            help_text=_(
                "The event your systems post to /api/v1/events, e.g. purchase. A person "
                "converts when they perform it within the window after the campaign reached "
                "them. Leave empty for no goal."
            ),
        )
        form.fields["conversion_window_hours"] = forms.IntegerField(
            label=_("Conversion window (hours)"),
            min_value=WINDOW_MIN,
            max_value=WINDOW_MAX,
            required=False,
            initial=DEFAULT_WINDOW_HOURS,
        )

    @staticmethod
    def initial(conversion: dict | None) -> dict:
        from campaigns.conversions import DEFAULT_WINDOW_HOURS

        conversion = conversion or {}
        return {
            "conversion_event": conversion.get("event", ""),
            "conversion_window_hours": conversion.get("windowHours", DEFAULT_WINDOW_HOURS),
        }

    @classmethod
    def clean(cls, form: forms.Form, cleaned: dict) -> None:
        """``cleaned["conversion"]``: the normalized goal, or None."""
        from campaigns.conversions import normalize_conversion

        cleaned["conversion"] = None
        event = (cleaned.get("conversion_event") or "").strip()
        if not event:
            return
        try:
            cleaned["conversion"] = normalize_conversion(
                {"event": event, "windowHours": cleaned.get("conversion_window_hours")}
            )
        except ValidationError as exc:
            for key, messages in exc.message_dict.items():
                form.add_error(cls.ERRORS.get(key), messages)


class ExperimentFields:
    """The edit form's A/B test section (SPEC §13): the settings and up to
    MAX_VARIANTS variant slots, each a name, a weight and the channel's text
    fields. An empty content field means "as the campaign's content"; slots
    left empty are not variants."""

    SETTINGS = {
        "experiment.holdoutPercent": "experiment_holdout",
        "experiment.testPercent": "experiment_test_percent",
        "experiment.testHours": "experiment_test_hours",
        "experiment.winnerMetric": "experiment_metric",
        "experiment.autoWinner": "experiment_auto",
        "experiment.variants": "experiment_on",
        "experiment": "experiment_on",
    }

    @staticmethod
    def content_keys(channel: str) -> list[tuple[str, object, object]]:
        """(field, label, widget) of a variant's content: the channel's text fields."""
        return [
            (name, label, widget)
            for name, _cls, label, widget in CampaignEditForm.CONTENT_FIELDS[channel]
            if name != "data"
        ]

    @classmethod
    def add_fields(cls, form: forms.Form, channel: str) -> None:
        from campaigns.experiments import HOLDOUT_MAX, MAX_VARIANTS, TEST_HOURS_MAX

        f = form.fields
        f["experiment_on"] = forms.BooleanField(
            label=_("Run an A/B test"),
            required=False,
            help_text=_(
                "Each person gets one variant, always the same one; the holdout gets nothing."
            ),
        )
        f["experiment_holdout"] = forms.IntegerField(
            label=_("Holdout (percent of the audience that gets nothing)"),
            min_value=0,
            max_value=HOLDOUT_MAX,
            required=False,
            initial=0,
        )
        metrics = [("clicks", _("Unique clicks"))]
        if channel == Channel.EMAIL:
            metrics.append(("opens", _("Unique opens")))
        metrics.append(("conversions", _("Conversions (the conversion goal's event)")))
        f["experiment_metric"] = forms.ChoiceField(
            label=_("The winner is the variant with the most"),
            choices=metrics,
            initial="clicks",
            required=False,  # the test's own default (clicks) when not sent
        )
        f["experiment_test_percent"] = forms.IntegerField(
            label=_("Test first on (percent of the others)"),
            min_value=1,
            max_value=100,
            required=False,
            help_text=_("Leave empty to send every variant to everyone at once."),
        )
        f["experiment_test_hours"] = forms.IntegerField(
            label=_("Test phase (hours)"), min_value=1, max_value=TEST_HOURS_MAX, required=False
        )
        f["experiment_auto"] = forms.BooleanField(
            label=_("Send the winner to the rest automatically when the test ends"),
            required=False,
            help_text=_("Otherwise you pick the winner on the report page."),
        )
        for slot in range(MAX_VARIANTS):
            f[f"variant_{slot}_name"] = forms.CharField(
                label=_("Name"), max_length=40, required=False
            )
            f[f"variant_{slot}_weight"] = forms.IntegerField(
                label=_("Weight"), min_value=1, max_value=1000, required=False
            )
            for key, label, widget in cls.content_keys(channel):
                if isinstance(widget, forms.Textarea):
                    widget = forms.Textarea(attrs={**widget.attrs, "rows": 4})
                f[f"variant_{slot}_{key}"] = forms.CharField(
                    label=label, required=False, widget=widget, strip=False
                )

    @staticmethod
    def initial(experiment: dict | None, channel: str) -> dict:
        if not experiment:
            return {
                "experiment_on": False,
                "experiment_auto": True,
                "experiment_test_hours": 24,
                "variant_0_name": "A",
                "variant_0_weight": 1,
                "variant_1_name": "B",
                "variant_1_weight": 1,
            }
        initial = {
            "experiment_on": True,
            "experiment_holdout": experiment.get("holdoutPercent", 0),
            "experiment_metric": experiment.get("winnerMetric", "clicks"),
            "experiment_test_percent": experiment.get("testPercent"),
            "experiment_test_hours": experiment.get("testHours", 24),
            "experiment_auto": experiment.get("autoWinner", True),
        }
        for slot, variant in enumerate(experiment.get("variants") or []):
            initial[f"variant_{slot}_name"] = variant["name"]
            initial[f"variant_{slot}_weight"] = variant["weight"]
            for key, value in (variant.get("content") or {}).items():
                if key != "translations":
                    initial[f"variant_{slot}_{key}"] = value
        return initial

    @classmethod
    def clean(cls, form: forms.Form, cleaned: dict, channel: str, current: dict | None) -> None:
        """``cleaned["experiment"]``: the normalized experiment, or None (off)."""
        from campaigns.experiments import (
            MAX_VARIANTS,
            experiment_template_errors,
            find_variant,
            normalize_experiment,
        )

        cleaned["experiment"] = None
        if not cleaned.get("experiment_on"):
            return
        variants, slots = [], []
        for slot in range(MAX_VARIANTS):
            name = (cleaned.get(f"variant_{slot}_name") or "").strip()
            content = {
                key: cleaned.get(f"variant_{slot}_{key}")
                for key, *_rest in cls.content_keys(channel)
                if cleaned.get(f"variant_{slot}_{key}")
            }
            if not name and not content:
                continue
            # Translations are edited through the API: the page keeps a variant's.
            kept = find_variant(current, name)
            if kept and (kept.get("content") or {}).get("translations"):
                content["translations"] = kept["content"]["translations"]
            weight = cleaned.get(f"variant_{slot}_weight")
            variants.append(
                {"name": name, "weight": 1 if weight is None else weight, "content": content}
            )
            slots.append(slot)
        experiment = {
            "variants": variants,
            "holdoutPercent": cleaned.get("experiment_holdout") or 0,
            "testPercent": cleaned.get("experiment_test_percent"),
            "winnerMetric": cleaned.get("experiment_metric") or "clicks",
            "testHours": cleaned.get("experiment_test_hours") or 24,
            "autoWinner": bool(cleaned.get("experiment_auto")),
        }
        campaign_type = cleaned.get("type") or form.campaign.type
        # A goal refused above is not "no goal": its own error says what to fix.
        has_conversion = bool(cleaned.get("conversion")) or "conversion_event" in form.errors
        try:
            normalized = normalize_experiment(
                channel, experiment, campaign_type=campaign_type, has_conversion=has_conversion
            )
        except ValidationError as exc:
            cls.add_errors(form, exc.message_dict, slots)
            return
        errors = experiment_template_errors(channel, normalized)
        if errors:
            cls.add_errors(form, errors, slots)
            return
        cleaned["experiment"] = normalized

    @classmethod
    def add_errors(cls, form: forms.Form, errors: dict, slots: list[int]) -> None:
        """API-path errors (``experiment.variants.1.content.subject``) next to the
        form's fields (``variant_<slot>_subject``)."""
        for key, messages in errors.items():
            field = cls.SETTINGS.get(key)
            parts = key.split(".")
            if field is None and len(parts) >= 4 and parts[1] == "variants":
                index = int(parts[2]) if parts[2].isdigit() else 0
                slot = slots[index] if index < len(slots) else 0
                leaf = parts[-1] if parts[3] != "content" or len(parts) == 5 else None
                candidate = f"variant_{slot}_{leaf}" if leaf else None
                field = candidate if candidate in form.fields else None
            form.add_error(field if field in form.fields else None, messages)

    @staticmethod
    def slots(form: forms.Form) -> list[dict]:
        """The variant slots as the template shows them."""
        from campaigns.experiments import MAX_VARIANTS

        rows = []
        for slot in range(MAX_VARIANTS):
            content = [
                form[f"variant_{slot}_{key}"]
                for key, *_rest in ExperimentFields.content_keys(form.campaign.channel)
            ]
            name, weight = form[f"variant_{slot}_name"], form[f"variant_{slot}_weight"]
            filled = bool(name.value()) or any(field.value() for field in content)
            errors = name.errors or weight.errors or any(field.errors for field in content)
            rows.append(
                {
                    "number": slot + 1,
                    "name": name,
                    "weight": weight,
                    "content": content,
                    "open": slot < 2 or filled or errors,
                }
            )
        return rows


class ProofForm(forms.Form):
    recipients = forms.CharField(
        label=_("Send a proof to"),
        help_text=_("Up to 10 addresses (or phone numbers / push tokens), separated by commas."),
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")  # "Send a proof to", no colon
        super().__init__(*args, **kwargs)

    def clean_recipients(self) -> list[str]:
        values = [v.strip() for v in self.cleaned_data["recipients"].replace("\n", ",").split(",")]
        values = [v for v in values if v]
        if not values:
            raise ValidationError(_("Enter at least one recipient."))
        if len(values) > 10:
            raise ValidationError(_("Proofs go to at most 10 recipients."))
        return values


def _local(value, tz_name: str):
    if value is None:
        return None
    from zoneinfo import ZoneInfo

    try:
        return value.astimezone(ZoneInfo(tz_name)).replace(tzinfo=None)
    except Exception:  # an invalid stored zone should not break the page
        return value


def _audience_label(audience: Audience) -> str:
    return _("%(name)s (about %(size)s profiles)") % {
        "name": audience.name,
        "size": number_format(audience.size, force_grouping=True),
    }


def custom_data(raw: str | None) -> dict:
    """A content form's "custom data" field: a JSON object, or {} when empty
    (campaign and template forms alike)."""
    raw = (raw or "").strip()
    if not raw:
        return {}
    try:
        value = jsonparse.loads(raw)
    except ValueError as exc:
        raise ValidationError(_("Not valid JSON: %(error)s") % {"error": exc}) from None
    if not isinstance(value, dict):
        raise ValidationError(_("Custom data must be a JSON object."))
    return value
