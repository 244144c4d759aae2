"""The one permission vocabulary (SPEC §2).

Every boundary — views, the API, the admin and background tasks — asks these
functions; nothing is hidden only by not rendering a button. Object-level access
for *restricted* objects goes through django-guardian.

Decisions worth knowing:

- "whatever their role" (SPEC §2) includes Campaign Administrators: without a
  grant they do not see a restricted object either, not even in the admin.
  Superusers see everything, so an object whose grants were all lost can always
  be reopened. Whoever restricts an object keeps change access to it
  (``accounts.services.access_keep``).
- Who manages an object's access (``can_manage_access``): campaigns — holders
  of ``campaign.manage_access`` (administrators); channel configurations —
  ``channel.edit`` (administrators); audiences — administrators, plus the
  audience's creator (they chose to restrict it at creation). Each also needs
  change access to the object itself when it is restricted.
- Background tasks act on behalf of the system, not of a user: they never call
  these functions. The check happens at the boundary that enqueues the work (the
  view or API call that activates, triggers or imports), which names ids only
  of objects the user could see and change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Model, QuerySet
from guardian.shortcuts import get_objects_for_user

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

# action → the model permission a role must hold (see accounts/roles.py)
ACTIONS: dict[str, str] = {
    # campaigns
    "campaign.view": "campaigns.view_campaign",
    "campaign.view_report": "campaigns.view_campaign_report",
    "campaign.create": "campaigns.add_campaign",
    "campaign.edit": "campaigns.change_campaign",
    "campaign.duplicate": "campaigns.add_campaign",
    "campaign.delete": "campaigns.delete_campaign",
    "campaign.request_approval": "campaigns.request_approval_campaign",
    "campaign.cancel_approval": "campaigns.request_approval_campaign",
    "campaign.modify": "campaigns.change_campaign",
    "campaign.activate": "campaigns.publish_campaign",
    "campaign.stop": "campaigns.publish_campaign",
    "campaign.archive": "campaigns.publish_campaign",
    "campaign.approve": "campaigns.approve_campaign",
    "campaign.request_changes": "campaigns.approve_campaign",
    "campaign.manage_access": "campaigns.manage_access_campaign",
    "audience.manage_access": "campaigns.manage_access_campaign",  # administrators
    # audiences and profiles
    "audience.view": "audiences.view_audience",
    "audience.create": "audiences.add_audience",
    "audience.edit": "audiences.change_audience",
    "audience.delete": "audiences.delete_audience",
    "profile.view": "audiences.view_profile",
    "profile.edit": "audiences.change_profile",
    "suppression.manage": "audiences.change_suppression",
    # privacy requests (SPEC §14): administrators only
    "profile.erase": "audiences.delete_profile",
    "profile.export": "audiences.delete_profile",
    "privacy.view_log": "audiences.view_privacylogentry",
    # channels
    "channel.view": "channels.view_channelconfiguration",
    "channel.create": "channels.add_channelconfiguration",
    "channel.edit": "channels.change_channelconfiguration",
    "channel.delete": "channels.delete_channelconfiguration",
    "channel.manage_access": "channels.change_channelconfiguration",
    # administration
    "policy.manage": "campaigns.change_approvalpolicy",
    "apikey.manage_all": "accounts.manage_all_apikeys",
}

# The per-object permission that opens a restricted object, by model label.
_OBJECT_VIEW_PERMS = {
    "campaigns.campaign": "campaigns.view_campaign",
    "audiences.audience": "audiences.view_audience",
    "channels.channelconfiguration": "channels.view_channelconfiguration",
}
_OBJECT_CHANGE_PERMS = {
    "campaigns.campaign": "campaigns.change_campaign",
    "audiences.audience": "audiences.change_audience",
    "channels.channelconfiguration": "channels.change_channelconfiguration",
}


def can(user: AbstractBaseUser | None, action: str, obj: Model | None = None) -> bool:
    """May ``user`` do ``action`` (a key of ``ACTIONS``), on ``obj`` if given?

    A role grants the action; a *restricted* object additionally needs a
    per-object grant (to the user or one of their groups). Superusers may do
    everything.
    """
    if user is None or not user.is_active or not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    if not user.has_perm(ACTIONS[action]):
        return False
    if obj is not None and getattr(obj, "restricted", False):
        return can_see(user, obj) and _has_object_perm(user, obj, _OBJECT_CHANGE_PERMS, action)
    return True


def can_see(user: AbstractBaseUser | None, obj: Model) -> bool:
    """May ``user`` even know ``obj`` exists? (False → answer 404, not 403.)"""
    if user is None or not user.is_active or not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    label = obj._meta.label_lower
    if not user.has_perm(_OBJECT_VIEW_PERMS[label]):
        return False
    if not getattr(obj, "restricted", False):
        return True
    return user.has_perm(_OBJECT_VIEW_PERMS[label], obj) or user.has_perm(
        _OBJECT_CHANGE_PERMS[label], obj
    )


def _has_object_perm(user, obj: Model, table: dict[str, str], action: str) -> bool:
    label = obj._meta.label_lower
    if action.endswith((".view", ".view_report")):
        return True  # can_see already granted it
    return user.has_perm(table[label], obj)


def visible(user: AbstractBaseUser | None, queryset: QuerySet) -> QuerySet:
    """``queryset`` narrowed to what ``user`` may see: unrestricted objects plus
    restricted ones granted to the user or their groups. One query, no N+1."""
    if user is None or not user.is_active or not user.is_authenticated:
        return queryset.none()
    if user.is_superuser:
        return queryset
    label = queryset.model._meta.label_lower
    if not user.has_perm(_OBJECT_VIEW_PERMS[label]):
        return queryset.none()
    granted = get_objects_for_user(
        user,
        [_OBJECT_VIEW_PERMS[label], _OBJECT_CHANGE_PERMS[label]],
        klass=queryset.model,
        any_perm=True,
        with_superuser=False,
        accept_global_perms=False,
    ).values("pk")
    from django.db.models import Q

    return queryset.filter(Q(restricted=False) | Q(pk__in=granted))


_KINDS = {
    "campaigns.campaign": "campaign",
    "audiences.audience": "audience",
    "channels.channelconfiguration": "channel",
}


def object_perms(obj: Model) -> tuple[str, str]:
    """The (view, change) per-object permissions guardian grants on ``obj``."""
    label = obj._meta.label_lower
    return _OBJECT_VIEW_PERMS[label], _OBJECT_CHANGE_PERMS[label]


def can_manage_access(user: AbstractBaseUser | None, obj: Model) -> bool:
    """May ``user`` restrict ``obj`` and grant or revoke access to it?"""
    kind = _KINDS[obj._meta.label_lower]
    if can(user, f"{kind}.manage_access", obj):
        return True
    # An audience's creator manages who shares it (they may restrict it at creation).
    return (
        kind == "audience"
        and user is not None
        and user.is_authenticated
        and obj.created_by_id == user.pk
        and can(user, "audience.edit", obj)
    )


def preload_permissions(user: AbstractBaseUser) -> None:
    """Load ``user``'s model permissions (own and through groups) in one query
    into the per-request cache Django's ModelBackend reads, instead of its two.
    For the API, where every request loads the key's user afresh."""
    if not user.is_active or user.is_superuser or hasattr(user, "_perm_cache"):
        return
    from django.db import connection

    # Raw SQL: compiling the equivalent ORM union cost more than running it.
    user_perms = type(user).user_permissions.through._meta.db_table
    user_groups = type(user).groups.through._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ct.app_label, p.codename FROM auth_permission p"
            " JOIN django_content_type ct ON ct.id = p.content_type_id"
            f" WHERE p.id IN (SELECT permission_id FROM {user_perms} WHERE user_id = %s"
            " UNION SELECT gp.permission_id FROM auth_group_permissions gp"
            f" JOIN {user_groups} ug ON ug.group_id = gp.group_id WHERE ug.user_id = %s)",
            [user.pk, user.pk],
        )
        user._perm_cache = {f"{app}.{codename}" for app, codename in cursor.fetchall()}


def can_use_admin(user: AbstractBaseUser | None) -> bool:
    """The Django admin is for Campaign Administrators (and superusers)."""
    from accounts.roles import ADMINISTRATOR

    if user is None or not user.is_active or not user.is_authenticated:
        return False
    return user.is_superuser or user.groups.filter(name=ADMINISTRATOR).exists()
