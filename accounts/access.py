"""The "Access" page of a campaign, an audience or a channel configuration
(SPEC §2): restrict the object, and grant or revoke per-object access to users
and groups. One view serves the three kinds; each app's ``urls.py`` mounts it
at ``<id>/access/`` with ``kind`` set.

Who may open the page is ``accounts.permissions.can_manage_access``; an object
the user may not see is a 404, like everywhere else.
"""

from __future__ import annotations

from django import forms
from django.apps import apps
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods
from guardian.shortcuts import get_groups_with_perms, get_users_with_perms

from accounts import services
from accounts.permissions import RESTRICTABLE, can_manage_access, can_see, object_perms
from config.ids import is_id

KINDS = {row.kind: row for row in RESTRICTABLE.values()}
LEVELS = [("view", gettext_lazy("can view")), ("change", gettext_lazy("can change"))]


class RestrictForm(forms.Form):
    restricted = forms.BooleanField(
        label=gettext_lazy("Restricted"),
        required=False,
        help_text=gettext_lazy(
            "Only the users and groups granted below can see or change it, whatever their role."
        ),
    )


class GrantForm(forms.Form):
    username = forms.CharField(label=gettext_lazy("User"), max_length=150, required=False)
    group = forms.ModelChoiceField(
        label=gettext_lazy("or group"),
        queryset=Group.objects.order_by("name"),
        required=False,
        empty_label="—",
    )
    level = forms.ChoiceField(label=gettext_lazy("Access"), choices=LEVELS, initial="view")

    def __init__(self, *args, with_groups: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not with_groups:  # an audience's creator shares it with people
            del self.fields["group"]

    def clean(self):
        data = super().clean()
        username = (data.get("username") or "").strip()
        group = data.get("group")
        if bool(username) == bool(group):
            if "group" not in self.fields:
                raise ValidationError(_("Give a username."))
            if not self.has_error("group"):
                raise ValidationError(_("Give either a username or a group."))
            return data
        if username:
            user = get_user_model().objects.filter(username=username, is_active=True).first()
            if user is None:
                self.add_error("username", _("No active user has this username."))
            data["grantee"] = user
        else:
            data["grantee"] = group
        return data


class RevokeForm(forms.Form):
    grantee = forms.RegexField(regex=r"^(user|group):[0-9]{1,18}$", max_length=30)

    def clean_grantee(self):
        kind, pk = self.cleaned_data["grantee"].split(":")
        model = get_user_model() if kind == "user" else Group
        grantee = model.objects.filter(pk=int(pk)).first()
        if grantee is None:
            raise ValidationError(_("No such user or group."))
        return grantee


class AccessAdminMixin:
    """For the ``GuardedModelAdmin`` of a restrictable model. Guardian's "Object
    permissions" pages only ask the model-level change permission; here they
    ask ``can_manage_access`` on the object (404 if unseen, 403 if not
    allowed). Saving an object restricted keeps the editor's own access."""

    def _may_manage(self, request: HttpRequest, object_pk) -> None:
        obj = self.get_object(request, object_pk)  # narrowed by ``visible``
        if obj is None:
            raise Http404
        if not can_manage_access(request.user, obj):
            raise PermissionDenied

    def obj_perms_manage_view(self, request, object_pk):
        self._may_manage(request, object_pk)
        return super().obj_perms_manage_view(request, object_pk)

    def _narrowing_refused(self, request: HttpRequest, object_pk) -> HttpResponse | None:
        """A POST that leaves its user or group neither view nor change
        access to a restricted object takes that access away: the guards
        the Access page and the API run first (``services.check_narrowing``:
        an upload audience in use, review 10 #7) run here too (twelfth
        review: these pages removed the grant unchecked). Refused: the page
        again with the reason, nothing changed."""
        if request.method != "POST":
            return None
        obj = self.get_object(request, object_pk)
        if obj is None or not obj.restricted:
            return None
        codenames = {perm.split(".", 1)[1] for perm in object_perms(obj)}
        if codenames & set(request.POST.getlist("permissions")):
            return None
        try:
            services.check_narrowing(obj=obj, actor=request.user)
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
            return redirect(request.path)
        return None

    def obj_perms_manage_user_view(self, request, object_pk, user_id):
        self._may_manage(request, object_pk)
        refused = self._narrowing_refused(request, object_pk)
        return refused or super().obj_perms_manage_user_view(request, object_pk, user_id)

    def obj_perms_manage_group_view(self, request, object_pk, group_id):
        self._may_manage(request, object_pk)
        refused = self._narrowing_refused(request, object_pk)
        return refused or super().obj_perms_manage_group_view(request, object_pk, group_id)

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        services.access_keep(obj=obj, actor=request.user)


def access_grants(obj: Model) -> list[dict]:
    """Who holds per-object access to ``obj``: users first, then groups."""
    view, change = object_perms(obj)
    change_codename = change.split(".", 1)[1]
    codenames = {view.split(".", 1)[1], change_codename}
    rows = []
    for kind, holders in (
        ("user", get_users_with_perms(obj, attach_perms=True, with_group_users=False)),
        ("group", get_groups_with_perms(obj, attach_perms=True)),
    ):
        for holder, perms in sorted(holders.items(), key=lambda item: str(item[0]).lower()):
            if not codenames & set(perms):
                continue
            rows.append(
                {
                    "kind": kind,
                    "kind_label": obj._meta.verbose_name,
                    "name": holder.get_username() if kind == "user" else holder.name,
                    "key": f"{kind}:{holder.pk}",
                    "level": "change" if change_codename in perms else "view",
                    "level_label": dict(LEVELS)["change" if change_codename in perms else "view"],
                }
            )
    return rows


def _object_for(request: HttpRequest, kind: str, pk: int) -> Model:
    model = apps.get_model(KINDS[kind].model)
    obj = model.objects.filter(pk=pk).first() if is_id(pk) else None
    if obj is None or not can_see(request.user, obj):
        raise Http404
    if not can_manage_access(request.user, obj):
        raise PermissionDenied
    return obj


def _form_options(op: str, obj: Model, actor) -> dict:
    if op != "grant":
        return {}
    return {"with_groups": not services.manages_only_as_creator(obj, actor)}


def _handle(request: HttpRequest, obj: Model, op: str) -> forms.Form | None:
    """Apply one POSTed operation; the invalid form to show again, or None."""
    actor = request.user
    form_class = {"restrict": RestrictForm, "grant": GrantForm, "revoke": RevokeForm}[op]
    form = form_class(request.POST, **_form_options(op, obj, actor))
    if not form.is_valid():
        return form
    data = form.cleaned_data
    try:
        if op == "restrict":
            services.access_set_restricted(obj=obj, restricted=data["restricted"], actor=actor)
            messages.success(
                request, _("Restricted.") if data["restricted"] else _("No longer restricted.")
            )
        elif op == "grant":
            services.access_grant(
                obj=obj, grantee=data["grantee"], level=data["level"], actor=actor
            )
            messages.success(request, _("Access granted to %(name)s.") % {"name": data["grantee"]})
        else:
            services.access_revoke(obj=obj, grantee=data["grantee"], actor=actor)
            messages.success(
                request, _("Access revoked from %(name)s.") % {"name": data["grantee"]}
            )
    except ValidationError as exc:
        form.add_error(None, exc)
        return form
    return None


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def access_page(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    obj = _object_for(request, kind, pk)
    forms_ = {
        "restrict": RestrictForm(initial={"restricted": obj.restricted}),
        "grant": GrantForm(**_form_options("grant", obj, request.user)),
        "revoke": RevokeForm(),
    }
    status = 200
    if request.method == "POST":
        op = request.POST.get("op", "")
        if op not in forms_:
            return HttpResponse(_("Unknown operation."), status=400)
        invalid = _handle(request, obj, op)
        if invalid is None:
            return redirect(request.path)
        forms_[op], status = invalid, 400
    context = {
        "object": obj,
        "kind": kind,
        "kind_label": obj._meta.verbose_name,
        "object_url": reverse(KINDS[kind].page, args=[obj.pk]),
        "grants": access_grants(obj),
        "restrict_form": forms_["restrict"],
        "grant_form": forms_["grant"],
        "revoke_form": forms_["revoke"],
    }
    return render(request, "accounts/access.html", context, status=status)
