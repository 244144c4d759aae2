"""django-q2 entry points for audiences (thin: ids in, one service call)."""

from __future__ import annotations


def run_profile_import(import_id: str) -> None:
    """Run a queued CSV import; a second delivery finds it claimed and does nothing."""
    from audiences.importer import profile_import_run

    profile_import_run(import_id=import_id)
