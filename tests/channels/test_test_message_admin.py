"""The admin shows what the configurations' Test pages sent, read-only, and
hides a restricted configuration's test messages as it hides the configuration."""

from __future__ import annotations

import pytest

from channels import services

pytestmark = pytest.mark.django_db

URL = "/admin/channels/testmessage/"


def queue(config, actor, address: str):
    return services.test_message_queue(
        config=config,
        content={"subject": "Hi", "html": "<p>x</p>"},
        category="marketing",
        recipients=[address],
        actor=actor,
    )


def test_administrators_read_test_messages_and_their_recipients(login, administrator, make_config):
    message = queue(make_config("email", name="Main"), administrator, "qa@example.com")
    client = login(administrator)
    listing = client.get(URL)
    assert listing.status_code == 200 and "Main" in listing.content.decode()
    page = client.get(f"{URL}{message.pk}/change/").content.decode()
    assert "qa@example.com" in page
    assert 'name="status"' not in page  # read-only
    assert client.get(f"{URL}add/").status_code == 403


def test_a_restricted_configurations_test_messages_are_hidden(
    login, administrator, make_user, make_config
):
    from accounts.roles import ADMINISTRATOR

    message = queue(make_config("email", name="Secret", restricted=True), None, "qa@example.com")
    other = login(make_user("otto", ADMINISTRATOR))
    assert "Secret" not in other.get(URL).content.decode()
    assert other.get(f"{URL}{message.pk}/change/").status_code in (302, 404)


@pytest.mark.parametrize("persona", ["viewer", "manager", "approver"])
def test_other_roles_do_not_see_them(request, login, persona):
    # Not staff: the admin sends them to its sign-in page.
    assert login(request.getfixturevalue(persona)).get(URL).status_code in (302, 403)
