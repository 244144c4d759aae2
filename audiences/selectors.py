"""Queries shared by audience pages, the API and the sender."""

from __future__ import annotations

from django.db.models import Case, CharField, Exists, F, OuterRef, Q, QuerySet, Value, When

from audiences.channel_facts import CHANNELS
from audiences.models import Audience, AudienceMember, Profile, Suppression

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

    return Profile.objects.filter(compile_rule(audience.rule or {}, stored=True))


def sendable_profiles(audience: Audience, owner, editors=()) -> QuerySet[Profile]:
    """The profiles a campaign owned by ``owner`` sends to from ``audience``
    (issue 10, SPEC §2): never one ``owner`` could not see, i.e. known only
    through restricted audiences not granted to them — a rule such as
    ``email contains @`` would otherwise reach a hidden list. Rules are
    evaluated at send time, and so is this: a grant given or taken away counts
    from the next run. A campaign without an owner (its creator deleted) sends
    only to what every user may see; a superuser's to everyone. No restricted
    audience at all: the audience as it is (one cheap query).

    ``editors``: the other users who wrote the campaign (``Campaign.editors``;
    None for one deleted since): never a profile one of them could not see
    either — an approver not granted a restricted list put a pixel carrying
    ``{{ profile.email }}`` into a superuser's draft and sent it to the list
    (tenth review)."""
    return seen_by_writers(audience_profiles(audience), owner, editors)


def seen_by_writers(profiles: QuerySet[Profile], owner, editors=()) -> QuerySet[Profile]:
    """``profiles`` narrowed to those that ``owner`` and every one of
    ``editors`` may see (``sendable_profiles``' rule): what a campaign's words
    may be rendered for — sent, previewed or proofed (fifteenth review: a
    superuser's preview of a manager's draft rendered the manager's pixel for a
    person hidden from them)."""
    readers = [owner, *editors]
    if all(r is not None and r.is_superuser for r in readers):
        return profiles
    if not Audience.objects.filter(restricted=True).exists():
        return profiles
    for reader in readers:
        if reader is None or not reader.is_superuser:
            profiles = not_hidden_profiles(reader, profiles)
    return profiles


def count_for(user, profiles: QuerySet[Profile]) -> int:
    """How many of ``profiles`` ``user`` may know of (None: what everyone may:
    no profile known only through a restricted audience). A rule audience's
    stored size is ``count_for(None, …)``, so lists never count hidden people;
    one audience is counted for its reader (issue 10, third review)."""
    if (user is not None and user.is_superuser) or not Audience.objects.filter(
        restricted=True
    ).exists():
        return profiles.count()
    return not_hidden_profiles(user, profiles).count()


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
    identity, consent = CHANNELS[channel].identity, CHANNELS[channel].consent
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


def visible_profiles(user, profiles: QuerySet[Profile] | None = None) -> QuerySet[Profile]:
    """``profiles`` narrowed to those ``user`` may be shown (issue 10 #3).

    Only roles that manage profiles (``profile.edit``: managers, approvers,
    administrators) see profiles at all, and never a profile known only through
    restricted upload audiences they may not see: it must be a member of none
    of those, or also of an audience they can see. One query, no N+1.
    """
    from accounts.permissions import can

    profiles = Profile.objects.all() if profiles is None else profiles
    if not can(user, "profile.edit"):
        return profiles.none()
    return not_hidden_profiles(user, profiles)


def not_hidden_profiles(user, profiles: QuerySet[Profile]) -> QuerySet[Profile]:
    """``profiles`` without those known only through restricted audiences
    ``user`` may not see (whatever the user's role). ``user`` None: nobody in
    particular, who sees no restricted audience."""
    from accounts.permissions import visible

    if user is not None and user.is_superuser:
        return profiles
    restricted = Audience.objects.filter(restricted=True)
    hidden = restricted.exclude(pk__in=visible(user, restricted).values("pk")).values("pk")
    in_hidden = AudienceMember.objects.filter(profile=OuterRef("pk"), audience__in=hidden)
    in_seen = AudienceMember.objects.filter(profile=OuterRef("pk")).exclude(audience__in=hidden)
    return profiles.filter(~Exists(in_hidden) | Exists(in_seen))


def hidden_profiles(user) -> QuerySet[Profile] | None:
    """The profiles known only through restricted audiences ``user`` may not
    see; None when there are none to hide (a superuser, or no restricted
    audience at all)."""
    from accounts.permissions import hidden_ids

    hidden = hidden_ids(user, Audience)
    if not hidden:
        return None
    in_hidden = AudienceMember.objects.filter(profile=OuterRef("pk"), audience__in=hidden)
    in_seen = AudienceMember.objects.filter(profile=OuterRef("pk")).exclude(audience__in=hidden)
    return Profile.objects.filter(Exists(in_hidden) & ~Exists(in_seen))


# The profile column each channel's addresses are matched with.
_IDENTITY_COLUMN = {"email": "email", "sms": "phone", "push": "push_token"}


def without_hidden_addresses(
    user, rows: QuerySet, *, channel: str = "channel", address: str = "address"
) -> QuerySet:
    """``rows`` (suppressions, delivery events: a channel and an address
    column) without those whose address is the identity of a profile hidden
    from ``user`` (``hidden_profiles``): whoever may not know the person may
    not read their address in a log or a list either (review 6)."""
    hidden = hidden_profiles(user)
    if hidden is None:
        return rows
    match = Q()
    for name, column in _IDENTITY_COLUMN.items():
        match |= Q(**{channel: name}) & Exists(hidden.filter(**{column: OuterRef(address)}))
    return rows.exclude(match)


def _value_kind(value) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "list"
    return None  # null or nested objects: nothing a rule row compares with


def known_attributes(user=None, sample: int = 500, limit: int = 200) -> list[tuple[str, str]]:
    """(name, kind) of the profile attributes in use, read from the latest
    ``sample`` profiles ``user`` is not hidden from (never a profile known only
    through restricted audiences the user may not see) so the rule builder can
    offer them by name; ``kind`` is text, number, boolean or list (text when the
    profiles disagree).

    A sample, not a scan: one indexed query whatever the number of profiles; an
    attribute only older profiles carry can still be typed as a new one.
    """
    kinds: dict[str, set[str]] = {}
    profiles = Profile.objects.all()
    if user is not None:
        profiles = not_hidden_profiles(user, profiles)
    rows = profiles.order_by("-pk").values_list("attributes", flat=True)[:sample]
    for attributes in rows:
        if not isinstance(attributes, dict):
            continue
        for name, value in attributes.items():
            kind = _value_kind(value)
            if kind and (name in kinds or len(kinds) < limit):
                kinds.setdefault(name, set()).add(kind)
    return sorted(
        (name, next(iter(found)) if len(found) == 1 else "text") for name, found in kinds.items()
    )
