"""Queries shared by audience pages, the API and the sender."""

from __future__ import annotations

from django.db.models import Case, CharField, Exists, F, OuterRef, QuerySet, Value, When

from audiences.models import Audience, AudienceMember, Profile, Suppression

# channel → (profile identity field, consent field)
CHANNEL_FIELDS = {
    "email": ("email", "consent_email"),
    "sms": ("phone", "consent_sms"),
    "push": ("push_token", "consent_push"),
}


def audience_profiles(audience: Audience) -> QuerySet[Profile]:
    """The profiles in ``audience`` now: frozen members of an upload, or the
    rule evaluated by the database. One query, never a Python loop."""
    if audience.kind == Audience.Kind.UPLOAD:
        return Profile.objects.filter(
            pk__in=AudienceMember.objects.filter(audience=audience).values("profile_id")
        )
    from audiences.rules import compile_rule

    return Profile.objects.filter(compile_rule(audience.rule or {}))


def annotate_eligibility(
    profiles: QuerySet[Profile], *, channel: str, category: str
) -> QuerySet[Profile]:
    """Annotate each profile with ``address`` (its identity for ``channel``) and
    ``exclusion_reason`` (NULL when it may receive; else ``missing_identity``,
    ``suppressed`` or ``no_consent``), computed in the database.

    Transactional sends ignore marketing consent and manual/unsubscribe
    suppressions, but never hard bounces or complaints.
    """
    identity, consent = CHANNEL_FIELDS[channel]
    suppressions = Suppression.objects.filter(channel=channel, address=OuterRef(identity))
    if category == "transactional":
        suppressions = suppressions.filter(
            reason__in=[Suppression.Reason.HARD_BOUNCE, Suppression.Reason.COMPLAINT]
        )
    whens = [
        When(**{f"{identity}__isnull": True}, then=Value("missing_identity")),
        When(Exists(suppressions), then=Value("suppressed")),
    ]
    if category != "transactional":
        whens.append(When(**{consent: False}, then=Value("no_consent")))
    return profiles.annotate(
        address=F(identity),
        exclusion_reason=Case(*whens, default=Value(None), output_field=CharField()),
    )
