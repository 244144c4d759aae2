"""What a campaign's message looks like before it is sent (SPEC §11): for a
chosen profile or sample data, in each language, as the API answers it and as
the preview page shows it (desktop and mobile widths, an SMS with its segments,
a push notification on a phone). The rendering is the sender's own
(``channels.preview.render_preview``, which chooses the translation the way
every sender does)."""

from __future__ import annotations

from audiences.channel_facts import sms_segments
from audiences.locales import translations_of
from campaigns.models import Campaign
from channels.preview import PreviewError, render_preview
from config.problems import DomainError

FIELDS = {
    "email": ("subject", "preheader", "html", "text"),
    "sms": ("text",),
    "push": ("title", "body", "url", "data"),
}


class PreviewFailed(DomainError):
    """The content does not render (API 400)."""

    status = 400


def version_for_preview(campaign: Campaign):
    return campaign.draft_version or campaign.live_version


def preview_message(campaign: Campaign, *, profile=None, locale: str | None = None) -> dict:
    """``{"subject", "html", "text", … , "locale"}`` for the campaign's channel;
    SMS adds ``segments`` (the counter the editor shows)."""
    version = version_for_preview(campaign)
    content = dict(version.content or {}) if version else {}
    try:
        rendered = render_preview(
            channel=campaign.channel,
            content=content,
            category=campaign.category,
            profile=profile,
            locale=locale or None,
        )
    except PreviewError as exc:
        raise PreviewFailed(str(exc), errors=exc.errors or None) from exc
    answer = {name: getattr(rendered, name) for name in FIELDS[campaign.channel]}
    answer["locale"] = rendered.locale
    if campaign.channel == "sms":
        answer["segments"] = sms_segments(rendered.text)
    return answer


def languages_of(campaign: Campaign) -> list[str]:
    version = version_for_preview(campaign)
    return sorted(translations_of(version.content if version else {}))


DEVICES = ("desktop", "mobile")


def preview_page_context(request, campaign: Campaign, rendered) -> dict:
    """The preview page's switches (device, language) and what each channel's
    mock needs; links keep the other choices in the query string."""
    from django.utils.http import urlencode

    from campaigns.languages import locale_label

    device = request.GET.get("device") if request.GET.get("device") in DEVICES else "desktop"
    locale = request.GET.get("locale") or ""
    profile = request.GET.get("profile") or ""

    def link(**change) -> str:
        query = {"device": device, "locale": locale, "profile": profile, **change}
        return "?" + urlencode({k: v for k, v in query.items() if v})

    shown = getattr(rendered, "locale", "") if rendered is not None else ""
    return {
        "device": device,
        "device_links": [(d, link(device=d)) for d in DEVICES],
        "languages": [("", locale_label(""), link(locale=""))]
        + [(code, locale_label(code), link(locale=code)) for code in languages_of(campaign)],
        "asked_locale": locale,
        "shown_locale": shown,
        "shown_label": locale_label(shown),
        "profile_value": profile,
        "segments": sms_segments(rendered.text)
        if rendered is not None and campaign.channel == "sms"
        else None,
        "rendered": rendered,
    }
