"""A CSV upload never merges a row into a profile its uploader cannot see
(issue 10, second review): naming a hidden person's address would join that
profile to the uploader's audience and let them send to it. Runs on SQLite and
on PostgreSQL (the COPY path) alike."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from guardian.shortcuts import assign_perm

from audiences.importer import profile_import_run
from audiences.models import Audience, AudienceMember, Profile, ProfileImport

HIDDEN_REASON = "This identity belongs to a profile you cannot access."


@pytest.fixture
def secret(db):
    """A member of a restricted upload audience only."""
    vip = Audience.objects.create(name="VIP list", kind="upload", restricted=True, size=1)
    profile = Profile.objects.create(
        email="secret@example.com", phone="+46701234567", attributes={"city": "Oslo"}
    )
    AudienceMember.objects.create(audience=vip, profile=profile)
    Profile.objects.create(email="public@example.com", attributes={"city": "Bergen"})
    return profile


CSV = (
    b"email,phone,city\n"
    b"public@example.com,,Paris\n"
    b"secret@example.com,,Paris\n"
    b"new@example.com,+46701234567,Paris\n"
    b"fresh@example.com,,Nice\n"
)


def _assert_hidden_rows_refused(result: ProfileImport, secret: Profile) -> None:
    assert (result.rows_imported, result.rows_rejected) == (2, 2), result.rejected
    assert result.rejected == [
        {"line": 3, "reason": HIDDEN_REASON},
        {"line": 4, "reason": HIDDEN_REASON},
    ]
    secret.refresh_from_db()
    assert secret.attributes == {"city": "Oslo"}
    assert secret.email == "secret@example.com"
    members = set(
        AudienceMember.objects.filter(audience=result.audience).values_list(
            "profile__email", flat=True
        )
    )
    assert members == {"public@example.com", "fresh@example.com"}
    assert Profile.objects.get(email="public@example.com").attributes == {"city": "Paris"}
    assert not Profile.objects.filter(email="new@example.com").exists()


def test_ui_upload_refuses_rows_naming_a_hidden_profile(
    login, manager, secret, django_capture_on_commit_callbacks
):
    client = login(manager)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(
            "/audiences/upload/", {"name": "Mine", "file": SimpleUploadedFile("m.csv", CSV)}
        )
    assert response.status_code == 302
    result = profile_import_run(import_id=ProfileImport.objects.get().pk)
    _assert_hidden_rows_refused(result, secret)
    page = client.get(response["Location"]).content.decode()
    assert "belongs to a profile you cannot access" in page
    assert "VIP" not in page and f"#{secret.pk}" not in page


def test_api_upload_refuses_rows_naming_a_hidden_profile(
    api_for, manager, secret, django_capture_on_commit_callbacks
):
    api = api_for(manager)
    with django_capture_on_commit_callbacks(execute=False):
        response = api.client.post(
            "/api/v1/audiences/upload",
            {"name": "Mine", "file": SimpleUploadedFile("m.csv", CSV)},
            **api.headers,
        )
    assert response.status_code == 202, response.content
    # The queued task runs as the uploader (audiences.tasks → profile_import_run).
    from audiences.tasks import run_profile_import

    run_profile_import(response.json()["importId"])
    result = ProfileImport.objects.get()
    _assert_hidden_rows_refused(result, secret)
    body = api.get(f"/audiences/{response.json()['id']}").json()
    assert body["rejectedRows"][0] == {"line": 3, "reason": HIDDEN_REASON}


def test_reupload_into_an_existing_audience_refuses_hidden_rows(
    api_for, manager, secret, django_capture_on_commit_callbacks
):
    mine = Audience.objects.create(name="Mine", kind="upload", created_by=manager)
    api = api_for(manager)
    with django_capture_on_commit_callbacks(execute=False):
        response = api.client.post(
            "/api/v1/audiences/upload",
            {"audienceId": mine.pk, "file": SimpleUploadedFile("m.csv", CSV)},
            **api.headers,
        )
    assert response.status_code == 202, response.content
    _assert_hidden_rows_refused(profile_import_run(import_id=response.json()["importId"]), secret)


def test_a_grant_on_the_restricted_audience_lets_the_rows_merge(
    login, manager, secret, django_capture_on_commit_callbacks
):
    assign_perm("audiences.view_audience", manager, Audience.objects.get(name="VIP list"))
    client = login(manager)
    with django_capture_on_commit_callbacks(execute=False):
        client.post(
            "/audiences/upload/", {"name": "Mine", "file": SimpleUploadedFile("m.csv", CSV)}
        )
    result = profile_import_run(import_id=ProfileImport.objects.get().pk)
    assert (result.rows_imported, result.rows_rejected) == (4, 0), result.rejected
    secret.refresh_from_db()
    assert secret.attributes == {"city": "Paris"}


def test_the_operator_command_is_exempt(secret, tmp_path):
    """``manage.py import_profiles`` runs as the operator of the installation,
    who can read the database anyway: it merges into every profile."""
    path = tmp_path / "people.csv"
    path.write_bytes(CSV)
    call_command("import_profiles", str(path), audience="Operator")
    secret.refresh_from_db()
    assert secret.attributes == {"city": "Paris"}


def test_conflicts_do_not_name_a_hidden_profile(
    login, manager, secret, django_capture_on_commit_callbacks
):
    data = b"email,phone\npublic@example.com,+46701234567\n"
    client = login(manager)
    with django_capture_on_commit_callbacks(execute=False):
        client.post(
            "/audiences/upload/", {"name": "Mine", "file": SimpleUploadedFile("m.csv", data)}
        )
    result = profile_import_run(import_id=ProfileImport.objects.get().pk)
    assert result.rejected == [{"line": 2, "reason": HIDDEN_REASON}]
    assert Profile.objects.get(email="public@example.com").phone is None


def test_a_batch_naming_more_profiles_than_one_query_takes(manager, secret):
    """More than 900 existing profiles in one batch: looked at in chunks."""
    import io

    from audiences import importer

    Profile.objects.bulk_create(
        [Profile(email=f"p{i}@example.com") for i in range(950)], batch_size=300
    )
    rows = [f"p{i}@example.com,x" for i in range(950)] + ["secret@example.com,x"]
    data = ("email,city\n" + "\n".join(rows) + "\n").encode()
    audience = Audience.objects.create(name="Mine", kind="upload")
    outcome = importer.import_stream(
        io.BytesIO(data), audience_id=audience.pk, import_id=None, actor=manager, size=1000
    )
    assert (outcome.imported, outcome.rejected) == (950, 1)
    assert outcome.sample == [{"line": 952, "reason": HIDDEN_REASON}]
    secret.refresh_from_db()
    assert secret.attributes == {"city": "Oslo"}
