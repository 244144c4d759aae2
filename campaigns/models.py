"""Campaigns, their versions and audit trail, approvals, runs and deliveries.

Only the services in ``campaigns/services.py`` write ``Campaign.status`` (a
compare-and-set per transition); the engine in ``campaigns/engine/`` owns runs
and deliveries.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from audiences.models import Audience, Channel, Profile
from channels.models import ChannelConfiguration, LeasedSend, Purpose


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    IN_REVIEW = "in_review", _("In review")
    ACTIVATING = "activating", _("Activating")
    SCHEDULED = "scheduled", _("Scheduled")
    LIVE = "live", _("Live")
    STOPPED = "stopped", _("Stopped")
    COMPLETED = "completed", _("Completed")
    FAILED = "failed", _("Failed")
    ARCHIVED = "archived", _("Archived")


class CampaignType(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    API_TRIGGERED = "api_triggered", _("API-triggered")


class IdentityNamespace(models.TextChoices):
    EMAIL = "email", _("Email")
    PHONE = "phone", _("Phone")
    PUSH_TOKEN = "push_token", _("Push token")


def _default_categories() -> list[str]:
    return [Purpose.MARKETING.value]


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=50, unique=True)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


# A campaign's description is a note for the team: every list endpoint returns it
# (SPEC §7), so its size is bounded where it is written (security review 11, #9:
# descriptions of 4.9 MB made one API list of 20 campaigns trace 294 MB).
MAX_DESCRIPTION = 10_000


# Stands, in a copy's ``editors``, for a writer whose account was deleted (the
# source's ``created_by`` became NULL): no user has this id, so whoever reads
# the writers finds nobody there and the copy sends only to what every user
# may see, as its source does (audiences.selectors.sendable_profiles). Dropping
# the writer instead laundered the words (fourteenth review).
DELETED_WRITER = -1


class Campaign(models.Model):
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="campaigns", verbose_name=_("tags"))
    type = models.CharField(
        _("type"), max_length=15, choices=CampaignType.choices, default=CampaignType.SCHEDULED
    )
    category = models.CharField(
        _("category"), max_length=15, choices=Purpose.choices, default=Purpose.MARKETING
    )
    channel = models.CharField(
        _("channel"), max_length=10, choices=Channel.choices, default=Channel.EMAIL
    )
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=CampaignStatus.choices,
        default=CampaignStatus.DRAFT,
        db_index=True,
    )
    restricted = models.BooleanField(
        _("restricted"),
        default=False,
        help_text=_("Only users or groups granted access can see or change it."),
    )
    # The version that sends (None until first activation) and the version being
    # edited (the only version of a draft; the "open draft version" of a live one).
    live_version = models.ForeignKey(
        "CampaignVersion", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    draft_version = models.ForeignKey(
        "CampaignVersion", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Service messages an administrator exempted from the business rules (SPEC §12).
    exempt_from_rules = models.BooleanField(
        _("exempt from business rules"),
        default=False,
        help_text=_("Frequency caps and quiet hours do not apply (administrators only)."),
    )
    failure_reason = models.TextField(_("failure reason"), blank=True)
    activated_at = models.DateTimeField(_("activated"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Ids of the users besides ``created_by`` who wrote its content or settings
    # (an edit, or the campaign it was copied from). A run sends only to the
    # profiles every one of them may see (audiences.selectors.sendable_profiles):
    # an editor who may not see a restricted list must not reach it with words
    # of their own through the owner's wider view (tenth review). A writer whose
    # account is gone is ``DELETED_WRITER`` in a copy's list.
    editors = models.JSONField(default=list, blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True, db_index=True)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-updated_at"]
        permissions = [
            ("publish_campaign", _("Can activate, stop and archive campaigns")),
            ("approve_campaign", _("Can approve campaigns or request changes")),
            ("request_approval_campaign", _("Can request approval for campaigns")),
            ("view_campaign_report", _("Can view campaign reports")),
            ("manage_access_campaign", _("Can manage who may access a restricted campaign")),
        ]

    def __str__(self) -> str:
        return self.name


# A version's columns that may hold megabytes (content with its translations
# and variants' content): readers that only plan, count or list campaigns leave
# them in the database (security review 11).
HEAVY_VERSION_FIELDS = ("content", "experiment")


def light_versions(*relations: str) -> tuple[str, ...]:
    """``defer()`` arguments leaving the heavy columns of the versions reached
    through ``relations`` (``"live_version"``, ``"version"``…) unread."""
    return tuple(f"{r}__{f}" for r in relations for f in HEAVY_VERSION_FIELDS)


class CampaignVersion(models.Model):
    """A campaign's editable content and settings (SPEC §1 "version")."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(default=1)
    channel_configuration = models.ForeignKey(
        ChannelConfiguration,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("channel configuration"),
    )
    audience = models.ForeignKey(
        Audience,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("audience"),
    )
    identity_namespace = models.CharField(
        _("identity"),
        max_length=12,
        choices=IdentityNamespace.choices,
        default=IdentityNamespace.EMAIL,
    )
    # email: subject, preheader, html, text; sms: text; push: title, body, url, data
    content = models.JSONField(_("content"), default=dict, blank=True)
    start_at = models.DateTimeField(_("start"), null=True, blank=True)  # None: on activation
    end_at = models.DateTimeField(_("end"), null=True, blank=True)
    timezone = models.CharField(_("time zone"), max_length=64, default="UTC")
    # {"frequency": "daily"|"weekly"|"monthly", "time": "HH:MM", "daysOfWeek": [0-6], "dayOfMonth": 1-31}
    recurrence = models.JSONField(_("recurrence"), null=True, blank=True)
    throttle_per_second = models.PositiveIntegerField(
        _("throttle (messages per second)"), null=True, blank=True
    )
    use_profile_timezone = models.BooleanField(_("send in each profile's time zone"), default=False)
    track_opens = models.BooleanField(_("track opens"), default=True)
    track_clicks = models.BooleanField(_("track clicks"), default=True)
    allow_profile_creation = models.BooleanField(_("create unknown profiles"), default=False)
    # A content experiment (SPEC §13), normalized by campaigns.experiments:
    # {"variants": [{"name", "weight", "content"}], "holdoutPercent", "testPercent",
    #  "winnerMetric", "testHours", "autoWinner"}; None: every profile gets ``content``.
    experiment = models.JSONField(_("experiment"), null=True, blank=True)
    # The conversion goal (campaigns/conversions.py): {"event", "windowHours"};
    # None: the report counts no conversions.
    conversion = models.JSONField(_("conversion goal"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The open draft version of a live campaign: ids of whoever edited it and is
    # not among ``Campaign.editors`` yet. They join the campaign's writers when
    # this version replaces the live one (``campaigns.services``): until then
    # the live version's runs are not theirs to narrow (seventeenth review).
    editors = models.JSONField(default=list, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("campaign version")
        verbose_name_plural = _("campaign versions")
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "number"], name="campaign_version_unique_number"
            )
        ]

    def __str__(self) -> str:
        return f"{self.campaign} v{self.number}"


class CampaignEvent(models.Model):
    """Audit trail: every transition and notable action, who did it and why."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=30)
    from_status = models.CharField(max_length=12, blank=True)
    to_status = models.CharField(max_length=12, blank=True)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]


class ApprovalPolicy(models.Model):
    name = models.CharField(_("name"), max_length=200)
    active = models.BooleanField(_("active"), default=True)
    # Empty list = any. A campaign matches when it matches every non-empty list.
    types = models.JSONField(_("types"), default=list, blank=True)
    categories = models.JSONField(_("categories"), default=list, blank=True)
    channels = models.JSONField(_("channels"), default=list, blank=True)
    tags = models.JSONField(_("tags"), default=list, blank=True)
    approver_users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="+", verbose_name=_("approving users")
    )
    approver_groups = models.ManyToManyField(
        "auth.Group", blank=True, related_name="+", verbose_name=_("approving groups")
    )
    block_self_approval = models.BooleanField(_("block self-approval"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("approval policy")
        verbose_name_plural = _("approval policies")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ApprovalRequest(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        APPROVED = "approved", _("Approved")
        CHANGES_REQUESTED = "changes_requested", _("Changes requested")
        CANCELLED = "cancelled", _("Cancelled")

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="approval_requests"
    )
    version = models.ForeignKey(CampaignVersion, on_delete=models.CASCADE, related_name="+")
    policy = models.ForeignKey(
        ApprovalPolicy, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    message = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["campaign"],
                condition=Q(status="pending"),
                name="approval_one_pending_per_campaign",
            )
        ]


class Run(models.Model):
    """One execution of a campaign: a one-shot send, one occurrence, or one API trigger."""

    class Kind(models.TextChoices):
        ONE_SHOT = "one_shot", _("Scheduled send")
        OCCURRENCE = "occurrence", _("Recurring occurrence")
        API_UNITARY = "api_unitary", _("API trigger (recipients)")
        API_AUDIENCE = "api_audience", _("API trigger (audience)")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        MATERIALIZING = "materializing", _("Preparing")
        SENDING = "sending", _("Sending")
        COMPLETED = "completed", _("Completed")
        CANCELLED = "cancelled", _("Cancelled")
        SKIPPED = "skipped", _("Skipped")
        FAILED = "failed", _("Failed")

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="runs")
    version = models.ForeignKey(CampaignVersion, on_delete=models.PROTECT, related_name="runs")
    kind = models.CharField(max_length=15, choices=Kind.choices)
    # Indexed only while active (``run_active``): every run is written three or
    # four times on its way to an end, each time into every index of the table.
    status = models.CharField(max_length=15, choices=Status.choices, default=Status.QUEUED)
    scheduled_for = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    request_id = models.CharField(max_length=255, null=True, blank=True)
    context = models.JSONField(null=True, blank=True)
    # Runs accepted before the trigger fast path stored their first answer here;
    # newer runs derive it from id, request_id, created_at and rejected.
    response = models.JSONField(null=True, blank=True)
    # A unitary trigger as accepted: [{"userId", "namespace", "value", "profileId",
    # "context"}], written by the one guarded INSERT of the request and cleared by
    # the dispatcher once the deliveries (which carry the contexts) exist.
    recipients = models.JSONField(null=True, blank=True)
    rejected = models.JSONField(null=True, blank=True)  # [{"userId", "reason"}] of the answer
    # The dispatcher that is preparing this run, and until when (a dead one's
    # triggers are taken over when the lease expires).
    claimed_by = models.CharField(max_length=64, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    # An experiment's test phase (SPEC §13): until a winner is decided, the
    # deliveries outside the test share wait (campaigns/experiments.py).
    test_ends_at = models.DateTimeField(null=True, blank=True)
    # Counters kept up to date by the engine so progress never scans deliveries.
    targeted = models.PositiveIntegerField(default=0)
    excluded = models.PositiveIntegerField(default=0)
    sent = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "request_id"],
                condition=Q(request_id__isnull=False),
                name="run_unique_request_id",
            ),
            models.UniqueConstraint(
                fields=["campaign", "kind", "scheduled_for"],
                condition=Q(kind__in=["one_shot", "occurrence"]),
                name="run_unique_occurrence",
            ),
        ]
        indexes = [
            # Readers of runs by status look for the active ones (the minute
            # tick, stops, completion), the dispatcher's claim for the oldest
            # queued triggers first (a queued run of another kind is rare and
            # brief); an ended run leaves this index.
            models.Index(
                fields=["status", "id"],
                condition=Q(status__in=["queued", "materializing", "sending"]),
                name="run_active",
            ),
            # The nightly retention's runs whose trigger context is still kept.
            models.Index(
                fields=["id"], condition=Q(context__isnull=False), name="run_with_context"
            ),
        ]

    @property
    def error_display(self) -> str:
        """``error`` in words: a known reason code is translated, other text shown as-is."""
        labels = dict(Delivery.Reason.choices)
        return str(labels.get(self.error, self.error))


# Deliveries the engine will not send (again), and those that still name
# someone or carry data: what the nightly retention anonymises once old
# (campaigns/retention.py). An anonymised row has none of these left.
FINISHED_DELIVERY = ("sent", "failed", "excluded", "cancelled")
NOT_ANONYMISED = Q(profile__isnull=False) | ~Q(address="") | Q(context__isnull=False) | ~Q(error="")


class Delivery(models.Model):
    """One message to one profile in one run. Its id is the provider idempotency key."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        EXCLUDED = "excluded", _("Excluded")
        CANCELLED = "cancelled", _("Cancelled")

    class Reason(models.TextChoices):
        NO_CONSENT = "no_consent", _("No consent")
        SUPPRESSED = "suppressed", _("Suppressed")
        MISSING_IDENTITY = "missing_identity", _("Missing identity")
        FREQUENCY_CAP = "frequency_cap", _("Frequency cap")
        QUIET_HOURS = "quiet_hours", _("Quiet hours")
        DUPLICATE = "duplicate", _("Duplicate")
        # An experiment's holdout: kept out on purpose, to measure the lift (SPEC §13).
        HOLDOUT = "holdout", _("Holdout")
        # A failure, not an exclusion: the run's channel configuration was
        # deactivated before it sent (retry once it is active again).
        CONFIGURATION_DEACTIVATED = (
            "configuration_deactivated",
            _("Channel configuration deactivated"),
        )

    # Looked up by ``delivery_one_per_run_profile`` and ``delivery_run_status``,
    # which both lead with the run: no index of its own to write.
    run = models.ForeignKey(
        Run, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    # NULL once the person was erased or the row outlived RETENTION_DELIVERY_DAYS:
    # the row stays (anonymised) so every report keeps its numbers (SPEC §14).
    profile = models.ForeignKey(
        Profile, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField(max_length=40, blank=True)  # exclusion code or failure code
    error = models.TextField(blank=True)
    address = models.CharField(max_length=512, blank=True)
    # The translation sent ("fr"; "" for the default content), for the report's
    # split by language (SPEC §11). A database default: deliveries are
    # materialized with raw INSERT … SELECT.
    locale = models.CharField(max_length=35, blank=True, default="", db_default="")
    # The experiment variant sent (its name; "" outside an experiment, and for a
    # delivery still waiting for the winner). Decided in SQL at materialization.
    variant = models.CharField(max_length=40, blank=True, default="", db_default="")
    context = models.JSONField(null=True, blank=True)  # per-recipient API context
    send_after = models.DateTimeField(null=True, blank=True)  # profile time zone / retry back-off
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=64, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # An experiment's holdout: the moment the person would have been sent
    # (the run's fan-out, or their local send time). Their conversions count
    # from here, as a sent person's count from ``sent_at`` (campaigns/conversions.py).
    held_out_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    bounced_at = models.DateTimeField(null=True, blank=True)
    # First *human* open and click (docs/ENGAGEMENT.md): what reports, rates and
    # retargeting count. Opens and clicks made by machines (privacy proxies,
    # security scanners) only set the machine_ times.
    opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    machine_opened_at = models.DateTimeField(null=True, blank=True)
    machine_clicked_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    complained_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        constraints = [
            models.UniqueConstraint(fields=["run", "profile"], name="delivery_one_per_run_profile")
        ]
        indexes = [
            models.Index(fields=["run", "status"], name="delivery_run_status"),
            # Finding expired leases (a dead sender) without scanning every delivery.
            models.Index(
                fields=["lease_expires_at"],
                condition=Q(status="sending"),
                name="delivery_sending_lease",
            ),
            # The nightly retention's work lists (campaigns/retention.py): finished
            # rows still to anonymise, and those still carrying an API context.
            # A row leaves the index once done, so each night walks what is left
            # to do, never the rows anonymised on earlier nights or batches.
            models.Index(
                fields=["id"],
                condition=Q(status__in=FINISHED_DELIVERY) & NOT_ANONYMISED,
                name="delivery_to_anonymise",
            ),
            models.Index(
                fields=["id"],
                condition=Q(status__in=FINISHED_DELIVERY, context__isnull=False),
                name="delivery_with_context",
            ),
        ]


class SendPermit(models.Model):
    """A sender's promise that it may be calling a provider for a campaign right now.

    Taken under the campaign's gate after checking that the campaign may send,
    released once the batch's outcomes are recorded, renewed while it lasts; a
    stop waits for every permit of its campaign to be released or to expire
    (campaigns/barrier.py). At most one row per sender and campaign.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    holder = models.CharField(max_length=64)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "holder"], name="sendpermit_one_per_holder")
        ]
        indexes = [models.Index(fields=["holder"], name="sendpermit_holder")]


class ContentTemplate(models.Model):
    """Reusable message content for one channel (SPEC §11): saved from a
    campaign or written from scratch, copied into a new campaign's draft.
    Restricted like campaigns (django-guardian per-object grants)."""

    name = models.CharField(_("name"), max_length=200)
    channel = models.CharField(
        _("channel"), max_length=10, choices=Channel.choices, default=Channel.EMAIL
    )
    # The same shape as a version's content (campaigns.validation.normalize_content).
    content = models.JSONField(_("content"), default=dict, blank=True)
    restricted = models.BooleanField(
        _("restricted"),
        default=False,
        help_text=_("Only users or groups granted access can see or change it."),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Ids of the users besides ``created_by`` who wrote its content (an edit,
    # or the campaign it was saved from). A campaign started from it counts
    # them all among its editors (``Campaign.editors``): a template, like a
    # duplicate, does not launder the words (twelfth review).
    editors = models.JSONField(default=list, blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("template")
        verbose_name_plural = _("templates")
        ordering = ["-updated_at", "-id"]

    def __str__(self) -> str:
        return self.name


class Asset(models.Model):
    """An image uploaded for messages (SPEC §11), served without login at a
    stable URL under SITE_URL (``/assets/<key>.<ext>``) because every email
    client fetches it anonymously. The key is random: URLs cannot be guessed
    from one another."""

    key = models.UUIDField(unique=True, editable=False)
    file = models.FileField(_("file"), upload_to="assets/", max_length=255)
    name = models.CharField(_("name"), max_length=255, blank=True)
    content_type = models.CharField(_("content type"), max_length=20)
    size = models.PositiveIntegerField(_("size"))
    width = models.PositiveIntegerField(_("width"), null=True, blank=True)
    height = models.PositiveIntegerField(_("height"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("uploaded"), auto_now_add=True)

    class Meta:
        verbose_name = _("image")
        verbose_name_plural = _("images")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name or str(self.key)


class Proof(LeasedSend):
    """One proof of a campaign version to one address, sent by the cluster.

    The page only records the request (``queued``); ``campaigns.tasks.send_proof``
    claims the row with a compare-and-set (``queued`` → ``sending``, under a
    lease: channels/leases.py), so a task delivered twice sends once, and
    records ``sent`` or ``failed`` with the reason. A worker that dies while
    sending leaves a stale lease that the periodic sweep resolves.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="proofs")
    version = models.ForeignKey(
        CampaignVersion, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The sample profile the message is rendered for (None: sample data).
    profile = models.ForeignKey(
        Profile, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    address = models.CharField(_("address"), max_length=512)
    locale = models.CharField(max_length=16, blank=True)  # the words Volley adds ("[Proof]")
    # The content translation shown (SPEC §11: proofs per language); "" the default.
    content_locale = models.CharField(max_length=35, blank=True, default="")
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    error = models.TextField(_("reason"), blank=True)
    created_at = models.DateTimeField(_("requested"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    class Meta:
        verbose_name = _("proof")
        verbose_name_plural = _("proofs")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["campaign", "-created_at"], name="proof_campaign_recent"),
            models.Index(fields=["status", "lease_expires_at"], name="proof_lease"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign} → {self.address}"


class BusinessRule(models.Model):
    """Marketing pressure (SPEC §12): a frequency cap and/or quiet hours for one
    channel and some categories, enforced when a sender claims deliveries
    (campaigns/engine/rules.py)."""

    class QuietAction(models.TextChoices):
        DELAY = "delay", _("Delay to the end of the quiet hours")
        SKIP = "skip", _("Skip the message")

    name = models.CharField(_("name"), max_length=200)
    active = models.BooleanField(_("active"), default=True)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    # Campaign categories the rule applies to: marketing by default; transactional
    # messages are exempt unless chosen here.
    categories = models.JSONField(_("categories"), default=_default_categories)
    cap_max_messages = models.PositiveIntegerField(_("at most (messages)"), null=True, blank=True)
    cap_window_hours = models.PositiveIntegerField(
        _("in a rolling window of (hours)"), null=True, blank=True
    )
    quiet_start = models.TimeField(_("quiet hours start"), null=True, blank=True)
    quiet_end = models.TimeField(_("quiet hours end"), null=True, blank=True)
    quiet_action = models.CharField(
        _("during quiet hours"),
        max_length=5,
        choices=QuietAction.choices,
        default=QuietAction.DELAY,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("business rule")
        verbose_name_plural = _("business rules")
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def has_cap(self) -> bool:
        return bool(self.cap_max_messages) and bool(self.cap_window_hours)

    @property
    def has_quiet_hours(self) -> bool:
        return self.quiet_start is not None and self.quiet_end is not None

    def clean(self) -> None:
        from campaigns.rules import validate_rule

        validate_rule(self)


class RuleCounter(models.Model):
    """One profile's recent sends under one capping rule: the row a sender locks
    (``SELECT … FOR UPDATE``) to count and claim in one transaction, so two
    senders on two hosts cannot both pass the cap. ``recent`` holds
    ``[epoch seconds, delivery id]`` of the sends inside the rule's window."""

    rule = models.ForeignKey(BusinessRule, on_delete=models.CASCADE, related_name="+")
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="+")
    recent = models.JSONField(default=list)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rule", "profile"], name="rulecounter_one_per_profile")
        ]


class ExperimentWinner(models.Model):
    """The winner of a campaign's experiment (SPEC §13), decided once: by the
    cluster at the end of the test phase, or by a marketer. ``results`` keeps
    the numbers the decision was made on (per variant: sent, unique opens and
    clicks, rates, the difference to the control and its interval)."""

    campaign = models.OneToOneField(
        Campaign, on_delete=models.CASCADE, related_name="experiment_winner"
    )
    variant = models.CharField(_("variant"), max_length=40)
    automatic = models.BooleanField(_("decided automatically"), default=False)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    metric = models.CharField(_("metric"), max_length=20)
    results = models.JSONField(default=list)
    released = models.PositiveIntegerField(_("sent the winner to"), default=0)
    decided_at = models.DateTimeField(_("decided"))

    class Meta:
        verbose_name = _("experiment winner")
        verbose_name_plural = _("experiment winners")

    def __str__(self) -> str:
        return f"{self.campaign}: {self.variant}"
