"""How a message leaves Volley: one transport class per channel and provider.

Every transport sends a batch and answers one ``SendResult`` per message, in
order; one bad message never fails the batch. Errors are classified as
*permanent* (retrying cannot help: refused recipient, 4xx from the provider) or
*transient* (connection trouble, timeouts, 5xx) so the engine knows whether to
retry with back-off or fail the delivery with the provider's reason.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.utils import formataddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend

from audiences.models import Channel
from channels.mime import MimeAssembler, Unsupported
from channels.models import ChannelConfiguration
from channels.rendering import RenderedMessage
from channels.smtp import send_raw

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Volley-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"


class TransportError(Exception):
    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass
class OutboundMessage:
    delivery_id: int
    to: str
    rendered: RenderedMessage
    category: str  # marketing | transactional
    # Proofs have no delivery: they pass their own key instead of "delivery-<id>".
    key: str = ""

    @property
    def idempotency_key(self) -> str:
        return self.key or f"delivery-{self.delivery_id}"


@dataclass
class SendResult:
    delivery_id: int
    ok: bool
    permanent: bool = False
    reason: str = ""
    provider_message_id: str = ""


def sign_body(body: bytes, secret: str | None = None) -> str:
    """``sha256=<hex>``: the HMAC-SHA256 of the raw body (webhooks both ways)."""
    key = (secret if secret is not None else settings.WEBHOOK_SIGNING_SECRET).encode()
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def signature_valid(body: bytes, given: str) -> bool:
    """Does ``given`` (a header, any characters) sign ``body``? Compared as
    bytes in constant time: a header of non-ASCII text is simply wrong."""
    secret = settings.WEBHOOK_SIGNING_SECRET
    if not secret or not given:
        return False  # no shared secret, nothing can be verified
    expected = sign_body(body, secret).encode()
    return hmac.compare_digest(given.strip().encode("utf-8", "surrogateescape"), expected)


def _digest(key: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), key.encode(), hashlib.sha256).hexdigest()[:16]


def message_id(key: str, from_address: str) -> str:
    """``<delivery-42.<hmac>@example.com>``: derived from the delivery, not guessable."""
    domain = from_address.rpartition("@")[2] or "volley.invalid"
    return f"<{key}.{_digest(key)}@{domain}>"


def parse_message_id(value: str) -> str | None:
    """The idempotency key inside a Message-ID we made, or None if it is not ours."""
    value = value.strip().strip("<>")
    local = value.partition("@")[0]
    key, _dot, digest = local.rpartition(".")
    if key and hmac.compare_digest(digest, _digest(key)):
        return key
    return None


class Transport:
    def __init__(self, config: ChannelConfiguration) -> None:
        self.config = config

    def send_batch(self, messages: list[OutboundMessage]) -> list[SendResult]:
        raise NotImplementedError


# --- email ---------------------------------------------------------------------


def _smtp_failure(exc: Exception) -> tuple[bool, str]:
    """(permanent, reason) for an SMTP exception."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(exc.recipients.values()), (0, b""))
        reason = f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"
        return 500 <= code < 600, reason.strip()
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error
        text = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
        return 500 <= exc.smtp_code < 600, f"{exc.smtp_code} {text}".strip()
    return False, f"{type(exc).__name__}: {exc}".strip()


class EmailTransport(Transport):
    """Through Django's email backend (EMAIL_URL): one connection for the batch.

    With the SMTP backend each message's bytes come from ``channels.mime``
    (the MIME skeleton built once per batch, only the personal parts filled in)
    and go out with ``sendmail`` on the backend's own connection, so TLS, SSL
    and authentication from EMAIL_URL apply unchanged. Any other backend
    (console, file, locmem in tests), and the rare message ``channels.mime``
    does not take (an unusual address), get Django's ``EmailMultiAlternatives``.
    """

    def build(self, message: OutboundMessage) -> EmailMultiAlternatives:
        cfg = self.config
        rendered = message.rendered
        headers = {"Message-ID": message_id(message.idempotency_key, cfg.from_address)}
        if rendered.unsubscribe_url:
            headers["List-Unsubscribe"] = f"<{rendered.unsubscribe_url}>"
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        email = EmailMultiAlternatives(
            subject=rendered.subject,
            body=rendered.text,
            from_email=formataddr((cfg.from_name, cfg.from_address)),
            to=[message.to],
            bcc=[cfg.bcc] if cfg.bcc else None,
            reply_to=[cfg.reply_to] if cfg.reply_to else None,
            headers=headers,
        )
        if rendered.html:
            email.attach_alternative(rendered.html, "text/html")
        return email

    def assembler(self) -> MimeAssembler | None:
        """The batch's MIME skeleton, or None when the configuration needs Django's path."""
        cfg = self.config
        if not cfg.from_address:
            return None  # Django falls back to DEFAULT_FROM_EMAIL
        try:
            return MimeAssembler(
                from_address=cfg.from_address,
                from_name=cfg.from_name,
                reply_to=cfg.reply_to,
                bcc=cfg.bcc,
                localtime=settings.EMAIL_USE_LOCALTIME,
            )
        except Unsupported:
            return None

    def raw(self, assembler: MimeAssembler, message: OutboundMessage) -> bytes:
        """The message's bytes; ``Unsupported`` when it needs Django's path."""
        rendered = message.rendered
        return assembler.build(
            to=message.to,
            subject=rendered.subject,
            message_id=message_id(message.idempotency_key, self.config.from_address),
            text=rendered.text,
            html=rendered.html,
            unsubscribe_url=rendered.unsubscribe_url,
        )

    def send_batch(self, messages: list[OutboundMessage]) -> list[SendResult]:
        results: list[SendResult] = []
        connection = get_connection(fail_silently=False)
        try:
            connection.open()
        except Exception as exc:  # noqa: BLE001 — any connection failure is transient
            reason = _smtp_failure(exc)[1]
            return [SendResult(m.delivery_id, ok=False, reason=reason) for m in messages]
        assembler = self.assembler() if isinstance(connection, SMTPBackend) else None
        try:
            for message in messages:
                results.append(self._send_one(connection, message, assembler))
        finally:
            try:
                connection.close()
            except Exception:  # noqa: BLE001
                logger.warning("SMTP connection did not close cleanly", exc_info=True)
        return results

    def _send_one(
        self, connection, message: OutboundMessage, assembler: MimeAssembler | None = None
    ) -> SendResult:
        key = message.idempotency_key
        try:
            data = None
            if assembler is not None:
                try:
                    data = self.raw(assembler, message)
                except Unsupported:
                    data = None
            if data is None:
                connection.send_messages([self.build(message)])
            else:
                self._sendmail(connection, assembler, message.to, data)
        except smtplib.SMTPServerDisconnected as exc:
            # The session is gone: reopen it for the rest of the batch.
            self._reopen(connection)
            return SendResult(message.delivery_id, ok=False, reason=_smtp_failure(exc)[1])
        except smtplib.SMTPException as exc:  # (a subclass of OSError: test it first)
            permanent, reason = _smtp_failure(exc)
            return SendResult(message.delivery_id, ok=False, permanent=permanent, reason=reason)
        except OSError as exc:
            self._reopen(connection)
            return SendResult(message.delivery_id, ok=False, reason=_smtp_failure(exc)[1])
        except (ValueError, TypeError) as exc:  # bad header or address: the message is wrong
            return SendResult(message.delivery_id, ok=False, permanent=True, reason=str(exc))
        return SendResult(
            message.delivery_id,
            ok=True,
            provider_message_id=message_id(key, self.config.from_address),
        )

    @staticmethod
    def _sendmail(connection, assembler: MimeAssembler, to: str, data: bytes) -> None:
        smtp = connection.connection
        if smtp is None or getattr(smtp, "sock", True) is None:
            # A reconnect failed, or the server closed the session (421) earlier
            # in the batch: open a new one for this message.
            connection.connection = None
            connection.open()
            smtp = connection.connection
        sender, recipients = assembler.envelope(to)
        refused = send_raw(smtp, sender, recipients, data)
        if to in refused:
            # Only the BCC copy was accepted: the recipient did not get the message.
            raise smtplib.SMTPRecipientsRefused({to: refused[to]})

    @staticmethod
    def _reopen(connection) -> None:
        try:
            connection.close()
        except Exception:  # noqa: BLE001
            pass
        try:
            connection.connection = None
            connection.open()
        except Exception:  # noqa: BLE001 — the next message reports it
            logger.warning("SMTP reconnect failed", exc_info=True)


# --- webhook provider (SMS, push) ------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A POST must never be silently turned into a GET somewhere else.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


class WebhookTransport(Transport):
    """A signed JSON POST per message to SMS_WEBHOOK_URL / PUSH_WEBHOOK_URL."""

    def __init__(self, config: ChannelConfiguration, url: str | None = None) -> None:
        super().__init__(config)
        if url is None:
            url = (
                settings.SMS_WEBHOOK_URL
                if config.channel == Channel.SMS
                else settings.PUSH_WEBHOOK_URL
            )
        self.url = url

    def payload(self, message: OutboundMessage) -> dict:
        cfg, r = self.config, message.rendered
        body = {
            "channel": cfg.channel,
            "category": message.category,
            "idempotencyKey": message.idempotency_key,
            "to": message.to,
        }
        if cfg.channel == Channel.SMS:
            body.update({"from": cfg.sender_number, "text": r.text})
        else:
            body.update(
                {
                    "platform": cfg.platform,
                    "appId": cfg.app_id,
                    "title": r.title,
                    "body": r.body,
                    "url": r.url,
                    "data": r.data or {},
                }
            )
        return body

    def send_batch(self, messages: list[OutboundMessage]) -> list[SendResult]:
        return [self._send_one(m) for m in messages]

    def _send_one(self, message: OutboundMessage) -> SendResult:
        if not self.url:
            return SendResult(
                message.delivery_id,
                ok=False,
                permanent=True,
                reason="The webhook provider URL is not configured.",
            )
        try:
            provider_id = self.post(message)
        except TransportError as exc:
            return SendResult(
                message.delivery_id, ok=False, permanent=exc.permanent, reason=exc.reason
            )
        return SendResult(message.delivery_id, ok=True, provider_message_id=provider_id)

    def post(self, message: OutboundMessage) -> str:
        body = json.dumps(self.payload(message), separators=(",", ":")).encode()
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "Volley",
                SIGNATURE_HEADER: sign_body(body),
                IDEMPOTENCY_HEADER: message.idempotency_key,
            },
        )
        try:
            with _OPENER.open(request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as response:
                answer = response.read(65536)
        except urllib.error.HTTPError as exc:
            detail = exc.read(500).decode(errors="replace").strip()
            reason = f"HTTP {exc.code}" + (f": {detail}" if detail else "")
            # 408 and 429 are the provider asking us to come back later.
            permanent = exc.code < 500 and exc.code not in (408, 429)
            raise TransportError(reason, permanent=permanent) from exc
        except TimeoutError as exc:
            raise TransportError("Timed out waiting for the provider.") from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise TransportError(f"Provider unreachable: {exc}") from exc
        return _provider_id(answer)


def _provider_id(answer: bytes) -> str:
    try:
        data = json.loads(answer or b"{}")
    except ValueError:
        return ""
    if isinstance(data, dict):
        return str(data.get("id") or data.get("messageId") or "")[:255]
    return ""


class ConsoleTransport(Transport):
    """Development provider: prints each message and accepts it."""

    stream = None  # tests may set a StringIO

    def send_batch(self, messages: list[OutboundMessage]) -> list[SendResult]:
        stream = self.stream or sys.stdout
        results = []
        for message in messages:
            payload = WebhookTransport(self.config, url="").payload(message)
            stream.write(json.dumps(payload, ensure_ascii=False) + "\n")
            results.append(
                SendResult(
                    message.delivery_id, ok=True, provider_message_id=message.idempotency_key
                )
            )
        stream.flush()
        return results


PROVIDERS: dict[str, dict[str, type[Transport]]] = {
    Channel.EMAIL: {"smtp": EmailTransport},
    Channel.SMS: {"webhook": WebhookTransport, "console": ConsoleTransport},
    Channel.PUSH: {"webhook": WebhookTransport, "console": ConsoleTransport},
}


def get_transport(config: ChannelConfiguration) -> Transport:
    try:
        cls = PROVIDERS[config.channel][config.provider]
    except KeyError:
        raise TransportError(
            f"No provider {config.provider!r} for channel {config.channel!r}.", permanent=True
        ) from None
    return cls(config)
