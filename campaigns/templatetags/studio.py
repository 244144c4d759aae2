from django import template

from campaigns.languages import locale_label

register = template.Library()


@register.filter
def locale_name(code: str) -> str:
    """``fr`` → "French" in the active language; "" → "Default content"."""
    return locale_label(code)
