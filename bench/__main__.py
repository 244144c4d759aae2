"""`make bench` → `python -m bench [all|fanout|send|trigger|api|ui|import|lock|scaleout] [options]` (SPEC §10).

Defaults are the full sizes of SPEC §10; ``--quick`` runs every benchmark at a
small size (a few minutes in all), and each size can be set on its own:

    python -m bench all --quick
    python -m bench send --messages 100000 --processes 2

fanout: a 1,000,000-profile audience materialized, against a raw COPY.
send: 100,000 emails through the real path, against bare send_messages
(``--cap``: with an active business rule whose frequency cap never binds, to
compare the send rate with a cap against the rate without one; ``--webhooks``:
the real path again with a webhook endpoint subscribed to delivery.sent, its
rate against the rate without one as ``webhooks_ratio``).
trigger: a transactional email triggered through POST /api/v1/executions/unitary
while a real qcluster runs — time from the request to the SMTP sink (p50/p95).
api: unitary executions under 32 concurrent clients (gunicorn + wrk), against a
trivial Django JSON view on the same server.
ui: /campaigns/ at 10, 1,000 and 10,000 campaigns — SQL queries and p95 time.
import: a 1,000,000-row CSV imported twice (first import, unchanged re-import).
lock: on the SQLite default (its own temporary database, no PostgreSQL needed),
PATCH /api/v1/campaigns/{id} latency while a real qcluster sends 1,000 emails to
an SMTP sink taking 50 ms per message (issue 11: p95 < 300 ms).
scaleout: one campaign of 20,000 profiles sent by ONE worker host, then by TWO,
each a qcluster in its own network namespace (issue 14; needs root and iproute2).

Each benchmark prints one JSON line with absolute figures, its ratio against
the baseline measured in the same run where SPEC §10 defines one, and the load
average. Run it on PostgreSQL + Redis (DATABASE_URL, REDIS_URL) against a
database you can write to freely; the API benchmark needs ``wrk``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

WHICH = ["all", "fanout", "send", "trigger", "api", "ui", "import", "lock", "scaleout"]
QUICK = {
    "profiles": 100_000,
    "messages": 10_000,
    "triggers": 50,
    "duration": 5,
    "campaigns": 1_000,
    "ui_requests": 50,
    "rows": 50_000,
    "lock_messages": 200,
    "scaleout_profiles": 2_000,
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("which", nargs="?", default="all", choices=WHICH)
    parser.add_argument("--quick", action="store_true", help="small sizes for a quick look")
    parser.add_argument("--profiles", type=int, help="fan-out audience size (1,000,000)")
    parser.add_argument("--messages", type=int, help="emails to send (100,000)")
    parser.add_argument("--processes", type=int, default=2, help="sender processes (both paths)")
    parser.add_argument(
        "--cap",
        action="store_true",
        help="send: with an active business rule whose frequency cap never binds (issue 16)",
    )
    parser.add_argument(
        "--webhooks",
        action="store_true",
        help="send: the real path again with an active webhook endpoint subscribed to "
        "delivery.sent, reported as webhooks_ratio (issue 17: ≥ 0.9)",
    )
    parser.add_argument("--triggers", type=int, help="API triggers to time (200)")
    parser.add_argument("--duration", type=int, help="seconds of load per API target (15)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent API clients")
    parser.add_argument(
        "--no-cluster", action="store_true", help="API: no worker cluster draining the queue"
    )
    parser.add_argument("--campaigns", type=int, help="UI: campaigns at the largest size (10,000)")
    parser.add_argument("--ui-requests", type=int, help="UI: requests timed per page (200)")
    parser.add_argument("--rows", type=int, help="CSV import rows (1,000,000)")
    parser.add_argument("--lock-messages", type=int, help="lock: emails sent meanwhile (1,000)")
    parser.add_argument("--delay-ms", type=int, default=50, help="lock: sink time per email")
    parser.add_argument(
        "--scaleout-profiles", type=int, help="scale-out: profiles of the campaign (20,000)"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="scale-out: qcluster workers per worker host"
    )
    args = parser.parse_args(argv)
    full = {
        "profiles": 1_000_000,
        "messages": 100_000,
        "triggers": 200,
        "duration": 15,
        "campaigns": 10_000,
        "ui_requests": 200,
        "rows": 1_000_000,
        "lock_messages": 1_000,
        "scaleout_profiles": 20_000,
    }
    for name, value in (QUICK if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    wanted = set(WHICH[1:]) if args.which == "all" else {args.which}

    def emit(result: dict) -> None:
        print(json.dumps(result), flush=True)

    # Each benchmark in its own process: they set up Django with different
    # settings modules and environment (bench.settings, the SMTP sink's port).
    failed = []
    for name in WHICH[1:]:
        if name in wanted:
            if len(wanted) > 1:
                if not _in_child(name, args):
                    failed.append(name)  # go on: one broken benchmark hides no other
            else:
                emit(_run(name, args))
    if failed:
        raise SystemExit(f"benchmarks that failed: {', '.join(failed)}")


def _run(name: str, args: argparse.Namespace) -> dict:
    if name == "fanout":
        from bench.engine import bench_fanout

        return bench_fanout(args.profiles)
    if name == "send":
        from bench.engine import bench_send

        return bench_send(args.messages, args.processes, cap=args.cap, webhooks=args.webhooks)
    if name == "trigger":
        from bench.engine import bench_trigger

        return bench_trigger(args.triggers)
    if name == "api":
        from bench.api import bench_api

        return bench_api(args.duration, args.connections, cluster=not args.no_cluster)
    if name == "ui":
        from bench.ui import bench_ui

        return bench_ui(args.campaigns, args.ui_requests)
    if name == "lock":
        from bench.lock import bench_lock

        return bench_lock(args.lock_messages, args.delay_ms)
    if name == "scaleout":
        from bench.scaleout import bench_scaleout

        return bench_scaleout(args.scaleout_profiles, args.workers)
    from bench.import_profiles import bench_import

    return bench_import(args.rows)


def _in_child(name: str, args: argparse.Namespace) -> bool:
    import subprocess

    argv = [sys.executable, "-m", "bench", name]
    for option in ("profiles", "messages", "processes", "triggers", "duration", "connections"):
        argv += [f"--{option}", str(getattr(args, option))]
    argv += ["--campaigns", str(args.campaigns), "--ui-requests", str(args.ui_requests)]
    argv += ["--rows", str(args.rows)] + (["--no-cluster"] if args.no_cluster else [])
    argv += ["--cap"] if args.cap else []
    argv += ["--webhooks"] if args.webhooks else []
    argv += ["--lock-messages", str(args.lock_messages), "--delay-ms", str(args.delay_ms)]
    argv += ["--scaleout-profiles", str(args.scaleout_profiles), "--workers", str(args.workers)]
    return subprocess.run(argv, cwd=Path(__file__).resolve().parent.parent).returncode == 0


if __name__ == "__main__":
    main()
