"""Queries shared by audience pages, the API and the sender."""

from __future__ import annotations

from django.db.models import Case, CharField, Exists, F, OuterRef, Q, QuerySet, Value, When

from audiences.models import Audience, AudienceMember, Profile, Suppression

# channel → (profile identity field, consent field)
CHANNEL_FIELDS = {
    "email": ("email", "consent_email"),
    "sms": ("phone", "consent_sms"),
    "push": ("push_token", "consent_push"),
}
# Suppressions that stop transactional messages too (SPEC §6).
HARD_REASONS = [Suppression.Reason.HARD_BOUNCE, Suppression.Reason.COMPLAINT]


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
    ``suppressed`` or ``no_consent``, the first that applies), computed in the
    database — the sender uses ``.values("id", "address", "exclusion_reason")``
    inside an INSERT … SELECT.

    Transactional sends ignore marketing consent and manual/unsubscribe
    suppressions, but never hard bounces or complaints.

    An erased person's suppression keeps only a keyed hash (SPEC §14); it gets
    its address back the moment the address is written to a profile again
    (``audiences.privacy.suppressions_restore``), so this plain join honours it.
    """
    identity, consent = CHANNEL_FIELDS[channel]
    suppressions = Suppression.objects.filter(channel=channel, address=OuterRef(identity))
    if category == "transactional":
        suppressions = suppressions.filter(reason__in=HARD_REASONS)
    whens = [
        When(
            Q(**{f"{identity}__isnull": True}) | Q(**{identity: ""}), then=Value("missing_identity")
        ),
        When(Exists(suppressions), then=Value("suppressed")),
    ]
    if category != "transactional":
        whens.append(When(**{consent: False}, then=Value("no_consent")))
    return profiles.annotate(
        address=F(identity),
        exclusion_reason=Case(*whens, default=Value(None), output_field=CharField()),
    )


def audience_sample(audience: Audience, *, limit: int = 20) -> list[Profile]:
    """A few matching profiles for the audience page (most recent first)."""
    return list(audience_profiles(audience).order_by("-pk")[:limit])


def eligibility_counts(audience: Audience, *, channel: str, category: str) -> dict[str, int]:
    """How many profiles of ``audience`` may receive (``eligible``) and how many
    are excluded, by reason; one GROUP BY query."""
    from django.db.models import Count

    rows = (
        annotate_eligibility(audience_profiles(audience), channel=channel, category=category)
        .order_by()
        .values("exclusion_reason")
        .annotate(n=Count("pk"))
    )
    return {(row["exclusion_reason"] or "eligible"): row["n"] for row in rows}
