"""Volley settings: one file, every knob from the environment (SPEC §9).

Defaults are what `make run` needs on a fresh machine: SQLite in var/, the ORM
broker, mail printed to the console. Production sets DEBUG=0, SECRET_KEY,
ALLOWED_HOSTS, SITE_URL, DATABASE_URL, REDIS_URL and EMAIL_URL.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from config.env import (
    env_bool,
    env_directory,
    env_int,
    env_list,
    env_lockout_parameters,
    env_log_level,
    env_networks,
    env_site_url,
    env_str,
    env_time_zone,
    parse_database_url,
    parse_email_url,
    redis_url_valid,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = env_directory("VOLLEY_VAR_DIR", BASE_DIR / "var")

DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        return key
    # No key given: keep one per installation in var/ so sessions and signed
    # tracking links survive restarts of `make run`.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
if len(SECRET_KEY) < 32:
    raise ImproperlyConfigured("SECRET_KEY must be at least 32 characters long.")

SITE_URL = env_site_url(
    "SITE_URL", f"http://127.0.0.1:{env_int('PORT', 8000, minimum=1, maximum=65535)}"
)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list(
    "CSRF_TRUSTED_ORIGINS", [SITE_URL] if SITE_URL.startswith("http") else []
)

INSTALLED_APPS = [
    "config.apps.VolleyAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "guardian",
    "django_q",
    "axes",
    "ninja",
    "accounts",
    "audiences",
    "channels",
    "campaigns",
    "webhooks",
    "anymail",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.csp.VolleyCSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "config.problems.ApiErrorMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.ViewerTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lock-out page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {
    "default": parse_database_url(
        env_str("DATABASE_URL"), sqlite_default=VAR_DIR / "volley.sqlite3"
    )
}
IS_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = redis_url_valid(env_str("REDIS_URL"))

# The cache carries the worker cluster's heartbeat (django-q2 stats) and the
# shared rate limits, so it must be visible to every process: Redis when there
# is one, otherwise files in var/ (one machine, which is the embedded default).
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

Q_CLUSTER = {
    "name": env_str("Q_CLUSTER_NAME", "volley"),
    "workers": env_int("Q_WORKERS", 2, minimum=1, maximum=64),
    "recycle": 500,
    # A send batch is short; activation of a huge audience is the longest task.
    "timeout": env_int("Q_TIMEOUT", 600, minimum=10),
    "retry": env_int("Q_TIMEOUT", 600, minimum=10) + 60,
    "max_attempts": 3,
    "save_limit": 1000,
    "ack_failures": True,
    # Missed schedule slots are handled by our own tolerance rules (SPEC §3):
    # django-q2's catch-up would send one occurrence per missed slot.
    "catch_up": False,
    "label": _("Task queue"),
    "cache": "default",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["poll"] = 0.2

AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out sign-in before any password is checked.
    # API keys do not go through authenticate() and are not counted.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
GUARDIAN_RAISE_403 = False
ANONYMOUS_USER_NAME = None  # no guardian anonymous user: public endpoints use signed tokens

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in throttling (django-axes): the sign-in page is also the admin's.
# By default the lock is on the username *and* address together, so nobody can
# lock someone else out from another address, and a proxy that hides the
# clients' addresses does not lock everyone out at once.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(
    minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1, maximum=366 * 24 * 60)
)
AXES_LOCKOUT_PARAMETERS = env_lockout_parameters("LOGIN_LOCKOUT_BY", "username+ip_address")
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.views.locked_out"
AXES_USERNAME_FORM_FIELD = "username"
AXES_VERBOSE = False
# The address a lock-out counts against: the client's behind BEHIND_PROXY, the
# X-Forwarded-For entry the proxy sets (axes alone read REMOTE_ADDR, the
# proxy's, the same for everyone, so "username+ip_address" locked a username
# for everyone: security reviews 19 and 20), an IPv6 address's /64.
AXES_CLIENT_IP_CALLABLE = "config.clients.client_network"
# Sign-in attempts a minute from one address, whatever the usernames. Each
# costs a password hash (PBKDF2, 1,000,000 iterations: about a second of CPU),
# and the lock above never sees usernames tried one after another, so a few
# anonymous requests a second kept every worker busy (security review 18).
LOGIN_RATE_PER_MINUTE = env_int("LOGIN_RATE_PER_MINUTE", 20, minimum=1)

LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "campaigns:list"
LOGOUT_REDIRECT_URL = "accounts:login"
# Invitation links: valid for three days, single use (Django's token embeds the
# password hash and last login, so using the link invalidates it).
PASSWORD_RESET_TIMEOUT = env_int("INVITATION_TIMEOUT_SECONDS", 3 * 24 * 3600, minimum=60)

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("nl", _("Dutch")), ("sv", _("Swedish")), ("fr", _("French"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_time_zone("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# The container image collects static files at build time outside the data
# volume (STATIC_ROOT=/app/static-root) so the volume never hides them.
STATIC_ROOT = env_directory("STATIC_ROOT", VAR_DIR / "static")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
# Several web hosts need one media store: an S3-compatible bucket through
# django-storages (pip install the `aws` extra; the container image has it).
MEDIA_S3_BUCKET = env_str("MEDIA_S3_BUCKET")
if MEDIA_S3_BUCKET:
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": MEDIA_S3_BUCKET,
            # Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY from the
            # environment (boto3 reads them), or the instance's role.
            "endpoint_url": env_str("MEDIA_S3_ENDPOINT_URL") or None,
            "region_name": env_str("MEDIA_S3_REGION") or None,
            "custom_domain": env_str("MEDIA_S3_CUSTOM_DOMAIN") or None,
            "location": env_str("MEDIA_S3_PREFIX", "media"),
            "default_acl": None,
            "querystring_auth": env_bool("MEDIA_S3_SIGNED_URLS", False),
            "file_overwrite": False,
        },
    }
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# Largest multipart upload (an audience CSV) the API accepts before answering 413.
MAX_UPLOAD_BYTES = env_int("MAX_UPLOAD_MB", 200, minimum=1) * 1024 * 1024
# Largest image of the content studio's library (SPEC §11; larger: 413).
ASSET_MAX_BYTES = env_int("ASSET_MAX_KB", 5120, minimum=1) * 1024

vars().update(parse_email_url(env_str("EMAIL_URL", "console:")))
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Volley <volley@localhost>")
# SMTP sessions a batch of email keeps open at once to a server offering
# PIPELINING (channels.transports._Sessions); 1: one session a batch.
EMAIL_SMTP_SESSIONS = env_int("EMAIL_SMTP_SESSIONS", 3, minimum=1, maximum=20)
SERVER_EMAIL = DEFAULT_FROM_EMAIL

SMS_WEBHOOK_URL = env_str("SMS_WEBHOOK_URL")
PUSH_WEBHOOK_URL = env_str("PUSH_WEBHOOK_URL")
# Shared with the SMS/push providers: never SECRET_KEY, which would then sign
# sessions and reset links for whoever holds the provider's copy. Without it,
# incoming feedback cannot be verified and is refused (401).
WEBHOOK_SIGNING_SECRET = env_str("WEBHOOK_SIGNING_SECRET")
for _name, _url in (("SMS_WEBHOOK_URL", SMS_WEBHOOK_URL), ("PUSH_WEBHOOK_URL", PUSH_WEBHOOK_URL)):
    if _url and not WEBHOOK_SIGNING_SECRET:
        raise ImproperlyConfigured(
            f"WEBHOOK_SIGNING_SECRET must be set when {_name} is set: it signs the calls to "
            "the provider and verifies its feedback."
        )
# The SMS/push provider calls wait WEBHOOK_TIMEOUT_SECONDS (defined below, with
# the outbound event webhooks) for an answer.

# Email service providers (django-anymail). Each channel configuration carries
# its own credentials; these are the tracking webhooks' shared settings. The
# webhooks at /anymail/<esp>/tracking/ are mounted only when
# ANYMAIL_WEBHOOK_SECRET ("user:password", given to the ESP as basic auth in the
# webhook URL) is set; Mailgun's also needs MAILGUN_WEBHOOK_SIGNING_KEY.
ANYMAIL = {
    "WEBHOOK_SECRET": env_str("ANYMAIL_WEBHOOK_SECRET") or None,
    "MAILGUN_WEBHOOK_SIGNING_KEY": env_str("MAILGUN_WEBHOOK_SIGNING_KEY") or None,
    "POSTMARK_TRACK_OPENS": False,
    # SES posts through SNS: confirm the subscription automatically (needs boto3).
    "AMAZON_SES_AUTO_CONFIRM_SNS_SUBSCRIPTIONS": True,
}
if ANYMAIL["WEBHOOK_SECRET"] and ":" not in ANYMAIL["WEBHOOK_SECRET"]:
    raise ImproperlyConfigured("ANYMAIL_WEBHOOK_SECRET must look like user:password.")
# Real SMS and push providers (SPEC §6 next to the signed webhook): base URLs
# are settings so a regional endpoint or a test fake can be named.
TWILIO_API_URL = env_str("TWILIO_API_URL", "https://api.twilio.com/2010-04-01").rstrip("/")
FCM_API_URL = env_str("FCM_API_URL", "https://fcm.googleapis.com/v1").rstrip("/")
FCM_TOKEN_URL = env_str("FCM_TOKEN_URL", "https://oauth2.googleapis.com/token")
APNS_API_URL = env_str("APNS_API_URL", "https://api.push.apple.com").rstrip("/")
# A channel configuration's provider URL may point at a loopback, private,
# link-local or metadata address only when this is on (channels/netguard.py):
# off, administrators cannot make the worker probe the internal network.
VOLLEY_ALLOW_PRIVATE_PROVIDER_URLS = env_bool("VOLLEY_ALLOW_PRIVATE_PROVIDER_URLS", False)

DEMO_PASSWORD = env_str("DEMO_PASSWORD", "volley-demo")
API_RATE_LIMIT_PER_MINUTE = env_int("API_RATE_LIMIT_PER_MINUTE", 6000, minimum=1)
# What one person may make Volley send at their word, a clock hour
# (accounts/quotas.py; 0 is no limit): proof and test-message recipients, and
# approval requests (each emails every approver).
PROOFS_PER_HOUR = env_int("PROOFS_PER_HOUR", 100, minimum=0)
APPROVAL_REQUESTS_PER_HOUR = env_int("APPROVAL_REQUESTS_PER_HOUR", 20, minimum=0)
# How long a web process remembers an authenticated key on the trigger endpoints
# (accounts/keycache.py); a revocation reaches every process within this time.
API_KEY_CACHE_SECONDS = env_int("API_KEY_CACHE_SECONDS", 10, minimum=0, maximum=30)

# Content-Security-Policy (django-csp): scripts, styles, fonts and requests from
# our own origin only, no inline script or style anywhere (not even 'unsafe-inline'
# for the admin, whose templates have none). Two kinds of document that cannot
# live by it get their own, narrower policy on their own URL: rendered email
# HTML in previews (channels/frames.py) and the report's SVG chart. Enforced in
# development too, so a page that breaks it is seen before production.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        # Swagger UI and the admin draw small icons as data: URIs.
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}

# At most a century: "now minus that many days" must stay a date (a larger
# number made the nightly retention task fail with an OverflowError).
DAYS_MAX = 36500
# Retention of message data (SPEC §14), applied every night by the cluster
# (campaigns/retention.py): delivery rows are anonymised, raw tracking events
# deleted, API-trigger contexts cleared; report totals never change.
RETENTION_DELIVERY_DAYS = env_int("RETENTION_DELIVERY_DAYS", 365, minimum=1, maximum=DAYS_MAX)
RETENTION_EVENTS_DAYS = env_int("RETENTION_EVENTS_DAYS", 90, minimum=1, maximum=DAYS_MAX)
RETENTION_CONTEXT_DAYS = env_int("RETENTION_CONTEXT_DAYS", 7, minimum=1, maximum=DAYS_MAX)
RETENTION_FEEDBACK_RECEIPT_DAYS = env_int(
    "RETENTION_FEEDBACK_RECEIPT_DAYS", 30, minimum=1, maximum=DAYS_MAX
)
# Conversion events (POST /api/v1/events) that happened longer ago than this are
# deleted every night; reports count the conversions whose events are kept.
RETENTION_CONVERSIONS_DAYS = env_int("RETENTION_CONVERSIONS_DAYS", 365, minimum=1, maximum=DAYS_MAX)
# Outbound event webhooks (SPEC §13, webhooks/) and the SMS/push webhook
# providers: each POST waits this long for an answer. Failed event webhooks
# are retried with back-off for WEBHOOK_RETRY_HOURS, then the endpoint is
# switched off; the log is kept WEBHOOK_RETENTION_DAYS.
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 5, minimum=1, maximum=60)
WEBHOOK_RETRY_HOURS = env_int("WEBHOOK_RETRY_HOURS", 24, minimum=1, maximum=24 * 7)
WEBHOOK_RETENTION_DAYS = env_int("WEBHOOK_RETENTION_DAYS", 30, minimum=1, maximum=DAYS_MAX)
# Opens and clicks of one message told to webhook endpoints an hour (each kind):
# the tracking URLs are public, and every request would otherwise be an outbound
# POST per endpoint, queued before everyone's events (security review 21). The
# rest are still recorded and counted; only the telling stops.
WEBHOOK_ENGAGEMENT_PER_HOUR = env_int("WEBHOOK_ENGAGEMENT_PER_HOUR", 20, minimum=1, maximum=10000)
WEBHOOK_DELIVER_BUDGET_SECONDS = 20  # one delivery task's time before it hands over
# Rows changed per transaction, so retention never holds locks a send waits on for long.
RETENTION_BATCH_SIZE = env_int("RETENTION_BATCH_SIZE", 500, minimum=1, maximum=10000)

# Honest engagement (docs/ENGAGEMENT.md): which opens and clicks machines made.
# A click on an email this many seconds or less after it was sent is a security
# scanner's; two different links of one message clicked within
# TRACKING_BURST_SECONDS are a scanner's too.
TRACKING_SCANNER_CLICK_SECONDS = env_int(
    "TRACKING_SCANNER_CLICK_SECONDS", 10, minimum=0, maximum=24 * 3600
)
TRACKING_BURST_SECONDS = env_int("TRACKING_BURST_SECONDS", 2, minimum=0, maximum=60)
# Networks Apple Mail Privacy Protection fetches images from (Apple owns 17.0.0.0/8).
TRACKING_PRIVACY_PROXY_NETWORKS = env_networks("TRACKING_PRIVACY_PROXY_NETWORKS", ["17.0.0.0/8"])
# More user-agent fragments (case-insensitive) that name a link scanner.
TRACKING_SCANNER_USER_AGENTS = env_list("TRACKING_SCANNER_USER_AGENTS", [])
# A hidden link in every tracked email that only machines follow.
TRACKING_TRAP_LINK = env_bool("TRACKING_TRAP_LINK", True)

# A reverse proxy (nginx, Caddy, a load balancer) terminates TLS in front of
# gunicorn and sets X-Forwarded-Proto and X-Forwarded-For.
BEHIND_PROXY = env_bool("BEHIND_PROXY", False)
USE_X_FORWARDED_HOST = BEHIND_PROXY and env_bool("USE_X_FORWARDED_HOST", False)

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
# The language cookie (/i18n/setlang/) is read by the server only.
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # Trust X-Forwarded-Proto only when a TLS-terminating proxy is declared:
    # without one, any client could claim its plain request was HTTPS.
    if BEHIND_PROXY:
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    LANGUAGE_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SILENCED_SYSTEM_CHECKS = [] if env_bool("SECURE_HSTS_PRELOAD", False) else ["security.W021"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    # Addresses and phone numbers never reach a log (SPEC §14): config/logmask.py.
    "filters": {"mask_personal_data": {"()": "config.logmask.MaskPersonalData"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["mask_personal_data"],
        }
    },
    "root": {"handlers": ["console"], "level": env_log_level("LOG_LEVEL", "INFO")},
    "loggers": {
        "django_q": {"level": env_log_level("Q_LOG_LEVEL", "WARNING"), "propagate": True},
        # django-axes logs every sign-in at INFO; lock-outs are warnings.
        "axes": {"level": "WARNING", "propagate": True},
        # Django's own console handler would print every request warning a second time.
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
