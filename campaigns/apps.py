from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _ensure_schedules(sender, **kwargs) -> None:
    from campaigns.engine import ensure_schedules

    ensure_schedules()


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self) -> None:
        # Periodic engine work is declared in one idempotent place, after every migrate.
        post_migrate.connect(_ensure_schedules, sender=self, dispatch_uid="engine-schedules")
