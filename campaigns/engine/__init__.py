"""The execution engine (SPEC §5): runs, fan-out, claiming, sending, time.

The lifecycle services call only the functions below; everything else in this
package is the engine's own business.
"""

from __future__ import annotations


def enqueue_activation(campaign_id: int) -> None:
    """Called on commit after a campaign entered ``activating``: the worker
    prepares it (snapshot, schedules) and moves it to scheduled/live/failed."""
    from django_q.tasks import async_task

    async_task("campaigns.tasks.activate", campaign_id, task_name=f"activate-{campaign_id}")


def cancel_campaign_work(campaign) -> None:
    """Called inside the stop transaction: cancel pending deliveries and future
    occurrences so that nothing is sent after the stop returns."""
    from campaigns.engine.stop import cancel_campaign_work as cancel

    cancel(campaign)


def enqueue_reschedule(campaign_id: int) -> None:
    """Called on commit after a live/scheduled campaign's draft version replaced
    its live version: the worker rebuilds its schedules from the new version."""
    from django_q.tasks import async_task

    async_task("campaigns.tasks.reschedule", campaign_id, task_name=f"reschedule-{campaign_id}")
