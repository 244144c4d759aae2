from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audiences.models import Channel


class Purpose(models.TextChoices):
    MARKETING = "marketing", _("Marketing")
    TRANSACTIONAL = "transactional", _("Transactional")


class ChannelConfiguration(models.Model):
    """How one channel sends: sender identity, provider and an optional rate limit."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        DEACTIVATED = "deactivated", _("Deactivated")

    class Platform(models.TextChoices):
        IOS = "ios", "iOS"
        ANDROID = "android", "Android"
        WEB = "web", _("Web")

    name = models.CharField(_("name"), max_length=200)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    purpose = models.CharField(_("purpose"), max_length=15, choices=Purpose.choices)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.ACTIVE
    )
    provider = models.CharField(_("provider"), max_length=20, default="smtp")  # see PROVIDERS
    provider_url = models.URLField(
        _("provider API URL"),
        max_length=500,
        blank=True,
        help_text=_("Optional: another API base URL (a regional endpoint, for example)."),
    )
    # Fernet-encrypted JSON {name: value | "env:VARIABLE"} (channels.credentials);
    # never shown back, only the names are.
    credentials = models.TextField(_("credentials"), blank=True, editable=False)
    # email
    from_name = models.CharField(_("from name"), max_length=200, blank=True)
    from_address = models.CharField(_("from address"), max_length=254, blank=True)
    reply_to = models.CharField(_("reply-to"), max_length=254, blank=True)
    bcc = models.CharField(_("BCC"), max_length=254, blank=True)
    # sms
    sender_number = models.CharField(_("SMS sender number"), max_length=20, blank=True)
    # push
    platform = models.CharField(
        _("push platform"), max_length=10, choices=Platform.choices, blank=True
    )
    app_id = models.CharField(_("push app id"), max_length=200, blank=True)
    rate_limit_per_second = models.PositiveIntegerField(
        _("rate limit (messages per second)"),
        null=True,
        blank=True,
        help_text=_("Shared by every campaign and every worker using this configuration."),
    )
    restricted = models.BooleanField(
        _("restricted"),
        default=False,
        help_text=_("Only users or groups granted access can see or use it."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("channel configuration")
        verbose_name_plural = _("channel configurations")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    # -- credentials (channels.credentials): written, never read back out ---------

    def set_credentials(self, values: dict[str, str]) -> None:
        from channels import credentials

        self.credentials = credentials.encrypt(credentials.check_names(dict(values)))

    def stored_credentials(self) -> dict[str, str]:
        """The stored dict, ``env:`` references unresolved (may raise CredentialsError)."""
        from channels import credentials

        return credentials.decrypt(self.credentials)

    def provider_credentials(self) -> dict[str, str]:
        """The values to send with, ``env:`` references read from the environment."""
        from channels import credentials

        return credentials.resolve(self.stored_credentials())

    @property
    def credential_names(self) -> list[str]:
        """Which credentials are set (safe to show), empty if unreadable."""
        from channels.credentials import CredentialsError

        try:
            return sorted(self.stored_credentials())
        except CredentialsError:
            return []

    # Providers each channel can use (SPEC §6, §9): email through Django's email
    # backend (EMAIL_URL decides SMTP, console or file) or an email service
    # provider's API (django-anymail); SMS and push through the signed webhook,
    # the development console, or a provider's own API.
    ESP_PROVIDERS = [
        "amazon_ses",
        "sendgrid",
        "mailgun",
        "postmark",
        "brevo",
        "sparkpost",
        "mailjet",
    ]
    PROVIDERS = {
        Channel.EMAIL: ["smtp", *ESP_PROVIDERS],
        Channel.SMS: ["webhook", "console", "twilio"],
        Channel.PUSH: ["webhook", "console", "fcm", "apns"],
    }
    _CHANNEL_FIELDS = {
        Channel.EMAIL: ("from_name", "from_address", "reply_to", "bcc"),
        Channel.SMS: ("sender_number",),
        Channel.PUSH: ("platform", "app_id"),
    }

    def clean(self) -> None:
        errors: dict[str, list] = {}
        self.name = (self.name or "").strip()
        if self.channel in self._CHANNEL_FIELDS:
            # Fields of other channels are meaningless here: clear them.
            for channel, names in self._CHANNEL_FIELDS.items():
                if channel != self.channel:
                    for name in names:
                        setattr(self, name, "")
            if self.provider not in self.PROVIDERS[self.channel]:
                errors["provider"] = [
                    _("Choose one of: %(providers)s.")
                    % {"providers": ", ".join(self.PROVIDERS[self.channel])}
                ]
            check = getattr(self, f"_clean_{self.channel}")
            for field, message in check():
                errors.setdefault(field, []).append(message)
            for message in self._clean_credentials():
                errors.setdefault("credentials", []).append(message)
        if self.rate_limit_per_second is not None and not (
            1 <= self.rate_limit_per_second <= 10_000
        ):
            errors["rate_limit_per_second"] = [_("Between 1 and 10,000 messages per second.")]
        if errors:
            raise ValidationError(errors)

    def _clean_credentials(self):
        from channels import credentials

        if self.provider not in credentials.REQUIRED:
            self.credentials = ""  # smtp, webhook and console take theirs from settings
            self.provider_url = ""
            return
        try:
            values = self.stored_credentials()
        except credentials.CredentialsError as exc:
            yield str(exc)
            return
        lacking = credentials.missing(self.provider, values)
        if lacking:
            yield _("%(provider)s needs the credentials: %(names)s.") % {
                "provider": self.provider,
                "names": ", ".join(lacking),
            }
        extra = credentials.unknown(self.provider, values)
        if extra:
            yield _("%(provider)s does not use: %(names)s.") % {
                "provider": self.provider,
                "names": ", ".join(extra),
            }

    def _clean_email(self):
        self.from_name = " ".join((self.from_name or "").split())
        for field in ("from_address", "reply_to", "bcc"):
            value = (getattr(self, field) or "").strip()
            setattr(self, field, value)
            if not value:
                if field == "from_address":
                    yield field, _("A sender address is required for email.")
                continue
            try:
                validate_email(value)
            except ValidationError:
                yield field, _("Enter a valid email address.")

    def _clean_sms(self):
        from audiences.services import normalize_phone

        if not (self.sender_number or "").strip():
            yield "sender_number", _("A sender number is required for SMS.")
            return
        try:
            self.sender_number = normalize_phone(self.sender_number)
        except ValueError as exc:
            yield "sender_number", str(exc)

    def _clean_push(self):
        if self.platform not in self.Platform.values:
            yield "platform", _("Choose iOS, Android or Web.")
        self.app_id = (self.app_id or "").strip()
        if not self.app_id:
            yield "app_id", _("An app id is required for push.")
        elif not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:\-]*", self.app_id):
            yield "app_id", _("Use letters, digits, dots, dashes or colons, e.g. com.example.app.")


class DeliveryEvent(models.Model):
    """Every raw tracking or provider event for a delivery.

    ``Delivery`` keeps the first occurrence of each (unique counts); this log
    keeps every one, which is what counts repeated soft bounces per address.
    Opens and clicks carry who made them (``classification``) and the rule
    that decided it (``rule``; empty for a human event no rule flagged): see
    ``channels/engagement.py`` and docs/ENGAGEMENT.md.
    """

    class Classification(models.TextChoices):
        HUMAN = "human", _("Human")
        MACHINE_PRIVACY = "machine_privacy", _("Machine (privacy proxy)")
        MACHINE_SCANNER = "machine_scanner", _("Machine (security scanner)")

    class Kind(models.TextChoices):
        OPEN = "open", _("Opened")
        CLICK = "click", _("Clicked")
        UNSUBSCRIBE = "unsubscribe", _("Unsubscribed")
        DELIVERED = "delivered", _("Delivered")
        HARD_BOUNCE = "hard_bounce", _("Hard bounce")
        SOFT_BOUNCE = "soft_bounce", _("Soft bounce")
        COMPLAINT = "complaint", _("Complaint")
        SMS_STOP = "sms_stop", _("SMS STOP")

    delivery = models.ForeignKey(
        "campaigns.Delivery", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(_("event"), max_length=20, choices=Kind.choices)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    address = models.CharField(_("address"), max_length=512, blank=True)
    detail = models.TextField(_("detail"), blank=True)  # clicked URL, bounce reason
    # Opens and clicks only ("" for the other kinds).
    classification = models.CharField(
        _("classification"), max_length=16, choices=Classification.choices, blank=True
    )
    rule = models.CharField(_("rule"), max_length=40, blank=True)
    # A default rather than auto_now_add: the tracking services write the same
    # instant on the event and on the delivery's first-event time, so a
    # re-classification can tell which first-event time came from which event.
    created_at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        verbose_name = _("delivery event")
        verbose_name_plural = _("delivery events")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["channel", "address", "kind"], name="delivery_event_address"),
            # With the time: the engagement checks of every open and click read
            # the message's events of the last seconds or minute, not every one
            # it ever had (issue 10, fourth review).
            models.Index(fields=["delivery", "kind", "created_at"], name="delivery_event_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.address}"


class FeedbackReceipt(models.Model):
    """One provider feedback event applied, by the provider's ``eventId``.

    The unique constraint (not a check before writing) makes a replayed or
    concurrently repeated event count once (issue 10 #8). Receipts older than
    the accepted timestamp window can never match a new event.
    """

    event_id = models.CharField(_("provider event id"), max_length=255, unique=True)
    received_at = models.DateTimeField(_("received"), auto_now_add=True)

    class Meta:
        verbose_name = _("feedback receipt")
        verbose_name_plural = _("feedback receipts")

    def __str__(self) -> str:
        return self.event_id


class LeasedSend(models.Model):
    """A small send asked for by a person (a campaign proof, a configuration's
    test message) that the cluster performs under a lease (channels/leases.py).

    ``lease_expires_at``: while ``queued``, when the periodic sweep hands the
    row to the cluster again (its task was lost); while ``sending``, when the
    worker that claimed it is presumed dead. ``attempts`` counts claims;
    ``duplicates`` counts messages sent again after a lease expired — the
    provider may have accepted them the first time, so they may have arrived
    twice (bounded: one automatic resend, then ``failed`` with a retry action).
    """

    lease_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0, editable=False)
    duplicates = models.PositiveSmallIntegerField(
        _("possible duplicates"), default=0, editable=False
    )

    class Meta:
        abstract = True


class TestMessage(LeasedSend):
    """A test message through a configuration to 1–10 addresses, asked for on
    its Test page or through the API and sent by the cluster
    (``channels.tasks.send_test_message``): the request only records it."""

    __test__ = False  # not a pytest class

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    configuration = models.ForeignKey(
        ChannelConfiguration,
        on_delete=models.CASCADE,
        related_name="test_messages",
        verbose_name=_("channel configuration"),
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
    # The profile the message is rendered for (None: sample data).
    profile = models.ForeignKey(
        "audiences.Profile", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    category = models.CharField(_("category"), max_length=15, choices=Purpose.choices)
    content = models.JSONField(_("content"), default=dict)
    context = models.JSONField(_("context"), null=True, blank=True)
    locale = models.CharField(max_length=16, blank=True)  # the words Volley adds ("[Proof]")
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    error = models.TextField(_("reason"), blank=True)
    created_at = models.DateTimeField(_("requested"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("test message")
        verbose_name_plural = _("test messages")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["configuration", "-created_at"], name="testmessage_recent"),
            models.Index(fields=["status", "lease_expires_at"], name="testmessage_lease"),
        ]

    def __str__(self) -> str:
        return f"{self.configuration} #{self.pk}"

    @property
    def is_final(self) -> bool:
        return self.status in (self.Status.SENT, self.Status.FAILED)


class TestMessageRecipient(models.Model):
    """One address of a test message and what the provider said."""

    __test__ = False

    test_message = models.ForeignKey(
        TestMessage, on_delete=models.CASCADE, related_name="recipients"
    )
    address = models.CharField(_("address"), max_length=512)
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=TestMessage.Status.choices,
        default=TestMessage.Status.QUEUED,
    )
    error = models.TextField(_("reason"), blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    class Meta:
        verbose_name = _("test message recipient")
        verbose_name_plural = _("test message recipients")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.address
