from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from campaigns.api_executions import audience_view, unitary_view
from campaigns.assets import serve as serve_asset
from config.api import api
from config.health import healthz

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="campaigns:list", permanent=False)),
    path("healthz", healthz, name="healthz"),
    # The API's hot path: plain views in front of ninja's operations for the same
    # routes, which they hand every request they do not accept as it is.
    path("api/v1/executions/unitary", unitary_view),
    path("api/v1/executions/audience", audience_view),
    path("api/v1/", api.urls),
    path("accounts/", include("accounts.urls")),
    path("campaigns/", include("campaigns.urls")),
    path("campaigns/", include("campaigns.report_urls")),
    path("templates/", include("campaigns.templates_urls")),
    path("approvals/", include("campaigns.approvals_urls")),
    path("calendar/", include("campaigns.calendar_urls")),
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
