from django.contrib.admin.apps import AdminConfig


class VolleyAdminConfig(AdminConfig):
    default_site = "config.admin.VolleyAdminSite"
