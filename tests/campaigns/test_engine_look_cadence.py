"""A sender looks at the run's status between messages at most every LOOK_SECONDS,
counted from the answer: on a loaded machine, where the look itself takes longer
than LOOK_SECONDS, it must not turn into one database read per message."""

from __future__ import annotations

from campaigns import barrier
from campaigns.engine import send


class Clock:
    def __init__(self) -> None:
        self.value = 1000.0

    def __call__(self) -> float:
        return self.value


def test_a_slow_look_does_not_make_every_message_look(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(send.time, "monotonic", clock)
    looks = []

    def slow_still_open(run_ids):
        looks.append(clock.value)
        clock.value += barrier.LOOK_SECONDS * 2  # the read takes longer than the cadence
        return set(run_ids)

    monkeypatch.setattr(barrier, "still_open", slow_still_open)
    batch = send.Batch("token", runs={}, run_of={n: 1 for n in range(100)})
    batch.expires_at = batch.renew_at = clock.value + 3600
    for delivery in range(100):
        assert batch.may_send(delivery)
        clock.value += barrier.LOOK_SECONDS / 10  # each message takes a tenth of the cadence
    # First look at once, then one every LOOK_SECONDS of sending: 100 messages at a
    # tenth of the cadence each span ten cadences.
    assert 2 <= len(looks) <= 11, len(looks)
