from django.urls import path

from campaigns import assets_views as views

app_name = "images"

urlpatterns = [
    path("", views.library, name="library"),
    path("picker/", views.picker, name="picker"),
]
