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
# Email starters are designs (campaigns/designer.py): the designer opens them as
# blocks, and their HTML is the designer's own table layout with inline styles.


def _text(html: str) -> dict:
    return {"type": "text", "html": html}


def _footer(marketing: bool) -> dict:
    if marketing:
        html = (
            str(escape(_("You receive this email because you subscribed.")))
            + ' <a href="{{ unsubscribe_url }}">'
            + str(escape(_("Unsubscribe")))
            + "</a>"
        )
    else:
        html = str(escape(_("This is a service message about your account.")))
    return {"type": "footer", "html": html}


def _email_design(kind: str, hello: str) -> tuple[str, str, list[dict]]:
    """(subject, preheader, blocks) of an email starter."""
    if kind == "newsletter":
        return (
            _("This month's news"),
            _("Here is what happened this month."),
            [
                {"type": "heading", "text": _("This month's news")},
                _text(hello),
                _text(escape(_("Here is what happened this month, and what is coming next."))),
                _text(escape(_("Write your first story here: a short paragraph and a link."))),
                {"type": "button", "label": _("Read more"), "href": "https://example.com/news"},
                {"type": "divider"},
                _footer(True),
            ],
        )
    if kind == "announcement":
        return (
            _("Something new for you"),
            _("We have just launched something we think you will like."),
            [
                {"type": "heading", "text": _("Introducing something new")},
                _text(hello),
                _text(escape(_("We have just launched something we think you will like."))),
                {"type": "button", "label": _("Discover it"), "href": "https://example.com/new"},
                _footer(True),
            ],
        )
    if kind == "receipt":
        return (
            _("Your receipt") + " {{ context.orderId }}",
            _("Thank you for your order"),
            [
                {"type": "heading", "text": _("Thank you for your order")},
                _text(hello),
                _text(escape(_("Order number:")) + " <strong>{{ context.orderId }}</strong>"),
                _text(escape(_("Total:")) + " <strong>{{ context.total }}</strong>"),
                {"type": "button", "label": _("View your order"), "href": "{{ context.orderUrl }}"},
                _footer(False),
            ],
        )
    return (
        _("Reset your password"),
        _("Someone asked to reset the password of your account."),
        [
            {"type": "heading", "text": _("Reset your password")},
            _text(hello),
            _text(escape(_("Someone asked to reset the password of your account."))),
            _text(escape(_("If it was not you, ignore this email: nothing changes."))),
            {
                "type": "button",
                "label": _("Choose a new password"),
                "href": "{{ context.resetUrl }}",
            },
            _footer(False),
        ],
    )


def _email_content(kind: str) -> dict:
    from campaigns.designer import clean_design, render_design

    # The personalization is added after escaping: its quotes are template syntax.
    hello = (
        "{% if profile.firstName %}"
        + str(escape(_("Hello %(name)s,"))) % {"name": "{{ profile.firstName }}"}
        + "{% else %}"
        + str(escape(_("Hello,")))
        + "{% endif %}"
    )
    subject, preheader, blocks = _email_design(kind, hello)
    design = clean_design({"blocks": blocks})
    html = render_design(design, title=subject)
    return {"subject": subject, "preheader": preheader, "html": html, "text": "", "design": design}


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
