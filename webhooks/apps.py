from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = _("Webhooks")

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from accounts.permissions import register
        from audiences import hooks as audience_hooks
        from webhooks.models import Endpoint
        from webhooks.outbox import forget_subscribers

        register({"webhook.manage": "webhooks.change_endpoint"})
        audience_hooks.profile_erasing.register(_erase_from_events)
        # Who subscribes to what is cached per process (outbox.subscribers):
        # any change to an endpoint drops the cached answer everywhere.
        post_save.connect(forget_subscribers, sender=Endpoint, dispatch_uid="webhooks.saved")
        post_delete.connect(forget_subscribers, sender=Endpoint, dispatch_uid="webhooks.deleted")


def _erase_from_events(*, profile) -> set:
    """An erased person leaves the events not yet purged (their data was frozen
    when first claimed; those still unbuilt read the anonymised delivery)."""
    from webhooks.models import Message
    from webhooks.outbox import PERSONAL_FIELDS

    waiting = Message.objects.filter(data__profile__id=profile.pk)
    for message in waiting.only("pk", "data").iterator(chunk_size=500):
        data = dict(message.data or {})
        data["profile"] = None
        for field in PERSONAL_FIELDS:
            if field in data:
                data[field] = None
        Message.objects.filter(pk=message.pk).update(data=data)
    return set()
