"""``{% access_link obj %}``: the link to an object's Access page, rendered only
for those who may manage its access (the page itself checks again)."""

from __future__ import annotations

from django import template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _

from accounts.permissions import can_manage_access, can_see, restrictable

register = template.Library()


@register.simple_tag(takes_context=True)
def access_link(context, obj) -> str:
    request = context.get("request")
    if obj is None or request is None or not can_manage_access(request.user, obj):
        return ""
    url = reverse(restrictable(obj).access_page, args=[obj.pk])
    return format_html('<a class="button" href="{}" id="access-link">{}</a>', url, _("Access"))


@register.filter
def shown_to(obj, user):
    """``obj`` itself, or a neutral label when ``user`` may not see it: a
    restricted audience or configuration is never named to those not granted."""
    if obj is None or can_see(user, obj):
        return obj
    return _("(restricted)")
