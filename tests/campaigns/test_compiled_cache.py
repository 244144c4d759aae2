"""The sender compiles a version's templates once per process; a version saved
again, or a new version given a deleted one's id (SQLite reuses the highest id),
must not be sent with the old templates."""

from __future__ import annotations

import pytest

from campaigns.engine import send
from campaigns.models import CampaignVersion, Run
from tests.campaigns.conftest import make_campaign

pytestmark = pytest.mark.django_db


def _run(version) -> Run:
    return Run(campaign=version.campaign, version=version)


def test_a_version_saved_again_compiles_anew():
    campaign = make_campaign(None, content={"subject": "First", "text": "t", "html": ""})
    version = campaign.draft_version or campaign.live_version
    first = send.compiled_for(_run(version))
    assert first.render(profile=None).subject == "First"
    version.content = {**version.content, "subject": "Second"}
    version.save()
    version = CampaignVersion.objects.select_related("campaign").get(pk=version.pk)
    assert send.compiled_for(_run(version)).render(profile=None).subject == "Second"
