from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChannelsConfig(AppConfig):
    name = "channels"
    verbose_name = _("Channels")

    def ready(self) -> None:
        # ESP tracking webhooks feed the provider feedback path.
        from channels import esp_feedback  # noqa: F401
