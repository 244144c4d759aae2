from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from accounts import keycache, keyguard

        post_migrate.connect(_sync_roles, sender=self)
        post_migrate.connect(_recheck_keys, sender=self)
        keycache.connect()
        keyguard.connect()
        from django.contrib.auth.signals import user_logged_in

        user_logged_in.connect(_remember_time_zone, dispatch_uid="accounts.time_zone")


def _sync_roles(sender, **kwargs) -> None:
    from accounts.roles import sync_roles

    sync_roles()


def _recheck_keys(sender, **kwargs) -> None:
    # Keys made for someone else that a migration marked (0008: those made
    # before 0007) are checked as a change of powers would check them.
    from accounts import keyguard

    keyguard.recheck()


def _remember_time_zone(sender, request, user, **kwargs) -> None:
    if request is not None and hasattr(request, "session"):
        from accounts.middleware import remember_time_zone

        remember_time_zone(request, user)
