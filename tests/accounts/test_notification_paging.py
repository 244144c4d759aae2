"""The notifications API pages with any offset a client sends (third review of
issue 10): an offset past the database's integer range was a 500."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("offset", ["99999999999999999999", "9223372036854775807"])
def test_a_huge_offset_is_an_answer_not_a_500(api_for, manager, offset):
    response = api_for(manager).get(f"/notifications?offset={offset}")
    assert response.status_code in (200, 400), response.content[:200]
