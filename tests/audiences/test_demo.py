"""seed_demo's audiences part: realistic data, idempotent."""

from __future__ import annotations

from audiences import demo
from audiences.models import Audience, ConsentChange, Profile, ProfileImport
from audiences.services import normalize_email, normalize_phone


def test_seed_builds_profiles_and_audiences_once(db):
    demo.seed(users={})
    counts = (Profile.objects.count(), Audience.objects.count(), ConsentChange.objects.count())
    assert counts[0] >= demo.PROFILES
    assert set(Audience.objects.values_list("kind", flat=True)) == {"rule", "upload"}
    assert all(a.size > 0 for a in Audience.objects.all())
    upload = ProfileImport.objects.get()
    assert upload.status == "succeeded" and upload.rows_rejected == 3
    for profile in Profile.objects.exclude(phone=None)[:200]:
        assert normalize_phone(profile.phone) == profile.phone
        assert normalize_email(profile.email) == profile.email
    demo.seed(users={})
    assert (
        Profile.objects.count(),
        Audience.objects.count(),
        ConsentChange.objects.count(),
    ) == counts
    assert ProfileImport.objects.count() == 1
