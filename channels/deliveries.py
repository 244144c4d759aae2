"""The deliveries that tracking and provider feedback are about, reached without
knowing the app that stores them.

Dependencies point one way (accounts ← audiences ← channels ← campaigns):
channels verifies tokens and signatures and parses provider events; what a
delivery is and how its first-event times are written belong to campaigns,
which registers its store here in ``CampaignsConfig.ready``
(``campaigns/hooks.py``).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Protocol

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q

# The key a message carries back (Message-ID local part, ESP metadata): "delivery-<id>".
DELIVERY_KEY = re.compile(r"^delivery-(\d{1,18})$")


class DeliveryStore(Protocol):
    def get(self, pk: int) -> Any | None:
        """The delivery (with its profile), or None when it does not exist."""

    def channel(self, delivery: Any) -> str:
        """The channel the delivery was sent on."""

    def set_first(self, delivery: Any, field: str, when: datetime) -> bool:
        """Set a first-event time (``opened_at`` …) unless already set; True if it was."""

    def lock(self, delivery: Any) -> None:
        """Lock the delivery's row until the transaction ends and reload its
        first-event times (tracking requests of one message in turn)."""

    def set_times(self, delivery: Any, times: dict[str, datetime | None]) -> None:
        """Overwrite first-event times (after a re-classification)."""

    def hidden(self, user: Any, prefix: str) -> Q | None:
        """A filter (lookups from ``prefix``, the path to a delivery) matching
        the deliveries ``user`` may not know of — of a restricted campaign not
        granted, or to a person known only through restricted audiences —, or
        None when nothing is hidden from them."""


_store: DeliveryStore | None = None


def register(store: DeliveryStore) -> None:
    global _store
    _store = store


def _registered() -> DeliveryStore:
    if _store is None:
        raise ImproperlyConfigured("No delivery store is registered (is campaigns installed?).")
    return _store


def get(pk: int):
    return _registered().get(pk)


def from_key(key: str | None):
    """The delivery named by ``delivery-<id>``, or None (unknown or malformed key)."""
    match = DELIVERY_KEY.match(key or "")
    return get(int(match.group(1))) if match else None


def channel(delivery) -> str:
    return _registered().channel(delivery)


def set_first(delivery, field: str, when: datetime) -> bool:
    return _registered().set_first(delivery, field, when)


def lock(delivery) -> None:
    _registered().lock(delivery)


def set_times(delivery, times: dict) -> None:
    if times:
        _registered().set_times(delivery, times)


def hidden(user, prefix: str = "") -> Q | None:
    return _registered().hidden(user, prefix)
