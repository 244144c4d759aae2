"""The nightly retention reads what is left to do, not what was done (security
review 11, #8): rows read grow linearly with the rows to anonymise or clear, a
batch never walks the rows earlier batches or nights did, and the partial
indexes of the work lists exist on both databases.

Rows *read* are counted, not timed: on PostgreSQL the table's tuples fetched
in the test's transaction (``pg_stat_xact_user_tables``), on SQLite the
virtual machine's steps (a progress handler). The old code re-asked each
batch for the oldest rows still to do, and the plan walked the rows already
done: reads grew with the square of the rows (×2.5–4 for twice the rows).
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import connection

from campaigns import retention
from campaigns.engine.clock import now
from campaigns.models import Delivery, Run
from tests.campaigns.conftest import email_config, make_campaign

pytestmark = pytest.mark.django_db

RUN_SIZE = 250


@pytest.fixture
def batches(settings):
    settings.RETENTION_DELIVERY_DAYS = 365
    settings.RETENTION_CONTEXT_DAYS = 7
    settings.RETENTION_BATCH_SIZE = 50


def fill(n: int, *, days: int, campaign=None):
    """``n`` sent deliveries with an address and a context, in runs ``days`` old."""
    campaign = campaign or make_campaign(None, email_config())
    for start in range(0, n, RUN_SIZE):
        run = Run.objects.create(
            campaign=campaign,
            version=campaign.live_version,
            kind="api_unitary",
            status="completed",
            context={"coupon": "SPRING"},
        )
        Run.objects.filter(pk=run.pk).update(created_at=now() - timedelta(days=days))
        Delivery.objects.bulk_create(
            [
                Delivery(
                    run=run, status="sent", address=f"p{start + i}@example.com", context={"i": i}
                )
                for i in range(min(RUN_SIZE, n - start))
            ],
            batch_size=500,
        )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE campaigns_delivery; ANALYZE campaigns_run")
    return campaign


@contextmanager
def rows_read():
    """Yields a list that holds, on exit, how much the block read."""
    result: list[int] = []
    if connection.vendor == "postgresql":
        sql = (
            "SELECT coalesce(sum(coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)), 0)"
            " FROM pg_stat_xact_user_tables WHERE relname = 'campaigns_delivery'"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql)
            before = int(cursor.fetchone()[0])
        yield result
        with connection.cursor() as cursor:
            cursor.execute(sql)
            result.append(int(cursor.fetchone()[0]) - before)
    else:
        steps = [0]

        def count():
            steps[0] += 1
            return 0

        raw = connection.connection
        raw.set_progress_handler(count, 100)
        try:
            yield result
        finally:
            raw.set_progress_handler(None, 0)
        result.append(steps[0])


def _read_by(job, n: int) -> int:
    fill(n, days=400)
    fill(n, days=1)  # recent rows, kept
    with rows_read() as read:
        assert job() >= n
    return read[0]


@pytest.mark.parametrize(
    "job",
    [retention.anonymise_deliveries, retention.clear_old_contexts],
    ids=["anonymise", "contexts"],
)
def test_rows_read_grow_linearly_with_the_rows_to_do(batches, job):
    small = _read_by(job, 1000)
    Delivery.objects.all().delete()
    Run.objects.all().delete()
    large = _read_by(job, 2000)
    # Twice the rows, twice the reads (the old code: ×2.5–4, quadratic).
    assert large < 2.3 * small, (small, large)


def test_a_later_night_does_not_read_the_rows_done_before(batches):
    fill(2000, days=400)
    with rows_read() as first:
        assert retention.clear_old_contexts() == 2000 + 8  # and the 8 runs'
        assert retention.anonymise_deliveries() == 2000
    with rows_read() as second:
        assert retention.anonymise_deliveries() == 0
        assert retention.clear_old_contexts() == 0
    if connection.vendor == "postgresql":
        # The partial indexes hold only what is left: nothing here.
        assert second[0] < 50, (first[0], second[0])
    else:
        # SQLite walks the table in id order once a night (linear, no index).
        assert second[0] < first[0] / 2, (first[0], second[0])


def test_the_work_lists_are_partial_indexes_on_both_databases(db):
    with connection.cursor() as cursor:
        delivery = connection.introspection.get_constraints(cursor, "campaigns_delivery")
        run = connection.introspection.get_constraints(cursor, "campaigns_run")
    assert delivery["delivery_to_anonymise"]["index"]
    assert delivery["delivery_with_context"]["index"]
    assert run["run_with_context"]["index"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner")
def test_the_batch_query_walks_the_index_of_rows_still_to_do(batches):
    fill(2000, days=400)
    fill(2000, days=1)
    batch = retention.old_deliveries(now()).filter(pk__gt=0).order_by("pk").values("pk")[:50]
    assert "delivery_to_anonymise" in batch.explain()
