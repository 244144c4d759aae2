"""`manage.py import_profiles FILE --audience NAME`: import a CSV with a progress bar.

The command runs as the operator of the installation (no uploader is recorded),
who can read the database anyway: unlike an upload through the page or the API,
its rows merge into existing profiles even when those are known only through
restricted audiences (see ``audiences.importer``)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from audiences.importer import Outcome, profile_import_create, profile_import_run
from audiences.models import Audience, ProfileImport

SHOWN_REJECTIONS = 20


class Command(BaseCommand):
    help = (
        "Import profiles from a CSV file into an upload audience (created if needed). "
        "Runs here with a progress bar, or in the worker cluster with --queue."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", help="CSV file with a header row")
        parser.add_argument("--audience", required=True, help="name of the upload audience")
        parser.add_argument(
            "--queue", action="store_true", help="hand the import to the worker cluster"
        )

    def handle(self, *args, file: str, audience: str, queue: bool, **options) -> None:
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        target = self._audience(audience.strip())
        with transaction.atomic():
            if queue:
                with path.open("rb") as source:
                    created = profile_import_create(
                        audience=target, upload=File(source), file_name=path.name
                    )
            else:
                created = ProfileImport.objects.create(
                    audience=target, file_name=path.name, bytes_total=path.stat().st_size
                )
                Audience.objects.filter(pk=target.pk).update(status=Audience.Status.IMPORTING)
        if queue:
            self.stdout.write(f"Queued import {created.pk} into audience #{target.pk}.")
            return
        bar = ProgressBar(path.stat().st_size, sys.stderr)
        with path.open("rb") as stream:
            result = profile_import_run(import_id=created.pk, stream=stream, on_progress=bar.update)
        bar.close()
        self._report(result)

    def _audience(self, name: str) -> Audience:
        if not name:
            raise CommandError("--audience needs a name.")
        limit = Audience._meta.get_field("name").max_length
        if len(name) > limit:
            raise CommandError(f"--audience takes a name of at most {limit} characters.")
        existing = Audience.objects.filter(name=name).order_by("pk").first()
        if existing is None:
            return Audience.objects.create(name=name, kind=Audience.Kind.UPLOAD)
        if existing.kind != Audience.Kind.UPLOAD:
            raise CommandError(f"Audience {name!r} is a rule audience; choose another name.")
        return existing

    def _report(self, result: ProfileImport) -> None:
        for row in result.rejected[:SHOWN_REJECTIONS]:
            self.stderr.write(f"line {row['line']}: {row['reason']}")
        if result.rows_rejected > SHOWN_REJECTIONS:
            self.stderr.write(
                f"… and {result.rows_rejected - SHOWN_REJECTIONS} more rejected rows."
            )
        if result.status == ProfileImport.Status.FAILED:
            raise CommandError(result.error)
        result.audience.refresh_from_db()
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {result.rows_imported} rows, rejected {result.rows_rejected}; "
                f"audience {result.audience.name!r} (#{result.audience.pk}) has "
                f"{result.audience.size} profiles."
            )
        )


class ProgressBar:
    """A one-line terminal progress bar (plain lines when not on a terminal)."""

    def __init__(self, total: int, stream) -> None:
        self.total, self.stream = max(total, 1), stream
        self.started = self.last_line = time.monotonic()
        self.tty = stream.isatty()

    def update(self, position: int, outcome: Outcome) -> None:
        now = time.monotonic()
        rows = outcome.imported + outcome.rejected
        rate = rows / max(now - self.started, 1e-6)
        share = min(position / self.total, 1.0)
        text = f"{share:6.1%} {rows:>10,} rows ({outcome.rejected:,} rejected) {rate:>9,.0f} rows/s"
        if self.tty:
            filled = int(share * 30)
            self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {text}")
            self.stream.flush()
        elif now - self.last_line >= 5:
            self.stream.write(text + "\n")
            self.last_line = now

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
