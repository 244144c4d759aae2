"""`manage.py create_api_key USERNAME`: a new API key, printed as the last line (SPEC §7)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.services import api_key_create, user_by_username


class Command(BaseCommand):
    help = "Create an API key for USERNAME and print it (shown only this once)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="created with manage.py", help="A label for the key.")

    def handle(self, *args, username: str, name: str, **options) -> None:
        user = user_by_username(username)
        if user is None:
            raise CommandError(f"No user named {username!r}. Create the user first (see /admin/).")
        if not user.is_active:
            raise CommandError(f"The user {username!r} is deactivated; its keys would not work.")
        try:
            key, plain = api_key_create(user=user, name=name)
        except ValidationError as exc:
            messages = "; ".join(
                f"{field}: {' '.join(errors)}" for field, errors in exc.message_dict.items()
            )
            raise CommandError(f"The key was not created ({messages}).") from exc
        self.stderr.write(
            f"Created API key {key.name!r} for {user.username}; store it now, it is not shown again."
        )
        self.stdout.write(plain)
