"""Demo data and the admin's permission hooks."""

from __future__ import annotations

from accounts.roles import ADMINISTRATOR
from channels import demo
from channels.models import ChannelConfiguration


def test_demo_seed_is_idempotent(db):
    demo.seed(users={})
    first = list(ChannelConfiguration.objects.values_list("name", "updated_at"))
    demo.seed(users={})
    assert list(ChannelConfiguration.objects.values_list("name", "updated_at")) == first
    assert sorted(ChannelConfiguration.objects.values_list("channel", flat=True)) == [
        "email",
        "email",
        "push",
        "sms",
    ]


def test_admin_lists_only_visible_configurations(login, administrator, make_user, make_config):
    open_config = make_config("email", name="Open one")
    hidden = make_config("sms", name="Hidden one", restricted=True)
    client = login(make_user("other", ADMINISTRATOR))
    page = client.get("/admin/channels/channelconfiguration/")
    assert page.status_code == 200
    assert b"Open one" in page.content and b"Hidden one" not in page.content
    url = f"/admin/channels/channelconfiguration/{hidden.pk}/change/"
    assert client.get(url).status_code in (302, 404)
    assert (
        client.get(f"/admin/channels/channelconfiguration/{open_config.pk}/change/").status_code
        == 200
    )


def test_admin_is_closed_to_managers(login, manager):
    assert login(manager).get("/admin/channels/channelconfiguration/").status_code in (302, 403)
