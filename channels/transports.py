"""How a message leaves Volley: one transport class per channel and provider.

Every transport sends a batch and answers one ``SendResult`` per message, in
order; one bad message never fails the batch. Errors are classified as
*permanent* (retrying cannot help: refused recipient, 4xx from the provider) or
*transient* (connection trouble, timeouts, 5xx) so the engine knows whether to
retry with back-off or fail the delivery with the provider's reason.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import smtplib
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import formataddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend

from audiences.models import Channel
from channels import netguard
from channels.mime import MimeAssembler, Unsupported
from channels.models import ChannelConfiguration
from channels.rendering import RenderedMessage
from channels.smtp import Pipeline, offers_pipelining

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

    def send_batch(self, messages: Iterable[OutboundMessage]) -> list[SendResult]:
        """Send ``messages`` in order, one result per message taken.

        ``messages`` may be any iterable: take each message only when about to
        send it (the engine checks its send permit as each one is taken and
        ends the iteration when it may send no more), and take none again.
        """
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


def smtp_sessions() -> int:
    """How many SMTP sessions one batch keeps open at once (``EMAIL_SMTP_SESSIONS``)."""
    return max(1, int(getattr(settings, "EMAIL_SMTP_SESSIONS", 3)))


class _Sessions:
    """A batch's SMTP sessions, each carrying a ``channels.smtp.Pipeline``.

    With PIPELINING a message costs one round trip on its session: its
    envelope goes out, and its answers are read when that session sends the
    next message. Over one session the sender then waits for the server after
    every message; over several, message *i* goes out on session *i mod n*, so
    the answers to a session's message are read *n* messages later, while the
    server was answering the others: the sender waits less, and a server (or
    a busy host) answers several sessions in one turn. MTAs do the same:
    Postfix keeps up to 20 sessions open to one destination.

    The batch's own connection is the first session; another is opened every
    ``EVERY`` messages, up to ``smtp_sessions()``, and only when the first
    offers PIPELINING (without it each message waits for its own answers,
    whatever the session). A session that cannot be opened (a server limiting
    connections) leaves the batch on those it has: no message fails for it.
    Extra sessions are Django backends of their own, so TLS, SSL, credentials
    and timeouts from ``EMAIL_URL`` apply to each.
    """

    EVERY = 8

    def __init__(self, connection) -> None:
        self._connections = [connection]
        self._pipelines = [Pipeline(self._opener(connection))]
        self._limit = smtp_sessions()

    @staticmethod
    def _opener(connection):
        def session():
            smtp = connection.connection
            if smtp is None or getattr(smtp, "sock", True) is None:
                # A reconnect failed, or the server closed the session (421)
                # earlier in the batch: open a new one.
                connection.connection = None
                connection.open()
                smtp = connection.connection
            return smtp

        return session

    def first(self):
        """The first session, reopened if it was closed."""
        return self._opener(self._connections[0])()

    def pipeline(self, index: int) -> Pipeline:
        """The pipeline that sends the batch's message number ``index``."""
        wanted = min(self._limit, 1 + index // self.EVERY)
        if len(self._pipelines) < wanted:
            self._open_another()
        return self._pipelines[index % len(self._pipelines)]

    def _open_another(self) -> None:
        connection = None
        try:
            if offers_pipelining(self.first()):
                connection = get_connection(fail_silently=False)
                connection.open()
                # Greeted and pipelining before it carries a message, so a
                # server refusing more sessions fails none of them.
                if offers_pipelining(connection.connection):
                    self._connections.append(connection)
                    self._pipelines.append(Pipeline(self._opener(connection)))
                    return
        except Exception:  # noqa: BLE001 — the batch goes on with the sessions it has
            logger.info("Another SMTP session could not be opened", exc_info=True)
        if connection is not None:
            try:
                connection.close()
            except Exception:  # noqa: BLE001
                pass
        self._limit = len(self._pipelines)

    def flush(self) -> list:
        """Every session's outstanding outcomes (each session left clean)."""
        done = [outcome for pipeline in self._pipelines for outcome in pipeline.flush_send()]
        return done + [outcome for pipeline in self._pipelines for outcome in pipeline.flush_read()]

    def close(self) -> None:
        """Close the sessions this batch opened (the caller closes its own)."""
        for connection in self._connections[1:]:
            try:
                connection.close()
            except Exception:  # noqa: BLE001
                logger.warning("SMTP connection did not close cleanly", exc_info=True)


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
        if rendered.locale:  # a translation (SPEC §11)
            headers["Content-Language"] = rendered.locale
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
            content_language=rendered.locale,
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
            if assembler is None:
                for message in messages:
                    results.append(self._send_one(connection, message))
            else:
                results = self._send_pipelined(connection, assembler, messages)
        finally:
            try:
                connection.close()
            except Exception:  # noqa: BLE001
                logger.warning("SMTP connection did not close cleanly", exc_info=True)
        return results

    def _send_pipelined(
        self, connection, assembler: MimeAssembler, messages: Iterable[OutboundMessage]
    ) -> list[SendResult]:
        """Our own bytes over ``channels.smtp.Pipeline`` (one round trip a
        message where the server pipelines); a message ``channels.mime`` does
        not take goes through Django after the pipeline is flushed."""

        sessions = _Sessions(connection)
        taken: list[OutboundMessage] = []
        results: dict[int, SendResult] = {}

        def record(outcomes) -> None:
            for index, outcome in outcomes:
                results[index] = self._result(taken[index], outcome)

        # The extra sessions are closed whatever happens (the caller closes its own).
        try:
            for message in messages:
                index = len(taken)
                taken.append(message)
                try:
                    data = self.raw(assembler, message)
                except Unsupported:
                    record(sessions.flush())
                    try:
                        sessions.first()  # reopened if the server closed it meanwhile
                    except Exception:  # noqa: BLE001 — Django's attempt reports it
                        logger.warning("SMTP reconnect failed", exc_info=True)
                    results[index] = self._send_one(connection, message)
                    continue
                except (ValueError, TypeError) as exc:  # bad header or address
                    results[index] = SendResult(
                        message.delivery_id, ok=False, permanent=True, reason=str(exc)
                    )
                    continue
                sender, recipients = assembler.envelope(message.to)
                try:
                    record(sessions.pipeline(index).submit(index, sender, recipients, data))
                except (ValueError, TypeError) as exc:  # an address smtplib cannot send
                    results[index] = SendResult(
                        message.delivery_id, ok=False, permanent=True, reason=str(exc)
                    )
            record(sessions.flush())
        finally:
            sessions.close()
        return [results[index] for index in range(len(taken))]

    def _result(self, message: OutboundMessage, outcome) -> SendResult:
        """A pipeline's outcome for ``message`` as ``_send_one`` would report it."""
        if isinstance(outcome, dict):
            if message.to not in outcome:
                return SendResult(
                    message.delivery_id,
                    ok=True,
                    provider_message_id=message_id(
                        message.idempotency_key, self.config.from_address
                    ),
                )
            # Only the BCC copy was accepted: the recipient did not get the message.
            outcome = smtplib.SMTPRecipientsRefused({message.to: outcome[message.to]})
        if isinstance(outcome, smtplib.SMTPServerDisconnected) or not isinstance(
            outcome, smtplib.SMTPException
        ):
            return SendResult(message.delivery_id, ok=False, reason=_smtp_failure(outcome)[1])
        permanent, reason = _smtp_failure(outcome)
        return SendResult(message.delivery_id, ok=False, permanent=permanent, reason=reason)

    def _send_one(self, connection, message: OutboundMessage) -> SendResult:
        """Through Django's ``EmailMultiAlternatives`` on the batch's connection."""
        try:
            connection.send_messages([self.build(message)])
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
            provider_message_id=message_id(message.idempotency_key, self.config.from_address),
        )

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
# For URLs typed into a configuration: connects only to public addresses
# (channels/netguard.py, checked at connect time against DNS rebinding).
_GUARDED_OPENER = urllib.request.build_opener(
    _NoRedirect, netguard.HTTPHandler, netguard.HTTPSHandler
)


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
        answer = _post(
            self.url,
            body,
            {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign_body(body),
                IDEMPOTENCY_HEADER: message.idempotency_key,
            },
        )
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


# --- email service providers (django-anymail) -------------------------------------

ESP_BACKENDS = {
    "amazon_ses": "anymail.backends.amazon_ses.EmailBackend",
    "sendgrid": "anymail.backends.sendgrid.EmailBackend",
    "mailgun": "anymail.backends.mailgun.EmailBackend",
    "postmark": "anymail.backends.postmark.EmailBackend",
    "brevo": "anymail.backends.brevo.EmailBackend",
    "sparkpost": "anymail.backends.sparkpost.EmailBackend",
    "mailjet": "anymail.backends.mailjet.EmailBackend",
}
# Where a webhook event finds its delivery again: anymail sends the metadata
# with the message and every ESP hands it back in its tracking events.
METADATA_KEY = "volley_key"


def _esp_kwargs(provider: str, creds: dict[str, str], api_url: str) -> dict:
    """Keyword arguments of anymail's backend for one configuration's credentials."""
    if provider == "amazon_ses":
        client_params = {"endpoint_url": api_url} if api_url else {}
        return {
            "session_params": {
                "aws_access_key_id": creds["access_key_id"],
                "aws_secret_access_key": creds["secret_access_key"],
                "region_name": creds["region"],
            },
            "client_params": client_params,
        }
    kwargs: dict = {
        "postmark": {"server_token": creds.get("server_token")},
        "mailgun": {"api_key": creds.get("api_key"), "sender_domain": creds.get("sender_domain")},
        "mailjet": {"api_key": creds.get("api_key"), "secret_key": creds.get("secret_key")},
    }.get(provider, {"api_key": creds.get("api_key")})
    if api_url:
        kwargs["api_url"] = api_url.rstrip("/") + "/"
    return kwargs


def _anymail_failure(exc: Exception) -> tuple[bool, str]:
    """(permanent, reason) for an error raised while an ESP took a message."""
    from anymail.exceptions import (
        AnymailAPIError,
        AnymailConfigurationError,
        AnymailInvalidAddress,
        AnymailRecipientsRefused,
        AnymailSerializationError,
        AnymailUnsupportedFeature,
    )

    reason = " ".join(str(exc).split())[:500] or type(exc).__name__
    if isinstance(
        exc,
        AnymailRecipientsRefused
        | AnymailInvalidAddress
        | AnymailUnsupportedFeature
        | AnymailSerializationError
        | AnymailConfigurationError,
    ):
        return True, reason
    if isinstance(exc, AnymailAPIError):
        code = getattr(exc, "status_code", None)
        if code is None:  # no answer at all: connection refused, timeout
            return False, reason
        # 408 and 429 ask us to come back later; any other 4xx will not change.
        return (400 <= code < 500 and code not in (408, 429)), reason
    return False, reason


class AnymailTransport(EmailTransport):
    """Email through an ESP's HTTP API (anymail's backend), one connection per batch.

    The message keeps Volley's Message-ID, and carries the delivery's key in
    anymail metadata so each ESP tracking event maps back to its delivery.
    ESP open and click tracking stay off: Volley tracks its own links.
    """

    def connection(self):
        from channels.credentials import CredentialsError

        try:
            creds = self.config.provider_credentials()
        except CredentialsError as exc:
            raise TransportError(str(exc), permanent=True) from exc
        kwargs = _esp_kwargs(self.config.provider, creds, self.config.provider_url)
        # Turning ESP tracking off is not a feature every ESP has (SES, Brevo):
        # there it is off unless configured at the ESP, which is what we want.
        kwargs["ignore_unsupported_features"] = True
        backend = get_connection(ESP_BACKENDS[self.config.provider], fail_silently=False, **kwargs)
        if self.config.provider_url:
            # Typed into the configuration: public addresses only. anymail's
            # requests session connects through the guard (checked at connect
            # time); boto3 (SES) is checked here, just before the batch.
            try:
                netguard.check(self.config.provider_url)
            except OSError as exc:
                if netguard.refused(exc):
                    raise TransportError(f"Provider URL refused: {exc}", permanent=True) from exc
            if hasattr(backend, "create_session"):
                create_session = backend.create_session

                def guarded_session():
                    session = create_session()
                    netguard.guard_session(session)
                    return session

                backend.create_session = guarded_session
        return backend

    def build(self, message: OutboundMessage):
        email = super().build(message)
        email.metadata = {METADATA_KEY: message.idempotency_key}
        email.tags = [message.category]
        email.track_opens = False
        email.track_clicks = False
        return email

    def send_batch(self, messages: list[OutboundMessage]) -> list[SendResult]:
        try:
            connection = self.connection()
            connection.open()
        except TransportError as exc:
            return [SendResult(m.delivery_id, False, exc.permanent, exc.reason) for m in messages]
        except Exception as exc:  # noqa: BLE001 — a bad configuration or a missing package
            permanent, reason = _anymail_failure(exc)
            if isinstance(exc, ImportError):
                permanent = True
            return [SendResult(m.delivery_id, False, permanent, reason) for m in messages]
        try:
            return [self._send_esp(connection, m) for m in messages]
        finally:
            try:
                connection.close()
            except Exception:  # noqa: BLE001
                logger.warning("ESP connection did not close cleanly", exc_info=True)

    def _send_esp(self, connection, message: OutboundMessage) -> SendResult:
        try:
            email = self.build(message)
            connection.send_messages([email])
        except Exception as exc:  # noqa: BLE001 — classified below, one message at a time
            permanent, reason = _anymail_failure(exc)
            permanent = permanent or netguard.refused(exc)
            return SendResult(message.delivery_id, ok=False, permanent=permanent, reason=reason)
        status = getattr(email, "anymail_status", None)
        recipient = status.recipients.get(message.to) if status else None
        if recipient is not None and recipient.status in ("rejected", "invalid", "failed"):
            return SendResult(
                message.delivery_id,
                ok=False,
                permanent=True,
                reason=f"The provider refused the recipient ({recipient.status}).",
            )
        provider_id = (recipient.message_id if recipient else None) or (
            status.message_id if status else None
        )
        return SendResult(
            message.delivery_id,
            ok=True,
            provider_message_id=str(provider_id or message_id(message.idempotency_key, "")),
        )


# --- SMS and push through the providers' own APIs ------------------------------------


def _post(url: str, body: bytes, headers: dict[str, str], *, guard: bool = False) -> bytes:
    """POST ``body`` to ``url`` as Volley; the answer (see ``_http``). ``guard``:
    the URL comes from a configuration, connect only to public addresses."""
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"User-Agent": "Volley", **headers}
    )
    return _http(request, guard=guard)


def _http(request: urllib.request.Request, *, guard: bool = False) -> bytes:
    """Send ``request``; raise TransportError classified transient or permanent."""
    opener = _GUARDED_OPENER if guard else _OPENER
    try:
        with opener.open(request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as response:
            return response.read(65536)
    except urllib.error.HTTPError as exc:
        detail = " ".join(exc.read(500).decode(errors="replace").split())
        reason = f"HTTP {exc.code}" + (f": {detail}" if detail else "")
        permanent = exc.code < 500 and exc.code not in (408, 429)
        raise TransportError(reason, permanent=permanent) from exc
    except TimeoutError as exc:
        raise TransportError("Timed out waiting for the provider.") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        if netguard.refused(exc):
            raise TransportError(f"Provider URL refused: {exc}", permanent=True) from exc
        raise TransportError(f"Provider unreachable: {exc}") from exc


class _ApiTransport(Transport):
    """One HTTP call per message; TransportError becomes a failed SendResult."""

    def credentials(self) -> dict[str, str]:
        from channels.credentials import CredentialsError

        try:
            return self.config.provider_credentials()
        except CredentialsError as exc:
            raise TransportError(str(exc), permanent=True) from exc

    def send_batch(self, messages: list[OutboundMessage]) -> list[SendResult]:
        results = []
        for message in messages:
            try:
                provider_id = self.send_one(message)
            except TransportError as exc:
                results.append(SendResult(message.delivery_id, False, exc.permanent, exc.reason))
            else:
                results.append(
                    SendResult(message.delivery_id, True, provider_message_id=provider_id)
                )
        return results

    def send_one(self, message: OutboundMessage) -> str:
        raise NotImplementedError


class TwilioTransport(_ApiTransport):
    """Twilio's Messages API (or any API speaking it): a form POST with basic auth."""

    def send_one(self, message: OutboundMessage) -> str:
        creds = self.credentials()
        base = (self.config.provider_url or settings.TWILIO_API_URL).rstrip("/")
        sid = creds["account_sid"]
        url = f"{base}/Accounts/{urllib.parse.quote(sid)}/Messages.json"
        body = urllib.parse.urlencode(
            {"To": message.to, "From": self.config.sender_number, "Body": message.rendered.text}
        ).encode()
        auth = base64.b64encode(f"{sid}:{creds['auth_token']}".encode()).decode()
        raw = _post(
            url,
            body,
            {
                "Authorization": f"Basic {auth}",
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
                "I-Twilio-Idempotency-Token": message.idempotency_key,
            },
            guard=bool(self.config.provider_url),
        )
        try:
            answer = json.loads(raw or b"{}")
        except ValueError:
            answer = {}
        return str(answer.get("sid", ""))[:255] if isinstance(answer, dict) else ""


class FcmTransport(_ApiTransport):
    """Firebase Cloud Messaging HTTP v1: ``projects/<id>/messages:send`` with OAuth.

    The access token is either pre-issued (credential ``access_token``) or
    obtained from a service account (credential ``service_account``, the JSON
    key file) with the OAuth 2.0 JWT bearer grant, cached until it expires.
    """

    SCOPE = "https://www.googleapis.com/auth/firebase.messaging"

    def access_token(self, creds: dict[str, str], *, fresh: bool = False) -> str:
        if creds.get("access_token"):
            return creds["access_token"]
        from django.core.cache import cache

        cache_key = f"volley:fcm-token:{self.config.pk}:{_digest(creds['service_account'])}"
        token = None if fresh else cache.get(cache_key)
        if token:
            return token
        token, lifetime = self._fetch_token(creds["service_account"])
        cache.set(cache_key, token, max(60, lifetime - 300))
        return token

    def _fetch_token(self, service_account: str) -> tuple[str, int]:
        import time

        import jwt

        try:
            account = json.loads(service_account)
            now = int(time.time())
            assertion = jwt.encode(
                {
                    "iss": account["client_email"],
                    "scope": self.SCOPE,
                    "aud": settings.FCM_TOKEN_URL,
                    "iat": now,
                    "exp": now + 3600,
                },
                account["private_key"],
                algorithm="RS256",
                headers={"kid": account.get("private_key_id", "")},
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise TransportError(
                f"The FCM service account key is not usable: {exc}", permanent=True
            ) from exc
        body = urllib.parse.urlencode(
            {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
        ).encode()
        try:
            answer = json.loads(
                _post(
                    settings.FCM_TOKEN_URL,
                    body,
                    {"Content-Type": "application/x-www-form-urlencoded"},
                )
            )
            return answer["access_token"], int(answer.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError) as exc:
            raise TransportError(f"The OAuth token answer is not usable: {exc}") from exc

    def payload(self, message: OutboundMessage) -> dict:
        r = message.rendered
        data = {
            str(k): v if isinstance(v, str) else json.dumps(v) for k, v in (r.data or {}).items()
        }
        data["volley_key"] = message.idempotency_key
        if r.url:
            data.setdefault("url", r.url)
        body: dict = {
            "token": message.to,
            "notification": {"title": r.title, "body": r.body},
            "data": data,
        }
        if self.config.platform == "web" and r.url:
            body["webpush"] = {"fcm_options": {"link": r.url}}
        return {"message": body}

    def send_one(self, message: OutboundMessage) -> str:
        creds = self.credentials()
        base = (self.config.provider_url or settings.FCM_API_URL).rstrip("/")
        url = f"{base}/projects/{urllib.parse.quote(creds['project_id'])}/messages:send"
        body = json.dumps(self.payload(message), separators=(",", ":")).encode()
        for attempt in (1, 2):
            headers = {
                "Authorization": f"Bearer {self.access_token(creds, fresh=attempt == 2)}",
                "Content-Type": "application/json; charset=UTF-8",
            }
            try:
                raw = _post(url, body, headers, guard=bool(self.config.provider_url))
                answer = json.loads(raw or b"{}")
            except TransportError as exc:
                # An expired cached token: fetch a new one once.
                if (
                    exc.reason.startswith("HTTP 401")
                    and attempt == 1
                    and "service_account" in creds
                ):
                    continue
                raise
            except ValueError:
                answer = {}
            return str(answer.get("name", ""))[:255] if isinstance(answer, dict) else ""
        return ""  # pragma: no cover - the loop returns or raises


class ApnsTransport(Transport):
    """Apple Push Notification service over HTTP/2 (httpx) with a provider token.

    The token is an ES256 JWT (team id, key id, the .p8 key) reused for 50 minutes
    as Apple asks; ``apns-id`` is derived from the delivery so a retried message
    carries the same id.
    """

    TOKEN_SECONDS = 50 * 60
    PERMANENT_REASONS = {
        "BadDeviceToken",
        "Unregistered",
        "DeviceTokenNotForTopic",
        "BadTopic",
        "TopicDisallowed",
        "PayloadTooLarge",
        "BadCertificate",
        "InvalidProviderToken",
        "MissingTopic",
    }

    def provider_token(self, creds: dict[str, str], *, fresh: bool = False) -> str:
        import time

        import jwt
        from django.core.cache import cache

        # The key itself is part of the name: a configuration given a new key
        # (or a database whose ids start again) never reuses another key's token.
        identity = creds["key_id"] + creds["team_id"] + creds.get("private_key", "")
        cache_key = f"volley:apns-token:{self.config.pk}:{_digest(identity)}"
        token = None if fresh else cache.get(cache_key)
        if token:
            return token
        try:
            token = jwt.encode(
                {"iss": creds["team_id"], "iat": int(time.time())},
                creds["private_key"],
                algorithm="ES256",
                headers={"kid": creds["key_id"]},
            )
        except (ValueError, TypeError) as exc:
            raise TransportError(f"The APNs key is not usable: {exc}", permanent=True) from exc
        cache.set(cache_key, token, self.TOKEN_SECONDS)
        return token

    def payload(self, message: OutboundMessage) -> dict:
        r = message.rendered
        body: dict = {"aps": {"alert": {"title": r.title, "body": r.body}}}
        for key, value in (r.data or {}).items():
            if key != "aps":
                body[key] = value
        if r.url:
            body.setdefault("url", r.url)
        body["volley_key"] = message.idempotency_key
        return body

    def send_batch(self, messages: list[OutboundMessage]) -> list[SendResult]:
        import httpx

        from channels.credentials import CredentialsError

        try:
            creds = self.config.provider_credentials()
        except CredentialsError as exc:
            return [SendResult(m.delivery_id, False, True, str(exc)) for m in messages]
        base = (self.config.provider_url or settings.APNS_API_URL).rstrip("/")
        results = []
        client_kwargs: dict = {"http2": True}
        if self.config.provider_url:  # typed into the configuration: public addresses only
            client_kwargs = {"transport": netguard.httpx_transport(http2=True)}
        with httpx.Client(timeout=settings.WEBHOOK_TIMEOUT_SECONDS, **client_kwargs) as client:
            for message in messages:
                try:
                    provider_id = self._send_one(client, base, creds, message)
                except TransportError as exc:
                    results.append(
                        SendResult(message.delivery_id, False, exc.permanent, exc.reason)
                    )
                else:
                    results.append(
                        SendResult(message.delivery_id, True, provider_message_id=provider_id)
                    )
        return results

    def _send_one(self, client, base: str, creds: dict[str, str], message: OutboundMessage) -> str:
        import uuid

        import httpx

        apns_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"volley:{_digest(message.idempotency_key)}"))
        body = json.dumps(self.payload(message), separators=(",", ":")).encode()
        for attempt in (1, 2):
            headers = {
                "authorization": f"bearer {self.provider_token(creds, fresh=attempt == 2)}",
                "apns-topic": self.config.app_id,
                "apns-push-type": "alert",
                "apns-priority": "10",
                "apns-id": apns_id,
            }
            try:
                response = client.post(
                    f"{base}/3/device/{urllib.parse.quote(message.to)}",
                    content=body,
                    headers=headers,
                )
            except httpx.TimeoutException as exc:
                raise TransportError("Timed out waiting for APNs.") from exc
            except httpx.HTTPError as exc:
                if netguard.refused(exc):
                    raise TransportError(f"Provider URL refused: {exc}", permanent=True) from exc
                raise TransportError(f"APNs unreachable: {exc}") from exc
            if response.status_code == 200:
                return response.headers.get("apns-id", apns_id)
            try:
                reason = str(response.json().get("reason", ""))
            except ValueError:
                reason = ""
            if response.status_code == 403 and reason == "ExpiredProviderToken" and attempt == 1:
                continue
            text = f"APNs HTTP {response.status_code}" + (f": {reason}" if reason else "")
            permanent = response.status_code in (400, 403, 404, 410, 413) and (
                reason in self.PERMANENT_REASONS or response.status_code == 410
            )
            raise TransportError(text, permanent=permanent)
        raise TransportError("APNs refused two fresh provider tokens.")  # pragma: no cover


PROVIDERS: dict[str, dict[str, type[Transport]]] = {
    Channel.EMAIL: {"smtp": EmailTransport, **dict.fromkeys(ESP_BACKENDS, AnymailTransport)},
    Channel.SMS: {
        "webhook": WebhookTransport,
        "console": ConsoleTransport,
        "twilio": TwilioTransport,
    },
    Channel.PUSH: {
        "webhook": WebhookTransport,
        "console": ConsoleTransport,
        "fcm": FcmTransport,
        "apns": ApnsTransport,
    },
}


def get_transport(config: ChannelConfiguration) -> Transport:
    try:
        cls = PROVIDERS[config.channel][config.provider]
    except KeyError:
        raise TransportError(
            f"No provider {config.provider!r} for channel {config.channel!r}.", permanent=True
        ) from None
    return cls(config)
