from django.urls import path

from accounts.access import access_page
from audiences import views

app_name = "audiences"

urlpatterns = [
    path("", views.list_page, name="list"),
    path("new/", views.rule_page, name="new"),
    path("preview/", views.preview_api, name="preview"),
    path("upload/", views.upload_page, name="upload"),
    path("<int:pk>/", views.detail_page, name="detail"),
    path("<int:pk>/edit/", views.rule_page, name="edit"),
    path("<int:pk>/upload/", views.upload_page, name="reupload"),
    path("<int:pk>/access/", access_page, {"kind": "audience"}, name="access"),
    path("<int:pk>/delete/", views.delete_view, name="delete"),
]
