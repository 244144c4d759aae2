"""Every environment variable the documentation names is really read (issue 14):
the README's configuration section, docs/DEPLOY.md and the environment that
compose.yaml hands to the containers. A variable renamed or dropped in the code
but still documented fails here, with the file that names it."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from campaigns.engine.conf import DEFAULTS as ENGINE_KNOBS

BASE_DIR = Path(__file__).resolve().parents[2]

# Upper-case names in the docs that are not environment variables.
NOT_ENVIRONMENT = {
    "SECURE_PROXY_SSL_HEADER": "the Django setting that BEHIND_PROXY switches on",
    "LOGGING": "the Django setting holding the address-masking filter",
}

# Variables read by something other than config/: the file (in the project) or
# the installed module that reads it, which must name it.
READ_ELSEWHERE = {
    "VOLLEY_STATIC_READY": "bin/volley",
    "VOLLEY_PYTHON": "bin/volley",
    "VOLLEY_PORT": "compose.yaml",  # the published port
    "VOLLEY_BIND": "compose.yaml",  # the host address it is published on
    "POSTGRES_PASSWORD": "compose.yaml",  # the postgres image and DATABASE_URL
    "DJANGO_SUPERUSER_USERNAME": "django.contrib.auth.management.commands.createsuperuser",
    "DJANGO_SUPERUSER_EMAIL": "django.contrib.auth.management.commands.createsuperuser",
    "DJANGO_SUPERUSER_PASSWORD": "django.contrib.auth.management.commands.createsuperuser",
    "AWS_ACCESS_KEY_ID": "botocore.credentials",
    "AWS_SECRET_ACCESS_KEY": "botocore.credentials",
}

NAME = r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*"


def _read_in_config() -> str:
    """Source of config/ (the settings, env helpers and gunicorn settings)."""
    return "\n".join(p.read_text() for p in sorted((BASE_DIR / "config").rglob("*.py")))


def _documented(text: str) -> set[str]:
    """Names in inline code (`NAME`, `NAME=value`, `$NAME`) and NAME= in code blocks."""
    blocks = re.findall(r"```[^\n]*\n(.*?)```", text, flags=re.S)
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    names: set[str] = set()
    for span in re.findall(r"`([^`\n]+)`", prose):
        names.update(re.findall(rf"^\$?({NAME})(?:=|$)", span))
        # Underscored names inside longer spans (`MEDIA_S3_BUCKET=volley-media`, `$PORT`).
        names.update(re.findall(r"(?:^|[\s$])([A-Z][A-Z0-9]*_[A-Z0-9_]+)\b", span))
    for block in blocks:
        names.update(re.findall(rf"\b({NAME})=", block))
    # `DJANGO_SUPERUSER_USERNAME`, `_EMAIL` and `_PASSWORD`: the same prefix.
    for prefix in re.findall(r"`([A-Z_]+_)USERNAME`", prose):
        names.update(prefix + suffix for suffix in re.findall(r"`_([A-Z]+)`", prose))
    return {n for n in names if len(n) > 2} - set(NOT_ENVIRONMENT)


def _readme_configuration() -> str:
    readme = (BASE_DIR / "README.md").read_text()
    return readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]


def _compose_environment() -> set[str]:
    compose = (BASE_DIR / "compose.yaml").read_text()
    block = compose.split("environment: &volley-env\n", 1)[1].split("\n  volumes:", 1)[0]
    return set(re.findall(rf"^    ({NAME}):", block, flags=re.M))


SOURCES = {
    "README.md (Configuration)": _documented(_readme_configuration()),
    "docs/DEPLOY.md": _documented((BASE_DIR / "docs" / "DEPLOY.md").read_text()),
    "compose.yaml (environment)": _compose_environment(),
}


def _is_read(name: str, config_source: str) -> bool:
    if re.search(rf"""(?:\(\s*|environ\[)["']{name}["']""", config_source):
        return True
    if name in ENGINE_KNOBS:  # campaigns/engine/conf.py: knob(name) reads env_int(name)
        return True
    where = READ_ELSEWHERE.get(name)
    if where is None:
        return False
    if (BASE_DIR / where).exists():
        return name in (BASE_DIR / where).read_text()
    spec = importlib.util.find_spec(where)
    source = Path(spec.origin).read_text() if spec and spec.origin else ""
    # Django's createsuperuser reads "DJANGO_SUPERUSER_" + the field name.
    return name in source or name.startswith("DJANGO_SUPERUSER_") and "DJANGO_SUPERUSER_" in source


def test_the_documentation_names_variables_at_all():
    # The extraction itself: a change of format in the docs must not make the
    # check below vacuous.
    assert {"DATABASE_URL", "REDIS_URL", "BIND", "MEDIA_S3_ENDPOINT_URL"} <= SOURCES[
        "README.md (Configuration)"
    ]
    assert {"GUNICORN_TIMEOUT", "FORWARDED_ALLOW_IPS", "DJANGO_SUPERUSER_PASSWORD"} <= SOURCES[
        "docs/DEPLOY.md"
    ]
    assert {"SECRET_KEY", "Q_WORKERS"} <= SOURCES["compose.yaml (environment)"]


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_every_documented_environment_variable_is_read(source):
    config_source = _read_in_config()
    unread = sorted(n for n in SOURCES[source] if not _is_read(n, config_source))
    assert not unread, (
        f"{source} names environment variables nothing reads: {unread} "
        "(read them in config/, or list them in READ_ELSEWHERE / NOT_ENVIRONMENT with the reason)"
    )
