"""Outbound event webhooks (SPEC §13): endpoints, the outbox and its attempts.

``Message`` is the outbox: one row per (endpoint, event), written in the same
transaction as the state change that causes the event, so a rolled-back change
emits nothing and a committed one is never lost. The cluster delivers the rows
(webhooks/delivery.py) and keeps every attempt (``Attempt``): the endpoint's
delivery log.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

# The event types an endpoint may subscribe to (SPEC §13), with their labels.
EVENT_TYPES: dict[str, str] = {
    "delivery.sent": _("A message was sent"),
    "delivery.failed": _("A message failed"),
    "delivery.bounced": _("A message bounced"),
    "delivery.opened": _("A message was opened"),
    "delivery.clicked": _("A link in a message was clicked"),
    "profile.unsubscribed": _("A person withdrew marketing consent"),
    "campaign.status_changed": _("A campaign changed status"),
    "execution.completed": _("An API execution finished"),
}


class Endpoint(models.Model):
    """A URL that receives the events it subscribes to, signed with its secret."""

    url = models.URLField(_("URL"), max_length=2000)
    events = models.JSONField(_("events"), default=list)
    active = models.BooleanField(_("active"), default=True)
    # Fernet-encrypted with a key derived from SECRET_KEY (channels/credentials.py):
    # the signing needs the secret itself, so it cannot be stored hashed. Shown once.
    secret_encrypted = models.TextField(editable=False)
    description = models.CharField(_("description"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    # Set when the cluster gave up after 24 hours of failures (and told the
    # administrators); cleared when the endpoint is switched on again.
    disabled_at = models.DateTimeField(_("disabled"), null=True, blank=True)
    disabled_reason = models.CharField(_("why disabled"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.url


class Message(models.Model):
    """One event for one endpoint: the outbox row and its delivery state."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    # No database constraint: the send path writes these rows with one INSERT …
    # SELECT per batch and must never fail because an endpoint was deleted at
    # that moment; the dispatcher skips (and retention deletes) orphans.
    endpoint = models.ForeignKey(
        Endpoint, on_delete=models.CASCADE, db_constraint=False, related_name="messages"
    )
    event_type = models.CharField(_("event"), max_length=40)
    # The event's id, the same on every attempt and resend ("evt_…"); written
    # with the row, or (rows written in bulk by the send path) when first claimed,
    # derived from what the event is so every endpoint gets the same id.
    event_id = models.CharField(_("event id"), max_length=40, blank=True, default="")
    # The delivery the event is about, for events whose data is built when the
    # row is first claimed (the send path writes only the reference).
    ref_id = models.BigIntegerField(null=True, blank=True)
    extra = models.JSONField(null=True, blank=True)  # caller's data merged into the built one
    data = models.JSONField(null=True, blank=True)  # the payload's "data", frozen once built
    created_at = models.DateTimeField(_("created"), db_index=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=64, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(_("last answer"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=500, blank=True, default="")

    class Meta:
        verbose_name = _("webhook message")
        verbose_name_plural = _("webhook messages")
        indexes = [
            # The dispatcher's claim: due pending rows, oldest first.
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=Q(status="pending"),
                name="webhook_message_due",
            ),
            models.Index(fields=["endpoint", "-id"], name="webhook_message_log"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id or self.pk}"


class Attempt(models.Model):
    """One POST of a message to its endpoint, as it went."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attempt_log")
    at = models.DateTimeField(_("at"))
    ok = models.BooleanField(_("delivered"), default=False)
    status_code = models.PositiveSmallIntegerField(_("answer"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    error = models.CharField(_("error"), max_length=500, blank=True, default="")
    response = models.CharField(_("response"), max_length=500, blank=True, default="")

    class Meta:
        verbose_name = _("webhook attempt")
        verbose_name_plural = _("webhook attempts")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["at"], name="webhook_attempt_at")]
