"""Proofs of a campaign (SPEC §4), sent by the cluster like every other message.

``send_proof`` is the one entry point for the page, the API and scripts: it
checks the addresses and that the content renders, records one ``Proof`` row per
address (``queued``) and hands each to the cluster on commit. The worker's
``deliver_proof`` claims a row with a compare-and-set, renders the version for
the chosen profile and sends it through the configuration's real transport,
recording ``sent`` or ``failed`` with the provider's reason. Web processes never
talk to a provider (issue 12 #10). The claim is a lease (channels/leases.py):
a proof whose worker died is sent again once by the periodic sweep, counted as
a possible duplicate, then failed with a reason and a Retry action.

The caller checks the permission (``campaign.edit``); ``user`` is recorded as
the requester.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts import quotas
from campaigns.models import Campaign, CampaignVersion, Proof
from channels import leases
from config.problems import DomainError

logger = logging.getLogger(__name__)

RECENT = 10


class ProofRefused(DomainError):
    """No proof was queued: bad addresses, no configuration, content that does not render."""

    status = 400


def proof_version(campaign: Campaign, version: str | None = None) -> CampaignVersion | None:
    """The version a proof shows: ``"live"``, ``"draft"``, or by default the
    version being edited or reviewed (the draft), else the live one."""
    if version == "live":
        return campaign.live_version
    if version not in (None, "", "draft"):
        raise ProofRefused(
            _("Choose the draft or the live version."), errors={"version": [_("draft or live")]}
        )
    return campaign.draft_version or (None if version == "draft" else campaign.live_version)


def send_proof(
    campaign: Campaign,
    user,
    addresses: list[str],
    *,
    version: str | None = None,
    locale: str | None = None,
    profile=None,
    content_locale: str | None = None,
) -> list[Proof]:
    """Queue a proof of ``campaign`` to 1–10 ``addresses``; returns the queued rows.

    ``version`` is ``"draft"``, ``"live"`` or None (the draft if there is one);
    ``locale`` the language of the words Volley adds (the "[Proof]" subject
    prefix), by default the current one; ``profile`` the profile the message is
    rendered for (None: sample data); ``content_locale`` the content translation
    to show (SPEC §11, proofs per language; None: the default content). Raises ``ProofRefused`` (answered 400 by
    the API) and writes nothing when anything is wrong.
    """
    from audiences.locales import normalize_locale
    from channels.preview import PreviewError, clean_proof_recipients, render_preview

    if content_locale:
        # The page posts it as typed (a NUL was a database error, a 500).
        normalized = normalize_locale(content_locale)
        if normalized is None:
            message = _("Use a language tag such as fr or fr-CA.")
            raise ProofRefused(message, errors={"locale": [message]})
        content_locale = normalized
    chosen = proof_version(campaign, version)
    if chosen is None:
        raise ProofRefused(
            _("This campaign has no such version."), errors={"version": [_("No such version.")]}
        )
    config = chosen.channel_configuration
    if config is None:
        message = _("Choose a channel configuration before sending proofs.")
        raise ProofRefused(message, errors={"channelConfiguration": [message]})
    if not config.is_active:
        message = _("The channel configuration “%(name)s” is deactivated: proofs cannot be sent.")
        message %= {"name": config.name}
        raise ProofRefused(message, errors={"channelConfiguration": [message]})
    try:
        cleaned = clean_proof_recipients(config.channel, list(addresses))
        # Refuse a template that cannot render now, not in the worker.
        render_preview(
            channel=config.channel,
            content=chosen.content or {},
            category=campaign.category,
            profile=profile,
            locale=content_locale or None,
        )
    except PreviewError as exc:
        raise ProofRefused(str(exc), errors=exc.errors) from exc
    quotas.proofs(user, len(cleaned))  # QuotaExceeded (429) once the hour's are spent
    locale = (locale or translation.get_language() or "")[:16]
    with transaction.atomic():
        proofs = Proof.objects.bulk_create(
            [
                Proof(
                    campaign=campaign,
                    version=chosen,
                    requested_by=user if getattr(user, "pk", None) else None,
                    profile=profile,
                    channel=config.channel,
                    address=address,
                    locale=locale,
                    content_locale=(content_locale or "")[:35],
                    **leases.queued_fields(),
                )
                for address in cleaned
            ]
        )
        from campaigns.engine import enqueue_proof

        for proof in proofs:
            enqueue_proof(proof.pk)
    return proofs


def deliver_proof(proof_id: int) -> None:
    """Send one queued proof (the cluster's task); safe to run twice."""
    from channels.preview import send_proofs

    # Compare-and-set: a second delivery of the task finds the row taken.
    if not leases.claim(Proof, proof_id):
        return
    proof = Proof.objects.select_related(
        "campaign", "version__channel_configuration", "profile"
    ).get(pk=proof_id)
    version = proof.version
    config = version.channel_configuration if version is not None else None
    if config is None:
        _record(proof, ok=False, reason=_("The version or its channel configuration is gone."))
        return
    if not config.is_active:  # deactivated after the proof was asked for: nothing leaves
        _record(proof, ok=False, reason=_("The channel configuration is deactivated."))
        return
    if proof.profile_id is not None and not _renderable(proof):
        # Someone who may not see the profile wrote the content since it was
        # asked for (an edit before delivery, or before a Retry): their words
        # are not rendered for that person (fifteenth review).
        _record(
            proof,
            ok=False,
            reason=_(
                "The content was written by someone who may not see the chosen profile: "
                "send the proof again with another profile."
            ),
        )
        return
    try:
        with translation.override(proof.locale or None):
            [result] = send_proofs(
                config=config,
                content=version.content or {},
                category=proof.campaign.category,
                recipients=[proof.address],
                profile=proof.profile,
                locale=proof.content_locale or None,
            )
    except Exception as exc:  # a provider, template or address error: the proof says why
        logger.warning("proof %s failed: %s", proof_id, type(exc).__name__)
        _record(proof, ok=False, reason=str(exc) or type(exc).__name__)
        return
    _record(proof, ok=result.ok, reason=result.reason)


def _renderable(proof: Proof) -> bool:
    from audiences.models import Profile
    from campaigns.selectors import renderable_for

    one = Profile.objects.filter(pk=proof.profile_id)
    return renderable_for(proof.campaign, one, proof.version).exists()


def _record(proof: Proof, *, ok: bool, reason: str = "") -> None:
    leases.finish(
        Proof,
        proof.pk,
        status=Proof.Status.SENT if ok else Proof.Status.FAILED,
        error="" if ok else (reason or _("The provider refused the message."))[:2000],
        sent_at=timezone.now() if ok else None,
    )


class ProofNotRetryable(DomainError):
    """Only a failed proof is sent again (409)."""

    status = 409


def retry_proof(proof: Proof, actor=None) -> Proof:
    """Send a failed proof again (a person's Retry; the caller checks
    ``campaign.edit``). 409 unless it failed, or when its configuration is
    gone or deactivated; 429 once ``actor``'s proofs of the hour are spent."""
    version = proof.version
    config = version.channel_configuration if version is not None else None
    if config is None or not config.is_active:
        raise ProofNotRetryable(
            _("The channel configuration of this proof is gone or deactivated.")
        )
    with transaction.atomic():
        if not leases.retry(Proof, proof.pk, sent_at=None):
            raise ProofNotRetryable(_("Only a failed proof can be sent again."))
        quotas.proofs(actor, 1)  # raising rolls the retry back
        from campaigns.engine import enqueue_proof

        enqueue_proof(proof.pk)
    proof.refresh_from_db()
    return proof


def sweep_proofs() -> dict[str, int]:
    """Periodic: proofs whose lease expired (a lost task, a dead worker)."""
    from campaigns.engine import enqueue_proof
    from channels.services import STALE_REASON

    return leases.sweep(Proof, enqueue=enqueue_proof, reason=STALE_REASON)


def recent_proofs(campaign: Campaign, limit: int = RECENT) -> list[Proof]:
    """The campaign's latest proofs, newest first, for its page and the API."""
    return list(campaign.proofs.select_related("requested_by", "version")[:limit])
