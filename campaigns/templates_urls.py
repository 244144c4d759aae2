from django.urls import path

from accounts.access import access_page
from campaigns import designer_views
from campaigns import templates_views as views

app_name = "templates"

urlpatterns = [
    path("", views.gallery, name="list"),
    path("new/", views.new, name="new"),
    path("<int:pk>/", views.edit, name="edit"),
    path("<int:pk>/delete/", views.delete, name="delete"),
    path("<int:pk>/design/", designer_views.template_designer, name="designer"),
    path("<int:pk>/access/", access_page, {"kind": "template"}, name="access"),
]
