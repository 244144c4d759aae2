"""The per-key request limit shared by web processes (accounts/ratelimit.py)."""

from __future__ import annotations

import uuid

import pytest

from accounts import ratelimit


@pytest.fixture
def name():
    return f"test-{uuid.uuid4().hex}"


def test_no_more_than_the_limit_pass_across_processes(monkeypatch, name):
    # Two web processes, each with its own leases, sharing one counter.
    tables = [{}, {}]
    allowed = 0
    for attempt in range(400):
        monkeypatch.setattr(ratelimit, "_leases", tables[attempt % 2])
        allowed += ratelimit.allow(name, 7, 300)
    assert allowed == 300


def test_a_small_limit_is_exact(name):
    assert [ratelimit.allow(name, 1, 2) for _ in range(3)] == [True, True, False]


def test_a_new_window_starts_again(name):
    assert ratelimit.allow(name, 1, 1)
    assert not ratelimit.allow(name, 1, 1)
    assert ratelimit.allow(name, 2, 1)


def test_one_round_trip_per_lease(monkeypatch, name):
    calls = []
    real = ratelimit.hit
    monkeypatch.setattr(ratelimit, "hit", lambda *a, **k: calls.append(1) or real(*a, **k))
    for _ in range(100):
        assert ratelimit.allow(name, 3, 1000)  # leases of 10
    assert len(calls) == 10
