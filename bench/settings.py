"""Settings for the benchmarks only: the product's settings, served over plain
HTTP on loopback, plus a bench-only URLconf holding the trivial baseline view.

    DJANGO_SETTINGS_MODULE=bench.settings

Production behaviour is unchanged (nothing in config/ imports this module).
"""

from config.settings import *  # noqa: F403
from config.settings import STORAGES

DEBUG = False
# Loopback HTTP: the production HTTPS redirect and secure cookies would turn
# every request into a 301 / drop the session.
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0
ROOT_URLCONF = "bench.urls"
# No collectstatic for a benchmark: the manifest storage would refuse {% static %}.
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
