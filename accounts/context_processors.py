"""Navigation entries for the base layout, each shown only to roles that may use it."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from accounts.permissions import can, can_use_admin

# (label, url name, action that must be allowed, active-section prefix)
_NAV = [
    (_("Campaigns"), "campaigns:list", "campaign.view", "/campaigns/"),
    (_("Audiences"), "audiences:list", "audience.view", "/audiences/"),
    (_("Templates"), "templates:list", "template.view", "/templates/"),
    (_("Calendar"), "calendar:page", "campaign.view", "/calendar/"),
    (_("Channels"), "channels:list", "channel.create", "/channels/"),
    (_("Approvals"), "approvals:queue", "campaign.approve", "/approvals/"),
]


def navigation(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": [], "unread_notifications": 0}
    items = [
        {"label": label, "url": reverse(name), "active": request.path.startswith(prefix)}
        for label, name, action, prefix in _NAV
        if can(user, action)
    ]
    if can_use_admin(user):
        items.append(
            {
                "label": _("Admin"),
                "url": reverse("admin:index"),
                "active": request.path.startswith("/admin/"),
            }
        )
    unread = user.notifications.filter(read_at__isnull=True).count()
    return {"nav_items": items, "unread_notifications": unread}
