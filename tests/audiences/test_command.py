"""`manage.py import_profiles FILE --audience NAME`."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from audiences.models import Audience, Profile


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_profiles", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_imports_a_file_and_reports_rejected_lines(db, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("email,city\na@example.com,Paris\nnope,Nice\nb@example.com,Lyon\n")
    out, err = run(str(path), "--audience", "Fair 2026")
    assert "Imported 2 rows, rejected 1" in out
    assert "line 3:" in err
    audience = Audience.objects.get(name="Fair 2026")
    assert (audience.kind, audience.size, audience.status) == ("upload", 2, "ready")
    again, _err = run(str(path), "--audience", "Fair 2026")
    assert "has 2 profiles" in again
    assert Audience.objects.count() == 1 and Profile.objects.count() == 2


def test_missing_file_and_unusable_header_are_errors(db, tmp_path):
    with pytest.raises(CommandError, match="No such file"):
        run(str(tmp_path / "missing.csv"), "--audience", "X")
    path = tmp_path / "bad.csv"
    path.write_text("city\nParis\n")
    with pytest.raises(CommandError, match="identity column"):
        run(str(path), "--audience", "X")


def test_refuses_to_import_into_a_rule_audience(db, tmp_path):
    Audience.objects.create(name="R", kind="rule", rule={"all": []})
    path = tmp_path / "p.csv"
    path.write_text("email\na@example.com\n")
    with pytest.raises(CommandError, match="rule audience"):
        run(str(path), "--audience", "R")


def test_queue_hands_the_import_to_the_cluster(db, tmp_path, django_capture_on_commit_callbacks):
    path = tmp_path / "p.csv"
    path.write_text("email\na@example.com\n")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        out, _err = run(str(path), "--audience", "Q", "--queue")
    assert "Queued import" in out
    assert len(callbacks) == 1
    assert Profile.objects.count() == 0
