"""Test settings: the production file with a handful of lines changed."""

import os
import uuid

os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("EMAIL_URL", "locmem:")
# Each test run gets its own queue name so parallel runs sharing one Redis never
# take each other's tasks.
os.environ.setdefault("Q_CLUSTER_NAME", f"volley-test-{uuid.uuid4().hex[:8]}")

from config.settings import *  # noqa: E402,F403
from config.settings import Q_CLUSTER, VAR_DIR  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Every test signs in from 127.0.0.1: the per-address bound is tested where set lower.
LOGIN_RATE_PER_MINUTE = 1_000_000
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
if not REDIS_URL:  # noqa: F405
    CACHES = {  # noqa: F811
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / f"test-cache-{Q_CLUSTER['name']}"),
        }
    }
SITE_URL = "http://testserver"
ALLOWED_HOSTS = ["*"]
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    # A file, not :memory:, so a real qcluster subprocess started by a test
    # sees the same test database (tests/config/test_cluster.py).
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": str(VAR_DIR / f"test-{Q_CLUSTER['name']}.sqlite3")
    }
