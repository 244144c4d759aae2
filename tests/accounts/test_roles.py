"""The four roles of SPEC §2 and what each may do."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from accounts.permissions import can, can_use_admin
from accounts.roles import ADMINISTRATOR, APPROVER, MANAGER, ROLE_PERMISSIONS, ROLES, VIEWER

pytestmark = pytest.mark.django_db

VIEW = ["campaign.view", "campaign.view_report", "audience.view", "profile.view"]
AUTHOR = [
    "campaign.create",
    "campaign.edit",
    "campaign.duplicate",
    "campaign.delete",
    "campaign.request_approval",
    "audience.create",
    "audience.edit",
    "profile.edit",
]
PUBLISH = ["campaign.activate", "campaign.approve", "campaign.request_changes", "campaign.stop"]
ADMINISTER = [
    "channel.create",
    "channel.edit",
    "suppression.manage",
    "policy.manage",
    "apikey.manage_all",
]

ALLOWED = {
    VIEWER: VIEW,
    MANAGER: VIEW + AUTHOR,
    APPROVER: VIEW + AUTHOR + PUBLISH,
    ADMINISTRATOR: VIEW + AUTHOR + PUBLISH + ADMINISTER,
}
EVERY_ACTION = VIEW + AUTHOR + PUBLISH + ADMINISTER


def test_the_migration_creates_the_four_role_groups_with_their_permissions():
    assert set(Group.objects.filter(name__in=ROLES).values_list("name", flat=True)) == set(ROLES)
    for role, perms in ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=role)
        held = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
        assert held == set(perms), role


@pytest.mark.parametrize("role", ROLES)
def test_each_role_may_do_exactly_its_actions(make_user, role):
    user = make_user("someone", role)
    allowed = {action for action in EVERY_ACTION if can(user, action)}
    assert allowed == set(ALLOWED[role])


def test_a_user_with_several_roles_holds_the_union(make_user):
    user = make_user("both", VIEWER, ADMINISTRATOR)
    assert can(user, "channel.create") and can(user, "campaign.view")


def test_a_user_without_a_role_may_do_nothing(outsider):
    assert not any(can(outsider, action) for action in EVERY_ACTION)
    assert not can_use_admin(outsider)


def test_superusers_may_do_everything(make_user):
    root = make_user("root", superuser=True)
    assert all(can(root, action) for action in EVERY_ACTION)
    assert can_use_admin(root)


def test_only_administrators_use_the_admin(viewer, manager, approver, administrator):
    assert [can_use_admin(u) for u in (viewer, manager, approver, administrator)] == [
        False,
        False,
        False,
        True,
    ]


def test_a_deactivated_user_may_do_nothing(administrator):
    administrator.is_active = False
    administrator.save()
    assert not can(administrator, "campaign.view")
    assert not can_use_admin(administrator)


def test_the_guardian_object_permission_backend_is_installed(settings):
    assert "guardian.backends.ObjectPermissionBackend" in settings.AUTHENTICATION_BACKENDS


def test_preloaded_api_permissions_equal_djangos(db, make_user):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    from accounts.permissions import preload_permissions
    from accounts.roles import MANAGER

    user = make_user("preload", MANAGER)
    user.user_permissions.add(Permission.objects.get(codename="view_suppression"))
    expected = get_user_model().objects.get(pk=user.pk).get_all_permissions()
    fresh = get_user_model().objects.get(pk=user.pk)
    preload_permissions(fresh)
    assert fresh.get_all_permissions() == expected
    assert fresh.has_perm("audiences.view_suppression")
    assert not fresh.has_perm("campaigns.publish_campaign")
