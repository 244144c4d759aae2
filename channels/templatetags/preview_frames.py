from django import template

from channels.frames import frame_src

register = template.Library()


@register.simple_tag(takes_context=True)
def preview_frame_src(context, html: str) -> str:
    """``<iframe sandbox src="{% preview_frame_src html %}">``: see channels/frames.py."""
    return frame_src(context["request"], html or "")
