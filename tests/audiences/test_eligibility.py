"""The selector the sender calls: who may receive, and why the others may not."""

from __future__ import annotations

import pytest

from audiences.models import Audience, AudienceMember, ConsentChange, Profile, Suppression
from audiences.selectors import annotate_eligibility, audience_profiles, eligibility_counts
from audiences.services import profile_withdraw_consent, suppression_add


@pytest.fixture
def crowd(db):
    def make(name, **kw):
        return Profile.objects.create(attributes={"name": name}, **kw)

    return {
        "ok": make("ok", email="ok@example.com", consent_email=True, phone="+33612345678"),
        "no_consent": make("no_consent", email="nc@example.com", consent_email=False),
        "no_email": make("no_email", phone="+33612345679", consent_email=True, consent_sms=True),
        "bounced": make("bounced", email="bounced@example.com", consent_email=True),
        "unsub": make("unsub", email="unsub@example.com", consent_email=True),
    }


def reasons(qs, *, channel, category):
    rows = annotate_eligibility(qs, channel=channel, category=category).values(
        "id", "address", "exclusion_reason", "attributes__name"
    )
    return {row["attributes__name"]: (row["address"], row["exclusion_reason"]) for row in rows}


def test_marketing_email_excludes_with_reasons(crowd):
    suppression_add(channel="email", address="Bounced@Example.com", reason="hard_bounce")
    suppression_add(channel="email", address="unsub@example.com", reason="unsubscribe")
    result = reasons(Profile.objects.all(), channel="email", category="marketing")
    assert result == {
        "ok": ("ok@example.com", None),
        "no_consent": ("nc@example.com", "no_consent"),
        "no_email": (None, "missing_identity"),
        "bounced": ("bounced@example.com", "suppressed"),
        "unsub": ("unsub@example.com", "suppressed"),
    }


def test_transactional_ignores_consent_and_soft_suppressions_but_not_hard_bounces(crowd):
    suppression_add(channel="email", address="bounced@example.com", reason="hard_bounce")
    suppression_add(channel="email", address="unsub@example.com", reason="unsubscribe")
    result = reasons(Profile.objects.all(), channel="email", category="transactional")
    assert result["no_consent"] == ("nc@example.com", None)
    assert result["unsub"] == ("unsub@example.com", None)
    assert result["bounced"] == ("bounced@example.com", "suppressed")
    assert result["no_email"] == (None, "missing_identity")


def test_suppression_is_per_channel(crowd):
    suppression_add(channel="sms", address="+33612345679", reason="complaint")
    sms = reasons(Profile.objects.all(), channel="sms", category="marketing")
    assert sms["no_email"] == ("+33612345679", "suppressed")
    assert sms["ok"] == ("+33612345678", "no_consent")
    assert reasons(Profile.objects.all(), channel="email", category="marketing")["ok"][1] is None


def test_withdrawn_consent_excludes_and_is_recorded_once(crowd):
    profile = crowd["ok"]
    assert profile_withdraw_consent(profile=profile, channel="email", source="unsubscribe")
    assert not profile_withdraw_consent(profile=profile, channel="email", source="unsubscribe")
    change = ConsentChange.objects.get(profile=profile)
    assert (change.channel, change.granted, change.source) == ("email", False, "unsubscribe")
    result = reasons(Profile.objects.all(), channel="email", category="marketing")
    assert result["ok"][1] == "no_consent"


def test_suppression_add_is_idempotent_and_hardens_the_reason(crowd):
    suppression_add(channel="email", address="x@example.com", reason="unsubscribe")
    suppression_add(channel="email", address="X@example.com", reason="complaint")
    suppression_add(channel="email", address="x@example.com", reason="manual")
    entry = Suppression.objects.get()
    assert (entry.address, entry.reason) == ("x@example.com", "complaint")


def test_eligibility_of_an_upload_audience_in_one_query(crowd, django_assert_num_queries):
    audience = Audience.objects.create(name="Up", kind=Audience.Kind.UPLOAD)
    for key in ("ok", "no_consent"):
        AudienceMember.objects.create(audience=audience, profile=crowd[key])
    with django_assert_num_queries(1):
        counts = eligibility_counts(audience, channel="email", category="marketing")
    assert counts == {"eligible": 1, "no_consent": 1}


def test_rule_audience_resolves_in_the_database(crowd):
    audience = Audience.objects.create(
        name="R",
        kind=Audience.Kind.RULE,
        rule={"any": [{"field": "attributes.name", "op": "in", "value": ["ok", "unsub"]}]},
    )
    assert {p.attributes["name"] for p in audience_profiles(audience)} == {"ok", "unsub"}
