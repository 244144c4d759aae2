"""`make bench` → `python -m bench [fanout|send|all] [options]` (SPEC §10).

Defaults are the full sizes of SPEC §10; pass smaller ones for a quick look:

    python -m bench all --profiles 100000 --messages 10000 --processes 2

trigger: a transactional email triggered through POST /api/v1/executions/unitary
while a real qcluster runs — time from the request to the SMTP sink (p50/p95).

Each benchmark prints one JSON line with absolute rates and its ratio against
the baseline measured in the same run. Run it on PostgreSQL + Redis
(DATABASE_URL, REDIS_URL) against a database you can write to freely.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "which", nargs="?", default="all", choices=["all", "fanout", "send", "trigger", "api", "ui"]
    )
    parser.add_argument("--profiles", type=int, default=1_000_000, help="fan-out audience size")
    parser.add_argument("--messages", type=int, default=100_000, help="emails to send")
    parser.add_argument("--triggers", type=int, default=200, help="API triggers to time")
    parser.add_argument("--processes", type=int, default=2, help="sender processes (both paths)")
    parser.add_argument("--duration", type=int, default=15, help="seconds of load per API target")
    parser.add_argument("--connections", type=int, default=32, help="concurrent API clients")
    parser.add_argument(
        "--no-cluster", action="store_true", help="API: no worker cluster draining the queue"
    )
    parser.add_argument(
        "--campaigns", type=int, default=10_000, help="UI: campaigns in the list (largest size)"
    )
    parser.add_argument("--ui-requests", type=int, default=200, help="UI: requests timed for p95")
    args = parser.parse_args(argv)

    from bench import engine

    if args.which in ("all", "fanout"):
        print(json.dumps(engine.bench_fanout(args.profiles)), flush=True)
    if args.which in ("all", "send"):
        print(json.dumps(engine.bench_send(args.messages, args.processes)), flush=True)
    if args.which in ("all", "trigger"):
        print(json.dumps(engine.bench_trigger(args.triggers)), flush=True)
    if args.which in ("all", "api"):
        from bench.api import bench_api

        result = bench_api(args.duration, args.connections, cluster=not args.no_cluster)
        print(json.dumps(result), flush=True)
    if args.which in ("all", "ui"):
        from bench.ui import bench_ui

        print(json.dumps(bench_ui(args.campaigns, args.ui_requests)), flush=True)


if __name__ == "__main__":
    main()
