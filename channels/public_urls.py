"""Public, login-free endpoints reached from messages: open pixel, click, unsubscribe."""

from django.urls import path

from channels import public_views

app_name = "public"

urlpatterns = [
    path("o/<str:token>.gif", public_views.open_pixel, name="open"),
    path("c/<str:token>", public_views.click, name="click"),
    path("l/<str:token>", public_views.trap, name="trap"),
    path("u/preview/", public_views.unsubscribe_preview, name="unsubscribe_preview"),
    path("u/<str:token>", public_views.unsubscribe, name="unsubscribe"),
]
