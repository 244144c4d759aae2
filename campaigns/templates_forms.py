"""Forms of the template pages (SPEC §11)."""

from __future__ import annotations

import json

from django import forms
from django.utils.translation import gettext_lazy as _

from audiences.models import Channel
from campaigns.forms import CampaignEditForm
from campaigns.validation import template_errors


class TemplateForm(forms.Form):
    """A template's name and the content fields of its channel (the campaign
    editor's fields, with the same labels and checks)."""

    name = forms.CharField(label=_("Name"), max_length=200)

    def __init__(self, *args, channel: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.channel = channel
        for name, field_class, label, widget in CampaignEditForm.CONTENT_FIELDS[channel]:
            self.fields[f"content_{name}"] = field_class(
                label=label, required=False, widget=widget, strip=False
            )

    @staticmethod
    def initial_for(name: str, content: dict) -> dict:
        initial = {"name": name}
        for key, value in (content or {}).items():
            initial[f"content_{key}"] = json.dumps(value) if key == "data" else value
        return initial

    @property
    def content_fields(self):
        return [self[n] for n in self.fields if n.startswith("content_")]

    def clean_content_data(self):
        from campaigns.forms import custom_data

        return custom_data(self.cleaned_data.get("content_data"))

    def clean(self):
        cleaned = super().clean()
        content = {
            n[len("content_") :]: cleaned.get(n, {} if n == "content_data" else "")
            for n in self.fields
            if n.startswith("content_")
        }
        for key, messages in template_errors(self.channel, content).items():
            self.add_error(f"content_{key}", messages)
        cleaned["content"] = content
        return cleaned


class NewTemplateForm(TemplateForm):
    channel = forms.ChoiceField(
        label=_("Channel"), choices=Channel.choices, widget=forms.HiddenInput
    )


class SaveAsTemplateForm(forms.Form):
    name = forms.CharField(
        label=_("Template name"),
        max_length=200,
        help_text=_("The content is copied: later edits of the campaign do not change it."),
    )
