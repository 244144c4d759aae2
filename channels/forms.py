"""Forms for the /channels/ pages."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from audiences.models import Channel, Profile
from channels.models import ChannelConfiguration, Purpose
from channels.preview import MAX_PROOFS
from channels.rendering import FIELDS, validate_content
from config import jsonparse
from config.problems import unstorable_fields

_CHANNEL_FORM_FIELDS = {
    Channel.EMAIL: ["from_address", "from_name", "reply_to", "bcc", "provider"],
    Channel.SMS: ["sender_number", "provider"],
    Channel.PUSH: ["platform", "app_id", "provider"],
}
_COMMON = ["name", "purpose", "rate_limit_per_second", "restricted"]
_PROVIDER_LABELS = {
    "smtp": _("Email backend (EMAIL_URL)"),
    "amazon_ses": "Amazon SES",
    "sendgrid": "SendGrid",
    "mailgun": "Mailgun",
    "postmark": "Postmark",
    "brevo": "Brevo",
    "sparkpost": "SparkPost",
    "mailjet": "Mailjet",
    "twilio": _("Twilio (or a Twilio-compatible API)"),
    "fcm": "Firebase Cloud Messaging",
    "apns": "Apple Push Notification service",
    "webhook": _("Signed HTTP webhook"),
    "console": _("Console (development)"),
}


class SecretTextarea(forms.Textarea):
    """Never renders a value: stored credentials are not shown back."""

    def format_value(self, value):
        return None


def _credentials_help() -> str:
    from channels import credentials

    needs = []
    for provider, names in credentials.REQUIRED.items():
        names = list(names)
        if provider in credentials.ONE_OF:
            names.append(" or ".join(credentials.ONE_OF[provider]))
        needs.append(f"{_PROVIDER_LABELS[provider]}: {', '.join(names)}")
    return _(
        "Stored encrypted and never shown again; leave empty to keep the stored ones. "
        "One per line as name=value, or name=env:VARIABLE to read the value from the "
        "server's environment (a JSON object works too). Needed — %(needs)s."
    ) % {"needs": "; ".join(needs)}


class ChannelConfigurationForm(forms.ModelForm):
    """One form for the three channels: only the chosen channel's fields are shown."""

    class Meta:
        model = ChannelConfiguration
        fields = [*_COMMON, *sorted({f for fs in _CHANNEL_FORM_FIELDS.values() for f in fs})]
        widgets = {
            "from_address": forms.EmailInput(),
            "reply_to": forms.EmailInput(),
            "bcc": forms.EmailInput(),
            "sender_number": forms.TextInput(attrs={"placeholder": "+31612345678"}),
            "app_id": forms.TextInput(attrs={"placeholder": "com.example.app"}),
        }
        help_texts = {
            "sender_number": _("International format (E.164), e.g. +31612345678."),
            "bcc": _("Every message is also sent to this address (an archive, for example)."),
        }

    def __init__(self, *args, channel: str, user=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.channel = channel
        self.user = user
        self.instance.channel = channel
        keep = set(_COMMON) | set(_CHANNEL_FORM_FIELDS[channel])
        for name in list(self.fields):
            if name not in keep:
                del self.fields[name]
        providers = ChannelConfiguration.PROVIDERS[channel]
        self.fields["provider"] = forms.ChoiceField(
            label=_("provider"),
            choices=[(p, _PROVIDER_LABELS[p]) for p in providers],
            initial=self.instance.provider if self.instance.pk else providers[0],
            # Email forms posted before providers existed mean the email backend.
            required=channel != Channel.EMAIL,
        )
        if channel == Channel.EMAIL:
            self.fields["from_address"].required = True
        self.fields["provider_url"] = forms.URLField(
            label=_("provider API URL"),
            required=False,
            max_length=500,
            initial=self.instance.provider_url,
            assume_scheme="https",
            help_text=_("Optional: another API base URL (a regional endpoint, for example)."),
        )
        names = self.instance.credential_names if self.instance.pk else []
        self.fields["credentials"] = forms.CharField(
            label=_("credentials"),
            required=False,
            strip=True,
            widget=SecretTextarea(attrs={"rows": 3, "autocomplete": "off", "spellcheck": "false"}),
            help_text=(_("Stored: %(names)s. ") % {"names": ", ".join(names)} if names else "")
            + _credentials_help(),
        )
        # Who sends comes right after the name and purpose; the tuning fields last.
        self.order_fields(
            [
                "name",
                "purpose",
                *_CHANNEL_FORM_FIELDS[channel],
                "provider",
                "provider_url",
                "credentials",
            ]
        )
        self.fieldsets = [
            (_("Name and purpose"), ["name", "purpose", "restricted"]),
            (_("Who sends"), _CHANNEL_FORM_FIELDS[channel][:-1]),
            (_("Delivery provider"), ["provider", "provider_url", "credentials"]),
            (_("Sending speed"), ["rate_limit_per_second"]),
        ]
        if channel == Channel.SMS:
            self.fields["sender_number"].required = True
        if channel == Channel.PUSH:
            self.fields["platform"].required = True
            self.fields["app_id"].required = True

    def clean(self) -> dict:
        from channels import credentials

        data = super().clean()
        provider = data.get("provider") or (
            "smtp" if self.channel == Channel.EMAIL else self.instance.provider
        )
        previous_url = self.instance.provider_url
        self.instance.provider = provider
        self.instance.provider_url = data.get("provider_url") or ""
        from channels.netguard import url_problem

        problem = url_problem(self.instance.provider_url)
        if problem:
            self.add_error("provider_url", problem)
        raw = data.get("credentials") or ""
        if raw:
            try:
                values = credentials.parse(raw)
                credentials.check_author(values, self.user)
                self.instance.set_credentials(values)
            except credentials.CredentialsError as exc:
                self.add_error("credentials", str(exc))
        elif self.instance.pk and (
            self.initial.get("provider") != provider or previous_url != self.instance.provider_url
        ):
            # Another provider's credentials never carry over, nor are stored
            # credentials sent to a new URL: they are typed again.
            self.instance.credentials = ""
        return data


class TestMessageForm(forms.Form):
    """Write a message, pick a profile, preview it and send proofs."""

    category = forms.ChoiceField(label=_("category"), choices=Purpose.choices)
    profile_lookup = forms.CharField(
        label=_("Profile"),
        required=False,
        # As the API's: SQLite refuses a case-insensitive look-up past 50,000
        # bytes (a 500 on this page, review 19).
        max_length=512,
        help_text=_("Email, phone (E.164) or external profile id; empty: no profile."),
    )
    context = forms.CharField(
        label=_("Context sample (JSON)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": '{"orderId": "A-1001"}'}),
    )
    recipients = forms.CharField(
        label=_("Proof recipients"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Up to %(max)d addresses, one per line or separated by commas.")
        % {"max": MAX_PROOFS},
    )

    def __init__(self, *args, config: ChannelConfiguration, user=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.config = config
        self.user = user
        self.fields["category"].initial = config.purpose
        content_fields = {
            Channel.EMAIL: [
                ("subject", _("Subject"), forms.TextInput()),
                ("preheader", _("Preheader"), forms.TextInput()),
                ("html", _("HTML body"), forms.Textarea(attrs={"rows": 10})),
                (
                    "text",
                    _("Plain-text body (generated from HTML when empty)"),
                    forms.Textarea(attrs={"rows": 5}),
                ),
            ],
            Channel.SMS: [
                ("text", _("Text"), forms.Textarea(attrs={"rows": 4, "data-sms-counter": "1"})),
            ],
            Channel.PUSH: [
                ("title", _("Title"), forms.TextInput()),
                ("body", _("Body"), forms.Textarea(attrs={"rows": 3})),
                ("url", _("Click URL"), forms.TextInput()),
                ("data", _("Custom data (JSON object)"), forms.Textarea(attrs={"rows": 3})),
            ],
        }[config.channel]
        ordered = {}
        for name, label, widget in content_fields:
            ordered[f"content_{name}"] = forms.CharField(
                label=label, required=False, widget=widget, strip=False
            )
        self.fields = {**ordered, **self.fields}
        self.fieldsets = [
            (_("Message"), [*ordered, "category"]),
            (_("Personalization"), ["profile_lookup", "context"]),
            (_("Proofs"), ["recipients"]),
        ]

    def _json(self, name: str, what: str) -> dict | None:
        raw = (self.cleaned_data.get(name) or "").strip()
        if not raw:
            return None
        try:
            value = jsonparse.loads(raw)
        except ValueError as exc:
            self.add_error(name, _("Not valid JSON: %(error)s") % {"error": exc})
            return None
        if not isinstance(value, dict):
            self.add_error(name, _("%(what)s must be a JSON object.") % {"what": what})
            return None
        # The test message is stored for the cluster: PostgreSQL refuses a NUL
        # or a lone surrogate ("\u0000", "\ud800") in JSON (a 500; fifth review).
        if next(unstorable_fields(value, ""), None) is not None:
            self.add_error(name, _("Text may not contain NUL characters or unpaired surrogates."))
            return None
        return value

    def clean(self) -> dict:
        data = super().clean()
        content: dict = {}
        for name in FIELDS[self.config.channel]:
            value = data.get(f"content_{name}", "")
            if name == "data":
                value = self._json("content_data", _("Custom data")) or {}
            if value:
                content[name] = value
        for field, messages in validate_content(self.config.channel, content).items():
            for message in messages:
                self.add_error(
                    f"content_{field}" if f"content_{field}" in self.fields else None, message
                )
        data["content"] = content
        data["context_data"] = self._json("context", _("The context"))
        data["profile"] = self._find_profile(data.get("profile_lookup", "").strip())
        data["recipient_list"] = [
            r.strip()
            for r in data.get("recipients", "").replace(",", "\n").splitlines()
            if r.strip()
        ]
        return data

    def _find_profile(self, lookup: str) -> Profile | None:
        if not lookup:
            return None
        from channels.preview import lookup_profile

        profile = lookup_profile(self.user, lookup)
        if profile is None:
            self.add_error("profile_lookup", _("No profile with this email, phone or id."))
        return profile


def _phone_or_none(value: str) -> str | None:
    """The E.164 form of a typed phone number (the one rule of audiences), or None."""
    from audiences.services import normalize_phone

    try:
        return normalize_phone(value)
    except ValueError:
        return None
