"""Form layout for every page's forms (issue 15): the groups a form's fields are
shown in, read from the form's optional ``fieldsets`` ((legend, [field names])
pairs) by ``templates/forms/form.html``."""

from __future__ import annotations

from django import forms, template

register = template.Library()


@register.filter
def fieldsets(form: forms.BaseForm) -> list[tuple[str | None, list[forms.BoundField]]]:
    """``[(legend, bound fields)]``: the form's groups, the fields it does not
    show (per channel, per role) left out, any field no group names at the end."""
    visible = {field.name: field for field in form.visible_fields()}
    groups: list[tuple[str | None, list[forms.BoundField]]] = []
    for legend, names in getattr(form, "fieldsets", None) or []:
        fields = [visible.pop(name) for name in names if name in visible]
        if fields:
            groups.append((legend, fields))
    if visible:
        groups.append((None, list(visible.values())))
    return groups
