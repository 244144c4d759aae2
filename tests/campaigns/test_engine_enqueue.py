"""Handing work to the cluster: one broker per process, after commit."""

from __future__ import annotations

import pytest

from campaigns.engine import runs


class RecordingBroker:
    def __init__(self):
        self.packages = []
        self.list_key = "test"

    def enqueue(self, package):
        self.packages.append(package)
        return str(len(self.packages))


@pytest.fixture
def brokers(monkeypatch):
    made: list[RecordingBroker] = []

    def get_broker(*args, **kwargs):
        made.append(RecordingBroker())
        return made[-1]

    monkeypatch.setattr("django_q.brokers.get_broker", get_broker)
    monkeypatch.setattr(runs, "_brokers", {})
    return made


def test_tasks_share_one_broker_per_process(db, brokers, django_capture_on_commit_callbacks):
    # django-q2 builds a broker (a Redis connection) per task unless given one.
    with django_capture_on_commit_callbacks(execute=True):
        runs.enqueue("campaigns.tasks.start_run", 1, task_name="run-1")
        runs.enqueue("campaigns.tasks.start_run", 2, task_name="run-2")
    assert len(brokers) == 1
    assert len(brokers[0].packages) == 2


def test_nothing_is_enqueued_before_commit(db, brokers, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        runs.enqueue("campaigns.tasks.start_run", 1)
    assert brokers == [] or brokers[0].packages == []
    assert len(callbacks) == 1
