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
  audience's creator (they chose to restrict it at creation), who shares it
  with people once it is restricted — a grant to a group, or on an open
  object, is the administrators' (``accounts.services.check_grant``). Each
  also needs change access to the object itself when it is restricted.
- Profiles known only through restricted audiences (``audiences.selectors``)
  are hidden like the audiences: not shown, not merged into by a CSV upload
  (which runs as its uploader), and not sent to by a campaign whose owner
  (``Campaign.created_by``) or one of whose other writers
  (``Campaign.editors``: whoever edited it, or the campaign or template it
  was copied from; an edit of a live campaign's open draft version counts
  once that version replaces the live one) could not see them — a rule audience is evaluated among the profiles
  they all may see at each run, and the dispatcher leaves the others out of
  unitary API triggers.
- Background tasks act on behalf of the system, not of a user: they never call
  these functions. The check happens at the boundary that enqueues the work (the
  view or API call that activates, triggers or imports), which names ids only
  of objects the user could see and change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db.models import Model, QuerySet
from guardian.shortcuts import get_objects_for_user

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

# action → the model permission a role must hold (see accounts/roles.py). The
# campaign actions (activate, stop …) are added by ``campaigns.actions`` through
# ``register``: accounts knows permission names, not what campaigns can do.
ACTIONS: dict[str, str] = {
    # campaigns
    "campaign.view": "campaigns.view_campaign",
    "campaign.view_report": "campaigns.view_campaign_report",
    "campaign.create": "campaigns.add_campaign",
    "campaign.manage_access": "campaigns.manage_access_campaign",
    "audience.manage_access": "campaigns.manage_access_campaign",  # administrators
    # message templates (SPEC §11): restricted like campaigns
    "template.view": "campaigns.view_contenttemplate",
    "template.create": "campaigns.add_contenttemplate",
    "template.edit": "campaigns.change_contenttemplate",
    "template.delete": "campaigns.delete_contenttemplate",
    "template.manage_access": "campaigns.manage_access_campaign",  # administrators
    # the image library (SPEC §11): public once uploaded, so not restrictable
    "asset.view": "campaigns.view_asset",
    "asset.create": "campaigns.add_asset",
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
    # business rules (SPEC §12) and exempting a campaign from them
    "rule.manage": "campaigns.change_businessrule",
    "apikey.manage_all": "accounts.manage_all_apikeys",
}


def register(actions: dict[str, str]) -> None:
    """Add ``{action name: model permission}`` to the vocabulary (an app's own
    actions, declared where the app declares them)."""
    for name, permission in actions.items():
        if ACTIONS.setdefault(name, permission) != permission:
            raise ValueError(f"{name} is already registered as {ACTIONS[name]}")


@dataclass(frozen=True)
class Restrictable:
    """A model whose objects can be restricted (SPEC §2), and everything the
    permission checks, the Access page and its link need to know about it."""

    kind: str  # the vocabulary's prefix: "campaign" → "campaign.manage_access"
    model: str  # app label and model name, for ``apps.get_model``
    view: str  # the per-object permissions guardian grants
    change: str
    page: str  # URL names: the object's own page and its Access page
    access_page: str


# One row per restrictable model, keyed by ``obj._meta.label_lower``.
RESTRICTABLE: dict[str, Restrictable] = {
    "campaigns.campaign": Restrictable(
        "campaign",
        "campaigns.Campaign",
        "campaigns.view_campaign",
        "campaigns.change_campaign",
        "campaigns:detail",
        "campaigns:access",
    ),
    "audiences.audience": Restrictable(
        "audience",
        "audiences.Audience",
        "audiences.view_audience",
        "audiences.change_audience",
        "audiences:detail",
        "audiences:access",
    ),
    "campaigns.contenttemplate": Restrictable(
        "template",
        "campaigns.ContentTemplate",
        "campaigns.view_contenttemplate",
        "campaigns.change_contenttemplate",
        "templates:edit",
        "templates:access",
    ),
    "channels.channelconfiguration": Restrictable(
        "channel",
        "channels.ChannelConfiguration",
        "channels.view_channelconfiguration",
        "channels.change_channelconfiguration",
        "channels:edit",
        "channels:access",
    ),
}


def restrictable(obj_or_model) -> Restrictable:
    return RESTRICTABLE[obj_or_model._meta.label_lower]


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
        if not can_see(user, obj):
            return False
        # Seeing is enough for the read actions; anything else needs change access.
        return action.endswith((".view", ".view_report")) or user.has_perm(
            restrictable(obj).change, obj
        )
    return True


def can_see(user: AbstractBaseUser | None, obj: Model) -> bool:
    """May ``user`` even know ``obj`` exists? (False → answer 404, not 403.)"""
    if user is None or not user.is_active or not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    perms = restrictable(obj)
    if not user.has_perm(perms.view):
        return False
    if not getattr(obj, "restricted", False):
        return True
    return user.has_perm(perms.view, obj) or user.has_perm(perms.change, obj)


def hidden_ids(user: AbstractBaseUser | None, model) -> list[int]:
    """Ids of ``model``'s restricted objects ``user`` may not see, read once
    (restricted objects are few; a list keeps the statements that use it
    shallow enough for SQLite's parser). Empty for a superuser."""
    if user is not None and user.is_superuser:
        return []
    restricted = model.objects.filter(restricted=True)
    return list(
        restricted.exclude(pk__in=visible(user, restricted).values("pk")).values_list(
            "pk", flat=True
        )
    )


def sees_every_restricted(user: AbstractBaseUser | None, *kinds: str) -> bool:
    """Does ``user`` see every restricted object of these kinds ("campaign",
    "audience" …)? Superusers do; so does whoever holds a grant on each."""
    if user is not None and user.is_superuser:
        return True
    from django.apps import apps

    rows = {row.kind: row for row in RESTRICTABLE.values()}
    return not any(hidden_ids(user, apps.get_model(rows[kind].model)) for kind in kinds)


def visible(user: AbstractBaseUser | None, queryset: QuerySet) -> QuerySet:
    """``queryset`` narrowed to what ``user`` may see: unrestricted objects plus
    restricted ones granted to the user or their groups. One query, no N+1."""
    if user is None or not user.is_active or not user.is_authenticated:
        return queryset.none()
    if user.is_superuser:
        return queryset
    perms = restrictable(queryset.model)
    if not user.has_perm(perms.view):
        return queryset.none()
    granted = get_objects_for_user(
        user,
        [perms.view, perms.change],
        klass=queryset.model,
        any_perm=True,
        with_superuser=False,
        accept_global_perms=False,
    ).values("pk")
    from django.db.models import Q

    return queryset.filter(Q(restricted=False) | Q(pk__in=granted))


def object_perms(obj: Model) -> tuple[str, str]:
    """The (view, change) per-object permissions guardian grants on ``obj``."""
    perms = restrictable(obj)
    return perms.view, perms.change


def can_manage_access(user: AbstractBaseUser | None, obj: Model) -> bool:
    """May ``user`` restrict ``obj`` and grant or revoke access to it?"""
    kind = restrictable(obj).kind
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


class AdminPermissionsMixin:
    """A ModelAdmin's ``has_*`` answers, asked of this vocabulary rather than of
    Django's model permissions: ``permissions`` maps "view", "add", "change" and
    "delete" to an action name; what it leaves out is never allowed. A
    restrictable model's list is narrowed with ``visible`` and an object is
    viewable when ``can_see`` says so (restricted means restricted here too)."""

    permissions: dict[str, str] = {}

    def _allows(self, request, what: str, obj: Model | None = None) -> bool:
        action = self.permissions.get(what)
        if action is None:
            return False
        if what == "view" and obj is not None and obj._meta.label_lower in RESTRICTABLE:
            return can_see(request.user, obj)
        return can(request.user, action, obj)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if queryset.model._meta.label_lower in RESTRICTABLE:
            return visible(request.user, queryset)
        return queryset

    def has_module_permission(self, request) -> bool:
        return self._allows(request, "view")

    def has_view_permission(self, request, obj=None) -> bool:
        return self._allows(request, "view", obj)

    def has_add_permission(self, request, obj=None) -> bool:
        return self._allows(request, "add")

    def has_change_permission(self, request, obj=None) -> bool:
        return self._allows(request, "change", obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._allows(request, "delete", obj)
