"""The wording of each kind of in-app notice, chosen when it is shown so that
every reader sees it in their own language (a notice is written once, in the
language of whoever caused it, and read later by someone else)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

KINDS = {
    "approval_requested": _("“%(name)s” waits for your approval."),
    "approved": _("“%(name)s” was approved by %(who)s."),
    "changes_requested": _("“%(name)s” was sent back for changes by %(who)s."),
    "approval_cancelled": _("The approval request for “%(name)s” was cancelled by %(who)s."),
    "experiment_winner": _(
        "“%(name)s”: variant %(variant)s won the test and now goes to everyone still waiting."
    ),
    "webhook_disabled": _(
        "The webhook endpoint %(url)s failed for a day and was switched off; "
        "its events wait until it is switched on again."
    ),
}


def render_notice(kind: str, params: dict) -> str:
    """The text of a known ``kind`` with its ``params`` (and the comment that
    came with it, as typed); "" for an unknown kind or missing parameters."""
    template = KINDS.get(kind)
    if template is None:
        return ""
    try:
        text = str(template) % params
    except (KeyError, TypeError, ValueError):
        return ""
    comment = (params.get("comment") or "").strip()
    return f"{text} {comment}" if comment else text
