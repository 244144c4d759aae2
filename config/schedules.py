"""Every periodic job of the product, declared in this one place.

The apps own the tasks; the installation composes them here (config sits above
the apps). ``ensure_schedules`` runs after every migrate and when a cluster
starts (campaigns/apps.py), so a schedule deleted by hand comes back.
"""

from __future__ import annotations

# name → (task, minutes)
SCHEDULES: dict[str, tuple[str, int]] = {
    # starts due runs and occurrences, skips missed ones, reclaims expired leases,
    # completes campaigns, keeps a trigger dispatcher running
    # (campaigns/engine/completion.py)
    "volley-engine-tick": ("campaigns.tasks.tick", 1),
    # re-queues CSV imports whose worker died (no heartbeat for a while)
    "volley-import-sweep": ("audiences.tasks.sweep_stale_imports", 5),
    # outbound webhooks: retries that came due, and what a lost wake-up missed
    # (webhooks/delivery.py)
    "volley-webhooks": ("webhooks.tasks.tick", 1),
    # proofs and test messages whose task was lost or whose worker died
    # (channels/leases.py)
    "volley-proof-sweep": ("campaigns.tasks.sweep_proofs", 1),
    "volley-test-message-sweep": ("channels.tasks.sweep_test_messages", 1),
    # retention windows of message data (SPEC §14), once a day
    "volley-retention": ("campaigns.tasks.apply_retention", 24 * 60),
}


def ensure_schedules() -> None:
    """Declare every periodic job (idempotent; safe on every cluster at once)."""
    from django_q.models import Schedule

    for name, (func, minutes) in SCHEDULES.items():
        Schedule.objects.update_or_create(
            name=name,
            defaults={
                "func": func,
                "schedule_type": Schedule.MINUTES,
                "minutes": minutes,
                "repeats": -1,
            },
        )
