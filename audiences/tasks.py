"""django-q2 entry points for audiences (thin: ids in, one service call)."""

from __future__ import annotations


def run_profile_import(import_id: str) -> None:
    """Run a queued CSV import; a second delivery finds it claimed and does nothing."""
    from audiences.importer import profile_import_run

    profile_import_run(import_id=import_id)


def sweep_stale_imports() -> int:
    """Periodic: re-queue imports whose worker died (schedule every few minutes)."""
    from audiences.importer import profile_import_sweep

    return profile_import_sweep()
