"""Reproductions for docs/security-review-22.md (each failed on the code before
its fix): the admin's bounded model choices, LOG_LEVEL's names."""

from __future__ import annotations

import pytest

from tests.config.test_security_review19 import post_admin_choice
from tests.config.test_settings import manage


@pytest.mark.django_db
@pytest.mark.parametrize(
    "value",
    [
        "+99999999999999999999999",
        "99_999_999_999_999_999_999_999",
        "\uff19" * 22,  # full-width nines: int() reads them as digits
    ],
)
@pytest.mark.parametrize(
    ("path", "field"),
    [("/admin/auth/user/add/", "groups"), ("/admin/auth/group/add/", "permissions")],
)
def test_1_an_admin_choice_past_any_row_id_in_any_spelling_is_a_form_error(
    make_user, path, field, value
):
    """Old code: review 19's bound read ASCII digits only, while Django's look-up
    reads the value with int(): a sign, underscores or other scripts' digits
    still overflowed SQLite's driver, a 500 on the user and group forms."""
    response, written = post_admin_choice(make_user, path, field, value)
    assert response.status_code == 200  # the form again, with its error
    assert not written


def test_1_real_ids_in_those_spellings_still_choose():
    from django.contrib.auth.models import Group

    from config.admin import _BoundedModelMultipleChoiceField

    field = _BoundedModelMultipleChoiceField(queryset=Group.objects.none())
    field._refuse_beyond_ids(["+1", "1_0", "\uff11", "abc", "", "1e30", "9223372036854775807"])


@pytest.mark.parametrize(("value", "level"), [("WARN", "WARNING"), ("fatal", "CRITICAL")])
def test_3_pythons_other_level_names_still_start(monkeypatch, value, level):
    """Old code: review 19's check refused WARN and FATAL, which Python's
    logging takes and LOG_LEVEL took before: a working set-up stopped at start-up."""
    from config.env import env_log_level

    monkeypatch.setenv("LOG_LEVEL", value)
    assert env_log_level("LOG_LEVEL", "INFO") == level


def test_3_log_level_warn_starts():
    result = manage("check", LOG_LEVEL="WARN", Q_LOG_LEVEL="NOTSET")
    assert result.returncode == 0, result.stderr
