from django.urls import path

from accounts.access import access_page
from channels import views

app_name = "channels"

urlpatterns = [
    path("", views.list_page, name="list"),
    path("new/<str:channel>/", views.create_page, name="create"),
    path("<int:pk>/edit/", views.edit_page, name="edit"),
    path("<int:pk>/access/", access_page, {"kind": "channel"}, name="access"),
    path("<int:pk>/test/", views.test_message_page, name="test"),
    path("<int:pk>/test/<int:message_id>/", views.test_message_status, name="test_status"),
    path("<int:pk>/test/<int:message_id>/retry/", views.test_message_retry, name="test_retry"),
    path("preview-frame/<str:token>/", views.preview_frame, name="preview_frame"),
    path("<int:pk>/<str:action>/", views.status_action, name="status"),
]
