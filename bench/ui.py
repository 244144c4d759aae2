"""The campaign list page (SPEC §10): /campaigns/ with 10,000 campaigns in a
constant number of SQL queries (≤ 12) and p95 server time ≤ 100 ms.

    python -m bench ui --campaigns 10000 --ui-requests 200

Campaigns are bulk-created (every status, type and channel, a quarter tagged,
one in twenty restricted, one in five with a live version) in three steps —
10, 1,000 and the full count — and at each size the page is requested as a
Campaign Manager (not a superuser, so the guardian visibility query runs)
through Django's test client with ``bench.settings`` (DEBUG off): with the
default filter (draft, scheduled, live), with "Clear filters" (``?status=all``)
and on the last page of the cleared list (the deepest OFFSET). The query count
comes from ``CaptureQueriesContext``; server time is the wall time of the
in-process request (middleware, session, queries, template), p50/p95 over
``--ui-requests`` requests at the full size.
"""

from __future__ import annotations

import os
import time

PAGES = {
    "default filter": "/campaigns/",
    "clear filters": "/campaigns/?status=all",
    "clear filters, last page": "/campaigns/?status=all&page=last",
}
PREFIX = "bench-ui "


def _grow(target: int, user) -> None:
    """Bulk-create bench campaigns until there are ``target`` of them."""
    from django.utils import timezone

    from audiences.models import Audience
    from campaigns.models import Campaign, CampaignStatus, CampaignType, CampaignVersion, Tag
    from channels.models import ChannelConfiguration

    have = Campaign.objects.filter(name__startswith=PREFIX).count()
    if have >= target:
        return
    statuses = [s for s, _ in CampaignStatus.choices]
    types = [t for t, _ in CampaignType.choices]
    channels = [c for c, _ in Campaign._meta.get_field("channel").choices]
    tags = [Tag.objects.get_or_create(name=f"bench-ui-{i}")[0] for i in range(5)]
    config = ChannelConfiguration.objects.filter(name="bench-ui").first()
    if config is None:
        config = ChannelConfiguration.objects.create(
            name="bench-ui", channel="email", purpose="marketing", from_address="b@example.com"
        )
    audience = Audience.objects.get_or_create(name="bench-ui", kind="upload")[0]
    campaigns = Campaign.objects.bulk_create(
        Campaign(
            name=f"{PREFIX}{i:05d}",
            status=statuses[i % len(statuses)],
            type=types[i % len(types)],
            channel=channels[i % len(channels)],
            restricted=i % 20 == 0,
            created_by=user,
            activated_at=timezone.now() if i % 5 == 0 else None,
        )
        for i in range(have, target)
    )
    versions = CampaignVersion.objects.bulk_create(
        CampaignVersion(
            campaign=c, channel_configuration=config, audience=audience, start_at=timezone.now()
        )
        for c in campaigns[::5]
    )
    for campaign, version in zip(campaigns[::5], versions, strict=True):
        campaign.live_version = version
    Campaign.objects.bulk_update(campaigns[::5], ["live_version"], batch_size=1000)
    through = Campaign.tags.through
    through.objects.bulk_create(
        through(campaign_id=c.pk, tag_id=tags[i % len(tags)].pk)
        for i, c in enumerate(campaigns[::4])
    )


def _cleanup() -> None:
    from django.db import connection

    from audiences.models import Audience
    from campaigns.models import Campaign, CampaignVersion, Tag
    from channels.models import ChannelConfiguration

    ids = Campaign.objects.filter(name__startswith=PREFIX).values("pk")
    Campaign.objects.filter(pk__in=ids).update(live_version=None, draft_version=None)
    CampaignVersion.objects.filter(campaign__in=ids).delete()
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {Campaign.tags.through._meta.db_table} WHERE campaign_id IN"
            f" (SELECT id FROM {Campaign._meta.db_table} WHERE name LIKE %s)",
            [PREFIX + "%"],
        )
    Campaign.objects.filter(name__startswith=PREFIX).delete()
    Tag.objects.filter(name__startswith="bench-ui-").delete()
    ChannelConfiguration.objects.filter(name="bench-ui").delete()
    Audience.objects.filter(name="bench-ui").delete()


def _queries(client, path: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return len(captured.captured_queries)


def _timing(client, path: str, requests: int) -> dict:
    """Wall time (p50, p95) and this process's CPU time (p50) per request: on a
    shared machine the CPU time is what the page costs, the wall time what the
    load made of it."""
    times, cpu = [], []
    for _ in range(requests):
        started, cpu_started = time.perf_counter(), time.process_time()
        response = client.get(path)
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
        assert response.status_code == 200
    times.sort()
    cpu.sort()
    return {
        "p50_ms": round(times[len(times) // 2] * 1000, 1),
        "p95_ms": round(times[max(0, int(len(times) * 0.95) - 1)] * 1000, 1),
        "cpu_p50_ms": round(cpu[len(cpu) // 2] * 1000, 1),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def bench_ui(campaigns: int = 10_000, requests: int = 200) -> dict:
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    from bench.engine import setup_django

    setup_django()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.test import Client

    from accounts.roles import MANAGER

    user, _ = get_user_model().objects.get_or_create(username="bench-ui-manager")
    user.groups.add(Group.objects.get(name=MANAGER))
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    sizes = sorted({min(10, campaigns), min(1000, campaigns), campaigns})
    counts: dict[str, dict[int, int]] = {name: {} for name in PAGES}
    timings = {}
    try:
        _cleanup()
        for size in sizes:
            _grow(size, user)
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE") if connection.vendor == "postgresql" else None
            for name, path in PAGES.items():
                client.get(path)  # warm: template compilation, permission cache
                counts[name][size] = _queries(client, path)
        # The baseline, timed the same way in the same run: the trivial JSON
        # view of bench/urls.py (what the machine's load makes of a no-op request).
        timings["baseline: trivial JSON view"] = _timing(client, "/bench/trivial", requests)
        for name, path in PAGES.items():
            timings[name] = _timing(client, path, requests)
    finally:
        _cleanup()
    worst_count = max(max(c.values()) for c in counts.values())
    constant = all(len(set(c.values())) == 1 for c in counts.values())
    worst_p95 = max(t["p95_ms"] for name, t in timings.items() if name in PAGES)
    return {
        "benchmark": "ui",
        "database": connection.vendor,
        "campaigns": campaigns,
        "queries_by_size": counts,
        "timing_at_full_size": timings,
        "requests": requests,
        "bar": "queries <= 12 and constant; p95 <= 100 ms",
        "passes": constant and worst_count <= 12 and worst_p95 <= 100,
    }
