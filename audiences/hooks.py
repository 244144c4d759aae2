"""Hooks through which the apps above audiences (channels, campaigns) take part
in what audiences does, without audiences importing them.

Dependencies point one way (accounts ← audiences ← channels ← campaigns). Each
app registers its handlers in its ``AppConfig.ready``: campaigns in
``campaigns/hooks.py``, channels in ``channels/apps.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple


class Blocker(NamedTuple):
    """Something using an audience that an actor may not change by changing it."""

    obj: Any
    name: str
    visible: bool  # False: the actor may not see it, so it is counted, never named


class Hook:
    """An ordered list of handlers called with keyword arguments."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._handlers: list[Callable[..., Any]] = []

    def register(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        if handler not in self._handlers:
            self._handlers.append(handler)
        return handler

    def __call__(self, **kwargs) -> list[Any]:
        return [handler(**kwargs) for handler in self._handlers]


# handler(audience=, actor=) -> list[Blocker]: what a change of the audience's
# rule would alter that the actor may not change.
rule_change_blockers = Hook("rule_change_blockers")

# handler(profile=) -> set of (channel, address): anonymise what the app holds
# about the person (inside the erasure's transaction) and return the addresses
# it knew them by.
profile_erasing = Hook("profile_erasing")

# handler(channel=, address=): forget an erased person's address.
address_erasing = Hook("address_erasing")

# handler(profile=, reader=) -> (key, iterable of dicts): a section of the person's export
# (reader: who asked; None for everything, else only what they may see).
profile_export_sections = Hook("profile_export_sections")

# handler(engagement=, campaign_id=, within_days=, include_machine=) -> Q: the
# profiles that received / opened / clicked (SPEC §13 retargeting); one handler.
engagement_condition = Hook("engagement_condition")

# handler(actor=, ids=) -> set of the campaign ids among ``ids`` that exist and
# that ``actor`` may see.
engagement_campaigns = Hook("engagement_campaigns")

# handler(ids=) -> set of the campaign ids among ``ids`` that are restricted.
restricted_campaigns = Hook("restricted_campaigns")

# handler(actor=) -> [(id, name)]: campaigns the rule builder offers (sent ones
# the actor may see, newest first).
engagement_campaign_choices = Hook("engagement_campaign_choices")
