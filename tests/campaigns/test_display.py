"""The campaign page reads history events and action outcomes in words, not codes."""

from __future__ import annotations

from tests.campaigns.lifecycle_helpers import ready_email


def test_history_shows_actions_and_statuses_in_words(login, manager):
    campaign = ready_email(manager)
    campaign.events.create(action="request_approval", from_status="draft", to_status="in_review")
    html = login(manager).get(f"/campaigns/{campaign.pk}/").content.decode()
    assert "Requested approval (Draft → In review)" in html
    assert "request_approval" not in html.split("<h2>History</h2>")[1]


def test_a_successful_action_says_what_happened(login, manager):
    campaign = ready_email(manager)
    response = login(manager).post(
        f"/campaigns/{campaign.pk}/actions/request_approval/", {"comment": "please"}, follow=True
    )
    assert "Approval requested." in response.content.decode()
    assert "Done:" not in response.content.decode()


def test_one_comment_box_serves_every_action_button(login, approver, manager):
    campaign = ready_email(manager)
    login(manager).post(f"/campaigns/{campaign.pk}/actions/request_approval/", {})
    html = login(approver).get(f"/campaigns/{campaign.pk}/").content.decode()
    actions = html.split('id="actions"')[1].split("</section>")[0]
    assert actions.count('name="comment"') == 1
    assert f'formaction="/campaigns/{campaign.pk}/actions/request_changes/"' in actions
    assert f'formaction="/campaigns/{campaign.pk}/actions/approve/"' in actions
