"""API keys made for someone else hold no more than whoever made them.

An administrator may make a key for another user in the admin, but not for a
superuser, nor for someone holding a grant on a restricted object or a
permission the administrator lacks (``accounts.admin.users_only_superusers_key``,
review 6): the key is shown to the administrator, who may keep a copy. That
was checked only when the key was made: the key then followed its owner's
powers, so a superuser granting the owner a restricted campaign later (or
making them a superuser) gave the administrator's copy the same (tenth review).

Here, whenever what a user may do changes — roles, group or user permissions,
per-object grants to them or their groups, the user saved (superuser flag,
deactivated) — the keys made for them by someone else, and the keys they made
for others, are checked again: a key whose maker could not make it now (the
owner holds more, the maker less or is gone) is revoked. The owner makes a new
one of their own (``/accounts/settings/``, ``POST /api/v1/me/api-keys``).
Keys made by their owner, and by the operator's ``create_api_key`` command,
are not concerned.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

ALL = None  # every key made for someone else (a change whose users are not known)


def recheck(users=ALL) -> int:
    """Revoke the keys made for ``users`` by someone else, or made by ``users``
    for someone else, whose maker could not make them now; returns how many."""
    from django.db.models import Q

    from accounts.admin import users_only_superusers_key
    from accounts.models import ApiKey
    from accounts.services import api_key_revoke

    keys = ApiKey.objects.filter(for_another=True, revoked_at__isnull=True)
    if users is not ALL:
        keys = keys.filter(Q(user_id__in=users) | Q(created_by_id__in=users))
    revoked = 0
    beyond: dict[int, set[int]] = {}  # maker → the owners they could not key now
    for key in keys.select_related("created_by"):
        maker = key.created_by
        if maker is not None and maker.is_active and maker.is_superuser:
            continue
        if maker is not None and maker.is_active:
            if maker.pk not in beyond:
                owners = users_only_superusers_key(maker)
                beyond[maker.pk] = set(owners.values_list("pk", flat=True))
            if key.user_id not in beyond[maker.pk]:
                continue
        api_key_revoke(key=key)
        revoked += 1
        logger.warning(
            "API key %s… of user %s revoked: made by %s, who could not make it now",
            key.prefix,
            key.user_id,
            key.created_by_id,
        )
    return revoked


def _group_users(groups):
    from django.contrib.auth import get_user_model

    through = get_user_model().groups.through
    return through.objects.filter(group_id__in=groups).values("user_id")


def _on_m2m(side: str):
    """A receiver for user↔group and user↔permission changes (``side`` "user":
    the forward instance is a user, the reverse ``pk_set`` users) or
    group↔permission changes ("group": a group, the reverse ``pk_set`` groups)."""

    def receiver(sender, instance, action, reverse, pk_set, **kwargs) -> None:
        if action not in ("post_add", "post_remove", "post_clear"):
            return
        if reverse and action == "post_clear":
            recheck(ALL)  # who held it is not known any more
        elif reverse:
            ids = list(pk_set or ())
            recheck(ids if side == "user" else _group_users(ids))
        else:
            recheck([instance.pk] if side == "user" else _group_users([instance.pk]))

    return receiver


def _on_user_saved(sender, instance, created, update_fields=None, raw=False, **kwargs) -> None:
    if raw or created or (update_fields is not None and set(update_fields) <= {"last_login"}):
        return
    recheck([instance.pk])


def _on_user_grant(sender, instance, raw=False, **kwargs) -> None:
    if not raw:
        recheck([instance.user_id])


def _on_group_grant(sender, instance, raw=False, **kwargs) -> None:
    if not raw:
        recheck(_group_users([instance.group_id]))


def _on_group_deleted(sender, instance, **kwargs) -> None:
    recheck(ALL)  # its members are not known any more


def _on_user_deleted(sender, instance, **kwargs) -> None:
    # The keys they made for others now name no maker (SET_NULL ran first):
    # a key nobody could make now is revoked.
    recheck(ALL)


def connect() -> None:
    """Connect the receivers (AccountsConfig.ready)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db.models.signals import m2m_changed, post_delete, post_save
    from guardian.utils import get_group_obj_perms_model, get_user_obj_perms_model

    user = get_user_model()
    uid = "accounts.keyguard"
    m2m_changed.connect(_on_m2m("user"), sender=user.groups.through, dispatch_uid=uid + ".ug")
    m2m_changed.connect(
        _on_m2m("user"), sender=user.user_permissions.through, dispatch_uid=uid + ".up"
    )
    m2m_changed.connect(
        _on_m2m("group"), sender=Group.permissions.through, dispatch_uid=uid + ".gp"
    )
    post_save.connect(_on_user_saved, sender=user, dispatch_uid=uid + ".us")
    post_save.connect(_on_user_grant, sender=get_user_obj_perms_model(), dispatch_uid=uid + ".uo")
    post_save.connect(_on_group_grant, sender=get_group_obj_perms_model(), dispatch_uid=uid + ".go")
    post_delete.connect(_on_group_deleted, sender=Group, dispatch_uid=uid + ".gd")
    post_delete.connect(_on_user_deleted, sender=user, dispatch_uid=uid + ".ud")
