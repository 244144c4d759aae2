from __future__ import annotations

import json
import math
import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    """The three channels; shared by profiles' consent, suppression and configurations."""

    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")
    PUSH = "push", _("Push")


# A profile's attributes are read whole wherever profiles are sampled: the
# rule builder reads the latest 500, the designer's picker 200, the campaign
# page 10. Unbounded, a few hundred wide profiles (one CSV upload, or PUTs by
# a manager) made those pages take seconds and gigabytes for everyone
# (security review 7). Both writers, this upsert and the CSV importer, keep
# a profile within these bounds.
MAX_ATTRIBUTES = 500
MAX_ATTRIBUTES_CHARS = 32 * 1024


def attributes_problem(attributes: dict[str, Any]) -> str | None:
    """Why ``attributes`` (as the profile would hold them) are too big, or None."""
    if len(attributes) > MAX_ATTRIBUTES:
        return gettext("A profile holds at most %(max)d attributes; this would make %(count)d.") % {
            "max": MAX_ATTRIBUTES,
            "count": len(attributes),
        }
    if len(json.dumps(attributes, ensure_ascii=False, default=str)) > MAX_ATTRIBUTES_CHARS:
        return gettext(
            "A profile's attributes take at most %(max)d characters (as JSON); "
            "shorten or remove some."
        ) % {"max": MAX_ATTRIBUTES_CHARS}
    return None


def _finite(value: Any) -> bool:
    """No NaN or infinity anywhere in a JSON-like value (no JSON column stores them)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return False
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


class Profile(models.Model):
    """A person we can message. Identities are unique where present (NULL when absent)."""

    profile_id = models.CharField(_("external profile id"), max_length=255, null=True, blank=True)
    email = models.CharField(_("email"), max_length=254, null=True, blank=True)
    phone = models.CharField(_("phone (E.164)"), max_length=20, null=True, blank=True)
    push_token = models.CharField(_("push token"), max_length=512, null=True, blank=True)
    attributes = models.JSONField(_("attributes"), default=dict, blank=True)
    timezone = models.CharField(_("time zone"), max_length=64, blank=True, default="")
    # BCP 47 ("fr", "fr-CA"): which translation of a message the person gets (SPEC §11).
    # A database default too: the CSV importer writes profiles with raw SQL.
    locale = models.CharField(_("language"), max_length=35, blank=True, default="", db_default="")
    consent_email = models.BooleanField(_("email marketing consent"), default=False)
    consent_sms = models.BooleanField(_("SMS marketing consent"), default=False)
    consent_push = models.BooleanField(_("push marketing consent"), default=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("profile")
        verbose_name_plural = _("profiles")
        constraints = [
            models.UniqueConstraint(
                fields=["profile_id"],
                condition=Q(profile_id__isnull=False),
                name="profile_unique_profile_id",
            ),
            models.UniqueConstraint(
                fields=["email"], condition=Q(email__isnull=False), name="profile_unique_email"
            ),
            models.UniqueConstraint(
                fields=["phone"], condition=Q(phone__isnull=False), name="profile_unique_phone"
            ),
            models.UniqueConstraint(
                fields=["push_token"],
                condition=Q(push_token__isnull=False),
                name="profile_unique_push_token",
            ),
        ]

    def __str__(self) -> str:
        return (
            self.email
            or self.phone
            or self.profile_id
            or (self.push_token or "")[:16]
            or f"#{self.pk}"
        )

    def clean(self) -> None:
        # Every form that saves a profile (the admin's included) keeps the bounds.
        # The admin's JSON box takes anything JSON and Python read: an empty box
        # (null) and NaN went to the database, a 500 (review 19); a list or a
        # string would be attributes that no rule or template can read.
        if not isinstance(self.attributes, dict):
            raise ValidationError(
                {
                    "attributes": [
                        _('Attributes are a JSON object, e.g. {"city": "Paris"}; {} for none.')
                    ]
                }
            )
        if not _finite(self.attributes):
            raise ValidationError(
                {"attributes": [_("Numbers in attributes must be finite (no NaN or Infinity).")]}
            )
        problem = attributes_problem(self.attributes)
        if problem:
            raise ValidationError({"attributes": [problem]})


class ConsentChange(models.Model):
    """When and how a profile's consent for one channel changed (audit trail)."""

    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="consent_changes")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    granted = models.BooleanField()
    source = models.CharField(
        _("source"), max_length=50
    )  # api, import, unsubscribe, feedback, admin
    changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("consent change")
        verbose_name_plural = _("consent changes")
        ordering = ["-changed_at"]


class Suppression(models.Model):
    class Reason(models.TextChoices):
        HARD_BOUNCE = "hard_bounce", _("Hard bounce")
        COMPLAINT = "complaint", _("Complaint")
        UNSUBSCRIBE = "unsubscribe", _("Unsubscribed")
        MANUAL = "manual", _("Added manually")
        SOFT_BOUNCE = "soft_bounce", _("Repeated soft bounces")

    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    # Normalized email, E.164 phone or push token; NULL once the person was
    # erased (SPEC §14): the entry then lives on as ``address_hash`` only.
    address = models.CharField(_("address"), max_length=512, null=True, blank=True)
    # Keyed hash of channel and address (audiences.privacy.suppression_hash),
    # written for every entry so an erasure only has to forget the address.
    address_hash = models.CharField(max_length=64, blank=True, default="", editable=False)
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("suppression")
        verbose_name_plural = _("suppression list")
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "address"], name="suppression_unique_address"
            )
        ]
        indexes = [
            # Only erased entries are ever looked up by hash (when an address
            # comes back through an import or the API), so only they are indexed.
            models.Index(
                fields=["address_hash"],
                condition=Q(address__isnull=True),
                name="suppression_erased_hash",
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel}:{self.address or _('(erased)')}"

    def save(self, *args, **kwargs) -> None:
        if self.address:
            from audiences.privacy import suppression_hash

            self.address_hash = suppression_hash(self.channel, self.address)
        super().save(*args, **kwargs)


class Audience(models.Model):
    class Kind(models.TextChoices):
        RULE = "rule", _("Rule")
        UPLOAD = "upload", _("Upload")

    class Status(models.TextChoices):
        READY = "ready", _("Ready")
        IMPORTING = "importing", _("Importing")
        FAILED = "failed", _("Failed")

    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    rule = models.JSONField(_("rule"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.READY
    )
    size = models.PositiveIntegerField(
        _("size"), default=0
    )  # frozen for uploads, last estimate for rules
    restricted = models.BooleanField(
        _("restricted"),
        default=False,
        help_text=_("Only users or groups granted access can see or use it."),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("audience")
        verbose_name_plural = _("audiences")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def restriction_required(self) -> str | None:
        """Why this audience must stay restricted (None: it need not). A rule
        naming a restricted campaign tells who received, opened or clicked it:
        that is for the people who may see the campaign (review 4 #10), so
        such an audience is restricted when saved and cannot be opened again
        (``accounts.services.access_set_restricted`` asks this)."""
        from audiences.rules import restricted_campaigns_named

        if self.kind == self.Kind.RULE and restricted_campaigns_named(self.rule):
            return str(
                _(
                    "Its rule names a restricted campaign: who received, opened or clicked "
                    "it is for those who may see that campaign, so the audience stays "
                    "restricted. Grant access to it instead."
                )
            )
        return None


class AudienceMember(models.Model):
    """Frozen membership of an uploaded audience."""

    audience = models.ForeignKey(Audience, on_delete=models.CASCADE, related_name="members")
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="+")
    # The import that last listed this profile; members left from an earlier
    # file are removed when a new import of the audience finishes.
    import_id = models.UUIDField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["audience", "profile"], name="audience_member_unique")
        ]


class ProfileImport(models.Model):
    """One CSV upload into an upload audience: progress, counts and the first rejected rows."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Importing")
        SUCCEEDED = "succeeded", _("Imported")
        FAILED = "failed", _("Failed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    audience = models.ForeignKey(Audience, on_delete=models.CASCADE, related_name="imports")
    file = models.FileField(_("file"), upload_to="imports/", max_length=300)
    file_name = models.CharField(_("file name"), max_length=255, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    bytes_total = models.BigIntegerField(default=0)
    bytes_done = models.BigIntegerField(default=0)
    rows_imported = models.PositiveIntegerField(_("rows imported"), default=0)
    rows_rejected = models.PositiveIntegerField(_("rows rejected"), default=0)
    # The first REJECTED_SAMPLE rejected rows as {"line", "reason"}; the count is complete.
    rejected = models.JSONField(_("rejected rows"), default=list, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Written after every batch: a running import without a heartbeat for a
    # while lost its worker and may be claimed again (the import is idempotent).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    REJECTED_SAMPLE = 100

    class Meta:
        verbose_name = _("profile import")
        verbose_name_plural = _("profile imports")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.file_name or self.file.name} → {self.audience}"

    @property
    def percent(self) -> int:
        if self.status == self.Status.SUCCEEDED:
            return 100
        if not self.bytes_total:
            return 0
        return min(99, int(100 * self.bytes_done / self.bytes_total))


class PrivacyLogEntry(models.Model):
    """An access or erasure request answered (SPEC §14): who, when, which
    identity namespace — never the identity itself, which erasure forgets."""

    class Action(models.TextChoices):
        ERASE = "erase", _("Erasure")
        EXPORT = "export", _("Export")

    action = models.CharField(_("action"), max_length=10, choices=Action.choices)
    namespace = models.CharField(_("identity namespace"), max_length=20)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The actor's user name, kept when the account itself is deleted later.
    by = models.CharField(_("by"), max_length=150, blank=True)
    via = models.CharField(_("via"), max_length=10, blank=True)  # api, admin
    created_at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("privacy log entry")
        verbose_name_plural = _("privacy log")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} ({self.namespace}) by {self.by}"


class ConversionEvent(models.Model):
    """Something a person did that a campaign may have caused (a purchase, a
    sign-up), posted by the customer's systems (``POST /api/v1/events``). A
    campaign's conversion goal counts the people who performed its event within
    a window after they were sent the campaign, or after they were held out of
    its experiment (docs/CONVERSIONS.md). Personal data: deleted with the
    profile, exported with it, purged after ``RETENTION_CONVERSIONS_DAYS``."""

    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="conversion_events")
    name = models.CharField(_("event"), max_length=100)
    # The sender's idempotency key: the same id counts once per person (unique
    # when given). Per person, not per installation: a global key let anyone
    # posting events learn whether an order number existed for someone else
    # (issue 10, review 5), and block that person's real event by posting first.
    event_id = models.CharField(_("event id"), max_length=255, null=True, blank=True)
    occurred_at = models.DateTimeField(_("occurred"))
    value = models.DecimalField(_("value"), max_digits=18, decimal_places=4, null=True, blank=True)
    properties = models.JSONField(_("properties"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    received_at = models.DateTimeField(_("received"), auto_now_add=True)

    class Meta:
        verbose_name = _("conversion event")
        verbose_name_plural = _("conversion events")
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["profile", "event_id"],
                condition=Q(event_id__isnull=False),
                name="conversionevent_unique_profile_event_id",
            )
        ]
        indexes = [
            # Attribution (campaigns/conversions.py) and the "performed" rule
            # condition: one event name, one person, a time range.
            models.Index(fields=["name", "profile", "occurred_at"], name="conversion_name_profile"),
            # The retention purge.
            models.Index(fields=["occurred_at"], name="conversion_occurred"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.occurred_at:%Y-%m-%d %H:%M})"
