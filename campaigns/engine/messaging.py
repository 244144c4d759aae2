"""The engine's view of the channels app: compile content once per run, get a transport.

Rendering and transports belong to ``channels``; this module only adapts a
campaign version to their interfaces so the sender has one place to call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from channels.rendering import compile_content
from channels.transports import OutboundMessage, SendResult, TransportError, get_transport

__all__ = [
    "Deferred",
    "SendResult",
    "TransportError",
    "compile_for_version",
    "outbound",
    "transport_for",
]


def compile_for_version(version, channel: str, category: str, variant: str = ""):
    """The version's content compiled; ``variant``: an experiment variant's
    content (its fields over the version's, campaigns/experiments.py)."""
    content = version.content or {}
    if variant:
        from campaigns.experiments import find_variant, variant_content

        found = find_variant(version.experiment, variant)
        if found is None:
            raise ValueError(f"the version has no experiment variant {variant!r}")
        content = variant_content(content, found["content"])
    return compile_content(
        channel,
        content,
        category=category,
        track_opens=version.track_opens,
        track_clicks=version.track_clicks,
    )


def transport_for(config):
    return get_transport(config)


def outbound(delivery_id: int, to: str, rendered, category: str) -> OutboundMessage:
    return OutboundMessage(delivery_id=delivery_id, to=to, rendered=rendered, category=category)


@dataclass(slots=True)
class Deferred:
    """A message rendered only once the transport takes it (``Batch.admitted``):
    the rendering of one message overlaps the provider's answer to the one
    before, and a message the permit no longer admits is never rendered.
    ``build()`` returns the ``OutboundMessage`` or raises (a render failure)."""

    delivery_id: int
    build: Callable[[], OutboundMessage]
