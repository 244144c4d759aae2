"""Seventh outside review of issue 10 (docs/security-review-7.md), resource
exhaustion and bad input: each test reproduced its finding on the code before
the fix. SQLite by default, PostgreSQL + Redis with DATABASE_URL / REDIS_URL."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.base import ContentFile

from audiences import importer
from audiences.importer import ImportFileError, profile_import_create, profile_import_run
from audiences.models import Audience, Profile, ProfileImport
from audiences.services import MAX_ATTRIBUTES

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _import(data: str, django_capture_on_commit_callbacks, *, audience=None, actor=None):
    audience = audience or Audience.objects.create(name="Upload", kind=Audience.Kind.UPLOAD)
    with django_capture_on_commit_callbacks(execute=False):
        created = profile_import_create(
            audience=audience,
            upload=ContentFile(data.encode()),
            file_name="people.csv",
            actor=actor,
        )
    return profile_import_run(import_id=created.id)


# ---------------------------------------------------------------- finding 1


def _header(columns: int) -> csv.reader:
    names = ["email", *(f"c{i}" for i in range(columns))]
    return csv.reader(io.StringIO(",".join(names) + "\n"))


def test_a_header_of_twenty_thousand_columns_is_refused_before_its_names_are_compared():
    """Finding 1: the duplicate-column check counted each name against every
    other (``names.count``): 20,000 columns (129 KB) took 4.7 s, 40,000 21 s,
    a 5 MB header hours, in the cluster's import worker with no heartbeat —
    the sweep then queued the import again, to a second worker."""
    with pytest.raises(ImportFileError, match=str(MAX_ATTRIBUTES)):
        importer.read_header(_header(20_000))


def test_a_header_at_the_limit_is_read_and_duplicates_are_still_named():
    assert len(importer.read_header(_header(MAX_ATTRIBUTES))) == MAX_ATTRIBUTES + 1
    reader = csv.reader(io.StringIO("email,city,age,city,age\n"))
    with pytest.raises(ImportFileError, match="age, city"):
        importer.read_header(reader)


def test_a_wide_file_fails_the_import_with_the_reason(django_capture_on_commit_callbacks):
    names = ",".join(f"c{i}" for i in range(MAX_ATTRIBUTES + 1))
    result = _import(f"email,{names}\n", django_capture_on_commit_callbacks)
    assert result.status == ProfileImport.Status.FAILED
    assert str(MAX_ATTRIBUTES) in result.error
    assert not Profile.objects.exists()
