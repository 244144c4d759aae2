from django.urls import path

from channels import views

app_name = "channels"

urlpatterns = [
    path("", views.list_page, name="list"),
    path("new/<str:channel>/", views.create_page, name="create"),
    path("<int:pk>/edit/", views.edit_page, name="edit"),
    path("<int:pk>/test/", views.test_message_page, name="test"),
    path("<int:pk>/<str:action>/", views.status_action, name="status"),
]
