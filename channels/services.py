"""Writes for channels: configurations, tracking events, unsubscribes, provider feedback.

Delivery timestamps keep the *first* occurrence only (a compare-and-set on
``<event>_at IS NULL``), so a replayed open or click link never counts twice;
every occurrence is still logged as a ``DeliveryEvent``.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audiences import services as audience_services
from audiences.channel_facts import CONSENT_FIELD, IDENTITY_FIELD
from audiences.models import Channel, Profile, Suppression
from channels import deliveries, engagement
from channels.models import ChannelConfiguration, DeliveryEvent, FeedbackReceipt
from config.problems import DomainError
from webhooks import outbox

# Soft bounces to one address before it is suppressed (SPEC §6 "repeated failures").
SOFT_BOUNCE_LIMIT = 3


# --- configurations ------------------------------------------------------------


def channel_configuration_save(*, config: ChannelConfiguration, actor=None) -> ChannelConfiguration:
    """Validate and save a configuration (new or edited). Whoever saves it
    restricted keeps change access to it (SPEC §2: never a self lock-out)."""
    from accounts.services import access_keep

    config.full_clean()
    with transaction.atomic():
        config.save()
        access_keep(obj=config, actor=actor)
    return config


class ConfigurationInactive(DomainError):
    """A deactivated configuration sends nothing, not even a test message (409)."""

    status = 409


def test_message_send(
    *,
    config: ChannelConfiguration,
    content: dict,
    category: str,
    recipients: list[str],
    profile=None,
    context: dict | None = None,
) -> list[tuple[str, object]]:
    """Send a test message through ``config`` to 1–10 addresses (the
    configuration's Test page and ``POST …/test-message``): (address, result)
    pairs. ``ConfigurationInactive`` when deactivated; ``PreviewError`` for bad
    addresses or template errors."""
    from channels.preview import clean_proof_recipients, send_proofs

    if not config.is_active:
        raise ConfigurationInactive(
            _("This configuration is deactivated: activate it to send proofs.")
        )
    addresses = clean_proof_recipients(config.channel, recipients)
    results = send_proofs(
        config=config,
        content=content,
        category=category,
        recipients=addresses,
        profile=profile,
        context=context,
    )
    return list(zip(addresses, results, strict=True))


def channel_configuration_set_status(*, config: ChannelConfiguration, status: str) -> None:
    """Activate or deactivate. Campaigns using a deactivated one fail review."""
    ChannelConfiguration.objects.filter(pk=config.pk).update(
        status=status, updated_at=timezone.now()
    )
    config.status = status


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
        # Every open, with what decided it: a subscriber may count people only.
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
