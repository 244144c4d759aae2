"""CPU time by process group, read from /proc (Linux): where a benchmark's
cycles went, whatever else the machine was doing.

``snapshot()`` sums user + system CPU seconds of this process's descendants
(grouped as web, cluster, sink, wrk, other) and of the PostgreSQL backends
connected to the benchmark's database; ``per_unit(before, after, n)`` turns two
snapshots into milliseconds per request or message.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _read(pid: str) -> tuple[int, float, str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    ppid = int(fields[1])
    seconds = (int(fields[11]) + int(fields[12])) / TICK
    return ppid, seconds, cmdline


def _group(cmdline: str) -> str:
    if "gunicorn" in cmdline:
        return "web"
    if "qcluster" in cmdline:
        return "cluster"
    if "multiprocessing" in cmdline:
        return "sink"
    return "other"


def snapshot(database: str | None = None) -> dict[str, float]:
    """CPU seconds so far per group (``postgres``: backends on ``database``)."""
    procs = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            info = _read(entry)
            if info:
                procs[int(entry)] = info
    root = os.getpid()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    # Children already waited for (wrk runs to its end under subprocess.run).
    totals: dict[str, float] = {"wrk": children.ru_utime + children.ru_stime}
    for pid, (ppid, seconds, cmdline) in procs.items():
        if database and cmdline.startswith("postgres:") and f" {database} " in cmdline + " ":
            totals["postgres"] = totals.get("postgres", 0.0) + seconds
            continue
        if cmdline.startswith("/usr/bin/redis-server") or cmdline.startswith("redis-server"):
            totals["redis"] = totals.get("redis", 0.0) + seconds
            continue
        walk, hops = ppid, 0
        while walk not in (0, 1, root) and walk in procs and hops < 20:
            walk, hops = procs[walk][0], hops + 1
        if walk == root and pid != root:
            group = _group(cmdline)
            totals[group] = totals.get(group, 0.0) + seconds
    return totals


def per_unit(before: dict[str, float], after: dict[str, float], units: int) -> dict[str, float]:
    """Milliseconds of CPU per unit (request, message) by group, and the total."""
    if units <= 0:
        return {}
    spent = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in set(before) | set(after)}
    result = {k: round(v * 1000 / units, 3) for k, v in sorted(spent.items()) if v > 0}
    result["total"] = round(sum(v for v in spent.values() if v > 0) * 1000 / units, 3)
    return result
