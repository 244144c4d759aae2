"""Typed readers for the environment variables of SPEC §9.

Every reader raises ``ImproperlyConfigured`` with the variable's name and the
offending value, so a typo stops start-up with a sentence instead of a traceback
deep inside a database driver.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(
        f"{name} must be one of 1/0, true/false, yes/no, on/off; got {raw!r}."
    )


def env_int(
    name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number; got {raw!r}.") from None
    if minimum is not None and value < minimum:
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise ImproperlyConfigured(f"{name} must be {bound}; got {value}.")
    if maximum is not None and value > maximum:
        bound = f"between {minimum} and {maximum}" if minimum is not None else f"at most {maximum}"
        raise ImproperlyConfigured(f"{name} must be {bound}; got {value}.")
    return value


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Python's other names for levels, which LOG_LEVEL took before its check
# (security review 22: a working LOG_LEVEL=WARN stopped start-up).
LOG_LEVEL_ALIASES = {"WARN": "WARNING", "FATAL": "CRITICAL", "NOTSET": "NOTSET"}


def env_log_level(name: str, default: str) -> str:
    """A logging level by name; Python's own error ("Unable to configure root
    logger") names neither the variable nor the value."""
    raw = env_str(name, default)
    level = raw.strip().upper()
    if level in LOG_LEVEL_ALIASES:
        return LOG_LEVEL_ALIASES[level]
    if level not in LOG_LEVELS:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(LOG_LEVELS)}; got {raw!r}.")
    return level


def env_time_zone(name: str, default: str) -> str:
    """An IANA time zone name (``Europe/Amsterdam``)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    raw = env_str(name, default)
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ImproperlyConfigured(
            f"{name} must be an IANA time zone such as Europe/Amsterdam or UTC; got {raw!r}."
        ) from None
    return raw


def env_site_url(name: str, default: str) -> str:
    """The public address links in messages start with: ``https://host[:port][/path]``.
    Without a scheme or a host every tracked link, unsubscribe link and asset
    URL in every message would be broken, silently."""
    raw = env_str(name, default).rstrip("/")
    parts = _split(name, raw)
    try:
        parts.port  # noqa: B018 - raises for a bad port
    except ValueError:
        raise ImproperlyConfigured(f"{name} has a bad port: {raw!r}.") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ImproperlyConfigured(
            f"{name} must be the public address with its scheme, "
            f"e.g. https://volley.example.com; got {raw!r}."
        )
    if parts.query or parts.fragment or "@" in parts.netloc:
        raise ImproperlyConfigured(
            f"{name} takes no user, query or fragment, e.g. https://volley.example.com; got {raw!r}."
        )
    return raw


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_networks(name: str, default: list[str]) -> list:
    """A comma-separated list of IP networks (``17.0.0.0/8, 2620:149::/32``)."""
    import ipaddress

    networks = []
    for item in env_list(name, default):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"{name} takes IP networks separated by commas (e.g. 17.0.0.0/8); got {item!r}."
            ) from None
    return networks


LOCKOUT_PARAMETERS = {"username", "ip_address", "user_agent"}


def env_lockout_parameters(name: str, default: str) -> list:
    """django-axes' ``AXES_LOCKOUT_PARAMETERS`` from ``username+ip_address``
    (one lock for the combination) or ``username,ip_address`` (a lock each)."""
    raw = env_str(name, default)
    result: list = []
    for item in raw.split(","):
        parts = [p.strip() for p in item.split("+") if p.strip()]
        if not parts or not set(parts) <= LOCKOUT_PARAMETERS:
            raise ImproperlyConfigured(
                f"{name} takes {', '.join(sorted(LOCKOUT_PARAMETERS))} joined with + "
                f"(together) or , (each on its own); got {raw!r}."
            )
        result.append(parts[0] if len(parts) == 1 else parts)
    return result


def env_directory(name: str, default: Path) -> Path:
    """A directory Volley writes to, created when missing."""
    path = Path(env_str(name, str(default)))
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImproperlyConfigured(
            f"{name} must be a directory Volley can create and write to; "
            f"got {str(path)!r} ({exc.strerror})."
        ) from None
    return path


def parse_database_url(url: str, *, sqlite_default: Path) -> dict:
    """Turn ``DATABASE_URL`` into a Django ``DATABASES['default']`` entry.

    SQLite gets IMMEDIATE transactions, a busy timeout and WAL: the web process
    and the worker cluster write at the same time, and SQLite's default deferred
    transactions cannot upgrade a read lock ("database is locked").
    """
    import dj_database_url

    if not url:
        sqlite_default.parent.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{sqlite_default}"
    scheme = _split("DATABASE_URL", url).scheme
    if scheme not in {"sqlite", "postgres", "postgresql", "pgsql"}:
        raise ImproperlyConfigured(
            f"DATABASE_URL must start with postgres:// or sqlite:///; got {_redact(url)!r}."
        )
    # Persistent connections with a health check before reuse, for the web
    # and the workers on both databases: opening one per request cost
    # ~0.55 ms of web CPU and ~7 ms of PostgreSQL CPU (SQLite: ~1.9 ms).
    conn_max_age = env_int("DB_CONN_MAX_AGE", 300, minimum=0)
    conn_health_checks = env_bool("DB_CONN_HEALTH_CHECKS", True)
    try:
        config = dj_database_url.parse(
            url, conn_max_age=conn_max_age, conn_health_checks=conn_health_checks
        )
    except Exception as exc:  # dj-database-url raises several kinds for bad URLs
        raise ImproperlyConfigured(
            f"DATABASE_URL is malformed ({exc}): {_redact(url)!r}."
        ) from None
    if config["ENGINE"] == "django.db.backends.sqlite3":
        if not config.get("NAME") or config["NAME"] == ":memory:":
            # An in-memory database is private to one process: the worker
            # cluster would never see the web's rows.
            raise ImproperlyConfigured(
                "DATABASE_URL for SQLite needs a file path, e.g. sqlite:///var/volley.sqlite3."
            )
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    else:
        if not config.get("NAME"):
            raise ImproperlyConfigured(
                f"DATABASE_URL must name a database, e.g. postgres://user@host:5432/volley; got {_redact(url)!r}."
            )
        try:
            int(config.get("PORT") or 5432)
        except ValueError:
            raise ImproperlyConfigured(f"DATABASE_URL has a bad port: {_redact(url)!r}.") from None
        # Prepared statements for the hot statements run with server-side
        # parameters (the trigger's INSERT: planning it cost more than running
        # it). Django turns them off by default for connection poolers; behind a
        # transaction-pooling PgBouncer older than 1.21 set DB_PREPARE_THRESHOLD=0.
        threshold = env_int("DB_PREPARE_THRESHOLD", 5, minimum=0)
        config.setdefault("OPTIONS", {})["prepare_threshold"] = threshold or None
    return config


def parse_email_url(url: str) -> dict:
    """Turn ``EMAIL_URL`` into Django's email settings.

    ``smtp://user:pass@host:port?tls=1`` (or ``?ssl=1``), ``console:`` and
    ``file:///path`` are understood; anything else stops start-up.
    """
    if not url or url.startswith("console:"):
        return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    parts = _split("EMAIL_URL", url)
    if parts.scheme == "file":
        if not parts.path:
            raise ImproperlyConfigured(
                "EMAIL_URL file:// needs a directory, e.g. file:///tmp/volley-mail."
            )
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": unquote(parts.path),
        }
    if parts.scheme == "locmem":
        return {"EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}
    if parts.scheme not in {"smtp", "smtps"}:
        raise ImproperlyConfigured(
            f"EMAIL_URL must be smtp://…, console: or file:///…; got {_redact(url)!r}."
        )
    if not parts.hostname:
        raise ImproperlyConfigured(f"EMAIL_URL needs a host: {_redact(url)!r}.")
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 25)
    except ValueError:
        raise ImproperlyConfigured(f"EMAIL_URL has a bad port: {_redact(url)!r}.") from None
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    use_tls = query.get("tls", "0").lower() in TRUE_WORDS
    use_ssl = parts.scheme == "smtps" or query.get("ssl", "0").lower() in TRUE_WORDS
    try:
        timeout = int(query.get("timeout", "30"))
    except ValueError:
        timeout = 0
    if not 1 <= timeout <= 3600:  # 0 or less: every send fails inside the socket
        raise ImproperlyConfigured(
            f"EMAIL_URL timeout must be seconds between 1 and 3600: {_redact(url)!r}."
        )
    if use_tls and use_ssl:
        raise ImproperlyConfigured("EMAIL_URL cannot ask for both tls=1 and ssl=1.")
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": parts.hostname,
        "EMAIL_PORT": port,
        "EMAIL_HOST_USER": unquote(parts.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
        "EMAIL_USE_TLS": use_tls,
        "EMAIL_USE_SSL": use_ssl,
        "EMAIL_TIMEOUT": timeout,
    }


def redis_url_valid(url: str) -> str:
    if not url:
        return url
    parts = _split("REDIS_URL", url)
    if parts.scheme not in {"redis", "rediss", "unix"}:
        raise ImproperlyConfigured(
            f"REDIS_URL must start with redis:// or rediss://; got {_redact(url)!r}."
        )
    try:
        parts.port  # noqa: B018 - raises for a bad port
    except ValueError:
        raise ImproperlyConfigured(f"REDIS_URL has a bad port: {_redact(url)!r}.") from None
    database = parts.path.strip("/")
    if parts.scheme != "unix" and database and not database.isdigit():
        raise ImproperlyConfigured(
            f"REDIS_URL names its database by number (redis://host:6379/0); got {_redact(url)!r}."
        )
    return url


def _split(name: str, url: str):
    """``urlsplit``, whose ValueError ("Invalid IPv6 URL") names no variable."""
    try:
        return urlsplit(url)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} is malformed ({exc}): {_redact(url)!r}.") from None


def _redact(url: str) -> str:
    """Hide a password before a URL goes into an error message."""
    import re

    try:
        password = urlsplit(url).password
    except ValueError:  # too broken to parse: hide whatever sits before an @
        return re.sub(r"//[^/@]*@", "//***@", url)
    if password:
        return url.replace(f":{password}@", ":***@")
    return url
