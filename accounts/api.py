"""`/api/v1/me`: who the key belongs to (useful to check a key works)."""

from django.http import HttpRequest
from ninja import Router

from accounts.roles import ROLES
from config.schemas import CamelOut

router = Router(tags=["me"])


class MeOut(CamelOut):
    username: str
    email: str
    roles: list[str]
    is_superuser: bool


@router.get("", response=MeOut, by_alias=True)
def me(request: HttpRequest):
    user = request.user
    return {
        "username": user.username,
        "email": user.email,
        "roles": [g for g in user.groups.values_list("name", flat=True) if g in ROLES],
        "is_superuser": user.is_superuser,
    }
