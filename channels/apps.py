from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _erase_address_events(*, channel: str, address: str) -> None:
    """An erased person's address leaves the raw tracking and provider events."""
    from channels.models import DeliveryEvent

    DeliveryEvent.objects.filter(channel=channel, address=address).update(address="", detail="")


class ChannelsConfig(AppConfig):
    name = "channels"
    verbose_name = _("Channels")

    def ready(self) -> None:
        from audiences import hooks

        # ESP tracking webhooks feed the provider feedback path.
        from channels import esp_feedback  # noqa: F401

        hooks.address_erasing.register(_erase_address_events)
