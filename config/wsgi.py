"""The WSGI application: Django, with the trigger routes' lean path in front
(config/hotpath.py)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_wsgi_application()

from campaigns.api_executions import LEAN_ROUTES  # noqa: E402 — needs Django set up
from config.hotpath import LeanRoutes  # noqa: E402

application = LeanRoutes(django_application, LEAN_ROUTES)
