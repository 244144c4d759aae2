"""The gallery of starter designs (SPEC §11): newsletter, announcement,
transactional receipt and password reset, for each channel.

A starter is content, not a row: it is built in the active language when the
gallery is shown or a campaign is started from it, so a French marketer starts
from French text. The email designs are table layouts with inline styles (what
Gmail, Outlook and Apple Mail all render), one ``<style>`` block kept for the
narrow-screen media query.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.html import escape
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

KINDS = {
    "newsletter": gettext_lazy("Newsletter"),
    "announcement": gettext_lazy("Announcement"),
    "receipt": gettext_lazy("Transactional receipt"),
    "password_reset": gettext_lazy("Password reset"),
}
# What a campaign started from the starter is, by default (the marketer may
# change it on the edit page while the campaign has never been activated).
CATEGORY = {
    "newsletter": "marketing",
    "announcement": "marketing",
    "receipt": "transactional",
    "password_reset": "transactional",
}
TYPE = {
    "newsletter": "scheduled",
    "announcement": "scheduled",
    "receipt": "api_triggered",
    "password_reset": "api_triggered",
}


@dataclass(frozen=True)
class Starter:
    key: str  # "email-newsletter"
    channel: str
    kind: str

    @property
    def name(self) -> str:
        return str(KINDS[self.kind])

    @property
    def category(self) -> str:
        return CATEGORY[self.kind]

    @property
    def type(self) -> str:
        return TYPE[self.kind]

    def content(self) -> dict:
        """The starter's content in the active language."""
        return _BUILDERS[self.channel](self.kind)


STARTERS: dict[str, Starter] = {
    f"{channel}-{kind}": Starter(f"{channel}-{kind}", channel, kind)
    for channel in ("email", "sms", "push")
    for kind in KINDS
}


def starters_for(channel: str | None = None) -> list[Starter]:
    return [s for s in STARTERS.values() if channel in (None, "", s.channel)]


# --- email ---------------------------------------------------------------------

_STYLE = (
    "<style>@media only screen and (max-width:620px){"
    ".container{width:100%!important}.pad{padding:16px!important}"
    ".col{display:block!important;width:100%!important}}</style>"
)
_FONT = "font-family:Helvetica,Arial,sans-serif;"


def _button(label: str, url: str) -> str:
    return (
        '<table role="presentation" cellpadding="0" cellspacing="0" border="0" '
        'style="margin:24px 0"><tr><td style="background:#2454d6;border-radius:6px">'
        f'<a href="{url}" style="display:inline-block;padding:12px 24px;color:#ffffff;'
        f'{_FONT}font-size:16px;font-weight:bold;text-decoration:none">{escape(label)}</a>'
        "</td></tr></table>"
    )


def _paragraph(text: str) -> str:
    return (
        f'<p style="margin:0 0 16px;{_FONT}font-size:16px;line-height:1.5;color:#1f2933">{text}</p>'
    )


def _email(
    *, title: str, heading: str, body: list[str], button: tuple[str, str] | None, marketing: bool
) -> str:
    footer = (
        _("You receive this email because you subscribed.")
        + f' <a href="{{{{ unsubscribe_url }}}}" style="color:#52606d">{escape(_("Unsubscribe"))}</a>'
        if marketing
        else escape(_("This is a service message about your account."))
    )
    rows = "".join(_paragraph(p) for p in body)
    if button:
        rows += _button(*button)
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>{_STYLE}</head>"
        '<body style="margin:0;padding:0;background:#f2f4f7">'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
        'style="background:#f2f4f7"><tr><td align="center" style="padding:24px 8px">'
        '<table role="presentation" class="container" width="600" cellpadding="0" '
        'cellspacing="0" border="0" style="width:600px;max-width:600px;background:#ffffff;'
        'border-radius:8px">'
        f'<tr><td class="pad" style="padding:32px">'
        f'<h1 style="margin:0 0 16px;{_FONT}font-size:24px;line-height:1.3;color:#102a43">'
        f"{escape(heading)}</h1>{rows}</td></tr>"
        f'<tr><td class="pad" style="padding:16px 32px;border-top:1px solid #e4e7eb;{_FONT}'
        f'font-size:12px;color:#52606d">{footer}</td></tr>'
        "</table></td></tr></table></body></html>"
    )


def _email_content(kind: str) -> dict:
    # The personalization is added after escaping: its quotes are template syntax.
    hello = (
        "{% if profile.firstName %}"
        + str(escape(_("Hello %(name)s,"))) % {"name": "{{ profile.firstName }}"}
        + "{% else %}"
        + str(escape(_("Hello,")))
        + "{% endif %}"
    )
    if kind == "newsletter":
        subject = _("This month's news")
        html = _email(
            title=subject,
            heading=_("This month's news"),
            body=[
                hello,
                escape(_("Here is what happened this month, and what is coming next.")),
                escape(_("Write your first story here: a short paragraph and a link.")),
            ],
            button=(_("Read more"), "https://example.com/news"),
            marketing=True,
        )
        preheader = _("Here is what happened this month.")
    elif kind == "announcement":
        subject = _("Something new for you")
        html = _email(
            title=subject,
            heading=_("Introducing something new"),
            body=[
                hello,
                escape(_("We have just launched something we think you will like.")),
            ],
            button=(_("Discover it"), "https://example.com/new"),
            marketing=True,
        )
        preheader = _("We have just launched something we think you will like.")
    elif kind == "receipt":
        subject = _("Your receipt") + " {{ context.orderId }}"
        html = _email(
            title=subject,
            heading=_("Thank you for your order"),
            body=[
                hello,
                escape(_("Order number:")) + " <strong>{{ context.orderId }}</strong>",
                escape(_("Total:")) + " <strong>{{ context.total }}</strong>",
            ],
            button=(_("View your order"), "{{ context.orderUrl }}"),
            marketing=False,
        )
        preheader = _("Thank you for your order")
    else:
        subject = _("Reset your password")
        html = _email(
            title=subject,
            heading=_("Reset your password"),
            body=[
                hello,
                escape(_("Someone asked to reset the password of your account.")),
                escape(_("If it was not you, ignore this email: nothing changes.")),
            ],
            button=(_("Choose a new password"), "{{ context.resetUrl }}"),
            marketing=False,
        )
        preheader = _("Someone asked to reset the password of your account.")
    return {"subject": subject, "preheader": preheader, "html": html, "text": ""}


def _sms_content(kind: str) -> dict:
    text = {
        "newsletter": _("This month's news is out: https://example.com/news"),
        "announcement": _("Something new for you: https://example.com/new"),
        "receipt": _("Thank you for your order {{ context.orderId }}."),
        "password_reset": _("Your password reset code: {{ context.code }}"),
    }[kind]
    if CATEGORY[kind] == "marketing":
        text += " " + _("Reply STOP to opt out.")
    return {"text": text}


def _push_content(kind: str) -> dict:
    title, body, url = {
        "newsletter": (
            _("This month's news"),
            _("Here is what happened this month."),
            "https://example.com/news",
        ),
        "announcement": (
            _("Something new for you"),
            _("We have just launched something we think you will like."),
            "https://example.com/new",
        ),
        "receipt": (
            _("Thank you for your order"),
            _("Order number:") + " {{ context.orderId }}",
            "{{ context.orderUrl }}",
        ),
        "password_reset": (
            _("Reset your password"),
            _("Someone asked to reset the password of your account."),
            "{{ context.resetUrl }}",
        ),
    }[kind]
    return {"title": title, "body": body, "url": url, "data": {}}


_BUILDERS = {"email": _email_content, "sms": _sms_content, "push": _push_content}
