"""Writes for accounts: API keys, invitations, notifications and object access."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from django.utils.translation import gettext as _

from accounts.models import ApiKey, Notification

KEY_PREFIX = "vly_"
# Writing last_used_at on every request would make each API call a write; a
# minute's precision is plenty for "last used".
_LAST_USED_PRECISION = timedelta(minutes=1)
ACCESS_LEVELS = ("view", "change")


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_create(*, user, name: str, created_by=None) -> tuple[ApiKey, str]:
    """Create a key for ``user``; returns the row and the plain key (shown once).

    ``created_by``: who asked for it, when not ``user`` themselves (an
    administrator in the admin). Such a key holds no more than its maker:
    ``accounts.keyguard`` revokes it when that stops being true."""
    prefix = secrets.token_hex(6)
    plain = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    for_another = created_by is not None and created_by.pk != user.pk
    key = ApiKey(
        user=user,
        name=name.strip() or "API key",
        prefix=prefix,
        hashed_key=_hash(plain),
        created_by=created_by,
        for_another=for_another,
    )
    key.full_clean()
    key.save()
    return key, plain


def api_key_revoke(*, key: ApiKey) -> None:
    """Revoke ``key``; revoking twice keeps the first revocation time.

    Other processes may still answer reads with the key for up to
    ``API_KEY_CACHE_SECONDS`` (accounts/keycache.py); no trigger is accepted
    after this commits (the trigger's INSERT checks the key itself).
    """
    from accounts.keycache import forget

    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    forget(key.prefix)


def api_key_authenticate(plain: str) -> ApiKey | None:
    """The active key matching ``plain`` (constant-time comparison), or None."""
    if not plain.startswith(KEY_PREFIX) or plain.count("_") < 2:
        return None
    prefix = plain[len(KEY_PREFIX) :].split("_", 1)[0]
    key = ApiKey.objects.select_related("user").filter(prefix=prefix).first()
    if key is None or not hmac.compare_digest(key.hashed_key, _hash(plain)):
        return None
    if key.revoked_at is not None or not key.user.is_active:
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > _LAST_USED_PRECISION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key


def api_key_throttle(key: ApiKey) -> int | None:
    """Count one request against ``key``'s per-minute limit.

    Returns None when the request may proceed, else the seconds until the
    current minute ends (the ``Retry-After``). A fixed window counted in Redis
    (or a locked file on the embedded default), shared by every web process;
    each process leases 1 % of the limit at a time (accounts/ratelimit.py), so
    most requests cost no round trip at all.
    """
    from accounts.ratelimit import allow

    now = time.time()
    window = int(now // 60)
    if allow(f"apikey:{key.prefix}", window, settings.API_RATE_LIMIT_PER_MINUTE):
        return None
    return max(1, int((window + 1) * 60 - now) + 1)


def user_invite(*, user) -> None:
    """Email ``user`` a one-time link to set a password and sign in.

    Queued for the worker cluster, which makes the link when it sends
    (``deliver_invitation``): the link is never stored in the queue or in the
    task results. Django's token embeds the password hash and the last login, so
    the link stops working once used, and ``PASSWORD_RESET_TIMEOUT`` bounds its age.
    """
    from django.utils import translation

    from accounts.mailer import later

    if not user.email:
        raise ValueError("An invitation needs an email address.")
    later("accounts.services.deliver_invitation", user.pk, translation.get_language())


def invitation_message(user) -> tuple[str, str]:
    """The invitation's subject and body, with a fresh one-time link."""
    uidb64 = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    link = settings.SITE_URL + reverse("accounts:invite", args=[uidb64, token])
    context = {
        "user": user,
        "link": link,
        "site_url": settings.SITE_URL,
        "days": max(1, settings.PASSWORD_RESET_TIMEOUT // 86400),
    }
    subject = render_to_string("accounts/invitation_subject.txt", context).strip()
    return subject, render_to_string("accounts/invitation_email.txt", context)


def deliver_invitation(user_id: int, language: str | None = None) -> None:
    """The task: compose and send the invitation of an active user with an email,
    in the language of whoever invited them."""
    from django.utils import translation

    from accounts.mailer import deliver

    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None or not user.email:
        return
    with translation.override(language or settings.LANGUAGE_CODE):
        subject, body = invitation_message(user)
    deliver(subject, body, user.email)


# At most one reset email a person in each window of this many seconds,
# whoever asks (security review 13, #2): the form answers every request alike.
PASSWORD_RESET_WINDOW = 15 * 60


def user_password_reset(*, user) -> bool:
    """Email ``user`` a link to choose a new password, queued for the worker
    cluster like an invitation (``deliver_password_reset`` makes the link when
    it sends). Anyone may ask for a known address, as often as they like: at
    most one email goes out a person in each ``PASSWORD_RESET_WINDOW``, and the
    request itself never talks to the mail server (SPEC §5). True when queued."""
    from django.core.cache import cache
    from django.utils import translation

    from accounts.mailer import later

    # Keyed by the password hash too: a password set meanwhile opens a new window.
    who = hashlib.sha256(f"{user.pk}:{user.password}".encode()).hexdigest()[:24]
    window = int(time.time()) // PASSWORD_RESET_WINDOW
    if not cache.add(f"accounts:password-reset:{who}:{window}", 1, PASSWORD_RESET_WINDOW * 2):
        return False
    later("accounts.services.deliver_password_reset", user.pk, translation.get_language())
    return True


def deliver_password_reset(user_id: int, language: str | None = None) -> None:
    """The task: compose and send the reset link of an active user who still
    signs in with a password, in the language the request was made in."""
    from django.utils import translation

    from accounts.mailer import deliver

    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None or not user.email or not user.has_usable_password():
        return
    context = {
        "user": user,
        "uid": urlsafe_base64_encode(force_bytes(user.pk)),
        "token": default_token_generator.make_token(user),
        "site_url": settings.SITE_URL,
        "hours": settings.PASSWORD_RESET_TIMEOUT // 3600,
    }
    with translation.override(language or settings.LANGUAGE_CODE):
        subject = render_to_string("accounts/password_reset_subject.txt", context).strip()
        body = render_to_string("accounts/password_reset_email.txt", context)
    deliver(subject, body, user.email)


def user_from_invitation(uidb64: str, token: str):
    """The invited user if the link is valid (not expired, not used), else None."""
    try:
        pk = force_str(urlsafe_base64_decode(uidb64))
        user = get_user_model().objects.get(pk=pk, is_active=True)
    except (ValueError, TypeError, OverflowError, get_user_model().DoesNotExist):
        return None
    return user if default_token_generator.check_token(user, token) else None


def notify(
    *, user, message: str = "", url: str = "", kind: str = "", params: dict | None = None
) -> Notification:
    """An in-app notice for ``user``. A ``kind`` of ``accounts.notices.KINDS``
    is worded in the reader's language when shown; ``message`` is kept as well."""
    from accounts.notices import render_notice

    params = params or {}
    if kind and not message:
        message = render_notice(kind, params)
    return Notification.objects.create(
        user=user, message=message[:500], kind=kind, params=params, url=url
    )


def notification_mark_read(*, notification: Notification) -> Notification:
    """Mark one notice read (idempotent: the first read time is kept)."""
    if notification.read_at is None:
        now = timezone.now()
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(read_at=now)
        notification.refresh_from_db(fields=["read_at"])
    return notification


def notifications_mark_all_read(*, user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).update(
        read_at=timezone.now()
    )


# ------------------------------------------------------- object access (SPEC §2)


def access_keep(*, obj, actor) -> None:
    """Whoever makes ``obj`` restricted keeps change access to it: restricting an
    object must never lock out the person doing it. Call inside the write's
    transaction. No-op for unrestricted objects, the system (no actor) and
    superusers (who see everything anyway)."""
    from guardian.shortcuts import assign_perm

    from accounts.permissions import object_perms

    if not obj.restricted or actor is None or not actor.is_authenticated or actor.is_superuser:
        return
    view, change = object_perms(obj)
    if actor.has_perm(change, obj):
        return  # already granted (directly or through a group)
    assign_perm(view, actor, obj)
    assign_perm(change, actor, obj)


def _still_manages(obj, actor) -> None:
    from accounts.permissions import can_manage_access

    if obj.restricted and not can_manage_access(actor, obj):
        raise ValidationError(
            _("This would take away your own access. Ask another administrator to do it.")
        )


# handler(obj=): called inside the transaction that restricts ``obj`` (an
# unrestricted object becomes restricted). Apps above accounts follow it: a
# rule audience naming a campaign that becomes restricted is restricted too.
restricting: list = []

# guard(obj=, actor=): called before a change that may hide ``obj`` from
# someone who sees it now (restricting it, revoking or replacing grants); a
# guard refuses with ``ValidationError``. Apps above accounts decide: an upload
# audience used by committed campaigns decides who they reach (review 10).
narrowing: list = []


def check_narrowing(*, obj, actor) -> None:
    """Run the ``narrowing`` guards before taking access to ``obj`` away from
    someone who sees it now (``ValidationError`` when one refuses)."""
    _narrowing(obj, actor)


def _narrowing(obj, actor) -> None:
    if actor is None:
        return
    for guard in narrowing:
        guard(obj=obj, actor=actor)


def access_set_restricted(*, obj, restricted: bool, actor) -> None:
    """Mark ``obj`` restricted (granting ``actor`` change access in the same
    transaction) or open it to every role again. Grants are kept either way.

    An object that says it must stay restricted (``restriction_required()``
    answers a reason) is not opened: ``ValidationError`` with the reason."""
    if not restricted and (reason := getattr(obj, "restriction_required", lambda: None)()):
        raise ValidationError({"restricted": [reason]})
    was_restricted = type(obj).objects.filter(pk=obj.pk, restricted=True).exists()
    if restricted and not was_restricted:
        _narrowing(obj, actor)
    fields = {"restricted": restricted}
    if any(f.name == "updated_at" for f in obj._meta.fields):
        fields["updated_at"] = timezone.now()
    with transaction.atomic():
        type(obj).objects.filter(pk=obj.pk).update(**fields)
        obj.restricted = restricted
        access_keep(obj=obj, actor=actor)
        if restricted and not was_restricted:
            for handler in restricting:
                handler(obj=obj)


def manages_only_as_creator(obj, actor) -> bool:
    """Does ``actor`` manage ``obj``'s access only as its creator (an
    audience's, ``accounts.permissions.can_manage_access``), not by role?"""
    from accounts.permissions import can, restrictable

    if actor is None or not actor.is_authenticated or actor.is_superuser:
        return False
    return not can(actor, f"{restrictable(obj).kind}.manage_access", obj)


def check_grant(*, obj, grantee, restricted: bool, actor) -> None:
    """May ``actor`` give ``grantee`` a grant on ``obj`` (``restricted``: whether
    ``obj`` is restricted once the change is made)? ``ValidationError`` if not.

    A grant is more than access: a group holding one is assigned by superusers
    only, and the keys administrators made for whoever holds one are revoked
    (``accounts.keyguard``, review 10). So sharing with a group — a role or a
    team, both the administrators' to manage — is the administrators', and an
    audience's creator shares it with people, once it is restricted (before,
    every role sees it and a grant gives nothing): a manager granting their own
    open audience to the Campaign Manager and Viewer groups revoked every key
    administrators had made for managers and viewers, and left administrators
    unable to give anyone those roles (seventeenth review)."""
    if not manages_only_as_creator(obj, actor):
        return
    if grantee._meta.label_lower == "auth.group":
        raise ValidationError(
            _("Only administrators share with a group: share it with people instead.")
        )
    if not restricted:
        raise ValidationError(
            _("Every role sees it while it is not restricted: restrict it before sharing it.")
        )


def access_grant(*, obj, grantee, level: str, actor) -> None:
    """Grant ``grantee`` (a user or a group) ``level`` ("view" or "change")
    access to ``obj``, replacing what it had. Refused (``ValidationError``) when
    it would take away ``actor``'s own right to manage the object's access, or
    when the grant is not ``actor``'s to give (``check_grant``)."""
    from guardian.shortcuts import assign_perm, remove_perm

    from accounts.permissions import object_perms

    if level not in ACCESS_LEVELS:
        raise ValueError(level)
    check_grant(obj=obj, grantee=grantee, restricted=obj.restricted, actor=actor)
    view, change = object_perms(obj)
    with transaction.atomic():
        assign_perm(view, grantee, obj)
        if level == "change":
            assign_perm(change, grantee, obj)
        else:
            remove_perm(change, grantee, obj)
            if actor is not None:
                _still_manages(obj, actor)


def access_revoke(*, obj, grantee, actor) -> None:
    """Take away every grant ``grantee`` holds on ``obj`` (same guard as above)."""
    from guardian.shortcuts import remove_perm

    from accounts.permissions import object_perms

    if obj.restricted:
        _narrowing(obj, actor)
    with transaction.atomic():
        for perm in object_perms(obj):
            remove_perm(perm, grantee, obj)
        _still_manages(obj, actor)


def access_replace(*, obj, restricted: bool, grants: list[tuple[object, str]], actor) -> None:
    """Make ``obj``'s access exactly this (the API's ``PUT …/access``): restricted
    or not, and ``grants`` — (user or group, "view"/"change") pairs — as the only
    per-object grants. One transaction: refused as a whole (``ValidationError``)
    when it would take away ``actor``'s own right to manage the object's access.
    Whoever restricts keeps change access (``access_keep``), as on the page."""
    from guardian.shortcuts import get_groups_with_perms, get_users_with_perms, remove_perm

    from accounts.permissions import object_perms

    def key(holder) -> tuple[str, int]:
        return ("group" if holder._meta.label_lower == "auth.group" else "user", holder.pk)

    wanted = {key(grantee): (grantee, level) for grantee, level in grants}
    if len(wanted) != len(grants):
        raise ValidationError({"grants": [_("Each user or group may be listed once.")]})
    with transaction.atomic():
        held = _held_levels(obj)
        for at, (grantee, level) in wanted.items():
            if held.get(at) != level:  # a grant kept as it is was someone's to give
                try:
                    check_grant(obj=obj, grantee=grantee, restricted=restricted, actor=actor)
                except ValidationError as exc:
                    raise ValidationError({"grants": exc.messages}) from None
        holders = [
            *get_users_with_perms(obj, with_group_users=False),
            *get_groups_with_perms(obj),
        ]
        dropped = [h for h in holders if key(h) not in wanted]
        if (restricted and not obj.restricted) or (restricted and dropped):
            _narrowing(obj, actor)
        for holder in holders:
            if key(holder) not in wanted:
                for perm in object_perms(obj):
                    remove_perm(perm, holder, obj)
        for grantee, level in wanted.values():
            access_grant(obj=obj, grantee=grantee, level=level, actor=None)
        access_set_restricted(obj=obj, restricted=restricted, actor=actor)
        _still_manages(obj, actor)


def _held_levels(obj) -> dict[tuple[str, int], str]:
    """``{("user"|"group", pk): "view"|"change"}``: the grants on ``obj`` now."""
    from guardian.shortcuts import get_groups_with_perms, get_users_with_perms

    from accounts.permissions import object_perms

    change = object_perms(obj)[1].split(".", 1)[1]
    held = {}
    for kind, holders in (
        ("user", get_users_with_perms(obj, attach_perms=True, with_group_users=False)),
        ("group", get_groups_with_perms(obj, attach_perms=True)),
    ):
        for holder, perms in holders.items():
            held[(kind, holder.pk)] = "change" if change in perms else "view"
    return held


def user_by_username(username: str):
    return get_user_model().objects.filter(username=username).first()


__all__ = [
    "api_key_create",
    "api_key_revoke",
    "api_key_authenticate",
    "api_key_throttle",
    "user_invite",
    "user_password_reset",
    "deliver_password_reset",
    "user_from_invitation",
    "notify",
    "notification_mark_read",
    "notifications_mark_all_read",
    "access_keep",
    "access_set_restricted",
    "access_grant",
    "check_grant",
    "access_revoke",
    "access_replace",
    "transaction",
]


def user_time_zone_set(*, user, time_zone: str) -> None:
    """The zone ``user`` reads times in; empty: their browser's. Must be an IANA name."""
    from accounts.models import UserPreference
    from config.timezones import is_time_zone

    time_zone = (time_zone or "").strip()
    if time_zone and not is_time_zone(time_zone):
        raise ValidationError({"time_zone": _("Pick a time zone from the list.")})
    UserPreference.objects.update_or_create(user=user, defaults={"time_zone": time_zone})
