"""Demo data for this app (called by `manage.py seed_demo`, idempotent)."""

from __future__ import annotations


def seed(*, users: dict, **kwargs) -> None:
    return None
