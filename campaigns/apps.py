import logging

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

logger = logging.getLogger(__name__)


def _ensure_schedules(sender=None, **kwargs) -> None:
    from config.schedules import ensure_schedules

    try:
        ensure_schedules()
    except Exception:  # a cluster started before `migrate` must still start
        logger.warning("Could not declare the engine's schedules", exc_info=True)


def _start_dispatcher(sender=None, **kwargs) -> None:
    """A starting cluster makes sure the trigger dispatcher runs, so the first
    trigger does not wait for a dispatcher task to be enqueued and picked up."""
    from django_q.conf import Conf

    from campaigns.engine.dispatch import ensure_dispatcher

    # django-q2's sync mode runs each task through worker(), which sends
    # post_spawn too: no cluster is starting, and a dispatcher enqueued here
    # would run at once, inline, and enqueue the next one (a hang).
    if Conf.SYNC:
        return
    try:
        ensure_dispatcher()
    except Exception:  # the next trigger or the minute tick starts it instead
        logger.warning("Could not start the trigger dispatcher", exc_info=True)


def _volley_unit(key: str, part: int) -> float:
    from campaigns.experiments import unit_pair

    campaign, _sep, profile = str(key).partition(":")
    return unit_pair(int(campaign), int(profile))[int(part)]


def _sqlite_functions(sender=None, connection=None, **kwargs) -> None:
    """SQLite has no SHA-256: the experiments' assignment (campaigns/experiments.py)
    is given to it as a function, the same numbers PostgreSQL computes in SQL."""
    if connection is not None and connection.vendor == "sqlite":
        connection.connection.create_function("volley_unit", 2, _volley_unit, deterministic=True)


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self) -> None:
        from django.db.backends.signals import connection_created
        from django_q.signals import post_spawn

        # The campaign actions add their permissions to accounts' vocabulary.
        from campaigns import (
            actions,  # noqa: F401
            hooks,
        )
        from campaigns.engine.executions import CampaignGone, KeyRevoked, TriggerNotAllowed
        from config import problems

        # Tracking, provider feedback, rule changes and privacy requests in the
        # apps below reach deliveries and campaigns through these hooks.
        hooks.register()
        # The engine's reasons for refusing a trigger, and the API's answer to each.
        problems.register(TriggerNotAllowed, status=409)
        problems.register(CampaignGone, status=404)
        problems.register(KeyRevoked, status=401)

        connection_created.connect(_sqlite_functions, dispatch_uid="volley-sqlite-functions")

        # Periodic engine work is declared in one idempotent place: after every
        # migrate, and again when a cluster starts (schedules deleted by hand come back).
        post_migrate.connect(_ensure_schedules, sender=self, dispatch_uid="engine-schedules")
        post_spawn.connect(_ensure_schedules, dispatch_uid="engine-schedules-spawn")
        post_spawn.connect(_start_dispatcher, dispatch_uid="engine-dispatcher-spawn")
