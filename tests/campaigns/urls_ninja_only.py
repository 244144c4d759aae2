"""The API without the hot-path views in front of it (tests/campaigns/test_trigger_hot_path.py)."""

from django.urls import path

from config.api import api

urlpatterns = [path("api/v1/", api.urls)]
