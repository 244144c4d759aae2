"""Hooks through which the apps above channels (campaigns) take part in what
channels does, without channels importing them (accounts ← audiences ←
channels ← campaigns). campaigns registers its handlers in
``campaigns/hooks.py``.
"""

from __future__ import annotations

from audiences.hooks import Blocker, Hook

__all__ = ["Blocker", "configuration_users"]

# handler(config=, actor=) -> list[Blocker]: what sends through the
# configuration (campaigns being activated, scheduled or live with it, or with
# a run still sending); each named only if the actor may see it.
configuration_users = Hook("configuration_users")


def users_of(config, actor) -> list[Blocker]:
    return [user for found in configuration_users(config=config, actor=actor) for user in found]
