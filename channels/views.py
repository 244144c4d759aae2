"""The /channels/ pages: configurations (administrators) and a test-message page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.permissions import can, can_see, visible
from accounts.quotas import QuotaExceeded
from audiences.channel_facts import sms_segments
from audiences.models import Channel
from channels import services
from channels.forms import ChannelConfigurationForm, TestMessageForm
from channels.models import ChannelConfiguration, TestMessage
from channels.preview import PreviewError, render_preview

NEW_HEADINGS = {
    Channel.EMAIL: gettext_lazy("New email configuration"),
    Channel.SMS: gettext_lazy("New SMS configuration"),
    Channel.PUSH: gettext_lazy("New push configuration"),
}


def _configuration(request: HttpRequest, pk: int, action: str) -> ChannelConfiguration:
    """404 for what the user may not see, 403 for what they may not change."""
    config = get_object_or_404(ChannelConfiguration, pk=pk)
    if not can_see(request.user, config):
        raise Http404
    if not can(request.user, action, config):
        raise PermissionDenied
    return config


@login_required
@require_http_methods(["GET", "HEAD"])
def list_page(request: HttpRequest) -> HttpResponse:
    if not can(request.user, "channel.create"):
        raise PermissionDenied
    configurations = visible(request.user, ChannelConfiguration.objects.all())
    channel = request.GET.get("channel", "")
    status = request.GET.get("status", "")
    if channel in Channel.values:
        configurations = configurations.filter(channel=channel)
    if status in ChannelConfiguration.Status.values:
        configurations = configurations.filter(status=status)
    return render(
        request,
        "channels/list.html",
        {
            "configurations": configurations,
            "channels": Channel.choices,
            "statuses": ChannelConfiguration.Status.choices,
            "selected_channel": channel,
            "selected_status": status,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def create_page(request: HttpRequest, channel: str) -> HttpResponse:
    if channel not in Channel.values:
        raise Http404
    if not can(request.user, "channel.create"):
        raise PermissionDenied
    form = ChannelConfigurationForm(request.POST or None, channel=channel, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            config = services.channel_configuration_save(
                config=form.save(commit=False), actor=request.user
            )
        except ValidationError as exc:  # where its messages go: check_delivery_change
            form.add_error(None, exc)
        else:
            messages.success(
                request, _("Configuration “%(name)s” created.") % {"name": config.name}
            )
            return redirect("channels:list")
    return render(
        request,
        "channels/form.html",
        {"form": form, "heading": NEW_HEADINGS[channel], "config": None},
    )


@login_required
@require_http_methods(["GET", "POST"])
def edit_page(request: HttpRequest, pk: int) -> HttpResponse:
    config = _configuration(request, pk, "channel.edit")
    form = ChannelConfigurationForm(
        request.POST or None, instance=config, channel=config.channel, user=request.user
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.channel_configuration_save(config=form.save(commit=False), actor=request.user)
        except ValidationError as exc:  # where its messages go: check_delivery_change
            form.add_error(None, exc)
        else:
            messages.success(request, _("Configuration “%(name)s” saved.") % {"name": config.name})
            return redirect("channels:list")
    return render(
        request,
        "channels/form.html",
        {"form": form, "channel_label": config.get_channel_display(), "config": config},
    )


@login_required
@require_POST
def status_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    config = _configuration(request, pk, "channel.edit")
    status = {
        "activate": ChannelConfiguration.Status.ACTIVE,
        "deactivate": ChannelConfiguration.Status.DEACTIVATED,
    }.get(action)
    if status is None:
        raise Http404
    try:
        services.channel_configuration_set_status(config=config, status=status, actor=request.user)
    except services.ConfigurationInUse as exc:  # campaigns send through it: say which
        return render(
            request,
            "channels/in_use.html",
            {
                "config": config,
                "named": [u for u in exc.users if u.visible],
                "hidden": sum(1 for u in exc.users if not u.visible),
            },
            status=409,
        )
    if status == ChannelConfiguration.Status.ACTIVE:
        messages.success(request, _("“%(name)s” is active.") % {"name": config.name})
    else:
        messages.success(
            request,
            _("“%(name)s” is deactivated: campaigns cannot be activated with it.")
            % {"name": config.name},
        )
    return redirect("channels:list")


@login_required
@require_http_methods(["GET", "POST"])
def test_message_page(request: HttpRequest, pk: int) -> HttpResponse:
    """Preview a message through this configuration for a profile, and queue
    proofs: the cluster sends them (SPEC §5) and the page shows their status."""
    config = _configuration(request, pk, "channel.edit")
    form = TestMessageForm(request.POST or None, config=config, user=request.user)
    preview = None
    queued = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            preview = render_preview(
                channel=config.channel,
                content=data["content"],
                category=data["category"],
                profile=data["profile"],
                context=data["context_data"],
            )
            if request.POST.get("action") == "send":
                queued = _send(request, form, config, data)
        except PreviewError as exc:
            form.add_error("recipients" if "recipients" in exc.errors else None, str(exc))
    return render(
        request,
        "channels/test_message.html",
        {
            "config": config,
            "form": form,
            "example": "{{ profile.firstName }}",
            "preview": preview,
            "queued": queued,
            "recent": services.recent_test_messages(config),
            "segments": sms_segments(preview.text) if preview and config.channel == "sms" else None,
        },
    )


def _send(request, form, config, data):
    try:
        message = services.test_message_queue(
            config=config,
            content=data["content"],
            category=data["category"],
            recipients=data["recipient_list"],
            actor=request.user,
            profile=data["profile"],
            context=data["context_data"],
        )
    except (services.ConfigurationInactive, QuotaExceeded) as exc:
        form.add_error(None, exc.message)
        return None
    count = len(data["recipient_list"])
    messages.success(
        request,
        ngettext(
            "Test message queued for %(n)d recipient: its status is shown under Test messages.",
            "Test message queued for %(n)d recipients: their status is shown under Test messages.",
            count,
        )
        % {"n": count},
    )
    return message


def _test_message(config: ChannelConfiguration, message_id: int) -> TestMessage:
    return get_object_or_404(
        TestMessage.objects.select_related("requested_by").prefetch_related("recipients"),
        pk=message_id,
        configuration=config,
    )


@login_required
@require_GET
def test_message_status(request: HttpRequest, pk: int, message_id: int) -> HttpResponse:
    """One test message's status, as the Test page shows it (its script polls this)."""
    config = _configuration(request, pk, "channel.edit")
    return render(
        request,
        "channels/_test_message.html",
        {"config": config, "message": _test_message(config, message_id)},
    )


@login_required
@require_POST
def test_message_retry(request: HttpRequest, pk: int, message_id: int) -> HttpResponse:
    """Send a failed test message again to the recipients it did not reach."""
    config = _configuration(request, pk, "channel.edit")
    message = _test_message(config, message_id)
    try:
        services.test_message_retry(test_message=message, actor=request.user)
    except (
        services.ConfigurationInactive,
        services.TestMessageNotRetryable,
        QuotaExceeded,
    ) as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Test message queued again."))
    return redirect(f"{reverse('channels:test', args=[config.pk])}#test-messages")


@login_required
@require_GET
@xframe_options_sameorigin
def preview_frame(request: HttpRequest, token: str) -> HttpResponse:
    """The HTML of a preview, inside its sandboxed iframe (channels/frames.py)."""
    from channels.frames import frame_response

    return frame_response(request, token)
