"""The engine's view of the channels app: compile content, get a transport.

The channels app owns rendering and transports
(``channels.rendering.compile_content``, ``channels.transports.get_transport``).
Until that module is present (it is built in parallel) a minimal built-in
email path stands in, with the same shapes, so the engine can be exercised
end to end against an SMTP sink.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)


@dataclass
class OutboundMessage:
    delivery_id: int
    to: str
    rendered: Any
    category: str


@dataclass
class SendResult:
    delivery_id: int
    ok: bool
    permanent: bool = False
    reason: str = ""
    provider_message_id: str = ""


class TransportError(Exception):
    def __init__(self, permanent: bool, reason: str):
        super().__init__(reason)
        self.permanent = permanent
        self.reason = reason


def _channels_api():
    try:
        from channels.rendering import compile_content
        from channels.transports import OutboundMessage as Outbound
        from channels.transports import TransportError as ChannelsTransportError
        from channels.transports import get_transport
    except ImportError:
        return None
    return compile_content, get_transport, Outbound, ChannelsTransportError


def compile_for_version(version, channel: str, category: str):
    api = _channels_api()
    if api is not None:
        return api[0](
            channel,
            version.content or {},
            category=category,
            track_opens=version.track_opens,
            track_clicks=version.track_clicks,
        )
    return _FallbackCompiled(channel, version.content or {})


def transport_for(config):
    api = _channels_api()
    if api is not None:
        return api[1](config)
    return _FallbackTransport(config)


def outbound(delivery_id: int, to: str, rendered, category: str):
    api = _channels_api()
    cls = api[2] if api is not None else OutboundMessage
    return cls(delivery_id=delivery_id, to=to, rendered=rendered, category=category)


def transport_error_types() -> tuple[type[Exception], ...]:
    api = _channels_api()
    return (TransportError, api[3]) if api is not None else (TransportError,)


# --- stand-in until channels.rendering / channels.transports exist ------------


@dataclass
class _Rendered:
    subject: str = ""
    html: str = ""
    text: str = ""
    headers: dict = field(default_factory=dict)


class _FallbackCompiled:
    def __init__(self, channel: str, content: dict):
        from jinja2.sandbox import SandboxedEnvironment

        env = SandboxedEnvironment(autoescape=False)
        html_env = SandboxedEnvironment(autoescape=True)
        self.channel = channel
        self.subject = env.from_string(content.get("subject") or content.get("title") or "")
        self.html = html_env.from_string(content.get("html") or "")
        self.text = env.from_string(content.get("text") or content.get("body") or "")

    def render(self, *, profile, context=None, delivery_id=None) -> _Rendered:
        values = {
            "profile": {**(profile.attributes or {}), "email": profile.email},
            "context": context or {},
        }
        return _Rendered(
            subject=self.subject.render(values),
            html=self.html.render(values),
            text=self.text.render(values),
            headers={"Message-ID": f"<delivery-{delivery_id}@volley>"},
        )


class _FallbackTransport:
    def __init__(self, config):
        self.config = config

    def _email(self, message: OutboundMessage, connection):
        from django.core.mail import EmailMultiAlternatives

        rendered = message.rendered
        sender = self.config.from_address or "volley@localhost"
        if self.config.from_name:
            sender = f"{self.config.from_name} <{sender}>"
        email = EmailMultiAlternatives(
            rendered.subject,
            rendered.text or " ",
            sender,
            [message.to],
            headers=rendered.headers,
            connection=connection,
        )
        if rendered.html:
            email.attach_alternative(rendered.html, "text/html")
        return email

    def send_batch(self, messages: list) -> list[SendResult]:
        if self.config.channel != "email":
            for message in messages:
                logger.info("%s to %s: %s", self.config.channel, message.to, message.rendered.text)
            return [SendResult(m.delivery_id, True) for m in messages]
        from django.core.mail import get_connection

        connection = get_connection(fail_silently=False)
        try:
            connection.open()
        except (OSError, smtplib.SMTPException) as exc:
            raise TransportError(False, f"connection failed: {exc}") from exc
        results = []
        try:
            for message in messages:
                results.append(self._send_one(message, connection))
        finally:
            try:
                connection.close()
            except Exception:  # closing a broken connection must not lose results
                logger.warning("SMTP close failed", exc_info=True)
        return results

    def _send_one(self, message, connection) -> SendResult:
        try:
            connection.send_messages([self._email(message, connection)])
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            return SendResult(message.delivery_id, False, code >= 500, f"{code} {text!r}")
        except smtplib.SMTPResponseException as exc:
            return SendResult(
                message.delivery_id,
                False,
                exc.smtp_code >= 500,
                f"{exc.smtp_code} {exc.smtp_error!r}",
            )
        except (OSError, smtplib.SMTPException) as exc:
            return SendResult(message.delivery_id, False, False, str(exc)[:200])
        return SendResult(message.delivery_id, True, provider_message_id=str(message.delivery_id))
