"""Benchmark: stream a large CSV of profiles into an upload audience.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/volley_bench \
        .venv/bin/python bench/import_profiles.py --rows 1000000

Generates the CSV on disk (streamed), migrates the database, then imports the
file twice through the real importer (``audiences.importer.import_stream``, the
code the worker task and ``manage.py import_profiles`` run): a first import
that creates every profile, and a re-import that must change nothing. Prints
rows/s and the process's peak RSS (``resource.getrusage``), and the same
figures as one JSON line at the end. The profiles it created are deleted
afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

CITIES = ["Paris", "Lyon", "Amsterdam", "Rotterdam", "Stockholm", "Göteborg", "Brussels", "Nice"]
ZONES = ["Europe/Paris", "Europe/Amsterdam", "Europe/Stockholm", "Europe/Brussels", ""]
PLANS = ["free", "pro", "team"]


def write_csv(path: Path, rows: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("email,phone,firstName,city,plan,age,consent_email,consent_sms,timezone\n")
        for i in range(rows):
            out.write(
                f"user{i}@bench.example.com,+3361{i:07d},Name{i % 997},{rnd.choice(CITIES)},"
                f"{rnd.choice(PLANS)},{18 + i % 60},{'yes' if i % 3 else 'no'},"
                f"{'1' if i % 5 == 0 else '0'},{rnd.choice(ZONES)}\n"
            )


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def timed_import(path: Path, audience_id: int, import_id) -> dict:
    from audiences.importer import import_stream

    started = time.perf_counter()
    with path.open("rb") as stream:
        outcome = import_stream(stream, audience_id=audience_id, import_id=import_id)
    seconds = time.perf_counter() - started
    rows = outcome.imported + outcome.rejected
    return {
        "rows": rows,
        "imported": outcome.imported,
        "rejected": outcome.rejected,
        "seconds": round(seconds, 1),
        "rows_per_s": round(rows / seconds),
        "peak_rss_mb": round(peak_rss_mb()),
    }


def cleanup(audience) -> None:
    """Remove what the benchmark created, in SQL: Django's cascading delete
    would load a million related rows into memory first."""
    from django.db import connection, transaction

    bench = "SELECT id FROM audiences_profile WHERE email LIKE '%%@bench.example.com'"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audiences_audiencemember WHERE audience_id = %s", [audience.pk])
        cursor.execute(f"DELETE FROM audiences_consentchange WHERE profile_id IN ({bench})")
        cursor.execute("DELETE FROM audiences_profile WHERE email LIKE %s", ["%@bench.example.com"])
    audience.delete()


def bench_import(rows: int, keep: bool = False) -> dict:
    """Import a generated CSV of ``rows`` profiles twice; the figures as a dict."""
    import uuid

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from audiences.models import Audience

    call_command("migrate", verbosity=0)
    rss_after_setup = peak_rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "profiles.csv"
        write_csv(path, rows)
        size_mb = path.stat().st_size / 1e6
        audience = Audience.objects.create(name=f"bench {uuid.uuid4().hex[:6]}", kind="upload")
        print(f"{connection.vendor}: {rows:,} rows, {size_mb:.0f} MB CSV", flush=True)
        first = timed_import(path, audience.pk, uuid.uuid4())
        print(f"first import: {first}", flush=True)
        again = timed_import(path, audience.pk, uuid.uuid4())
        print(f"re-import:    {again}", flush=True)
    result = {
        "benchmark": "import_profiles",
        "database": connection.vendor,
        "rows": rows,
        "csv_mb": round(size_mb),
        "rss_after_setup_mb": round(rss_after_setup),
        "first": first,
        "reimport": again,
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    if not keep:
        cleanup(audience)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the imported profiles")
    args = parser.parse_args()
    print(json.dumps(bench_import(args.rows, args.keep)))


if __name__ == "__main__":
    main()
