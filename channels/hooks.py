"""Hooks through which the apps above channels (campaigns) take part in what
channels does, without channels importing them (accounts ← audiences ←
channels ← campaigns). campaigns registers its handlers in
``campaigns/hooks.py``.
"""

from __future__ import annotations

from audiences.hooks import Blocker, Hook

__all__ = ["Blocker", "configuration_reach", "configuration_users"]

# handler(config=, actor=) -> list[Blocker]: what sends through the
# configuration (campaigns being activated, scheduled or live with it, or with
# a run still sending); each named only if the actor may see it.
configuration_users = Hook("configuration_users")

# handler(config=, actor=) -> int: how many of those the actor may see may send
# to people hidden from the actor (known only through restricted audiences
# that every writer of the campaign may see).
configuration_reach = Hook("configuration_reach")


def users_of(config, actor) -> list[Blocker]:
    return [user for found in configuration_users(config=config, actor=actor) for user in found]


def reaching_hidden(config, actor) -> int:
    return sum(configuration_reach(config=config, actor=actor))
