from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from accounts import keycache

        post_migrate.connect(_sync_roles, sender=self)
        keycache.connect()


def _sync_roles(sender, **kwargs) -> None:
    from accounts.roles import sync_roles

    sync_roles()
