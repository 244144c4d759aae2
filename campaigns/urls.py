from django.urls import path

from accounts.access import access_page
from campaigns import designer_views, languages_views, templates_views, views

app_name = "campaigns"

urlpatterns = [
    path("", views.list_page, name="list"),
    path("new/", views.new, name="new"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/edit/", views.edit, name="edit"),
    path("<int:pk>/preview/", views.preview, name="preview"),
    path("<int:pk>/proofs/", views.proofs, name="proofs"),
    path("<int:pk>/proofs/status/", views.proofs_status, name="proofs_status"),
    path("<int:pk>/proofs/<int:proof_id>/retry/", views.proof_retry, name="proof_retry"),
    path("<int:pk>/save-as-template/", templates_views.save_from_campaign, name="save_template"),
    path("<int:pk>/design/", designer_views.campaign_designer, name="designer"),
    path("<int:pk>/languages/", languages_views.languages, name="languages"),
    path("<int:pk>/languages/<str:locale>/", languages_views.translation, name="translation"),
    path(
        "<int:pk>/languages/<str:locale>/delete/",
        languages_views.translation_delete,
        name="translation_delete",
    ),
    path("<int:pk>/access/", access_page, {"kind": "campaign"}, name="access"),
    path("<int:pk>/actions/<slug:name>/", views.action, name="action"),
]
