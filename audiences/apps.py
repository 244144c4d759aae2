from django.apps import AppConfig
from django.db.models.signals import post_save
from django.utils.translation import gettext_lazy as _


class AudiencesConfig(AppConfig):
    name = "audiences"
    verbose_name = _("Audiences")

    def ready(self) -> None:
        from accounts import services as account_services
        from audiences.models import Profile
        from audiences.services import (
            audience_access_narrowing,
            audiences_follow_restricted_campaign,
        )

        if audiences_follow_restricted_campaign not in account_services.restricting:
            account_services.restricting.append(audiences_follow_restricted_campaign)
        if audience_access_narrowing not in account_services.narrowing:
            account_services.narrowing.append(audience_access_narrowing)

        post_save.connect(
            _restore_erased_suppressions, sender=Profile, dispatch_uid="volley-erased"
        )


def _restore_erased_suppressions(sender, instance, **kwargs) -> None:
    # Every single-profile write (API upsert, admin, a profile created by an API
    # trigger) passes here; bulk imports call the same function per batch.
    from audiences.privacy import profile_suppressions_restore

    profile_suppressions_restore(instance)
