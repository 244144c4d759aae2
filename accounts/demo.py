"""Demo users, one per role (SPEC §9)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from accounts.roles import ADMINISTRATOR, APPROVER, MANAGER, VIEWER, sync_roles

DEMO_USERS = [
    ("admin", ADMINISTRATOR, True),
    ("approver", APPROVER, False),
    ("manager", MANAGER, False),
    ("viewer", VIEWER, False),
]


def seed() -> dict:
    """Create (or repair) the four demo users; returns them by username."""
    sync_roles()
    User = get_user_model()
    users = {}
    for username, role, superuser in DEMO_USERS:
        user, created = User.objects.get_or_create(
            username=username,
            defaults={
                "email": f"{username}@volley.example",
                "is_superuser": superuser,
                "is_staff": superuser,
            },
        )
        if created or not user.check_password(settings.DEMO_PASSWORD):
            user.set_password(settings.DEMO_PASSWORD)
            user.save()
        user.groups.add(Group.objects.get(name=role))
        users[username] = user
    return users
