"""Writes for channels: configurations, tracking events, unsubscribes, provider feedback.

Delivery timestamps keep the *first* occurrence only (a compare-and-set on
``<event>_at IS NULL``), so a replayed open or click link never counts twice;
every occurrence is still logged as a ``DeliveryEvent``.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from accounts import quotas
from audiences import services as audience_services
from audiences.channel_facts import CONSENT_FIELD, IDENTITY_FIELD
from audiences.models import Channel, Profile, Suppression
from channels import deliveries, engagement
from channels.models import (
    ChannelConfiguration,
    DeliveryEvent,
    FeedbackReceipt,
    TestMessage,
    TestMessageRecipient,
)
from config.problems import DomainError
from webhooks import outbox

logger = logging.getLogger(__name__)

# Soft bounces to one address before it is suppressed (SPEC §6 "repeated failures").
SOFT_BOUNCE_LIMIT = 3


# --- configurations ------------------------------------------------------------


def channel_configuration_save(*, config: ChannelConfiguration, actor=None) -> ChannelConfiguration:
    """Validate and save a configuration (new or edited). Whoever saves it
    restricted keeps change access to it (SPEC §2: never a self lock-out).
    A change of where its messages go is checked first
    (``check_delivery_change``)."""
    from accounts.services import access_keep

    config.full_clean()
    check_delivery_change(config=config, actor=actor)
    with transaction.atomic():
        config.save()
        access_keep(obj=config, actor=actor)
    return config


# Where a configuration's messages go: the provider, its URL and the
# credentials it signs in with, and the BCC copy of every email.
DELIVERY_FIELDS = ("provider", "provider_url", "credentials", "bcc")


def check_delivery_change(*, config: ChannelConfiguration, actor) -> None:
    """Refuse (``ValidationError`` naming the fields) a change of where
    ``config``'s messages go that ``actor`` may not make (twelfth review).

    Configurations are the administrators', but restricted means restricted
    from administrators too (SPEC §2): an administrator who set the BCC of an
    open configuration to an address of theirs received a copy of every
    message sent through it — restricted campaigns they may not see, and the
    messages to people known only through restricted audiences (what the
    webhooks withhold from them, reviews 4 and 6). So:

    - a BCC is set only by someone who sees every restricted campaign and
      audience (superusers, or an administrator granted all of them): the
      copy goes to whatever sends through the configuration later too;
    - the provider, its URL and its credentials change, like the status
      (``channel_configuration_set_status``), only while no committed
      campaign the actor may not see sends through it, nor an open one that
      may send to people hidden from the actor — its writers may see a
      restricted audience the actor may not (a superuser's campaign to
      everyone; fourteenth review).

    Clearing the BCC, and a configuration nothing hidden uses, are anyone's
    with ``channel.edit``."""
    if actor is None or actor.is_superuser:
        return
    from accounts.permissions import sees_every_restricted

    stored = (
        ChannelConfiguration.objects.filter(pk=config.pk).values(*DELIVERY_FIELDS).first()
        if config.pk
        else None
    )
    changed = [
        name
        for name in DELIVERY_FIELDS
        if (stored[name] if stored else "") != getattr(config, name)
        and (stored is not None or getattr(config, name))
    ]
    errors: dict[str, list[str]] = {}
    if "bcc" in changed and config.bcc and not sees_every_restricted(actor, "campaign", "audience"):
        errors["bcc"] = [
            _(
                "Every message sent through this configuration would be copied to this "
                "address, those of campaigns and audiences restricted from you too: only a "
                "superuser may set it."
            )
        ]
    path = [name for name in changed if name != "bcc"]
    if path and stored is not None:
        from channels import hooks

        hidden = sum(1 for user in hooks.users_of(config, actor) if not user.visible)
        reaching = 0 if hidden else hooks.reaching_hidden(config, actor)
        message = ""
        if hidden:
            message = ngettext(
                "%(n)d campaign you may not see sends through this configuration: only a "
                "superuser may change where its messages go.",
                "%(n)d campaigns you may not see send through this configuration: only a "
                "superuser may change where their messages go.",
                hidden,
            ) % {"n": hidden}
        elif reaching:
            message = ngettext(
                "%(n)d campaign sending through this configuration reaches people you may "
                "not see: only a superuser may change where its messages go.",
                "%(n)d campaigns sending through this configuration reach people you may "
                "not see: only a superuser may change where their messages go.",
                reaching,
            ) % {"n": reaching}
        if message:
            for name in path:
                errors[name] = [message]
    if errors:
        raise ValidationError(errors)


class ConfigurationInactive(DomainError):
    """A deactivated configuration sends nothing, not even a test message (409)."""

    status = 409


class TestMessageNotRetryable(DomainError):
    """Only a failed test message is sent again (409)."""

    status = 409


# A worker died twice while sending it (channels/leases.py).
STALE_REASON = gettext_lazy(
    "The worker stopped while sending; the message may or may not have arrived. "
    "Use Retry to send it again."
)


def test_message_queue(
    *,
    config: ChannelConfiguration,
    content: dict,
    category: str,
    recipients: list[str],
    actor=None,
    profile=None,
    context: dict | None = None,
    locale: str | None = None,
) -> TestMessage:
    """Record a test message through ``config`` to 1–10 addresses (the
    configuration's Test page and ``POST …/test-message``) and hand it to the
    cluster on commit (SPEC §5: no provider is called inside a web request).
    ``ConfigurationInactive`` when deactivated; ``PreviewError`` for bad
    addresses or content that does not render — and then nothing is written.
    ``locale``: the language of the words Volley adds ("[Proof]"), by default
    the current one. The caller checks the permission (``channel.edit``)."""
    from channels import leases
    from channels.preview import clean_proof_recipients, render_preview

    if not config.is_active:
        raise ConfigurationInactive(
            _("This configuration is deactivated: activate it to send proofs.")
        )
    addresses = clean_proof_recipients(config.channel, recipients)
    render_preview(
        channel=config.channel, content=content, category=category, profile=profile, context=context
    )
    quotas.proofs(actor, len(addresses))  # QuotaExceeded (429) once the hour's are spent
    with transaction.atomic():
        message = TestMessage.objects.create(
            configuration=config,
            requested_by=actor if getattr(actor, "pk", None) else None,
            profile=profile,
            category=category,
            content=content,
            context=context,
            locale=(locale or translation.get_language() or "")[:16],
            **leases.queued_fields(),
        )
        TestMessageRecipient.objects.bulk_create(
            TestMessageRecipient(test_message=message, address=address) for address in addresses
        )
        _enqueue_test_message(message.pk)
    return message


def _enqueue_test_message(pk: int) -> None:
    from django_q.tasks import async_task

    transaction.on_commit(
        lambda: async_task("channels.tasks.send_test_message", pk, task_name=f"test-message-{pk}")
    )


def test_message_deliver(test_message_id: int) -> None:
    """Send a queued test message to its queued recipients (the cluster's task);
    safe to run twice.

    One recipient at a time, each answer recorded (and the lease renewed) as it
    comes: the page shows progress, a slow provider never outlives the lease of
    a live worker, and a worker that dies leaves at most the one message it
    was sending in doubt (what the sweep counts as a possible duplicate)."""
    from channels import leases

    if not leases.claim(TestMessage, test_message_id, started_at=timezone.now()):
        return  # another worker has it, or it is done
    message = TestMessage.objects.select_related("configuration", "profile").get(pk=test_message_id)
    recipients = list(message.recipients.filter(status=TestMessage.Status.QUEUED))
    with translation.override(message.locale or None):
        if not message.configuration.is_active:  # deactivated since it was asked for
            _test_message_failed(message, _("The channel configuration is deactivated."))
            return
        for recipient in recipients:
            ok, reason = _send_one(message, recipient.address)
            if not _test_message_record(message, recipient, ok=ok, reason=reason):
                return  # the sweep took it back meanwhile: it decides now
        _test_message_finish(message)


def _send_one(message: TestMessage, address: str) -> tuple[bool, str]:
    from channels.preview import send_proofs

    try:
        [result] = send_proofs(
            config=message.configuration,
            content=message.content or {},
            category=message.category,
            recipients=[address],
            profile=message.profile,
            context=message.context,
        )
    except Exception as exc:  # a provider, template or address error: the row says why
        logger.warning("test message %s failed: %s", message.pk, type(exc).__name__)
        return False, str(exc) or type(exc).__name__
    return bool(result.ok), result.reason or _("The provider refused the message.")


def _test_message_record(message: TestMessage, recipient, *, ok: bool, reason: str) -> bool:
    """Record one recipient's answer and renew the lease; False when the row is
    no longer this worker's."""
    from channels import leases

    moment = timezone.now()
    with transaction.atomic():
        if not TestMessage.objects.filter(pk=message.pk, status=TestMessage.Status.SENDING).update(
            lease_expires_at=leases.lease_from(moment)
        ):
            return False
        TestMessageRecipient.objects.filter(pk=recipient.pk).update(
            status=TestMessage.Status.SENT if ok else TestMessage.Status.FAILED,
            error="" if ok else reason[:2000],
            sent_at=moment if ok else None,
        )
    return True


def _test_message_finish(message: TestMessage) -> None:
    from channels import leases

    statuses = list(message.recipients.values_list("status", flat=True))
    refused = sum(1 for status in statuses if status != TestMessage.Status.SENT)
    error = ""
    if refused:
        error = ngettext(
            "%(refused)d of %(total)d recipient was not sent; see each reason.",
            "%(refused)d of %(total)d recipients were not sent; see each reason.",
            len(statuses),
        ) % {"refused": refused, "total": len(statuses)}
    leases.finish(
        TestMessage,
        message.pk,
        status=TestMessage.Status.FAILED if refused else TestMessage.Status.SENT,
        error=error,
        finished_at=timezone.now(),
    )


def _test_message_failed(message: TestMessage, reason: str) -> None:
    from channels import leases

    with transaction.atomic():
        if leases.finish(
            TestMessage,
            message.pk,
            status=TestMessage.Status.FAILED,
            error=reason[:2000],
            finished_at=timezone.now(),
        ):
            _recipients_failed([message.pk], reason)


def _recipients_failed(pks: list[int], reason: str) -> None:
    TestMessageRecipient.objects.filter(
        test_message_id__in=pks, status=TestMessage.Status.QUEUED
    ).update(status=TestMessage.Status.FAILED, error=reason[:2000])


def test_message_retry(*, test_message: TestMessage, actor=None) -> TestMessage:
    """Send a failed test message again to the recipients it did not reach
    (a person's Retry; the caller checks ``channel.edit``). 409 unless it failed
    or when the configuration is deactivated; 429 once ``actor``'s proofs and
    test messages of the hour are spent."""
    from channels import leases

    if not test_message.configuration.is_active:
        raise ConfigurationInactive(
            _("This configuration is deactivated: activate it to send proofs.")
        )
    with transaction.atomic():
        if not leases.retry(TestMessage, test_message.pk, started_at=None, finished_at=None):
            raise TestMessageNotRetryable(_("Only a failed test message can be sent again."))
        again = test_message.recipients.filter(status=TestMessage.Status.FAILED).update(
            status=TestMessage.Status.QUEUED, error="", sent_at=None
        )
        quotas.proofs(actor, again)  # raising rolls the retry back
        _enqueue_test_message(test_message.pk)
    test_message.refresh_from_db()
    return test_message


def test_messages_sweep() -> dict[str, int]:
    """Periodic: test messages whose lease expired (a lost task, a dead worker)."""
    from channels import leases

    def in_doubt(pk: int) -> int:
        # Answers are recorded one by one: only the first recipient still queued
        # may have been with the provider when the worker died.
        return int(
            TestMessageRecipient.objects.filter(
                test_message_id=pk, status=TestMessage.Status.QUEUED
            ).exists()
        )

    def failed(pks: list[int], reason: str) -> None:
        _recipients_failed(pks, reason)
        TestMessage.objects.filter(pk__in=pks).update(finished_at=timezone.now())

    return leases.sweep(
        TestMessage,
        enqueue=_enqueue_test_message,
        reason=STALE_REASON,
        on_failed=failed,
        messages=in_doubt,
    )


def recent_test_messages(config: ChannelConfiguration, limit: int = 10) -> list[TestMessage]:
    """The configuration's latest test messages with their recipients, newest first."""
    return list(
        config.test_messages.select_related("requested_by").prefetch_related("recipients")[:limit]
    )


# Named for what they do, not tests: pytest must not collect them where a test
# module imports them.
for _service in (test_message_queue, test_message_deliver, test_message_retry, test_messages_sweep):
    _service.__test__ = False


class ConfigurationInUse(DomainError):
    """Campaigns still send through the configuration: it stays active (409)."""

    status = 409

    def __init__(self, message: str, *, users: list) -> None:
        super().__init__(message, code="configuration_in_use")
        self.users = users


def configuration_in_use_message(config: ChannelConfiguration, users: list) -> str:
    """The refusal in words: the campaigns the reader may see by name, the others counted."""
    named = [u.name for u in users if u.visible]
    hidden = sum(1 for u in users if not u.visible)
    campaigns = ", ".join(f"“{name}”" for name in named)
    if hidden:
        others = ngettext(
            "%(n)d campaign you may not see", "%(n)d campaigns you may not see", hidden
        ) % {"n": hidden}
        campaigns = f"{campaigns}, {others}" if campaigns else others
    return _(
        "“%(name)s” cannot be deactivated: campaigns send through it (%(campaigns)s). "
        "Stop them, or give their live version another channel configuration, first."
    ) % {"name": config.name, "campaigns": campaigns}


def channel_configuration_set_status(
    *, config: ChannelConfiguration, status: str, actor=None
) -> None:
    """Activate or deactivate (the page, the API and the admin's actions).

    Deactivating is refused (``ConfigurationInUse``, 409) while campaigns send
    through the configuration (being activated, scheduled or live with it, or
    with a run still sending): stop them or move them to another configuration
    first. So a live campaign never has a deactivated configuration, and an API
    trigger is refused up front instead of failing in the worker. The row is
    locked while deciding; activating a campaign locks it too
    (``campaigns.services``), so the two cannot cross.
    """
    with transaction.atomic():
        current = (
            ChannelConfiguration.objects.select_for_update()
            .filter(pk=config.pk)
            .values_list("status", flat=True)
            .first()
        )
        if status == ChannelConfiguration.Status.DEACTIVATED and current != status:
            from channels import hooks

            users = hooks.users_of(config, actor)
            if users:
                raise ConfigurationInUse(configuration_in_use_message(config, users), users=users)
        ChannelConfiguration.objects.filter(pk=config.pk).update(
            status=status, updated_at=timezone.now()
        )
    config.status = status


def configuration_lock_active(config_id: int | None) -> bool:
    """Lock the configuration's row until the transaction ends; is it active?

    Called by whatever makes a campaign send through it (activation, approval,
    a new live version) inside the transaction that does, so that a
    deactivation (which takes the same lock) either sees that campaign or is
    seen by it."""
    if config_id is None:
        return False
    status = (
        ChannelConfiguration.objects.select_for_update()
        .filter(pk=config_id)
        .values_list("status", flat=True)
        .first()
    )
    return status == ChannelConfiguration.Status.ACTIVE


# --- consent and suppression (owned by audiences; these adapt its errors) ------


def profile_withdraw_consent(*, profile: Profile, channel: str, source: str) -> bool:
    """Withdraw ``profile``'s marketing consent for ``channel``; True if it changed."""
    return bool(
        audience_services.profile_withdraw_consent(profile=profile, channel=channel, source=source)
    )


def suppression_add(*, channel: str, address: str, reason: str) -> Suppression | None:
    """Put ``address`` on the suppression list; None when there is nothing valid to
    suppress (a provider may report an address we could never have sent to)."""
    if not address:
        return None
    try:
        return audience_services.suppression_add(channel=channel, address=address, reason=reason)
    except ValidationError:
        return None


# --- tracking ------------------------------------------------------------------


def _delivery_channel(delivery) -> str:
    return deliveries.channel(delivery)


def _first(delivery, field: str, when) -> bool:
    return deliveries.set_first(delivery, field, when)


def _log(
    delivery,
    kind: str,
    *,
    channel: str,
    address: str = "",
    detail: str = "",
    verdict: engagement.Verdict | None = None,
    when=None,
) -> DeliveryEvent:
    return DeliveryEvent.objects.create(
        delivery=delivery,
        kind=kind,
        channel=channel,
        address=address or (delivery.address if delivery else ""),
        detail=detail[:2000],
        classification=verdict.classification if verdict else "",
        rule=verdict.rule if verdict else "",
        created_at=when or timezone.now(),
    )


def _tell_webhooks(delivery, kind: str, now) -> bool:
    """Whether this open or click of ``delivery`` (already logged) is told to
    webhook endpoints: while the message had at most
    ``WEBHOOK_ENGAGEMENT_PER_HOUR`` events of that kind in the last hour.

    The tracking URLs are public and a message's are in the hands of whoever
    holds it: without a bound, each request was one outbound POST per
    subscribed endpoint, delivered one at a time by the one deliverer before
    every other endpoint's events — a few requests a second from one link
    delayed everyone's webhooks by hours (security review 21). Nothing else
    changes: every event is recorded, and the reports count them as before.
    Called under the delivery's row lock, so concurrent requests count each
    other."""
    if not outbox.subscribed(
        f"delivery.{'opened' if kind == DeliveryEvent.Kind.OPEN else 'clicked'}"
    ):
        return True  # nobody listens: emit_ref writes nothing, no need to count
    recent = DeliveryEvent.objects.filter(
        delivery=delivery, kind=kind, created_at__gt=now - timedelta(hours=1)
    )
    limit = settings.WEBHOOK_ENGAGEMENT_PER_HOUR
    # Counted to the bound only (the index on delivery, kind and time stops there).
    return recent[: limit + 1].count() <= limit


def delivery_record_open(*, delivery, user_agent: str = "", ip: str = "") -> bool:
    """Record an open, classified (``channels/engagement.py``); True the first
    time a person opened (unique human opens). A machine's open only sets
    ``machine_opened_at``."""
    now = timezone.now()
    verdict = engagement.classify_open(user_agent=user_agent, ip=ip)
    with transaction.atomic():
        deliveries.lock(delivery)
        if verdict.human:
            # A scanner that just walked this message's links fetched its images too.
            verdict = _scanner_nearby(delivery, now) or verdict
        field = "opened_at" if verdict.human else "machine_opened_at"
        first = _first(delivery, field, now)
        _log(
            delivery,
            DeliveryEvent.Kind.OPEN,
            channel=_delivery_channel(delivery),
            verdict=verdict,
            when=now,
        )
        # Every open, with what decided it: a subscriber may count people only
        # (within the hourly bound a message: ``_tell_webhooks``).
        if _tell_webhooks(delivery, DeliveryEvent.Kind.OPEN, now):
            outbox.emit_ref(
                "delivery.opened",
                delivery.pk,
                created_at=now,
                extra={"classification": verdict.classification, "rule": verdict.rule},
            )
    return first and verdict.human


def delivery_record_click(
    *, delivery, url: str, user_agent: str = "", ip: str = "", trap: bool = False
) -> bool:
    """Record a click, classified; True the first time a person clicked.

    A person's click implies the message was opened. Under the delivery's row
    lock, so concurrent clicks of one scanner see each other: a click on a
    different link of the same message within ``TRACKING_BURST_SECONDS``, or
    the hidden trap link, turns the message's recent clicks (and opens) into
    the scanner's, and its first-event times are recomputed.
    """
    now = timezone.now()
    channel = _delivery_channel(delivery)
    with transaction.atomic():
        deliveries.lock(delivery)
        verdict = engagement.classify_click(
            user_agent=user_agent,
            channel=channel,
            sent_at=getattr(delivery, "sent_at", None),
            now=now,
            trap=trap,
        )
        since = None
        if verdict.rule == engagement.TRAP_LINK:
            since = now - timedelta(seconds=engagement.TRAP_WINDOW_SECONDS)
        elif verdict.human:
            found = _scanner_nearby(delivery, now, url=url)
            if found is not None:
                verdict = found
                if found.rule == engagement.BURST_ALL_LINKS:
                    since = now - timedelta(seconds=settings.TRACKING_BURST_SECONDS)
        if verdict.human:
            first = _first(delivery, "clicked_at", now)
            _first(delivery, "opened_at", now)
        else:
            first = False
            _first(delivery, "machine_clicked_at", now)
        _log(
            delivery,
            DeliveryEvent.Kind.CLICK,
            channel=channel,
            detail=url,
            verdict=verdict,
            when=now,
        )
        if since is not None:
            _reclassify(delivery, since=since, verdict=verdict)
        if _tell_webhooks(delivery, DeliveryEvent.Kind.CLICK, now):
            outbox.emit_ref(
                "delivery.clicked",
                delivery.pk,
                created_at=now,
                extra={"url": url, "classification": verdict.classification, "rule": verdict.rule},
            )
    return first


def _scanner_nearby(delivery, now, *, url: str | None = None) -> engagement.Verdict | None:
    """What the message's other recent events say about a new one: a trap-link
    hit within ``TRAP_WINDOW_SECONDS``, or (for a click) a click on another
    link within ``TRACKING_BURST_SECONDS``."""
    clicks = DeliveryEvent.objects.filter(delivery=delivery, kind=DeliveryEvent.Kind.CLICK)
    trap_since = now - timedelta(seconds=engagement.TRAP_WINDOW_SECONDS)
    if clicks.filter(rule=engagement.TRAP_LINK, created_at__gte=trap_since).exists():
        return engagement.Verdict(engagement.MACHINE_SCANNER, engagement.TRAP_LINK)
    burst_since = now - timedelta(seconds=settings.TRACKING_BURST_SECONDS)
    recent = clicks.filter(created_at__gte=burst_since)
    if url is None:  # an open: part of a burst already found
        if recent.filter(rule=engagement.BURST_ALL_LINKS).exists():
            return engagement.Verdict(engagement.MACHINE_SCANNER, engagement.BURST_ALL_LINKS)
        return None
    if recent.exclude(detail=url).exists():
        return engagement.Verdict(engagement.MACHINE_SCANNER, engagement.BURST_ALL_LINKS)
    return None


def _reclassify(delivery, *, since, verdict: engagement.Verdict) -> None:
    """Later evidence (a burst, the trap link): the message's human opens and
    clicks since ``since`` were the scanner's. Its first-event times are then
    recomputed from the events since ``since`` only — anything earlier is
    untouched, and older events may be gone (``RETENTION_EVENTS_DAYS``)."""
    engaged = DeliveryEvent.objects.filter(
        delivery=delivery,
        kind__in=[DeliveryEvent.Kind.OPEN, DeliveryEvent.Kind.CLICK],
        created_at__gte=since,
    )
    changed = engaged.filter(classification=engagement.HUMAN).update(
        classification=verdict.classification, rule=verdict.rule
    )
    if not changed:
        return
    rows = list(engaged.values_list("kind", "classification", "created_at"))

    def first(kinds, human: bool):
        times = [t for k, c, t in rows if k in kinds and (c == engagement.HUMAN) == human]
        return min(times, default=None)

    open_kinds = (DeliveryEvent.Kind.OPEN, DeliveryEvent.Kind.CLICK)
    click_kinds = (DeliveryEvent.Kind.CLICK,)
    times = {}
    for field, value in (
        ("opened_at", first(open_kinds, True)),
        ("clicked_at", first(click_kinds, True)),
    ):
        current = getattr(delivery, field)
        if current is not None and current >= since and current != value:
            times[field] = value
    for field, value in (
        ("machine_opened_at", first((DeliveryEvent.Kind.OPEN,), False)),
        ("machine_clicked_at", first(click_kinds, False)),
    ):
        current = getattr(delivery, field)
        if value is not None and (current is None or value < current):
            times[field] = value
    deliveries.set_times(delivery, times)


def delivery_unsubscribe(*, delivery, source: str = "unsubscribe") -> bool:
    """Withdraw consent for the delivery's channel and suppress its address.

    Idempotent: a second click on the same link changes nothing more. A
    delivery whose person was erased only counts the unsubscribe.
    """
    channel = _delivery_channel(delivery)
    with transaction.atomic():
        first = _first(delivery, "unsubscribed_at", timezone.now())
        if delivery.profile is not None:
            profile_withdraw_consent(profile=delivery.profile, channel=channel, source=source)
        suppression_add(
            channel=channel, address=delivery.address, reason=Suppression.Reason.UNSUBSCRIBE
        )
        if first:
            _log(delivery, DeliveryEvent.Kind.UNSUBSCRIBE, channel=channel)
    return first


# --- preference page -----------------------------------------------------------

PREFERENCE_SOURCE = "preference_page"


def preference_channels(profile: Profile | None) -> list[tuple[str, str, bool]]:
    """(channel, label, marketing consent) for each channel the person has an identity for."""
    if profile is None:
        return []
    return [
        (channel, label, bool(getattr(profile, CONSENT_FIELD[channel])))
        for channel, label in Channel.choices
        if getattr(profile, IDENTITY_FIELD[channel])
    ]


def preferences_save(*, delivery, wanted: set[str]) -> int:
    """Set the person's marketing consent to ``wanted`` (the channels switched on)
    for every channel they have an identity for; each change is a consent change
    with source ``preference_page``. Returns how many changed.

    Switching a channel back on lifts an *unsubscribe* suppression of its
    address (the person asked for it); bounces and complaints stay. Switching
    off the delivery's own channel counts as this message's unsubscribe.
    """
    profile = delivery.profile
    if profile is None:
        return 0
    changed = 0
    with transaction.atomic():
        for channel, _label, _consent in preference_channels(profile):
            granted = channel in wanted
            if audience_services.profile_set_consent(
                profile=profile, channel=channel, granted=granted, source=PREFERENCE_SOURCE
            ):
                changed += 1
            if granted:
                address = getattr(profile, IDENTITY_FIELD[channel])
                Suppression.objects.filter(
                    channel=channel, address=address, reason=Suppression.Reason.UNSUBSCRIBE
                ).delete()
        channel = _delivery_channel(delivery)
        if channel not in wanted and _first(delivery, "unsubscribed_at", timezone.now()):
            _log(delivery, DeliveryEvent.Kind.UNSUBSCRIBE, channel=channel)
    return changed


# --- provider feedback ---------------------------------------------------------


def feedback_record(
    *,
    event: str,
    delivery=None,
    channel: str,
    address: str,
    bounce_type: str = "",
    reason: str = "",
    event_id: str = "",
) -> bool:
    """Apply one provider event (SPEC §6): delivered, bounce hard/soft, complaint, sms_stop.

    An ``event_id`` already applied changes nothing (False): the receipt is
    written in the same transaction, under a unique constraint.
    """
    now = timezone.now()
    with transaction.atomic():
        if event_id:
            try:
                with transaction.atomic():
                    FeedbackReceipt.objects.create(event_id=event_id)
            except IntegrityError:
                return False
        if event == "delivered":
            if delivery is not None:
                _first(delivery, "delivered_at", now)
            _log(delivery, DeliveryEvent.Kind.DELIVERED, channel=channel, address=address)
        elif event == "bounce":
            _bounce(delivery, channel, address, hard=bounce_type != "soft", reason=reason, now=now)
        elif event == "complaint":
            if delivery is not None:
                _first(delivery, "complained_at", now)
            suppression_add(channel=channel, address=address, reason=Suppression.Reason.COMPLAINT)
            _log(delivery, DeliveryEvent.Kind.COMPLAINT, channel=channel, address=address)
        elif event == "sms_stop":
            _sms_stop(delivery, address, now=now)
        else:  # pragma: no cover - the API validates the event name
            raise ValueError(event)
    return True


def _bounce(delivery, channel: str, address: str, *, hard: bool, reason: str, now) -> None:
    if delivery is not None:
        _first(delivery, "bounced_at", now)
        outbox.emit_ref(
            "delivery.bounced",
            delivery.pk,
            created_at=now,
            extra={"bounceType": "hard" if hard else "soft", "bounceReason": reason[:500]},
        )
    kind = DeliveryEvent.Kind.HARD_BOUNCE if hard else DeliveryEvent.Kind.SOFT_BOUNCE
    _log(delivery, kind, channel=channel, address=address, detail=reason)
    if hard:
        suppression_add(channel=channel, address=address, reason=Suppression.Reason.HARD_BOUNCE)
        return
    soft = DeliveryEvent.objects.filter(
        channel=channel, address=address, kind=DeliveryEvent.Kind.SOFT_BOUNCE
    ).count()
    if soft >= SOFT_BOUNCE_LIMIT:
        suppression_add(channel=channel, address=address, reason=Suppression.Reason.SOFT_BOUNCE)


def _sms_stop(delivery, address: str, *, now) -> None:
    profile = delivery.profile if delivery is not None else None
    if profile is None and address:
        profile = Profile.objects.filter(phone=address).first()
    if delivery is not None:
        _first(delivery, "unsubscribed_at", now)
    if profile is not None:
        profile_withdraw_consent(profile=profile, channel=Channel.SMS, source="feedback")
    suppression_add(channel=Channel.SMS, address=address, reason=Suppression.Reason.UNSUBSCRIBE)
    _log(delivery, DeliveryEvent.Kind.SMS_STOP, channel=Channel.SMS, address=address)
