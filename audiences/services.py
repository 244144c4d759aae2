"""Writes for audiences and profiles: normalization, upserts, consent, suppression.

Identity policy (shared by the API upsert and the CSV importer): each identity
(email, phone, push token, external profile id) belongs to at most one profile.
A write that names identities of two different profiles is refused with a
clear reason ("email matches one profile and phone another") instead of
merging or stealing identities silently.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from email_validator import EmailNotValidError, validate_email

from audiences import hooks
from audiences.channel_facts import CONSENT_FIELD, IDENTITY_FIELD
from audiences.models import (  # noqa: F401 - the bounds are the services' too
    MAX_ATTRIBUTES,
    MAX_ATTRIBUTES_CHARS,
    Audience,
    ConsentChange,
    Profile,
    Suppression,
    attributes_problem,
)
from config.problems import DomainError
from webhooks import outbox

logger = logging.getLogger(__name__)

IDENTITY_FIELDS = ("email", "phone", "push_token", "profile_id")


# ---------------------------------------------------------------- normalization


# The everyday ASCII address, accepted without the full validator (which costs
# ~50 µs a call, too much for a million-row import). Anything else — quoted or
# internationalized parts, punycode, special-use domains — takes the full path.
_PLAIN_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
_SPECIAL_USE = (".arpa", ".invalid", ".local", ".localhost", ".onion", ".test")


def normalize_email(value: str) -> str:
    """Lower-cased, syntactically valid address; ``ValueError`` otherwise."""
    value = value.strip()
    if (
        len(value) <= 254
        and _PLAIN_EMAIL.fullmatch(value)
        and value.index("@") <= 64
        and "xn--" not in value.lower()
        and not value.lower().endswith(_SPECIAL_USE)
    ):
        return value.lower()
    try:
        result = validate_email(value, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        domain = value.rpartition("@")[2].rstrip(".").lower()
        if "@" in value and ("." + domain).endswith(_SPECIAL_USE):
            # Say why: "example.test" looks like any other domain to a marketer.
            raise ValueError(
                _(
                    "%(value)r uses %(domain)r, a reserved (special-use) domain that can "
                    "never receive email (.test, .local, .localhost, .invalid, .onion, .arpa)."
                )
                % {"value": value, "domain": domain}
            ) from exc
        raise ValueError(_("%(value)r is not a valid email address.") % {"value": value}) from exc
    return result.normalized.lower()


def normalize_phone(value: str) -> str:
    """E.164 (``+33612345678``) or ``ValueError``: the one phone rule of Volley.

    The import, the profile API, triggers, provider feedback, proofs and the
    channel configuration form all call this, so a number accepted in one place
    is found in every other (issue 12 #8). The number must carry its country
    code and have a length possible for a complete number of that country:
    ``+1 555 0100`` (a local number without its area code) is refused, while
    ``+31970000000`` is accepted even though today's metadata does not list its
    range as assigned — ``is_valid_number`` follows range assignments that change
    with every library release, and the provider is the one who knows whether a
    number reaches someone.
    """
    value = (value or "").strip()
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(
            _("%(value)r is not a phone number in international format (+…).") % {"value": value}
        ) from exc
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason == phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY:
        raise ValueError(
            _("%(value)r is a local number: add its area code after the country code.")
            % {"value": value}
        )
    if reason != phonenumbers.ValidationResult.IS_POSSIBLE:
        raise ValueError(_("%(value)r is not a possible phone number.") % {"value": value})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_timezone(value: str) -> str:
    """An IANA name of the one list (config/timezones.py), or empty."""
    from config.timezones import is_time_zone

    value = (value or "").strip()
    if value and not is_time_zone(value):
        raise ValueError(_("%(value)r is not an IANA time zone.") % {"value": value})
    return value


def normalize_text_identity(value: str, *, max_length: int) -> str:
    value = value.strip()
    if not value:
        raise ValueError(_("This identity is empty."))
    if len(value) > max_length:
        raise ValueError(_("At most %d characters.") % max_length)
    return value


def normalize_identity(namespace: str, value: str) -> str:
    """Normalize ``value`` for the identity ``namespace`` (email, phone, push_token, profile_id)."""
    if namespace == "email":
        return normalize_email(value)
    if namespace == "phone":
        return normalize_phone(value)
    if namespace == "push_token":
        return normalize_text_identity(value, max_length=512)
    if namespace == "profile_id":
        return normalize_text_identity(value, max_length=255)
    raise ValueError(_("Unknown identity namespace %r.") % namespace)


# ---------------------------------------------------------------- profiles


class IdentityConflict(DomainError):
    """An identity given for a profile already belongs to another profile (API 409)."""

    status = 409

    def __init__(self, fields: list[str]):
        super().__init__(
            _("Already used by another profile: %s. Nothing was changed.") % ", ".join(fields)
        )
        self.fields = fields


class AudienceInUse(DomainError):
    """Campaigns use the audience (API 409): it cannot be deleted, or its rule
    changed by this user (``campaigns``: the ones the user may see)."""

    status = 409

    def __init__(self, message: str, campaigns: list | None = None) -> None:
        super().__init__(message)
        self.campaigns = campaigns or []


def profile_get(namespace: str, value: str) -> Profile | None:
    """The profile whose ``namespace`` identity is ``value`` (normalized first)."""
    try:
        value = normalize_identity(namespace, value)
    except ValueError:
        return None
    return Profile.objects.filter(**{namespace: value}).first()


def profile_upsert(
    *,
    namespace: str,
    value: str,
    identities: dict[str, str] | None = None,
    attributes: dict[str, Any] | None = None,
    timezone: str | None = None,
    consent: dict[str, bool] | None = None,
    source: str = "api",
    locale: str | None = None,
) -> tuple[Profile, bool]:
    """Create or update the profile whose ``namespace`` identity is ``value``.

    All identities are already normalized. Other ``identities`` given are set
    on it; attributes are merged key by key (``None`` removes a key); consent
    changes are recorded with ``source``. Raises ``IdentityConflict`` when an
    identity belongs to another profile, ``ValidationError`` for bad values.
    Returns ``(profile, created)``.
    """
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                return _upsert(
                    namespace,
                    value,
                    identities or {},
                    attributes,
                    timezone,
                    consent,
                    source,
                    locale,
                )
        except IntegrityError:
            # A concurrent request created the same identity first: look again.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _upsert(namespace, value, identities, attributes, timezone, consent, source, locale=None):
    profile = Profile.objects.select_for_update().filter(**{namespace: value}).first()
    created = profile is None
    if created:
        profile = Profile(**{namespace: value}, attributes={})
    others = Q()
    for field, other in identities.items():
        if other and field != namespace:
            others |= Q(**{field: other})
    if others:
        taken = Profile.objects.filter(others).exclude(pk=profile.pk).values(*identities)
        used = sorted({f for row in taken for f, v in row.items() if v and v == identities.get(f)})
        if used:
            raise IdentityConflict(used)
    for field, other in identities.items():
        if other and field != namespace:
            setattr(profile, field, other)
    merged = dict(profile.attributes or {})
    for key, item in (attributes or {}).items():
        if item is None:
            merged.pop(key, None)
        else:
            merged[key] = item
    problem = attributes_problem(merged)
    if problem:
        raise ValidationError({"attributes": [problem]})
    profile.attributes = merged
    if timezone is not None:
        try:
            profile.timezone = normalize_timezone(timezone)
        except ValueError as exc:
            raise ValidationError({"timezone": [str(exc)]}) from exc
    if locale is not None:
        profile.locale = _locale(locale)
    changes = _apply_consent(profile, consent or {})
    profile.full_clean(validate_unique=False, validate_constraints=False)
    profile.save()
    _record_consent(profile, changes, source)
    return profile, created


def _locale(value: str) -> str:
    """A profile's locale as stored: canonical BCP 47, or "" to clear it."""
    if value == "":
        return ""
    from audiences.locales import normalize_locale

    normalized = normalize_locale(value)
    if normalized is None:
        raise ValidationError({"locale": [_("Use a language tag such as fr or fr-CA.")]})
    return normalized


def _apply_consent(profile: Profile, consent: dict[str, bool]) -> list[tuple[str, bool]]:
    changes = []
    for channel, granted in consent.items():
        field = CONSENT_FIELD[channel]
        if getattr(profile, field) != granted:
            changes.append((channel, granted))
            setattr(profile, field, granted)
    return changes


def _record_consent(profile: Profile, changes: list[tuple[str, bool]], source: str) -> None:
    ConsentChange.objects.bulk_create(
        [ConsentChange(profile=profile, channel=c, granted=g, source=source) for c, g in changes]
    )
    for channel, granted in changes:
        if not granted:
            _unsubscribed(profile, channel, source)


def _unsubscribed(profile: Profile, channel: str, source: str) -> None:
    """``profile.unsubscribed`` for outbound webhooks, in the change's transaction;
    not for a person known only through restricted audiences (endpoints are the
    administrators', and restricted means restricted from them too)."""
    if not outbox.subscribed("profile.unsubscribed"):
        return
    from audiences.selectors import not_hidden_profiles

    # The preference page is public (its token is the only credential): switching
    # a channel on and off again is an unsubscribe each time. At most
    # ``WEBHOOK_ENGAGEMENT_PER_HOUR`` are told a person and channel an hour, as
    # for opens and clicks (security review 21); every change is still recorded.
    limit = settings.WEBHOOK_ENGAGEMENT_PER_HOUR
    earlier = (
        ConsentChange.objects.filter(profile=profile, channel=channel, granted=False)
        .order_by("-pk")
        .values_list("changed_at", flat=True)[limit : limit + 1]
    )
    if any(at > timezone.now() - timedelta(hours=1) for at in earlier):
        return

    if (
        Audience.objects.filter(restricted=True).exists()
        and not not_hidden_profiles(None, Profile.objects.filter(pk=profile.pk)).exists()
    ):
        return
    outbox.emit(
        "profile.unsubscribed",
        {"profile": outbox.person(profile), "channel": channel, "source": source},
    )


def profile_set_consent(*, profile: Profile, channel: str, granted: bool, source: str) -> bool:
    """Set one channel's marketing consent; records the change. Returns whether it changed.

    Compare-and-set, so two concurrent unsubscribes record one change, not two.
    """
    field = CONSENT_FIELD[channel]
    with transaction.atomic():
        changed = (
            Profile.objects.filter(pk=profile.pk)
            .exclude(**{field: granted})
            .update(**{field: granted})
            == 1
        )
        if changed:
            ConsentChange.objects.create(
                profile=profile, channel=channel, granted=granted, source=source
            )
            if not granted:
                _unsubscribed(profile, channel, source)
    setattr(profile, field, granted)
    return changed


def profile_withdraw_consent(*, profile: Profile, channel: str, source: str) -> bool:
    """Withdraw ``channel`` marketing consent (unsubscribe link, SMS STOP, feedback).

    ``source`` says how (``unsubscribe``, ``feedback``, ``admin``…). Idempotent.
    """
    return profile_set_consent(profile=profile, channel=channel, granted=False, source=source)


# ---------------------------------------------------------------- suppression


def suppression_add(*, channel: str, address: str, reason: str) -> Suppression:
    """Put ``address`` on ``channel``'s suppression list (idempotent).

    The address is normalized like a profile identity so it matches the
    profile's column. An existing entry keeps its date; a stronger reason
    (hard bounce, complaint) replaces a weaker one so transactional sends stop too.
    """
    if channel not in IDENTITY_FIELD:
        raise ValidationError({"channel": [_("Unknown channel %r.") % channel]})
    if reason not in Suppression.Reason.values:
        raise ValidationError({"reason": [_("Unknown reason %r.") % reason]})
    try:
        address = normalize_identity(IDENTITY_FIELD[channel], address)
    except ValueError as exc:
        raise ValidationError({"address": [str(exc)]}) from exc
    strong = {Suppression.Reason.HARD_BOUNCE, Suppression.Reason.COMPLAINT}
    from audiences.privacy import suppressions_restore

    with transaction.atomic():
        suppressions_restore([(channel, address)])  # an erased entry for it comes back
        entry, created = Suppression.objects.get_or_create(
            channel=channel, address=address, defaults={"reason": reason}
        )
        if not created and reason in strong and entry.reason not in strong:
            entry.reason = reason
            entry.save(update_fields=["reason"])
    if created:
        # Masked by config.logmask like every address in a log line.
        logger.info("Suppressed %s address %s (%s)", channel, address, reason)
    return entry


def suppression_remove(*, channel: str, address: str) -> int:
    """Take ``address`` off the list (an administrator's decision). Returns rows removed."""
    return Suppression.objects.filter(channel=channel, address=address).delete()[0]


def suppression_delete(*, suppression: Suppression) -> None:
    """Take one entry off the list by id (``DELETE /api/v1/suppressions/{id}``),
    an erased person's hashed entry included. Logged like an addition."""
    Suppression.objects.filter(pk=suppression.pk).delete()
    logger.info(
        "Unsuppressed %s address %s (was %s)",
        suppression.channel,
        suppression.address or "(erased)",
        suppression.reason,
    )


# ---------------------------------------------------------------- audiences


def audience_create_rule(
    *, name: str, rule: dict, actor=None, restricted: bool = False
) -> Audience:
    """Create a rule audience; its size is estimated now. Raises ``ValidationError``
    (``rule`` errors keyed by path) for a rule that does not compile."""
    from audiences.rules import RuleError, compile_rule, engagement_errors

    try:
        q = compile_rule(rule)
    except RuleError as exc:
        raise ValidationError(exc.errors) from exc
    if actor is not None and (errors := engagement_errors(rule, actor)):
        raise ValidationError(errors)
    audience = Audience(
        name=(name or "").strip(),
        kind=Audience.Kind.RULE,
        rule=rule,
        created_by=actor,
        restricted=restricted,
    )
    # Naming a restricted campaign restricts the audience (review 4 #10).
    audience.restricted = restricted or audience.restriction_required() is not None
    audience.full_clean()
    with transaction.atomic():
        from audiences.selectors import count_for

        # Never a count of hidden profiles (audiences.selectors.count_for).
        audience.size = count_for(None, Profile.objects.filter(q))
        audience.save()
        audience_grant_creator(audience=audience, actor=actor)
    return audience


def audience_create_upload(*, name: str, actor=None, restricted: bool = False) -> Audience:
    """Create an (empty) upload audience; a ``ProfileImport`` fills it."""
    audience = Audience(
        name=(name or "").strip(),
        kind=Audience.Kind.UPLOAD,
        created_by=actor,
        restricted=restricted,
    )
    audience.full_clean()
    with transaction.atomic():
        audience.save()
        audience_grant_creator(audience=audience, actor=actor)
    return audience


def audience_grant_creator(*, audience: Audience, actor) -> None:
    """A restricted audience stays visible and editable to whoever created it;
    administrators grant others access in the admin."""
    if not audience.restricted or actor is None or not actor.is_authenticated:
        return
    from guardian.shortcuts import assign_perm

    for perm in ("audiences.view_audience", "audiences.change_audience"):
        assign_perm(perm, actor, audience)


def check_rule_change_allowed(
    *, audience: Audience, actor, reimport: bool = False, access: bool = False
) -> None:
    """Changing the rule of an audience used by committed campaigns changes who
    receives them: it needs the permission to change those campaigns' live
    content (``campaign.activate``) on every one of them, else ``AudienceInUse``.

    Campaigns the actor may not see are counted, never named. The campaigns
    are found by the handler campaigns registers (``audiences/hooks.py``).

    ``reimport``: the same for a new file into an upload audience, whose
    membership is what its rule is to a rule audience (review 6).
    """
    from django.utils.translation import ngettext

    blocked = [
        b for found in hooks.rule_change_blockers(audience=audience, actor=actor) for b in found
    ]
    if not blocked:
        return
    named = [b.obj for b in blocked if b.visible]
    hidden = len(blocked) - len(named)
    names = ", ".join(f"“{b.name}”" for b in blocked if b.visible)
    if hidden:
        others = ngettext("%(n)d other campaign", "%(n)d other campaigns", hidden) % {"n": hidden}
        names = f"{names}, {others}" if names else others
    if access:
        message = _(
            "This audience decides who receives campaigns in review, scheduled or live "
            "(%(campaigns)s): restricting it or taking access to it away needs the "
            "permission to activate them."
        )
    elif reimport:
        message = _(
            "This audience decides who receives campaigns in review, scheduled or live "
            "(%(campaigns)s): importing a new file into it needs the permission to "
            "activate them."
        )
    else:
        message = _(
            "This audience decides who receives campaigns in review, scheduled or live "
            "(%(campaigns)s): changing its rule needs the permission to activate them."
        )
    raise AudienceInUse(message % {"campaigns": names}, named)


def audience_access_narrowing(*, obj, actor) -> None:
    """``accounts.services.narrowing``: restricting an upload audience, or
    taking a grant on it away, hides its members from whoever no longer sees
    it — the owner of a committed campaign using it included, whose next run
    then leaves them out. Who such a campaign reaches is its activators'
    decision, as a rule change or a new file is (review 10): refused
    (``ValidationError``) unless ``actor`` may activate every one of them."""
    if not isinstance(obj, Audience) or obj.kind != Audience.Kind.UPLOAD:
        return  # a rule audience's restriction hides nobody
    try:
        check_rule_change_allowed(audience=obj, actor=actor, access=True)
    except AudienceInUse as exc:
        raise ValidationError(str(exc)) from exc


def audience_update_rule(*, audience: Audience, name: str, rule: dict, actor=None) -> Audience:
    """Change a rule audience's name and rule (validated like on creation).

    With an ``actor``, a changed rule is refused (``AudienceInUse``) when the
    audience is used by committed campaigns the actor may not activate.
    """
    from audiences.rules import RuleError, compile_rule, engagement_errors

    try:
        q = compile_rule(rule)
    except RuleError as exc:
        raise ValidationError(exc.errors) from exc
    if actor is not None and rule != audience.rule:
        if errors := engagement_errors(rule, actor):
            raise ValidationError(errors)
        check_rule_change_allowed(audience=audience, actor=actor)
    audience.name = (name or "").strip()
    audience.rule = rule
    audience.full_clean()
    from accounts.services import access_keep
    from audiences.selectors import count_for

    # A rule that now names a restricted campaign restricts the audience
    # (review 4 #10); whoever changed it keeps access, as when restricting.
    restrict = not audience.restricted and audience.restriction_required() is not None
    with transaction.atomic():
        audience.size = count_for(None, Profile.objects.filter(q))
        if restrict:
            audience.restricted = True
        audience.save()
        if restrict:
            access_keep(obj=audience, actor=actor)
            audience_grant_author(audience=audience)
    return audience


def audience_grant_author(*, audience: Audience) -> None:
    """A rule audience restricted because its rule names restricted campaigns
    stays with its author when they may see every one of them."""
    from guardian.shortcuts import assign_perm

    from audiences import hooks
    from audiences.rules import named_campaign_ids

    author = audience.created_by
    if author is None or not author.is_active or author.is_superuser:
        return
    ids = named_campaign_ids(audience.rule)
    if ids and set().union(*hooks.engagement_campaigns(actor=author, ids=ids)) != ids:
        return  # the author may no longer see a campaign it names
    for perm in ("audiences.view_audience", "audiences.change_audience"):
        assign_perm(perm, author, audience)


def audiences_follow_restricted_campaign(*, obj) -> None:
    """A campaign became restricted: every open rule audience naming it is
    restricted too (review 4 #10); its author keeps it if they may see the
    campaigns it names. Registered in ``accounts.services.restricting``."""
    from audiences.rules import named_campaign_ids

    if obj._meta.label_lower != "campaigns.campaign":
        return
    rows = Audience.objects.filter(kind=Audience.Kind.RULE, restricted=False).values_list(
        "pk", "rule"
    )
    naming = [pk for pk, rule in rows.iterator() if obj.pk in named_campaign_ids(rule)]
    for audience in Audience.objects.filter(pk__in=naming).select_related("created_by"):
        Audience.objects.filter(pk=audience.pk).update(restricted=True)
        audience.restricted = True
        audience_grant_author(audience=audience)


def audience_refresh_size(*, audience: Audience) -> int:
    """Recount the audience (one COUNT query) and store it."""
    from audiences.selectors import audience_profiles, count_for

    size = audience_profiles(audience).count()
    if audience.kind == Audience.Kind.RULE:
        size = count_for(None, audience_profiles(audience))
    Audience.objects.filter(pk=audience.pk).update(size=size)
    audience.size = size
    return size


def audience_delete(*, audience: Audience) -> None:
    """Delete an audience no campaign version uses (``AudienceInUse`` otherwise)."""
    try:
        with transaction.atomic():
            audience.delete()
    except ProtectedError:
        raise AudienceInUse(_("Campaigns use this audience; it cannot be deleted.")) from None
