from __future__ import annotations

import pytest
from django.core.files.base import ContentFile

from audiences.importer import profile_import_create, profile_import_run
from audiences.models import Audience


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def run_import(db, django_capture_on_commit_callbacks):
    """``run_import(csv_bytes, audience=None)`` → the finished ProfileImport."""

    def run(data: bytes | str, *, audience: Audience | None = None, name: str = "Upload"):
        if isinstance(data, str):
            data = data.encode()
        if audience is None:
            audience = Audience.objects.create(name=name, kind=Audience.Kind.UPLOAD)
        with django_capture_on_commit_callbacks(execute=False):
            created = profile_import_create(
                audience=audience, upload=ContentFile(data), file_name="people.csv"
            )
        return profile_import_run(import_id=created.id)

    return run
