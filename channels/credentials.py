"""Provider credentials: stored encrypted, or referenced from the environment.

A configuration's credentials are a small ``{name: value}`` dict. Each value is
either the secret itself or ``env:VARIABLE``, read from the server's
environment when a message is sent (so the secret never enters the database).
The dict is stored Fernet-encrypted with a key derived from ``SECRET_KEY``; it
is never shown back: forms, the API and the admin only say which names are set.
Rotating ``SECRET_KEY`` makes stored secrets unreadable: enter them again (or
use ``env:`` references, which survive).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.utils.translation import gettext as _

PREFIX = "fernet:"
ENV_PREFIX = "env:"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")

# What each provider needs (names of the credentials dict); `one_of` groups need
# at least one of their names.
REQUIRED: dict[str, tuple[str, ...]] = {
    "amazon_ses": ("access_key_id", "secret_access_key", "region"),
    "sendgrid": ("api_key",),
    "mailgun": ("api_key", "sender_domain"),
    "postmark": ("server_token",),
    "brevo": ("api_key",),
    "sparkpost": ("api_key",),
    "mailjet": ("api_key", "secret_key"),
    "twilio": ("account_sid", "auth_token"),
    "fcm": ("project_id",),
    "apns": ("team_id", "key_id", "private_key"),
}
ONE_OF: dict[str, tuple[str, ...]] = {"fcm": ("service_account", "access_token")}
OPTIONAL: dict[str, tuple[str, ...]] = {"mailgun": ("webhook_signing_key",)}


class CredentialsError(ValueError):
    pass


def _fernet() -> Fernet:
    digest = hashlib.sha256(b"volley-provider-credentials:" + settings.SECRET_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(values: dict[str, str]) -> str:
    if not values:
        return ""
    token = _fernet().encrypt(json.dumps(values, sort_keys=True).encode())
    return PREFIX + token.decode()


def decrypt(stored: str) -> dict[str, str]:
    if not stored:
        return {}
    if not stored.startswith(PREFIX):
        raise CredentialsError(_("The stored credentials are not in a format Volley knows."))
    try:
        return json.loads(_fernet().decrypt(stored[len(PREFIX) :].encode()))
    except (InvalidToken, ValueError):
        raise CredentialsError(
            _(
                "The stored credentials cannot be decrypted (was SECRET_KEY changed?): enter them again."
            )
        ) from None


def resolve(values: dict[str, str]) -> dict[str, str]:
    """The values with every ``env:NAME`` replaced by that environment variable."""
    resolved = {}
    for name, value in values.items():
        if isinstance(value, str) and value.startswith(ENV_PREFIX):
            variable = value[len(ENV_PREFIX) :]
            if variable not in os.environ:
                raise CredentialsError(
                    _("The environment variable %(name)s (credential %(credential)s) is not set.")
                    % {"name": variable, "credential": name}
                )
            value = os.environ[variable]
        resolved[name] = value
    return resolved


def parse(text: str) -> dict[str, str]:
    """Credentials typed in a form: a JSON object, or ``name=value`` lines."""
    text = (text or "").strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise CredentialsError(_("Not valid JSON: %(error)s") % {"error": exc}) from None
        if not isinstance(data, dict):
            raise CredentialsError(_("Give a JSON object of names and values."))
        values = {}
        for name, value in data.items():
            # A service account file pasted as one credential stays JSON text.
            values[str(name)] = value if isinstance(value, str) else json.dumps(value)
        return check_names(values)
    values = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep:
            raise CredentialsError(
                _("Line %(number)d: write name=value (or name=env:VARIABLE).") % {"number": number}
            )
        values[name.strip()] = value.strip()
    return check_names(values)


def check_names(values: dict[str, str]) -> dict[str, str]:
    for name, value in values.items():
        if not _NAME.match(name):
            raise CredentialsError(
                _("“%(name)s” is not a credential name (lower-case letters, digits, _).")
                % {"name": name}
            )
        if not isinstance(value, str) or not value:
            raise CredentialsError(_("%(name)s has no value.") % {"name": name})
        if value.startswith(ENV_PREFIX) and not _ENV_NAME.match(value[len(ENV_PREFIX) :]):
            raise CredentialsError(
                _("%(name)s: env: must be followed by an environment variable name.")
                % {"name": name}
            )
    return values


def check_author(values: dict[str, str], user) -> None:
    """Only superusers name environment variables: an ``env:`` reference reads
    any secret of the server (``SECRET_KEY``, ``DATABASE_URL``…), which a
    provider URL of one's own would then receive."""
    if getattr(user, "is_superuser", False):
        return
    for name, value in values.items():
        if isinstance(value, str) and value.startswith(ENV_PREFIX):
            raise CredentialsError(
                _("%(name)s: only a superuser may refer to an environment variable.")
                % {"name": name}
            )


def missing(provider: str, values: dict[str, str]) -> list[str]:
    """Names the provider needs that ``values`` lacks (a group reads ``a or b``)."""
    lacking = [name for name in REQUIRED.get(provider, ()) if name not in values]
    group = ONE_OF.get(provider)
    if group and not any(name in values for name in group):
        lacking.append(" or ".join(group))
    return lacking


def unknown(provider: str, values: dict[str, str]) -> list[str]:
    known = set(REQUIRED.get(provider, ())) | set(ONE_OF.get(provider, ()))
    known |= set(OPTIONAL.get(provider, ()))
    return sorted(set(values) - known)
