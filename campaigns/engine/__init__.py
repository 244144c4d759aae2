"""The execution engine (SPEC §5): runs, fan-out, claiming, sending, time.

The lifecycle services call only the functions below; everything else in this
package is the engine's own business:

* ``schedule``    activation, due runs, recurrences, the missed-occurrence rule
* ``materialize`` fan-out of a run's deliveries in one INSERT … SELECT
* ``claim``       batches under a lease (SKIP LOCKED), expired leases
* ``send``        render, throttle, transport, record (compare-and-set)
* ``throttle``    shared token buckets (Redis or a locked file)
* ``runs``        a run's states, counters, retry of failed deliveries
* ``completion``  automatic completion and the periodic ``tick``
* ``stop``        cancellation inside the stop transaction
* ``executions``  API-triggered runs
* ``dispatch``    the trigger dispatcher

Every task is handed to the cluster through ``runs.enqueue`` (after the
current transaction commits, over one cached broker per process). The stop
barrier the senders obey lives outside the engine, in ``campaigns.barrier``.
"""

from __future__ import annotations


def enqueue_activation(campaign_id: int) -> None:
    """After a campaign entered ``activating`` (on commit): the worker prepares
    it (snapshot, schedules) and moves it to scheduled/live/failed."""
    from campaigns.engine.runs import enqueue

    enqueue("campaigns.tasks.activate", campaign_id, task_name=f"activate-{campaign_id}")


def cancel_campaign_work(campaign) -> None:
    """Called inside the stop transaction: cancel pending deliveries and future
    occurrences so that nothing is sent after the stop returns."""
    from campaigns.engine.stop import cancel_campaign_work as cancel

    cancel(campaign)


def enqueue_reschedule(campaign_id: int) -> None:
    """After a live/scheduled campaign's draft version replaced its live version
    (on commit): the worker rebuilds its schedules from the new version."""
    from campaigns.engine.runs import enqueue

    enqueue("campaigns.tasks.reschedule", campaign_id, task_name=f"reschedule-{campaign_id}")


def enqueue_proof(proof_id: int) -> None:
    """After a proof was requested (on commit): the worker sends it and records
    its status (``campaigns.proofs.deliver_proof``)."""
    from campaigns.engine.runs import enqueue

    enqueue("campaigns.tasks.send_proof", proof_id, task_name=f"proof-{proof_id}")
