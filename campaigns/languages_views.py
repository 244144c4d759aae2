"""The languages of a campaign's content (SPEC §11): the list of translations
with what each lacks, and one page per language to write it. The sender picks
a profile's exact locale, then its language, then the default content."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from audiences.channel_facts import CONTENT_FIELDS
from audiences.locales import MAX_LOCALES, missing_fields, normalize_locale, translations_of
from campaigns import services
from campaigns.languages import choices, locale_label, translation_remove, translation_save
from campaigns.selectors import check_action, get_campaign_for
from campaigns.templates_forms import TemplateForm


class AddLanguageForm(forms.Form):
    common = forms.ChoiceField(label=gettext_lazy("Language"), required=False)
    other = forms.CharField(
        label=gettext_lazy("or another language tag"),
        max_length=35,
        required=False,
        help_text=gettext_lazy("BCP 47, such as pt-BR or fr-CH."),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["common"].choices = [("", "—"), *choices()]

    def clean(self):
        data = super().clean()
        raw = (data.get("other") or "").strip() or data.get("common") or ""
        locale = normalize_locale(raw)
        if locale is None:
            raise ValidationError(_("Use a language tag such as fr or fr-CA."))
        data["locale"] = locale
        return data


class TranslationForm(TemplateForm):
    """The channel's content fields, without a name: empty ones fall back."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        del self.fields["name"]
        for field in self.fields.values():
            field.required = False


def _editable(request: HttpRequest, pk: int):
    campaign = get_campaign_for(request.user, pk)
    check_action(request.user, "edit", campaign)
    version = services.editable_version(campaign)
    return campaign, version


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def languages(request: HttpRequest, pk: int) -> HttpResponse:
    campaign, version = _editable(request, pk)
    if version is None:
        messages.error(request, _("This campaign is read-only in its status."))
        return redirect("campaigns:detail", pk=pk)
    content = version.content or {}
    form = AddLanguageForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        locale = form.cleaned_data["locale"]
        if locale not in translations_of(content) and len(translations_of(content)) >= MAX_LOCALES:
            form.add_error(None, _("At most %(max)d languages per message.") % {"max": MAX_LOCALES})
        else:
            return redirect("campaigns:translation", pk=pk, locale=locale)
    missing = missing_fields(content, CONTENT_FIELDS[campaign.channel])
    rows = [
        {"locale": loc, "label": locale_label(loc), "missing": missing.get(loc, [])}
        for loc in sorted(translations_of(content))
    ]
    return render(
        request,
        "studio/languages.html",
        {"campaign": campaign, "rows": rows, "form": form},
        status=400 if form.errors else 200,
    )


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def translation(request: HttpRequest, pk: int, locale: str) -> HttpResponse:
    campaign, version = _editable(request, pk)
    if normalize_locale(locale) != locale:
        raise Http404
    if version is None:
        return redirect("campaigns:detail", pk=pk)
    current = translations_of(version.content).get(locale, {})
    form = TranslationForm(
        request.POST or None,
        channel=campaign.channel,
        initial=TemplateForm.initial_for("", current),
    )
    if request.method == "POST" and form.is_valid():
        try:
            translation_save(
                campaign=campaign,
                actor=request.user,
                locale=locale,
                fields=form.cleaned_data["content"],
            )
        except ValidationError as exc:
            prefix = f"content.translations.{locale}."
            for key, msgs in exc.message_dict.items():
                name = "content_" + key[len(prefix) :] if key.startswith(prefix) else None
                form.add_error(name if name in form.fields else None, msgs)
        except services.ActionRefused as exc:
            messages.error(request, exc.message)
            return redirect("campaigns:detail", pk=pk)
        else:
            messages.success(request, _("%(language)s saved.") % {"language": locale_label(locale)})
            return redirect("campaigns:languages", pk=pk)
    default = version.content or {}
    return render(
        request,
        "studio/translation.html",
        {
            "campaign": campaign,
            "locale": locale,
            "label": locale_label(locale),
            "form": form,
            "exists": locale in translations_of(version.content),
            "defaults": {f"content_{k}": default.get(k) for k in CONTENT_FIELDS[campaign.channel]},
        },
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def translation_delete(request: HttpRequest, pk: int, locale: str) -> HttpResponse:
    campaign, version = _editable(request, pk)
    if version is None or locale not in translations_of(version.content):
        raise Http404
    translation_remove(campaign=campaign, actor=request.user, locale=locale)
    messages.success(request, _("%(language)s removed.") % {"language": locale_label(locale)})
    return redirect("campaigns:languages", pk=pk)
