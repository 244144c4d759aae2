"""Admin for outbound webhooks (administrators): endpoints, each with its
delivery log, and a "resend" action on the log. The secret is shown once, when
the endpoint is added (or its secret replaced)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.permissions import AdminPermissionsMixin
from webhooks.models import EVENT_TYPES, Attempt, Endpoint, Message
from webhooks.services import (
    ResendRefused,
    check_endpoint_room,
    endpoint_create,
    endpoint_delete,
    endpoint_rotate_secret,
    endpoint_update,
    endpoint_validate,
    message_resend,
)

PERMISSIONS = {
    "view": "webhook.manage",
    "add": "webhook.manage",
    "change": "webhook.manage",
    "delete": "webhook.manage",
}


class EndpointForm(forms.ModelForm):
    url = forms.URLField(label=gettext_lazy("URL"), max_length=2000, assume_scheme="https")
    events = forms.MultipleChoiceField(
        label=gettext_lazy("events"),
        choices=[(key, f"{key} — {label}") for key, label in EVENT_TYPES.items()],
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = Endpoint
        fields = ("url", "events", "active", "description")

    def clean(self):
        data = super().clean()
        if self.instance.pk is None:
            check_endpoint_room()  # a ValidationError is the form's own error
        if "url" in data and "events" in data:
            errors = endpoint_validate(url=data["url"], events=data["events"])
            if errors:
                raise ValidationError(errors)
        return data


class AttemptInline(admin.TabularInline):
    model = Attempt
    extra = 0
    can_delete = False
    fields = ("at", "ok", "status_code", "duration_ms", "error", "response")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Endpoint)
class EndpointAdmin(AdminPermissionsMixin, admin.ModelAdmin):
    permissions = PERMISSIONS
    form = EndpointForm
    list_display = ("url", "active", "event_list", "disabled_at", "log")
    list_filter = ("active",)
    search_fields = ("url", "description")
    readonly_fields = ("created_at", "updated_at", "disabled_at", "disabled_reason")
    actions = ["rotate_secret"]

    def get_fields(self, request, obj=None):
        base = ["url", "events", "active", "description"]
        return base if obj is None else base + list(self.readonly_fields)

    @admin.display(description=gettext_lazy("events"))
    def event_list(self, obj: Endpoint) -> str:
        return ", ".join(obj.events or [])

    @admin.display(description=gettext_lazy("delivery log"))
    def log(self, obj: Endpoint) -> str:
        from django.urls import reverse

        url = reverse("admin:webhooks_message_changelist") + f"?endpoint__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, _("Delivery log"))

    def save_model(self, request, obj, form, change) -> None:
        data = {k: form.cleaned_data[k] for k in ("url", "events", "active", "description")}
        if change:
            fresh = Endpoint.objects.get(pk=obj.pk)
            endpoint_update(endpoint=fresh, actor=request.user, **data)
            return
        endpoint, secret = endpoint_create(actor=request.user, **data)
        obj.pk, obj.created_at, obj.secret_encrypted = (
            endpoint.pk,
            endpoint.created_at,
            endpoint.secret_encrypted,
        )
        messages.warning(
            request,
            _("The signing secret of %(url)s — copy it now, it will not be shown again: %(secret)s")
            % {"url": endpoint.url, "secret": secret},
        )

    def get_deleted_objects(self, objs, request):
        """The endpoints and their log, counted: Django's collector loaded every
        message (payload included) to name it on the confirmation page, before
        deleting or refusing (the delivery log deletes nothing of its own, so
        an endpoint with a log could not be deleted here at all). The log goes
        with its endpoint, as ``DELETE /webhooks/{id}`` (tenth review)."""
        from django.utils.text import capfirst

        endpoints = list(objs)
        messages_of = Message.objects.filter(endpoint__in=endpoints)
        named = [f"{capfirst(Endpoint._meta.verbose_name)}: {e}" for e in endpoints]
        counts = {
            Endpoint._meta.verbose_name_plural: len(endpoints),
            Message._meta.verbose_name_plural: messages_of.count(),
            Attempt._meta.verbose_name_plural: Attempt.objects.filter(
                message__in=messages_of.values("pk")
            ).count(),
        }
        return named, counts, set(), []

    def delete_model(self, request, obj) -> None:
        endpoint_delete(endpoint=obj)

    def delete_queryset(self, request, queryset) -> None:
        for endpoint in queryset:
            endpoint_delete(endpoint=endpoint)

    @admin.action(description=gettext_lazy("Replace the signing secret"), permissions=["change"])
    def rotate_secret(self, request, queryset) -> None:
        for endpoint in queryset:
            secret = endpoint_rotate_secret(endpoint=endpoint)
            messages.warning(
                request,
                _("The new signing secret of %(url)s — copy it now: %(secret)s")
                % {"url": endpoint.url, "secret": secret},
            )


@admin.register(Message)
class MessageAdmin(AdminPermissionsMixin, admin.ModelAdmin):
    """The delivery log: read-only, with the resend action."""

    permissions = {"view": "webhook.manage", "change": "webhook.manage"}
    list_display = (
        "event_id",
        "event_type",
        "endpoint",
        "created_at",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
    )
    list_filter = ("status", "event_type", "endpoint")
    search_fields = ("event_id",)
    list_select_related = ("endpoint",)
    fields = (
        "endpoint",
        "event_id",
        "event_type",
        "created_at",
        "status",
        "attempts",
        "next_attempt_at",
        "delivered_at",
        "last_status_code",
        "last_error",
        "data",
    )
    readonly_fields = fields
    inlines = [AttemptInline]
    actions = ["resend"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description=gettext_lazy("Resend the selected events"), permissions=["change"])
    def resend(self, request, queryset) -> None:
        done = refused = 0
        for message in queryset.select_related("endpoint"):
            try:
                message_resend(message=message)
                done += 1
            except ResendRefused:
                refused += 1
        if done:
            messages.success(request, _("%(n)d events queued again.") % {"n": done})
        if refused:
            messages.error(
                request,
                _("%(n)d events belong to a switched-off endpoint: switch it on first.")
                % {"n": refused},
            )
