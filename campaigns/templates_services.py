"""Message templates (SPEC §11): the writes and the reads the pages and the API share.

A template is content for one channel. Saving a campaign's content as a
template copies it; starting a campaign from a template (or from a starter of
``campaigns/starters.py``) copies it the other way, so editing one never
changes the other. The permission checks happen at the boundary, with
``accounts.permissions`` (restricted templates need a per-object grant).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from accounts.permissions import can, can_see, visible
from accounts.services import access_keep
from audiences.channel_facts import CONTENT_EXTRAS
from campaigns.models import DELETED_WRITER, Campaign, ContentTemplate
from campaigns.starters import STARTERS, Starter
from campaigns.validation import normalize_content, template_errors
from config.ids import is_id


def _clean(channel: str, content: Any) -> dict:
    """Normalized content, or ``ValidationError`` keyed ``content.<field>``."""
    content = normalize_content(channel, content)
    errors = {f"content.{k}": msgs for k, msgs in template_errors(channel, content).items()}
    if errors:
        raise ValidationError(errors)
    return content


def writers_besides(actor, writers) -> list[int]:
    """``writers`` (user ids, in order, once each) without ``actor``: the
    editors a copy made by ``actor`` keeps. A writer whose account was deleted
    (None: the source's ``created_by`` set NULL) stays as ``DELETED_WRITER``,
    who sees only what every user may: dropped, the copy of an ownerless
    campaign or template sent to whom its author could not see (fourteenth
    review)."""
    me = getattr(actor, "pk", None)
    ids = (DELETED_WRITER if pk is None else pk for pk in writers)
    return [pk for pk in dict.fromkeys(ids) if pk != me]


def template_writers(template: ContentTemplate) -> list[int]:
    """Who wrote ``template``'s words: its author, then its editors."""
    return writers_besides(None, [template.created_by_id, *(template.editors or [])])


def template_create(
    *, actor, name: str, channel: str, content: Any, restricted: bool = False, editors=()
) -> ContentTemplate:
    """A new template; the content is checked like a campaign's (unknown fields
    and template syntax errors refused). ``editors``: who else wrote the words
    (the campaign it is saved from: its owner and editors)."""
    template = ContentTemplate(
        name=(name or "").strip(),
        channel=channel,
        restricted=restricted,
        created_by=actor,
        editors=writers_besides(actor, editors),
    )
    template.full_clean(exclude=["content"])
    template.content = _clean(channel, content)
    with transaction.atomic():
        template.save()
        access_keep(obj=template, actor=actor)
    return template


def template_update(*, template: ContentTemplate, actor, **fields: Any) -> ContentTemplate:
    """Change the name and/or the content (merged field by field: giving only the
    subject keeps the body). The channel is fixed once created."""
    unknown = set(fields) - {"name", "content", "channel"}
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")
    if fields.get("channel") not in (None, template.channel):
        raise ValidationError({"channel": [_("A template's channel cannot change.")]})
    with transaction.atomic():
        locked = ContentTemplate.objects.select_for_update().get(pk=template.pk)
        if fields.get("name") is not None:
            locked.name = fields["name"].strip()
        if fields.get("content") is not None:
            given = normalize_content(locked.channel, fields["content"])
            merged = dict(locked.content or {})
            merged.update({k: v for k, v in given.items() if k in fields["content"]})
            for key in CONTENT_EXTRAS:  # {"translations": {}} removes them all
                if key in fields["content"] and key not in given:
                    merged.pop(key, None)
            locked.content = _clean(locked.channel, merged)
            if actor is not None and actor.pk not in template_writers(locked):
                locked.editors = [*(locked.editors or []), actor.pk]
        locked.full_clean(exclude=["content"])
        locked.save()
        access_keep(obj=locked, actor=actor)
    return locked


def template_delete(*, template: ContentTemplate, actor) -> None:
    """Delete a template. Campaigns started from it keep their own copy."""
    ContentTemplate.objects.filter(pk=template.pk).delete()


def template_from_campaign(*, campaign: Campaign, actor, name: str) -> ContentTemplate:
    """Save the content a campaign shows (its draft, else its live version) as a template."""
    from campaigns.services import writers_of_version

    version = campaign.draft_version or campaign.live_version
    content = dict(version.content or {}) if version else {}
    return template_create(
        actor=actor,
        name=name,
        channel=campaign.channel,
        content=content,
        restricted=campaign.restricted,
        editors=[campaign.created_by_id, *writers_of_version(campaign, version)],
    )


def _as_id(value: Any) -> int | None:
    try:
        number = int(str(value).strip())
    except ValueError:
        return None
    return number if is_id(number) else None


# --- reads ---------------------------------------------------------------------


def template_list(user, *, channel: str = "", search: str = "") -> QuerySet[ContentTemplate]:
    """The templates ``user`` may see (unrestricted, or granted), newest change first."""
    qs = visible(user, ContentTemplate.objects.all())
    if channel:
        qs = qs.filter(channel=channel)
    search = search.replace("\x00", "")  # no column holds a NUL (PostgreSQL: an error)
    if search:
        qs = qs.filter(name__icontains=search[:200])
    return qs.order_by("-updated_at", "-id")


def get_template_for(user, pk: Any, action: str = "template.view") -> ContentTemplate:
    """The template, or 404 when unknown or unseen; 403 when seen but ``action`` is refused."""
    pk = _as_id(pk)
    template = ContentTemplate.objects.filter(pk=pk).first() if pk else None
    if template is None or not can_see(user, template):
        raise Http404
    if not can(user, action, template):
        raise PermissionDenied
    return template


def source_content(
    user, *, template_id: Any = None, starter: str = ""
) -> tuple[str, dict, str, list[int], bool]:
    """(channel, content, name, writers, restricted) of what a new campaign
    starts from: a template ``user`` may see, or a starter design.
    ``ValidationError`` when unknown. ``writers``: the template's author and
    editors, whom the new campaign counts among its editors
    (``campaign_create(editors=…)``). ``restricted``: the template is, and so is
    the campaign started from it, as a duplicate of a restricted campaign and a
    template saved from one are (fifteenth review)."""
    if template_id not in (None, ""):
        pk = _as_id(template_id)
        template = ContentTemplate.objects.filter(pk=pk).first() if pk else None
        if template is None or not can_see(user, template):
            raise ValidationError({"templateId": [_("Unknown template.")]})
        return (
            template.channel,
            dict(template.content or {}),
            template.name,
            template_writers(template),
            template.restricted,
        )
    found: Starter | None = STARTERS.get(starter or "")
    if found is None:
        raise ValidationError({"starter": [_("Unknown starter design.")]})
    return found.channel, found.content(), found.name, [], False
