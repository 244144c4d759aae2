"""The streaming CSV importer: good rows in, every bad row reported and writing nothing."""

from __future__ import annotations

import pytest

from audiences import importer
from audiences.models import Audience, AudienceMember, ConsentChange, Profile, ProfileImport

GOOD = (
    "email,phone,firstName,age,city,consent_email,timezone\n"
    "Ann@Example.com,+33 6 12 34 56 78,Ann,34,Paris,yes,Europe/Paris\n"
    "bob@example.com,,Bob,19.5,Lyon,no,\n"
    "cid@example.com,+46701234567,Cid,007,Malmö,1,Europe/Stockholm\n"
)


def test_good_file_imports_profiles_and_freezes_membership(run_import):
    result = run_import(GOOD)
    assert result.status == ProfileImport.Status.SUCCEEDED
    assert (result.rows_imported, result.rows_rejected, result.rejected) == (3, 0, [])
    ann = Profile.objects.get(email="ann@example.com")
    assert ann.phone == "+33612345678"
    assert ann.attributes == {"firstName": "Ann", "age": 34, "city": "Paris"}
    assert ann.timezone == "Europe/Paris"
    assert ann.consent_email is True
    assert Profile.objects.get(email="cid@example.com").attributes["age"] == "007"
    assert Profile.objects.get(email="bob@example.com").attributes["age"] == 19.5
    assert ConsentChange.objects.filter(source="import", granted=True).count() == 2
    audience = result.audience
    audience.refresh_from_db()
    assert (audience.size, audience.status) == (3, Audience.Status.READY)
    assert AudienceMember.objects.filter(audience=audience).count() == 3


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("not-an-email,,X,1,Paris,yes,", "not a valid email"),
        ("x@example.com,12345,X,1,Paris,yes,", "phone"),
        (",,X,1,Paris,yes,", "No identity"),
        ("x@example.com,,X,1,Paris,yes", "Expected 7 columns, found 6"),
        ("x@example.com,,X,1,Paris,yes,,extra", "Expected 7 columns, found 8"),
        ("x@example.com,,X,1,Paris,maybe,", "consent_email"),
        ("x@example.com,,X,1,Paris,yes,Mars/Olympus", "IANA"),
        ('x@example.com,,"unterminated', "Expected 7 columns"),
    ],
)
def test_each_kind_of_bad_row_is_reported_and_writes_nothing(run_import, row, reason):
    data = GOOD.splitlines()[0] + "\n" + "ok@example.com,,Ok,1,Paris,yes,\n" + row + "\n"
    result = run_import(data)
    assert result.rows_imported == 1
    assert result.rows_rejected == 1
    [rejected] = result.rejected
    assert rejected["line"] == 3
    assert reason in rejected["reason"]
    assert list(Profile.objects.values_list("email", flat=True)) == ["ok@example.com"]
    assert ConsentChange.objects.count() == 1


def test_undecodable_bytes_reject_only_their_row(run_import):
    data = b"email,city\na@example.com,Paris\nb@example.com,Caf\xe9 \xff\nc@example.com,Lyon\n"
    result = run_import(data)
    assert (result.rows_imported, result.rows_rejected) == (2, 1)
    assert result.rejected[0]["line"] == 3
    assert "UTF-8" in result.rejected[0]["reason"]
    assert not Profile.objects.filter(email="b@example.com").exists()


def test_line_numbers_count_physical_lines(run_import):
    data = 'email,note\na@example.com,"two\nlines"\n\nbad,x\n'
    result = run_import(data)
    assert result.rejected == [{"line": 5, "reason": result.rejected[0]["reason"]}]


def test_bad_header_fails_the_import_with_a_reason(run_import):
    result = run_import("firstName,city\nAnn,Paris\n")
    assert result.status == ProfileImport.Status.FAILED
    assert "identity column" in result.error
    result.audience.refresh_from_db()
    assert result.audience.status == Audience.Status.FAILED
    assert Profile.objects.count() == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"", "empty"), (b"email,email\n", "Duplicate"), (b"email,,city\n", "empty column")],
)
def test_unusable_files_fail(run_import, data, message):
    assert message in run_import(data).error


def test_reimporting_the_same_file_changes_nothing(run_import):
    first = run_import(GOOD)
    before = list(Profile.objects.order_by("pk").values())
    changes = ConsentChange.objects.count()
    second = run_import(GOOD, audience=first.audience)
    assert second.rows_imported == 3
    assert list(Profile.objects.order_by("pk").values()) == before
    assert ConsentChange.objects.count() == changes
    assert AudienceMember.objects.filter(audience=first.audience).count() == 3


def test_a_new_file_replaces_the_membership(run_import):
    first = run_import(GOOD)
    run_import("email\nbob@example.com\nnew@example.com\n", audience=first.audience)
    members = AudienceMember.objects.filter(audience=first.audience)
    assert sorted(m.profile.email for m in members) == ["bob@example.com", "new@example.com"]
    first.audience.refresh_from_db()
    assert first.audience.size == 2


def test_rows_update_existing_profiles_found_by_any_identity(run_import):
    Profile.objects.create(phone="+33612345678", attributes={"plan": "pro", "city": "Nice"})
    run_import("phone,email,city\n+33612345678,ann@example.com,Paris\n")
    profile = Profile.objects.get()
    assert profile.email == "ann@example.com"
    assert profile.attributes == {"plan": "pro", "city": "Paris"}


def test_identities_of_two_profiles_reject_the_row(run_import):
    Profile.objects.create(email="a@example.com")
    Profile.objects.create(phone="+33612345678")
    result = run_import("email,phone,city\na@example.com,+33612345678,Paris\n")
    assert result.rows_rejected == 1
    assert "Conflicting identities" in result.rejected[0]["reason"]
    assert Profile.objects.filter(attributes__city="Paris").count() == 0


def test_a_later_row_about_the_same_person_applies_after_the_earlier(run_import):
    data = "email,city,consent_sms\na@example.com,Paris,yes\nb@example.com,Nice,no\nA@example.com,Lyon,no\n"
    result = run_import(data)
    assert result.rows_imported == 3
    profile = Profile.objects.get(email="a@example.com")
    assert (profile.attributes["city"], profile.consent_sms) == ("Lyon", False)
    assert list(
        ConsentChange.objects.filter(profile=profile)
        .order_by("pk")
        .values_list("granted", flat=True)
    ) == [True, False]
    result.audience.refresh_from_db()
    assert result.audience.size == 2


def test_batches_never_split_a_file_differently(db, tmp_path):
    audience = Audience.objects.create(name="A", kind=Audience.Kind.UPLOAD)
    lines = ["email,n"] + [f"p{i}@example.com,{i}" for i in range(25)] + ["bad,1"]
    path = tmp_path / "f.csv"
    path.write_text("\n".join(lines) + "\n")
    seen = []
    with path.open("rb") as stream:
        outcome = importer.import_stream(
            stream,
            audience_id=audience.pk,
            import_id=None,
            size=7,
            on_progress=lambda pos, out: seen.append(pos),
        )
    assert (outcome.imported, outcome.rejected) == (25, 1)
    assert len(seen) == 4
    assert Profile.objects.count() == 25


def test_a_second_delivery_of_the_task_does_nothing(run_import):
    from audiences.tasks import run_profile_import

    result = run_import(GOOD)
    run_profile_import(str(result.id))
    result.refresh_from_db()
    assert result.rows_imported == 3
    assert Profile.objects.count() == 3


def test_an_import_whose_worker_died_is_claimed_again(db, django_capture_on_commit_callbacks):
    from datetime import timedelta

    import time_machine
    from django.core.files.base import ContentFile
    from django.utils import timezone

    from audiences.importer import profile_import_create, profile_import_run, profile_import_sweep

    audience = Audience.objects.create(name="A", kind=Audience.Kind.UPLOAD)
    with django_capture_on_commit_callbacks(execute=False):
        created = profile_import_create(
            audience=audience, upload=ContentFile(GOOD.encode()), file_name="f.csv"
        )
    ProfileImport.objects.filter(pk=created.pk).update(
        status=ProfileImport.Status.RUNNING, heartbeat_at=timezone.now()
    )
    assert profile_import_run(import_id=created.pk) is None  # alive: leave it alone
    assert profile_import_sweep() == 0
    with time_machine.travel(timezone.now() + timedelta(minutes=20)):
        assert profile_import_sweep() == 1
        result = profile_import_run(import_id=created.pk)
    assert result.status == ProfileImport.Status.SUCCEEDED
    assert result.rows_imported == 3


def test_a_file_whose_every_row_is_rejected_fails_and_says_so(run_import):
    header = GOOD.splitlines()[0]
    result = run_import(f"{header}\nnot-an-email,,X,1,Paris,yes,\n,,Y,2,Lyon,no,\n")
    assert result.status == ProfileImport.Status.FAILED
    assert (result.rows_imported, result.rows_rejected) == (0, 2)
    assert "rejected" in result.error and "2" in result.error
    result.audience.refresh_from_db()
    assert result.audience.status == Audience.Status.FAILED


def test_locale_column_sets_the_profile_language(run_import):
    """SPEC §11: a ``locale`` column picks each person's translation (not an attribute)."""
    result = run_import(
        "email,locale\nann@example.com,fr_ca\nbob@example.com,\nbad@example.com,not a tag\n"
    )
    assert (result.rows_imported, result.rows_rejected) == (2, 1)
    assert "locale" in result.rejected[0]["reason"]
    ann = Profile.objects.get(email="ann@example.com")
    assert (ann.locale, ann.attributes) == ("fr-CA", {})
    assert Profile.objects.get(email="bob@example.com").locale == ""
    run_import("email,locale\nann@example.com,nl\n")
    assert Profile.objects.get(email="ann@example.com").locale == "nl"


def test_the_uploaded_file_is_deleted_once_the_import_has_finished(run_import):
    """The stored CSV holds every person in it: once imported (or failed) it is
    gone from storage, while the counts and the first rejected rows stay."""
    from django.core.files.storage import default_storage

    result = run_import(GOOD)
    assert result.status == ProfileImport.Status.SUCCEEDED
    assert not result.file
    assert not default_storage.exists(f"imports/{result.id}.csv")
    failed = run_import("email,x\n")  # a header and no row: nothing usable
    assert not failed.file
    assert result.rows_imported == 3


def test_a_file_left_behind_goes_with_the_nightly_retention(db, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.utils import timezone

    from audiences.importer import profile_import_create
    from campaigns.retention import apply_retention

    audience = Audience.objects.create(name="A", kind=Audience.Kind.UPLOAD)
    with django_capture_on_commit_callbacks(execute=False):
        created = profile_import_create(
            audience=audience, upload=ContentFile(GOOD.encode()), file_name="f.csv"
        )
    name = created.file.name
    assert default_storage.exists(name)
    # Finished yesterday, its file still stored (a storage error at the time).
    ProfileImport.objects.filter(pk=created.pk).update(
        status=ProfileImport.Status.SUCCEEDED, finished_at=timezone.now() - timedelta(hours=2)
    )
    assert apply_retention()["import_files"] == 0  # finished less than a day ago
    ProfileImport.objects.filter(pk=created.pk).update(
        finished_at=timezone.now() - timedelta(days=2)
    )
    assert apply_retention()["import_files"] == 1
    assert not default_storage.exists(name)
    created.refresh_from_db()
    assert not created.file
    assert apply_retention()["import_files"] == 0
