"""A short per-process memory of authenticated API keys, for the hot API paths.

Looking a key up, checking its hash and loading its owner's permissions cost
three queries per request. The trigger endpoints (``/executions/…``) remember
a successful authentication for ``API_KEY_CACHE_SECONDS`` (at most 30): a key
revoked or a user deactivated meanwhile is refused by this process at the
latest when the entry expires, and at once by the process that revoked it.
Nothing unsafe follows from the delay: the trigger's one INSERT re-checks the
key and its owner in the same statement that accepts the trigger, so no trigger
is accepted after a revocation has committed.

What the owner may do is remembered too (their permissions, preloaded). Every
change to it — a role (group) added or removed, a group's or the user's
permissions changed, the user saved (deactivated, made superuser), a group
deleted — bumps ``ApiKey.auth_version`` of the user's keys (the signal
receivers below, connected in ``AccountsConfig.ready``). The trigger's INSERT
accepts only the version this process remembered, so the hot path pays no
extra round trip; a mismatch makes the endpoint reload the key and check the
permissions again (``reload``). Reads of an execution authenticate afresh.
Changes made with raw SQL or ``QuerySet.update`` on the user table send no
signal (deactivation is checked by the INSERT anyway).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from django.conf import settings

_entries: dict[str, CachedKey] = {}
_MAX_ENTRIES = 1024
_clock = time.monotonic  # tests move it forward


@dataclass(frozen=True)
class CachedKey:
    key: object  # accounts.models.ApiKey, its user's permissions preloaded
    expires: float


def ttl() -> float:
    return float(min(getattr(settings, "API_KEY_CACHE_SECONDS", 10), 30))


def authenticate(plain: str):
    """The active ApiKey for ``plain`` (from memory when recently seen), or None."""
    from accounts.permissions import preload_permissions
    from accounts.services import api_key_authenticate

    digest = hashlib.sha256(plain.encode()).hexdigest()
    entry = _entries.get(digest)
    moment = _clock()
    if entry is not None and entry.expires > moment:
        return entry.key
    key = api_key_authenticate(plain)
    if key is None:
        _entries.pop(digest, None)
        return None
    preload_permissions(key.user)
    if len(_entries) >= _MAX_ENTRIES:
        _entries.clear()
    _entries[digest] = CachedKey(key, moment + ttl())
    return key


def forget(prefix: str | None = None) -> None:
    """Drop remembered keys (one key by its prefix, or all)."""
    if prefix is None:
        _entries.clear()
        return
    for digest, entry in list(_entries.items()):
        if entry.key.prefix == prefix:
            _entries.pop(digest, None)


def reload(key):
    """``key`` read again with its owner's current permissions (and remembered
    so), or None when it is revoked or its owner deactivated."""
    from accounts.models import ApiKey
    from accounts.permissions import preload_permissions

    fresh = (
        ApiKey.objects.select_related("user")
        .filter(pk=key.pk, revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    for digest, entry in list(_entries.items()):
        if entry.key.pk == key.pk:
            _entries.pop(digest, None)
            if fresh is not None:
                preload_permissions(fresh.user)
                _entries[digest] = CachedKey(fresh, _clock() + ttl())
    if fresh is not None:
        preload_permissions(fresh.user)
    return fresh


# ------------------------------------------------ what the owner may do changed


def bump(users) -> None:
    """The keys of ``users`` (ids, or a query of ids) are to be checked again."""
    from django.db.models import F

    from accounts.models import ApiKey

    ApiKey.objects.filter(user_id__in=users, revoked_at__isnull=True).update(
        auth_version=F("auth_version") + 1
    )
    _entries.clear()  # this process at once; others at their next trigger


def _group_users(groups):
    from django.contrib.auth import get_user_model

    through = get_user_model().groups.through
    return through.objects.filter(group_id__in=groups).values("user_id")


def _on_user_groups(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    if action not in ("post_add", "post_remove", "pre_clear"):
        return
    if not reverse:
        bump([instance.pk])
    elif action == "pre_clear":
        bump(_group_users([instance.pk]))
    else:
        bump(list(pk_set or ()))


def _on_user_permissions(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    if action not in ("post_add", "post_remove", "pre_clear"):
        return
    if not reverse:
        bump([instance.pk])
    elif action == "pre_clear":
        bump(sender.objects.filter(permission=instance).values("user_id"))
    else:
        bump(list(pk_set or ()))


def _on_group_permissions(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    if action not in ("post_add", "post_remove", "pre_clear"):
        return
    if not reverse:
        bump(_group_users([instance.pk]))
    elif action == "pre_clear":
        bump(_group_users(sender.objects.filter(permission=instance).values("group_id")))
    else:
        bump(_group_users(list(pk_set or ())))


def _on_user_saved(sender, instance, created, update_fields=None, raw=False, **kwargs) -> None:
    if raw or created or (update_fields is not None and set(update_fields) <= {"last_login"}):
        return  # a new user has no key; signing in changes nothing the API uses
    bump([instance.pk])


def _on_group_deleted(sender, instance, **kwargs) -> None:
    bump(_group_users([instance.pk]))


def connect() -> None:
    """Connect the receivers that bump ``auth_version`` (AccountsConfig.ready)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db.models.signals import m2m_changed, post_save, pre_delete

    user = get_user_model()
    uid = "accounts.keycache"
    m2m_changed.connect(_on_user_groups, sender=user.groups.through, dispatch_uid=uid + ".ug")
    m2m_changed.connect(
        _on_user_permissions, sender=user.user_permissions.through, dispatch_uid=uid + ".up"
    )
    m2m_changed.connect(
        _on_group_permissions, sender=Group.permissions.through, dispatch_uid=uid + ".gp"
    )
    post_save.connect(_on_user_saved, sender=user, dispatch_uid=uid + ".us")
    pre_delete.connect(_on_group_deleted, sender=Group, dispatch_uid=uid + ".gd")
