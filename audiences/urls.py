from django.urls import path

from audiences import views

app_name = "audiences"

urlpatterns = [
    path("", views.list_page, name="list"),
]
