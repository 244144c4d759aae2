"""Review 19: a NUL in an imported CSV is that row's problem (or the header's),
reported with its line, never the whole import failing with PostgreSQL's
message (or, on SQLite, stored where PostgreSQL could not hold it)."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from audiences.models import Audience, Profile

pytestmark = pytest.mark.django_db


def _run(path):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_profiles", str(path), "--audience", "Fair", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_a_nul_in_a_cell_rejects_that_row_with_its_line(tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(b"email,city\na@example.com,Ams\x00terdam\nb@example.com,Lyon\n")
    out, err = _run(path)
    assert "Imported 1 rows, rejected 1" in out
    assert "line 2: A cell holds a NUL character." in err
    assert list(Profile.objects.values_list("email", "attributes")) == [
        ("b@example.com", {"city": "Lyon"})
    ]


def test_a_nul_in_the_header_refuses_the_file(tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(b"email,ci\x00ty\na@example.com,Paris\n")
    with pytest.raises(CommandError, match="The header row holds a NUL character"):
        _run(path)
    assert not Profile.objects.exists()
    assert Audience.objects.get(name="Fair").size == 0


# -- the admin's profile form ---------------------------------------------------


@pytest.mark.parametrize("attributes", ["", "null", "NaN", '{"score": Infinity}', "[1, 2]", '"x"'])
def test_the_admin_refuses_attributes_no_column_or_rule_can_hold(login, administrator, attributes):
    client = login(administrator)
    client.raise_request_exception = False
    response = client.post(
        "/admin/audiences/profile/add/",
        {
            "email": "ann@example.com",
            "attributes": attributes,
            "timezone": "",
            "locale": "",
            "consent_changes-TOTAL_FORMS": "0",
            "consent_changes-INITIAL_FORMS": "0",
            "_save": "Save",
        },
    )
    assert response.status_code == 200  # the form with its error (was 500 for the first three)
    assert "attributes" in response.context["adminform"].form.errors
    assert not Profile.objects.exists()


def test_the_admin_still_saves_an_object(login, administrator):
    response = login(administrator).post(
        "/admin/audiences/profile/add/",
        {
            "email": "ann@example.com",
            "attributes": '{"city": "Paris", "score": 1.5}',
            "timezone": "",
            "locale": "",
            "consent_changes-TOTAL_FORMS": "0",
            "consent_changes-INITIAL_FORMS": "0",
            "_save": "Save",
        },
    )
    assert response.status_code == 302
    assert Profile.objects.get().attributes == {"city": "Paris", "score": 1.5}
