from django.urls import path

from campaigns import views

app_name = "campaigns"

urlpatterns = [
    path("", views.list_page, name="list"),
    path("<int:pk>/", views.detail, name="detail"),
]
