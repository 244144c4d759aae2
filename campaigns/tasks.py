"""django-q2 entry points for campaigns. Each task: ids in, fetch, one service.

Every task is safe to run twice (django-q2 may deliver a task again after a
crash or a timeout): the services they call are idempotent.
"""

from __future__ import annotations

from campaigns.engine import dispatch as trigger_dispatch
from campaigns.engine import runs, schedule, send
from campaigns.engine.completion import tick as engine_tick


def activate(campaign_id: int) -> None:
    schedule.activate_campaign(campaign_id)


def reschedule(campaign_id: int) -> None:
    schedule.reschedule_campaign(campaign_id)


def tick() -> None:
    engine_tick()


def start_run(run_id: int) -> None:
    if runs.start_run(run_id):
        send_run(run_id)


def send_run(run_id: int) -> None:
    outcome = send.send_run(run_id)
    if outcome == "budget":
        runs.enqueue_senders(run_id, 1)
    elif outcome == "done":
        runs.finish_if_done(run_id)


def dispatch() -> None:
    trigger_dispatch.run_dispatcher()


def apply_retention() -> None:
    from campaigns.retention import apply_retention as apply

    apply()


def send_proof(proof_id: int) -> None:
    from campaigns.proofs import deliver_proof

    deliver_proof(proof_id)


def sweep_proofs() -> dict:
    from campaigns.proofs import sweep_proofs as sweep

    return sweep()
