from django.urls import path

from campaigns import views

app_name = "approvals"

urlpatterns = [
    path("", views.approvals_queue, name="queue"),
]
