"""django-q2 entry points for channels (thin: ids in, one service call).

Every task is safe to run twice: the services claim their rows with a
compare-and-set.
"""

from __future__ import annotations


def send_test_message(test_message_id: int) -> None:
    from channels.services import test_message_deliver

    test_message_deliver(test_message_id)


def sweep_test_messages() -> dict:
    """Periodic: test messages whose lease expired (channels/leases.py)."""
    from channels.services import test_messages_sweep

    return test_messages_sweep()
