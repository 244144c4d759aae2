"""Automatic completion (SPEC §3) and the periodic sweep that drives everything."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db.models import Q

from campaigns.engine.claim import reclaim_expired
from campaigns.engine.clock import now
from campaigns.engine.conf import knob
from campaigns.engine.dispatch import ensure_dispatcher
from campaigns.engine.runs import ACTIVE, enqueue_senders, enqueue_start, finish_if_done
from campaigns.engine.schedule import (
    activate_campaign,
    plan_live_campaigns,
    start_due_campaigns,
)
from campaigns.engine.send import is_beating
from campaigns.experiments import decide_due_winners
from campaigns.models import Campaign, CampaignStatus, CampaignType, Delivery, Run
from campaigns.transitions import transition

logger = logging.getLogger(__name__)

DISPATCHED = (Run.Kind.API_UNITARY, Run.Kind.API_AUDIENCE)


def complete_campaigns(moment: datetime) -> list[int]:
    """Live campaigns past their end date, or one-shots three days after
    activation, become ``completed`` — never while a run still has work."""
    one_shot_age = timedelta(seconds=knob("ENGINE_ONE_SHOT_COMPLETE_SECONDS"))
    due = Campaign.objects.filter(status=CampaignStatus.LIVE).filter(
        Q(live_version__end_at__lte=moment)
        | Q(
            type=CampaignType.SCHEDULED,
            live_version__recurrence__isnull=True,
            activated_at__lte=moment - one_shot_age,
        )
    )
    done = []
    for campaign in due.exclude(runs__status__in=ACTIVE).distinct():
        if (
            campaign.live_version
            and campaign.live_version.recurrence
            and not (campaign.live_version.end_at and campaign.live_version.end_at <= moment)
        ):
            continue
        if transition(campaign, "complete"):
            done.append(campaign.pk)
    return done


# A queued run younger than this has a start task on its way: the tick leaves it.
START_GRACE = timedelta(minutes=2)


def drive_runs() -> None:
    """Restart runs nobody is working on (a dead worker, a lost task).

    API triggers waiting in ``queued`` are the dispatcher's (ensure_dispatcher);
    other queued runs get a start task only once they are older than the grace,
    and at most once per grace period — not a new task every minute.
    """
    moment = now()
    for run in Run.objects.filter(status__in=ACTIVE).only(
        "id", "kind", "status", "scheduled_for", "created_at", "test_ends_at"
    ):
        if run.status == Run.Status.SENDING:
            if run.test_ends_at is not None and only_waiting_for_winner(run.pk):
                continue  # nothing a sender could claim until the winner is decided
            if not finish_if_done(run.pk) and not is_beating(run.pk):
                enqueue_senders(run.pk, knob("ENGINE_SENDERS"))
            continue
        if run.status == Run.Status.QUEUED and run.kind in DISPATCHED:
            continue
        if run.status == Run.Status.MATERIALIZING and run.kind == Run.Kind.API_UNITARY:
            continue  # the dispatcher takes over an expired claim itself
        due = run.scheduled_for is None or run.scheduled_for <= moment
        if (
            due
            and not is_beating(run.pk)
            and max(run.created_at, run.scheduled_for or run.created_at) < moment - START_GRACE
            and cache.add(
                f"engine:restart:{run.pk}:{run.created_at.timestamp()}",
                1,
                timeout=int(START_GRACE.total_seconds()),
            )
        ):
            enqueue_start(run)


def only_waiting_for_winner(run_id: int) -> bool:
    """An experiment's run whose unfinished deliveries all wait for the winner."""
    from campaigns.experiments import HELD_UNTIL

    unfinished = Delivery.objects.filter(
        run_id=run_id, status__in=[Delivery.Status.PENDING, Delivery.Status.SENDING]
    )
    return (
        unfinished.filter(send_after=HELD_UNTIL).exists()
        and not unfinished.exclude(send_after=HELD_UNTIL).exists()
    )


def resume_lost_activations(moment: datetime) -> None:
    """A campaign still ``activating`` long after it was enqueued lost its task
    (a broker restart, a killed cluster): prepare it now. Activation is idempotent."""
    stale = Campaign.objects.filter(
        status=CampaignStatus.ACTIVATING,
        updated_at__lt=moment - timedelta(seconds=knob("ENGINE_ACTIVATION_GRACE_SECONDS")),
    )
    for campaign_id in stale.values_list("pk", flat=True):
        activate_campaign(campaign_id)


def tick() -> None:
    """The one periodic job (every minute): idempotent, safe on many clusters at once."""
    moment = now()
    resume_lost_activations(moment)
    start_due_campaigns(moment)
    plan_live_campaigns(moment)
    reclaim_expired()
    ensure_dispatcher()
    decide_due_winners(moment)
    drive_runs()
    complete_campaigns(moment)
