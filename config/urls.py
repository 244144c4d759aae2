from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from campaigns.assets import serve as serve_asset
from config.api import api
from config.health import healthz

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="campaigns:list", permanent=False)),
    path("healthz", healthz, name="healthz"),
    path("api/v1/", api.urls),  # early: the API's trigger endpoints are the hot path
    path("accounts/", include("accounts.urls")),
    path("campaigns/", include("campaigns.urls")),
    path("campaigns/", include("campaigns.report_urls")),
    path("templates/", include("campaigns.templates_urls")),
    path("approvals/", include("campaigns.approvals_urls")),
    path("audiences/", include("audiences.urls")),
    path("channels/", include("channels.urls")),
    path("t/", include("channels.public_urls")),
    # The image library's files, public and stable (SPEC §11): email clients fetch them.
    re_path(
        r"^assets/(?P<key>[0-9a-f]{32})\.(?P<ext>png|jpg|gif|webp)$", serve_asset, name="asset"
    ),
    path("images/", include("campaigns.assets_urls")),
    path("admin/", admin.site.urls),
    # ESP tracking webhooks (django-anymail), e.g. /anymail/sendgrid/tracking/.
    path("anymail/", include(("channels.esp_feedback", "anymail"))),
    path("i18n/", include("django.conf.urls.i18n")),
]
