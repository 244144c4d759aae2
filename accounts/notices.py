"""The wording of each kind of in-app notice, chosen when it is shown so that
every reader sees it in their own language (a notice is written once, in the
language of whoever caused it, and read later by someone else)."""

from __future__ import annotations

from collections.abc import Callable

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
    "campaign_hidden": _("A notice about a campaign you may not see now, or that was deleted."),
}

# Kinds that name a campaign: written with its id (``params["campaign"]``) and
# worded, when read, from the campaign as it is then (``for_reader``).
CAMPAIGN_KINDS = frozenset(
    {
        "approval_requested",
        "approved",
        "changes_requested",
        "approval_cancelled",
        "experiment_winner",
    }
)


# handler(user=, ids=) -> {campaign id: name} of the campaigns among ``ids``
# that ``user`` may see. Registered by campaigns (campaigns/hooks.py): accounts
# never imports the apps above it. Without one, every campaign is hidden.
_campaign_name_handlers: list[Callable[..., dict[int, str]]] = []


def register_campaign_names(handler: Callable[..., dict[int, str]]) -> None:
    if handler not in _campaign_name_handlers:
        _campaign_name_handlers.append(handler)


def _campaign_names(*, user, ids: set[int]) -> dict[int, str]:
    names: dict[int, str] = {}
    for handler in _campaign_name_handlers:
        names.update(handler(user=user, ids=ids))
    return names


def for_reader(notices: list, user) -> list:
    """``notices`` as ``user`` may read them now (in memory, nothing saved).

    A notice naming a campaign kept the name it was written with: an approver
    told "“X” waits for your approval" still read X (page and API) after X was
    restricted and not granted to them, or renamed (review 6, finding 7). Now
    the campaign is read when the notice is shown, in one statement for the
    page: one the reader may see is named as it is called now; one they may not
    see (or deleted, or a notice written before campaigns were recorded in it
    and not matched by migration ``accounts/0006``) becomes ``campaign_hidden``,
    without its name, comment or link."""
    ids = {
        pk
        for notice in notices
        if notice.kind in CAMPAIGN_KINDS
        and isinstance(pk := (notice.params or {}).get("campaign"), int)
    }
    names = _campaign_names(user=user, ids=ids) if ids else {}
    for notice in notices:
        if notice.kind not in CAMPAIGN_KINDS:
            continue
        pk = (notice.params or {}).get("campaign")
        if isinstance(pk, int) and pk in names:
            notice.params = {**notice.params, "name": names[pk]}
            notice.message = render_notice(notice.kind, notice.params)
        else:
            notice.kind, notice.params, notice.url = "campaign_hidden", {}, ""
            notice.message = str(KINDS["campaign_hidden"])
    return notices


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
