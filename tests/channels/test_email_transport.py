"""Email through Django's real SMTP backend to an aiosmtpd sink started by the test."""

from __future__ import annotations

import html
import re

from channels import tracking
from channels.rendering import compile_content
from channels.transports import (
    EmailTransport,
    OutboundMessage,
    get_transport,
    message_id,
    parse_message_id,
)

CONTENT = {
    "subject": "Hello {{ profile.firstName }}",
    "preheader": "Our news",
    "html": "<html><body><p>Hi {{ profile.firstName }}</p>"
    '<a href="https://shop.example/sale">Sale</a>'
    '<a href="{{ unsubscribe_url }}">Unsubscribe</a></body></html>',
    "text": "Hi {{ profile.firstName }}, unsubscribe: {{ unsubscribe_url }}",
}


def outbound(
    profile, delivery_id, *, content=CONTENT, category="marketing", to=None, **tracking_on
):
    compiled = compile_content("email", content, category=category, **tracking_on)
    return OutboundMessage(
        delivery_id=delivery_id,
        to=to or profile.email,
        rendered=compiled.render(profile=profile, delivery_id=delivery_id),
        category=category,
    )


def parts(message):
    plain = message.get_body(("plain",)).get_content()
    rich = message.get_body(("html",)).get_content()
    return plain, rich


def test_marketing_email_arrives_with_headers_parts_and_one_click(smtp_sink, make_config, profile):
    config = make_config("email", "marketing", bcc="archive@volley.example")
    results = get_transport(config).send_batch([outbound(profile, 101)])

    assert results[0].ok and results[0].delivery_id == 101
    [received] = smtp_sink.messages
    [envelope] = smtp_sink.envelopes
    assert received["From"] == "Volley News <news@volley.example>"
    assert received["To"] == "ann@example.com"
    assert received["Reply-To"] == "help@volley.example"
    assert received["Bcc"] is None  # BCC travels in the envelope only
    assert sorted(envelope.rcpt_tos) == ["ann@example.com", "archive@volley.example"]
    assert received["Subject"] == "Hello Ann"
    assert received["Message-ID"] == message_id("delivery-101", "news@volley.example")
    assert received["Message-ID"].endswith("@volley.example>")
    assert parse_message_id(received["Message-ID"]) == "delivery-101"
    unsubscribe = tracking.unsubscribe_url(101)
    assert received["List-Unsubscribe"].strip() == f"<{unsubscribe}>"
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    plain, rich = parts(received)
    assert plain.startswith("Hi Ann, unsubscribe: http://testserver/t/u/")
    assert "<p>Hi Ann</p>" in rich and "Our news" in rich
    assert tracking.read_token("unsubscribe", unsubscribe.rsplit("/", 1)[1]).delivery_id == 101


def test_transactional_email_has_no_unsubscribe_headers(smtp_sink, make_config, profile):
    config = make_config("email", "transactional")
    get_transport(config).send_batch([outbound(profile, 5, category="transactional")])
    [received] = smtp_sink.messages
    assert received["List-Unsubscribe"] is None
    assert received["List-Unsubscribe-Post"] is None


def test_hostile_profile_attributes_are_escaped_in_the_html_part(smtp_sink, make_config, profile):
    profile.attributes = {"firstName": '<img src=x onerror="alert(1)">'}
    get_transport(make_config()).send_batch([outbound(profile, 7)])
    plain, rich = parts(smtp_sink.messages[0])
    assert "<img src=x" not in rich
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in rich
    assert '<img src=x onerror="alert(1)">' in plain  # plain text is not HTML


def test_tracking_rewrites_links_and_adds_a_pixel_in_the_sent_mail(smtp_sink, make_config, profile):
    message = outbound(profile, 9, track_opens=True, track_clicks=True)
    get_transport(make_config()).send_batch([message])
    _plain, rich = parts(smtp_sink.messages[0])
    hrefs = [html.unescape(h) for h in re.findall(r'href="([^"]+)"', rich)]
    click = tracking.read_token("click", hrefs[0].rsplit("/", 1)[1])
    assert (click.delivery_id, click.url) == (9, "https://shop.example/sale")
    assert hrefs[1] == tracking.unsubscribe_url(9)
    assert re.search(r'<img src="http://testserver/t/o/[^"]+\.gif"', rich)


def test_tracking_off_sends_the_html_untouched(smtp_sink, make_config, profile):
    get_transport(make_config()).send_batch([outbound(profile, 10)])
    _plain, rich = parts(smtp_sink.messages[0])
    assert 'href="https://shop.example/sale"' in rich
    assert "/t/o/" not in rich and "/t/c/" not in rich


def test_one_connection_for_a_batch(smtp_sink, make_config, profile, monkeypatch):
    import smtplib

    opened = []
    original = smtplib.SMTP.connect

    def counting_connect(self, *args, **kwargs):
        opened.append(args)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(smtplib.SMTP, "connect", counting_connect)
    batch = [outbound(profile, i, to=f"p{i}@example.com") for i in range(1, 6)]
    results = get_transport(make_config()).send_batch(batch)
    assert [r.ok for r in results] == [True] * 5
    assert len(smtp_sink.messages) == 5
    assert len(opened) == 1


def test_refused_recipients_are_classified_and_do_not_fail_the_batch(
    smtp_sink, make_config, profile
):
    batch = [
        outbound(profile, 1, to="nobody@example.com"),
        outbound(profile, 2, to="busy@example.com"),
        outbound(profile, 3),
    ]
    results = get_transport(make_config()).send_batch(batch)
    assert [r.delivery_id for r in results] == [1, 2, 3]
    nobody, busy, ann = results
    assert not nobody.ok and nobody.permanent and "User unknown" in nobody.reason
    assert nobody.reason.startswith("550")
    assert not busy.ok and not busy.permanent and busy.reason.startswith("451")
    assert ann.ok
    assert [m["To"] for m in smtp_sink.messages] == ["ann@example.com"]


def test_unreachable_server_is_transient_for_every_message(settings, make_config, profile):
    from tests.channels.conftest import _free_port

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", _free_port()
    settings.EMAIL_TIMEOUT = 2
    results = EmailTransport(make_config()).send_batch([outbound(profile, 1), outbound(profile, 2)])
    assert [(r.ok, r.permanent) for r in results] == [(False, False), (False, False)]
    assert results[0].reason


def test_invalid_address_is_a_permanent_failure_of_that_message_only(
    smtp_sink, make_config, profile
):
    results = get_transport(make_config()).send_batch(
        [outbound(profile, 1, to="not an address\n"), outbound(profile, 2)]
    )
    assert not results[0].ok and results[0].permanent
    assert results[1].ok


def test_message_ids_we_did_not_make_are_not_ours():
    assert parse_message_id("<delivery-5.0000000000000000@example.com>") is None
    assert parse_message_id("garbage") is None
