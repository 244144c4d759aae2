"""The four built-in roles of SPEC §2 and the model permissions each holds.

The data migration and `seed_demo` both read this table, so the roles in the
database and the roles in the code cannot drift apart.
"""

from __future__ import annotations

ADMINISTRATOR = "Campaign Administrator"
APPROVER = "Campaign Approver"
MANAGER = "Campaign Manager"
VIEWER = "Campaign Viewer"
ROLES = [ADMINISTRATOR, APPROVER, MANAGER, VIEWER]

_VIEW = [
    "campaigns.view_campaign",
    "campaigns.view_campaign_report",
    "audiences.view_audience",
    "audiences.view_profile",
    "channels.view_channelconfiguration",
    "campaigns.view_contenttemplate",
    "campaigns.view_asset",
]
_AUTHOR = [
    "campaigns.add_campaign",
    "campaigns.change_campaign",
    "campaigns.delete_campaign",
    "campaigns.request_approval_campaign",
    "campaigns.add_contenttemplate",
    "campaigns.change_contenttemplate",
    "campaigns.delete_contenttemplate",
    "campaigns.add_asset",
    "audiences.add_audience",
    "audiences.change_audience",
    "audiences.delete_audience",
    "audiences.add_profile",
    "audiences.change_profile",
]
_PUBLISH = [
    "campaigns.publish_campaign",
    "campaigns.approve_campaign",
]
_ADMINISTER = [
    "channels.add_channelconfiguration",
    "channels.change_channelconfiguration",
    "channels.delete_channelconfiguration",
    "audiences.view_suppression",
    "audiences.add_suppression",
    "audiences.change_suppression",
    "audiences.delete_suppression",
    "audiences.delete_profile",
    "audiences.view_privacylogentry",
    "campaigns.view_approvalpolicy",
    "campaigns.add_approvalpolicy",
    "campaigns.change_approvalpolicy",
    "campaigns.delete_approvalpolicy",
    "campaigns.view_businessrule",
    "campaigns.add_businessrule",
    "campaigns.change_businessrule",
    "campaigns.delete_businessrule",
    "accounts.view_apikey",
    "accounts.add_apikey",
    "accounts.change_apikey",
    "accounts.delete_apikey",
    "accounts.manage_all_apikeys",
    # outbound event webhooks (SPEC §13) and their delivery log
    "webhooks.view_endpoint",
    "webhooks.add_endpoint",
    "webhooks.change_endpoint",
    "webhooks.delete_endpoint",
    "webhooks.view_message",
    "webhooks.change_message",
    "auth.view_user",
    "auth.add_user",
    "auth.change_user",
    # Roles are assigned from the user's page; changing a group itself would
    # mean editing raw permissions, which only superusers do (issue 10).
    "auth.view_group",
    "campaigns.manage_access_campaign",
    # Sign-in lock-outs (django-axes): see them and unlock by deleting one.
    "axes.view_accessattempt",
    "axes.delete_accessattempt",
    "axes.view_accessfailurelog",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    VIEWER: _VIEW,
    MANAGER: _VIEW + _AUTHOR,
    APPROVER: _VIEW + _AUTHOR + _PUBLISH,
    ADMINISTRATOR: _VIEW + _AUTHOR + _PUBLISH + _ADMINISTER,
}

# Administrators sign in to the Django admin; the others never need it.
STAFF_ROLES = {ADMINISTRATOR}


def sync_roles(apps=None, *, verbosity: int = 0) -> None:
    """Create the four role groups and give each exactly its permissions.

    Called by the data migration (with historical ``apps``) and again after
    every ``migrate`` (post_migrate) so that permissions added by later
    migrations reach the roles too. Idempotent.
    """
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    apps = apps or global_apps
    for app_config in global_apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=verbosity)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, perm_names in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=role)
        wanted = []
        for name in perm_names:
            app_label, codename = name.split(".", 1)
            perm = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if perm is not None:
                wanted.append(perm)
        group.permissions.set(wanted)
