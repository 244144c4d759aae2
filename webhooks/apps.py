from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = _("Webhooks")

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from accounts.permissions import register
        from webhooks.models import Endpoint
        from webhooks.outbox import forget_subscribers

        register({"webhook.manage": "webhooks.change_endpoint"})
        # Who subscribes to what is cached per process (outbox.subscribers):
        # any change to an endpoint drops the cached answer everywhere.
        post_save.connect(forget_subscribers, sender=Endpoint, dispatch_uid="webhooks.saved")
        post_delete.connect(forget_subscribers, sender=Endpoint, dispatch_uid="webhooks.deleted")
