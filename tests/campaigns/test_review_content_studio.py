"""Outside review of the content studio merge (issue 10): bad input on the
preview and proof pages is a form answer, never a 500."""

from __future__ import annotations

import pytest

from tests.campaigns.lifecycle_helpers import ready_email

pytestmark = pytest.mark.usefixtures("no_worker")


@pytest.mark.parametrize("locale", ["\x00", "fr\x00", "not a tag", "x" * 300])
def test_proof_page_refuses_a_locale_that_is_not_a_tag(login, manager, locale):
    """The page passed the posted locale as typed; a NUL reached PostgreSQL (500)."""
    from campaigns.models import Proof

    campaign = ready_email(manager)
    answer = login(manager).post(
        f"/campaigns/{campaign.pk}/proofs/", {"recipients": "a@example.com", "locale": locale}
    )
    assert answer.status_code == 400
    assert "language tag" in answer.content.decode()
    assert not Proof.objects.exists()


def test_preview_and_campaign_pages_ignore_a_profile_with_a_nul(login, manager):
    campaign = ready_email(manager)
    client = login(manager)
    assert client.get(f"/campaigns/{campaign.pk}/preview/", {"profile": "a\x00"}).status_code == 200
    assert client.get(f"/campaigns/{campaign.pk}/", {"profile": "1\x00"}).status_code == 200
