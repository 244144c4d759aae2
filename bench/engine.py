"""Benchmarks of the execution engine (SPEC §10), each against a baseline run alongside.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/volley_bench REDIS_URL=redis://127.0.0.1:6379/9 \
        .venv/bin/python -m bench fanout --profiles 1000000
    ... python -m bench send --messages 100000 --processes 2

fan-out: the engine's materialization of a run (one INSERT … SELECT evaluating
the audience and eligibility, then the counters) versus a raw ``COPY`` of the
same delivery rows into the same table (rows prepared in Python beforehand;
only the COPY is timed). Ratio = engine speed / COPY speed.

send: the real path (claim, render with personalization, SMTP over one
connection per batch, record with compare-and-set) versus the bare path — the
same messages pre-built as ``EmailMultiAlternatives`` and sent with Django's
``send_messages`` over one connection per process. Same process count, same
aiosmtpd sink (in its own process). Ratio = real rate / bare rate. The real
path is the engine's ``send_run`` unchanged: its messages are rendered per
delivery and assembled by ``channels.mime`` inside the timed section; only the
bare path builds its messages before the clock starts. The 1-minute load
average is reported when each path starts and ends: on a shared machine a
ratio is only worth something when the two are close.
"""

from __future__ import annotations

import io
import multiprocessing as mp
import os
import time


def setup_django(email_port: int | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    if email_port:
        os.environ["EMAIL_URL"] = f"smtp://127.0.0.1:{email_port}"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    vacuum()


# Tables every benchmark writes and deletes again.
_CHURNED = (
    "campaigns_run",
    "campaigns_delivery",
    "campaigns_sendpermit",
    "channels_deliveryevent",
    "audiences_profile",
    "audiences_audiencemember",
)


def vacuum() -> None:
    """PostgreSQL: ``VACUUM ANALYZE`` the tables the benchmarks churn.

    Each benchmark deletes what it created; autovacuum then reclaims the dead
    rows on a production server. Where it is off (this development machine's
    PostgreSQL runs with ``autovacuum = off``), a run would inherit every
    earlier run's dead rows and index entries (a million in ``campaigns_run``
    after a day of runs) and measure them, not the code.
    """
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        present = {row[0] for row in cursor.fetchall()}
        for table in _CHURNED:
            if table in present:
                cursor.execute(f"VACUUM ANALYZE {table}")


def analyze() -> None:
    """PostgreSQL: ``ANALYZE`` the churned tables once they hold a benchmark's
    warm-up rows (after ``vacuum()`` they were analyzed empty, and a planner
    that believes a table empty plans as if it stayed so)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for table in _CHURNED:
            cursor.execute(f"ANALYZE {table}")


# --- fixtures ------------------------------------------------------------------


def ensure_profiles(n: int, prefix: str) -> None:
    """``n`` consenting profiles with emails ``<prefix><i>@bench.example.com`` (idempotent)."""
    from django.db import connection

    from audiences.models import Profile

    have = Profile.objects.filter(email__startswith=prefix).count()
    if have >= n:
        return
    table = Profile._meta.db_table
    sql = (
        f"INSERT INTO {table} (email, attributes, timezone, consent_email, consent_sms, consent_push,"
        " created_at, updated_at) VALUES (%s, %s, '', true, false, false, now(), now())"
        " ON CONFLICT DO NOTHING"
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (email, attributes, timezone, consent_email, consent_sms,"
                " consent_push, created_at, updated_at)"
                f" SELECT %s || g || '@bench.example.com', jsonb_build_object('firstName', 'P' || g),"
                " '', true, false, false, now(), now() FROM generate_series(%s, %s) g"
                " ON CONFLICT DO NOTHING",
                [prefix, have, n - 1],
            )
        return
    import json

    rows = [
        (f"{prefix}{i}@bench.example.com", json.dumps({"firstName": f"P{i}"}))
        for i in range(have, n)
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql.replace("now()", "CURRENT_TIMESTAMP"), rows)


def make_campaign(n: int, prefix: str, *, throttle: int | None = None):
    from django.db import connection

    from audiences.models import Audience, AudienceMember, Profile
    from campaigns.models import Campaign, CampaignVersion
    from channels.models import ChannelConfiguration

    ensure_profiles(n, prefix)
    audience = Audience.objects.create(name=f"bench {prefix}", kind="upload", size=n)
    ids = Profile.objects.filter(email__startswith=prefix).order_by("id").values("id")[:n]
    select, params = ids.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {AudienceMember._meta.db_table} (audience_id, profile_id)"
            f" SELECT %s, sub.id FROM ({select}) sub",
            [audience.pk, *params],
        )
    config = ChannelConfiguration.objects.create(
        name="bench", channel="email", purpose="transactional", from_address="bench@example.com"
    )
    campaign = Campaign.objects.create(name="bench", category="transactional", status="live")
    version = CampaignVersion.objects.create(
        campaign=campaign,
        channel_configuration=config,
        audience=audience,
        content={
            "subject": "Hello {{ profile.firstName }}",
            "html": "<p>Hi {{ profile.firstName }}, this is your weekly update.</p>",
            "text": "Hi {{ profile.firstName }}, this is your weekly update.",
        },
        throttle_per_second=throttle,
        track_opens=False,
        track_clicks=False,
    )
    campaign.live_version = version
    campaign.save(update_fields=["live_version"])
    return campaign, version


def new_run(campaign, version, kind="api_audience"):
    from campaigns.models import Run

    return Run.objects.create(campaign=campaign, version=version, kind=kind, status="materializing")


def cleanup(campaign) -> None:
    from django.db import connection

    from audiences.models import AudienceMember
    from campaigns.models import Delivery, Run

    # Plain DELETEs: the ORM's collector would load a million rows to cascade.
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {Delivery._meta.db_table} WHERE run_id IN"
            f" (SELECT id FROM {Run._meta.db_table} WHERE campaign_id = %s)",
            [campaign.pk],
        )
        cursor.execute(f"DELETE FROM {Run._meta.db_table} WHERE campaign_id = %s", [campaign.pk])
        cursor.execute(
            f"DELETE FROM {AudienceMember._meta.db_table} WHERE audience_id = %s",
            [campaign.live_version.audience_id],
        )
    version = campaign.live_version
    campaign.live_version = None
    campaign.save(update_fields=["live_version"])
    audience, config = version.audience, version.channel_configuration
    campaign.delete()
    audience.delete()
    config.delete()


# --- fan-out -------------------------------------------------------------------


def bench_fanout(profiles: int) -> dict:
    setup_django()
    from django.db import connection

    from campaigns.engine.materialize import materialize
    from campaigns.models import Delivery

    if connection.vendor != "postgresql":
        return {
            "benchmark": "fanout",
            "skipped": "compares with PostgreSQL's COPY: set DATABASE_URL=postgres://...",
        }
    campaign, version = make_campaign(profiles, "fan")
    try:
        rows = list(version.audience.members.values_list("profile_id", "profile__email"))
        baseline_run = new_run(campaign, version)
        buffer = io.StringIO()
        for pid, email in rows:
            buffer.write(f"{baseline_run.pk}\t{pid}\tpending\t\t\t{email}\t0\t\n")
        data = buffer.getvalue()
        table = Delivery._meta.db_table
        started = time.perf_counter()
        with connection.cursor() as cursor:
            with cursor.cursor.copy(
                f"COPY {table} (run_id, profile_id, status, reason, error, address, attempts,"
                " claimed_by) FROM STDIN"
            ) as copy:
                copy.write(data)
        copy_seconds = time.perf_counter() - started

        run = new_run(campaign, version)
        run = type(run).objects.select_related("campaign", "version__audience").get(pk=run.pk)
        started = time.perf_counter()
        materialize(run)
        engine_seconds = time.perf_counter() - started
        run.refresh_from_db()
        assert run.targeted == profiles, (run.targeted, profiles)
    finally:
        cleanup(campaign)
    return {
        "benchmark": "fanout",
        "profiles": profiles,
        "copy_rows_per_s": round(profiles / copy_seconds),
        "engine_rows_per_s": round(profiles / engine_seconds),
        "copy_seconds": round(copy_seconds, 2),
        "engine_seconds": round(engine_seconds, 2),
        "ratio": round(copy_seconds / engine_seconds, 3),
    }


# --- send ----------------------------------------------------------------------


def sink_pipelining() -> bool:
    """Does the benchmarks' aiosmtpd sink advertise PIPELINING (the default)?"""
    return os.environ.get("BENCH_SINK_PIPELINING", "1") != "0"


def _sink_process(port: int, counter, ready) -> None:
    import asyncio

    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
            # Postfix, Exim and the providers' relays advertise PIPELINING
            # (RFC 2920); aiosmtpd reads pipelined commands but does not say so.
            # BENCH_SINK_PIPELINING=0 measures against a server without it.
            session.host_name = hostname
            if sink_pipelining():
                responses.insert(-1, "250-PIPELINING")
            return responses

        async def handle_DATA(self, server, session, envelope):
            with counter.get_lock():
                counter.value += len(envelope.rcpt_tos)
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    asyncio.run(asyncio.sleep(10**9))


def _real_sender(run_id: int, email_port: int, start) -> None:
    setup_django(email_port)
    from django.db import connections

    from campaigns.engine.send import send_run

    start.wait()
    while send_run(run_id) == "budget":
        pass
    connections.close_all()


def _bare_sender(count: int, offset: int, email_port: int, start) -> None:
    setup_django(email_port)
    from django.core.mail import EmailMultiAlternatives, get_connection

    messages = []
    for i in range(offset, offset + count):
        email = EmailMultiAlternatives(
            f"Hello P{i}",
            f"Hi P{i}, this is your weekly update.",
            "bench@example.com",
            [f"bare{i}@bench.example.com"],
        )
        email.attach_alternative(f"<p>Hi P{i}, this is your weekly update.</p>", "text/html")
        messages.append(email)
    start.wait()
    connection = get_connection()
    connection.send_messages(messages)


def _timed(processes: list, start, counter, expected: int, loads: list) -> float:
    for p in processes:
        p.start()
    time.sleep(3)  # let every process import Django and prepare before the clock starts
    loads.append(round(os.getloadavg()[0], 2))
    started = time.perf_counter()
    start.set()
    for p in processes:
        p.join()
    elapsed = time.perf_counter() - started
    loads.append(round(os.getloadavg()[0], 2))
    if counter.value < expected:
        raise SystemExit(f"sink received {counter.value} of {expected} messages")
    return elapsed


def _never_binding_cap(messages: int):
    """An active business rule that applies to the bench campaign (email,
    transactional chosen) with a cap it never reaches: every delivery pays for
    the check and the counter (campaigns/engine/rules.py), none is held back."""
    from campaigns.models import BusinessRule

    return BusinessRule.objects.create(
        name="bench cap",
        channel="email",
        categories=["marketing", "transactional"],
        cap_max_messages=1000,
        cap_window_hours=24,
    )


def _drop_rule(rule) -> None:
    from django.db import connection

    from campaigns.models import RuleCounter

    with connection.cursor() as cursor:  # not the ORM's collector: one row per profile
        cursor.execute(f"DELETE FROM {RuleCounter._meta.db_table} WHERE rule_id = %s", [rule.pk])
    rule.delete()


def _bench_endpoint():
    """An active webhook endpoint subscribed to delivery.sent (issue 17): every
    sent delivery then costs its outbox row, written by the send path in its
    batches. Nobody delivers them during the benchmark (no cluster runs)."""
    from channels import credentials
    from webhooks.models import Endpoint

    return Endpoint.objects.create(
        url="https://webhooks.example.com/bench",
        events=["delivery.sent"],
        active=True,
        secret_encrypted=credentials.encrypt({"secret": "whsec_bench"}),
    )


def _drop_endpoint(endpoint) -> None:
    from django.db import connection

    from webhooks.models import Attempt, Message

    with connection.cursor() as cursor:  # not the ORM's collector: one row per message
        cursor.execute(
            f"DELETE FROM {Attempt._meta.db_table} WHERE message_id IN "
            f"(SELECT id FROM {Message._meta.db_table} WHERE endpoint_id = %s)",
            [endpoint.pk],
        )
        cursor.execute(
            f"DELETE FROM {Message._meta.db_table} WHERE endpoint_id = %s", [endpoint.pk]
        )
    endpoint.delete()


def _reset_run(run) -> None:
    """The run's deliveries pending again, to send the same messages a second time."""
    from campaigns.models import Delivery

    Delivery.objects.filter(run=run).update(
        status="pending", claimed_by="", lease_expires_at=None, sent_at=None, attempts=0
    )
    type(run).objects.filter(pk=run.pk).update(status="sending", sent=0, failed=0)


def bench_send(messages: int, processes: int, cap: bool = False, webhooks: bool = False) -> dict:
    os.environ["ENGINE_SEND_BUDGET_SECONDS"] = "3600"
    os.environ.setdefault("ENGINE_BATCH_SIZE", "500")
    from tests.campaigns.smtp_sink import free_port

    port = free_port()
    ctx = mp.get_context("spawn")
    counter, ready = ctx.Value("l", 0), ctx.Event()
    sink = ctx.Process(target=_sink_process, args=(port, counter, ready), daemon=True)
    sink.start()
    ready.wait(30)
    setup_django(port)
    from django.db import connections

    from campaigns.engine.materialize import materialize

    campaign, version = make_campaign(messages, "snd")
    rule = _never_binding_cap(messages) if cap else None
    endpoint = None
    try:
        run = new_run(campaign, version)
        run = type(run).objects.select_related("campaign", "version__audience").get(pk=run.pk)
        materialize(run)
        type(run).objects.filter(pk=run.pk).update(status="sending")
        connections.close_all()

        share = messages // processes
        start = ctx.Event()
        bare = [
            ctx.Process(target=_bare_sender, args=(share, i * share, port, start))
            for i in range(processes)
        ]
        bare_loads, real_loads = [], []
        bare_seconds = _timed(bare, start, counter, share * processes, bare_loads)

        def real_pass(loads: list) -> float:
            """Seconds for ``processes`` real senders to send the run's messages."""
            counter.value = 0
            begin = ctx.Event()
            senders = [
                ctx.Process(target=_real_sender, args=(run.pk, port, begin))
                for _ in range(processes)
            ]
            seconds = _timed(senders, begin, counter, messages, loads)
            run.refresh_from_db()
            assert run.sent == messages, (run.sent, messages)
            return seconds

        real_seconds = real_pass(real_loads)
        if webhooks:  # the same messages again, with an endpoint subscribed
            _reset_run(run)
            endpoint = _bench_endpoint()
            connections.close_all()
            hooked_loads: list = []
            hooked_seconds = real_pass(hooked_loads)
            outbox_rows = endpoint.messages.count()
            # Once more without it (endpoint switched off): the pass with it ran
            # second, on warmer caches; the ratio is against both passes without.
            endpoint.active = False
            endpoint.save()
            _reset_run(run)
            connections.close_all()
            again_loads: list = []
            again_seconds = real_pass(again_loads)
            assert endpoint.messages.count() == outbox_rows  # nothing written while off
    finally:
        if rule is not None:
            _drop_rule(rule)
        if endpoint is not None:
            _drop_endpoint(endpoint)
        cleanup(campaign)
        sink.terminate()
    result = {
        "benchmark": "send",
        "sink_pipelining": sink_pipelining(),
        "cap": cap,
        "messages": messages,
        "processes": processes,
        "bare_msgs_per_s": round(share * processes / bare_seconds),
        "real_msgs_per_s": round(messages / real_seconds),
        "ratio": round((messages / real_seconds) / (share * processes / bare_seconds), 3),
        "load_avg_1m_bare": bare_loads,
        "load_avg_1m_real": real_loads,
    }
    if webhooks:
        # issue 17: sending with an active endpoint subscribed to delivery.sent
        # must keep ≥ 0.9 of the rate without one (the outbox written per batch).
        result.update(
            webhooks=True,
            webhooks_msgs_per_s=round(messages / hooked_seconds),
            real_again_msgs_per_s=round(messages / again_seconds),
            # without (before and after) over with: real, hooked, real again
            webhooks_ratio=round((real_seconds + again_seconds) / 2 / hooked_seconds, 3),
            webhooks_outbox_rows=outbox_rows,
            load_avg_1m_webhooks=hooked_loads,
            load_avg_1m_real_again=again_loads,
        )
    return result


# --- trigger latency -----------------------------------------------------------


def _stamping_sink(port: int, stamps, ready) -> None:
    import asyncio

    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
            # Postfix, Exim and the providers' relays advertise PIPELINING
            # (RFC 2920); aiosmtpd reads pipelined commands but does not say so.
            # BENCH_SINK_PIPELINING=0 measures against a server without it.
            session.host_name = hostname
            if sink_pipelining():
                responses.insert(-1, "250-PIPELINING")
            return responses

        async def handle_DATA(self, server, session, envelope):
            for rcpt in envelope.rcpt_tos:
                stamps.put((rcpt, time.time()))
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    asyncio.run(asyncio.sleep(10**9))


def bench_trigger(count: int) -> dict:
    """POST /api/v1/executions/unitary one at a time while a real qcluster runs;
    the time from the request to the SMTP sink receiving the message."""
    import json

    from tests.campaigns.smtp_sink import free_port

    port = free_port()
    os.environ["Q_CLUSTER_NAME"] = f"volley-bench-{os.getpid()}"
    os.environ["API_RATE_LIMIT_PER_MINUTE"] = "1000000"
    ctx = mp.get_context("spawn")
    stamps, ready = ctx.Queue(), ctx.Event()
    sink = ctx.Process(target=_stamping_sink, args=(port, stamps, ready), daemon=True)
    sink.start()
    ready.wait(30)
    setup_django(port)
    from django.contrib.auth import get_user_model
    from django.test import Client

    from accounts.services import api_key_create
    from audiences.models import Profile
    from campaigns.models import Campaign

    campaign, version = make_campaign(1, "trg")
    Campaign.objects.filter(pk=campaign.pk).update(type="api_triggered")
    user, _ = get_user_model().objects.get_or_create(username="bench-trigger", is_superuser=True)
    _key, plain = api_key_create(user=user, name="bench")
    address = Profile.objects.filter(email__startswith="trg").values_list("email", flat=True)[0]
    from bench.procs import qcluster

    cluster = qcluster()
    client = Client(HTTP_AUTHORIZATION=f"Bearer {plain}", HTTP_HOST="127.0.0.1")
    latencies = []
    try:
        time.sleep(3)  # the cluster's workers start
        for i in range(count):
            body = {
                "requestId": f"bench-{os.getpid()}-{i}",
                "campaignId": campaign.pk,
                "recipients": [{"userId": address, "namespace": "email", "context": {"i": i}}],
            }
            started = time.time()
            response = client.post(
                "/api/v1/executions/unitary", json.dumps(body), content_type="application/json"
            )
            assert response.status_code == 202, response.status_code
            _rcpt, received = stamps.get(timeout=30)
            latencies.append(received - started)
    finally:
        cluster.terminate()
        cluster.wait(timeout=60)
        sink.terminate()
        cleanup(campaign)
    from django.conf import settings
    from django.db import connection

    latencies.sort()
    p95 = round(latencies[int(len(latencies) * 0.95) - 1] * 1000)
    bar = 300 if connection.vendor == "postgresql" else 600
    return {
        "benchmark": "trigger",
        "database": connection.vendor,
        "broker": "redis" if settings.REDIS_URL else "orm",
        "count": count,
        "p50_ms": round(latencies[len(latencies) // 2] * 1000),
        "p95_ms": p95,
        "max_ms": round(latencies[-1] * 1000),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "bar": f"p95 <= {bar} ms",
        "passes": p95 <= bar,
    }
