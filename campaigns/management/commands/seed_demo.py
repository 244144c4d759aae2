"""`manage.py seed_demo`: demo users, profiles, audiences, channels and campaigns.

Idempotent: a second run finds everything in place and changes nothing. Each
app seeds its own part (``<app>/demo.py``), in dependency order. The command
lives in campaigns, the top of accounts ← audiences ← channels ← campaigns,
because it composes every app below it.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction


class Command(BaseCommand):
    help = "Load the demo data (idempotent)."

    def handle(self, *args, **options) -> None:
        from accounts import demo as accounts_demo
        from audiences import demo as audiences_demo
        from campaigns import demo as campaigns_demo
        from channels import demo as channels_demo

        with transaction.atomic():
            users = accounts_demo.seed()
        audiences_demo.seed(users=users, stdout=self.stdout)
        with transaction.atomic():
            channels_demo.seed(users=users)
        with transaction.atomic():
            campaigns_demo.seed(users=users)
        self.stdout.write(self.style.SUCCESS("Demo data is ready."))
        self.stdout.write(
            f"Demo logins at {settings.SITE_URL}/accounts/login/, all with the password "
            f"{settings.DEMO_PASSWORD!r} (set DEMO_PASSWORD to change it):"
        )
        for username, role, superuser in accounts_demo.DEMO_USERS:
            extra = ", superuser" if superuser else ""
            self.stdout.write(f"  {username:<9} {role}{extra}")
