"""Engine knobs: Django settings first (tests override them), else the environment."""

from __future__ import annotations

from django.conf import settings

from config.env import env_int

DEFAULTS = {
    # Deliveries claimed (and sent over one connection) per batch: also the bound
    # on duplicates a killed worker can cause.
    "ENGINE_BATCH_SIZE": 200,
    # A claimed batch not finished within the lease is given back (dead worker).
    "ENGINE_LEASE_SECONDS": 120,
    # A sender's permit to call a provider (campaigns/barrier.py) lasts this long
    # unless renewed (at least the transports' timeout plus 5 s): how long a stop
    # may wait for a sender that died in the middle of a batch.
    "ENGINE_PERMIT_SECONDS": 30,
    # Sender tasks started per run; each loops over batches.
    "ENGINE_SENDERS": 4,
    # A sender works this long, then hands over to a fresh task (fairness, recycling).
    "ENGINE_SEND_BUDGET_SECONDS": 60,
    # An occurrence missed by more than this is skipped and recorded, not sent late.
    "ENGINE_MISSED_TOLERANCE_SECONDS": 900,
    "ENGINE_MAX_ATTEMPTS": 5,
    # A campaign still "activating" this long after its last change lost its task.
    "ENGINE_ACTIVATION_GRACE_SECONDS": 600,
    # Transient failures wait base × 2^(attempt-1) seconds before the next try.
    "ENGINE_RETRY_BASE_SECONDS": 30,
    # API triggers prepared and sent together by one dispatcher pass.
    "ENGINE_DISPATCH_BATCH": 100,
    # ... and at most this many bytes of their recipients (contexts included):
    # a pass holds them all in memory (at least one trigger is always taken).
    "ENGINE_DISPATCH_BATCH_BYTES": 8 * 1024 * 1024,
    # Dispatcher tasks working at once across the installation; the first stays
    # resident (it polls), the others start under a backlog and leave when idle.
    "ENGINE_DISPATCHERS": 2,
    # A dispatcher task works this long, then hands over to a fresh one (it
    # also leaves within a second when its cluster is asked to stop).
    "ENGINE_DISPATCH_BUDGET_SECONDS": 60,
    # Triggers claimed by a dispatcher that died are taken over after this long.
    "ENGINE_DISPATCH_LEASE_SECONDS": 15,
    # An idle dispatcher looks for triggers at least this often (milliseconds),
    # so a lost wake-up delays a trigger by this much at most.
    "ENGINE_DISPATCH_POLL_MS": 500,
    # One-shot campaigns complete this long after activation (SPEC §3).
    "ENGINE_ONE_SHOT_COMPLETE_SECONDS": 3 * 24 * 3600,
}


def knob(name: str) -> int:
    if hasattr(settings, name):
        return int(getattr(settings, name))
    return env_int(name, DEFAULTS[name], minimum=0)
