"""Reproductions for docs/security-review-11.md (each failed on the old code)."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from accounts.models import ApiKey

pytestmark = pytest.mark.django_db


def test_4_create_api_key_with_a_too_long_name_is_a_command_error(manager):
    """Old code: a ValidationError traceback (``full_clean``), not the command's
    one-line error."""
    with pytest.raises(CommandError, match="not created"):
        call_command("create_api_key", manager.username, "--name", "k" * 101)
    assert not ApiKey.objects.exists()
