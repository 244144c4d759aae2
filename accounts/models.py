from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ApiKey(models.Model):
    """A bearer key owned by a user; the API acts with that user's permissions.

    Only a SHA-256 of the secret is stored; `prefix` (the first characters of the
    key, not secret on their own) lets us find the row and lets people tell
    their keys apart.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_keys",
        verbose_name=_("user"),
    )
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=16, unique=True)
    hashed_key = models.CharField(max_length=64)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    # Bumped whenever what the key's owner may do changes (roles, group or user
    # permissions, the user saved: accounts/keycache.py). A process remembering
    # the key with an older value is refused at the trigger's commit point.
    auth_version = models.PositiveBigIntegerField(default=0, editable=False)
    # A key an administrator made for someone else (the admin): they saw it,
    # so it holds no more than they do. When its owner comes to hold more, or
    # its maker less, it is revoked (accounts/keyguard.py, tenth review).
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("made by"),
    )
    for_another = models.BooleanField(default=False, editable=False)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["-created_at"]
        permissions = [("manage_all_apikeys", _("Can manage API keys of other users"))]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Notification(models.Model):
    """An in-app notice (approval decisions, import results…), shown in the header."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    message = models.CharField(_("message"), max_length=500)
    # A known kind is worded when shown, in the reader's language (the message
    # above keeps the words of the moment, for the admin and unknown kinds).
    kind = models.CharField(_("kind"), max_length=40, blank=True, default="")
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    url = models.CharField(_("link"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    read_at = models.DateTimeField(_("read"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.text

    @property
    def text(self) -> str:
        """The notice in the active language."""
        from accounts.notices import render_notice

        return render_notice(self.kind, self.params) or self.message


class UserPreference(models.Model):
    """What a person chose for themselves; today the time zone they read times in.

    Empty ``time_zone``: the browser's zone (sent by static/js/timezone.js as a
    cookie), else UTC. See ``accounts.middleware.ViewerTimeZoneMiddleware``.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="preference",
        verbose_name=_("user"),
    )
    time_zone = models.CharField(_("time zone"), max_length=64, blank=True, default="")

    class Meta:
        verbose_name = _("preference")
        verbose_name_plural = _("preferences")

    def __str__(self) -> str:
        return str(self.user)
