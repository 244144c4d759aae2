"""Streaming CSV import of profiles into an upload audience (SPEC §7).

The file is read as a stream, one record at a time, in constant memory. Each
row is validated completely before it may join a batch, so a bad row is
reported (line number + reason), skipped, and writes nothing. Good rows are
upserted in batches, one transaction per batch, and listed as members of the
audience; when the whole file is done, members left from an earlier file are
removed (the membership is frozen to the last file).

Rows and profiles: a row's identities (email, phone, push_token, profile_id)
find at most one existing profile, which is updated: attributes are merged
(empty cells change nothing), identities, time zone and consent given in the
row are set, and consent changes are recorded (source ``import``). A row whose
identities belong to two different profiles is rejected with both named. An
unchanged profile is not written, so re-importing the same file changes
nothing. Within a file, a later row about the same person is applied after
the earlier one (in the same batch when it names only identities of that
row, else the batch is cut before it).

Who may merge: an import runs as its uploader (``ProfileImport.created_by``,
set by the page and the API). A row whose identity belongs to an existing
profile the uploader cannot see (known only through restricted audiences they
may not see, ``audiences.selectors.not_hidden_profiles``) is rejected with the
line number and "belongs to a profile you cannot access", naming nothing else:
merging it would join that person to the uploader's audience (issue 10). An
import without an uploader (``manage.py import_profiles``, the demo loader) runs
as the operator of the installation, who reads the database anyway, and merges
into every profile.

Cell values: numbers written canonically (``34``, ``-2``, ``19.5``) become JSON
numbers so rules can compare them; everything else (``007``, ``1e3``, dates)
stays text.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import IO, Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from audiences.channel_facts import CONSENT_FIELD
from audiences.locales import normalize_locale
from audiences.models import Audience, AudienceMember, ConsentChange, Profile, ProfileImport
from audiences.services import (
    IDENTITY_FIELDS,
    MAX_ATTRIBUTES,
    attributes_problem,
    normalize_identity,
    normalize_timezone,
)

CONSENT_COLUMNS = {column: channel for channel, column in CONSENT_FIELD.items()}
RESERVED = {*IDENTITY_FIELDS, *CONSENT_COLUMNS, "timezone", "locale"}
TRUE = {"true", "yes", "1", "y"}
FALSE = {"false", "no", "0", "n"}
_NUMBER = re.compile(r"-?(0|[1-9][0-9]{0,14})(\.[0-9]{1,10})?")
_SURROGATE = re.compile("[\udc80-\udcff]")

logger = logging.getLogger(__name__)


class ImportFileError(ValueError):
    """The file cannot be imported at all (empty, bad header)."""


@dataclass
class Row:
    line: int
    identities: dict[str, str]
    attributes: dict[str, Any]
    timezone: str | None
    consent: dict[str, bool]
    locale: str | None = None  # BCP 47 (SPEC §11): which translation the person gets


@dataclass
class Outcome:
    imported: int = 0
    rejected: int = 0
    sample: list[dict] = field(default_factory=list)

    def reject(self, line: int, reason: str) -> None:
        self.rejected += 1
        if len(self.sample) < ProfileImport.REJECTED_SAMPLE:
            self.sample.append({"line": line, "reason": reason})


# Characters of one physical line, and of one record (a quoted value may span
# lines). The csv module holds a whole record in memory and its field limit
# bounds one field, not a line: a line of "ab," repeated costs ~24 times its
# size as a list of cells, and so did a record of lines `x","` (security review
# 18). No acceptable row comes near this (identities, and attributes of at most
# MAX_ATTRIBUTES_CHARS).
MAX_LINE = 1024 * 1024


@dataclass
class _Record:
    """What ``_lines`` has given the csv reader of the record it is reading."""

    chars: int = 0
    cut: bool = False


def batch_size() -> int:
    # SQLite caps the variables of one statement; PostgreSQL takes bigger batches.
    return 5000 if connection.vendor == "postgresql" else 1000


# ---------------------------------------------------------------- parsing


def read_header(reader) -> list[str]:
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFileError(_("The file is empty: it needs a header row.")) from None
    except csv.Error as exc:
        raise ImportFileError(_("The header row is not valid CSV: %s") % exc) from None
    names = [name.strip() for name in header]
    names = [name.lower() if name.lower() in RESERVED else name for name in names]
    # Every other column is an attribute, and a profile holds a bounded number
    # of them: a wider file is refused here, before anything reads its names.
    attribute_columns = sum(1 for name in names if name not in RESERVED)
    if attribute_columns > MAX_ATTRIBUTES:
        raise ImportFileError(
            _(
                "The header has %(count)d attribute columns; a profile holds at most "
                "%(max)d attributes."
            )
            % {"count": attribute_columns, "max": MAX_ATTRIBUTES}
        )
    if any(_SURROGATE.search(name) for name in names):
        raise ImportFileError(_("The header row is not UTF-8 text."))
    if any("\x00" in name for name in names):
        # PostgreSQL stores no NUL in text or JSON: the whole import failed
        # there with the database's message (review 19).
        raise ImportFileError(_("The header row holds a NUL character."))
    if any(not name for name in names):
        raise ImportFileError(_("The header row has an empty column name."))
    # Counted once (names.count per name was quadratic in the columns).
    duplicates = sorted(name for name, seen in Counter(names).items() if seen > 1)
    if duplicates:
        raise ImportFileError(_("Duplicate columns: %s.") % ", ".join(duplicates))
    if not set(names) & set(IDENTITY_FIELDS):
        raise ImportFileError(
            _("The header needs at least one identity column: %s.") % ", ".join(IDENTITY_FIELDS)
        )
    return names


def _cell_value(text: str) -> Any:
    if _NUMBER.fullmatch(text):
        return float(text) if "." in text else int(text)
    return text


def parse_row(header: list[str], cells: list[str], line: int) -> Row | str:
    """A validated ``Row``, or the reason the row is rejected."""
    if len(cells) != len(header):
        return _("Expected %(expected)d columns, found %(found)d.") % {
            "expected": len(header),
            "found": len(cells),
        }
    joined = "".join(cells)
    if _SURROGATE.search(joined):
        return _("Undecodable bytes: the file must be UTF-8.")
    if "\x00" in joined:
        return _("A cell holds a NUL character.")
    row = Row(line=line, identities={}, attributes={}, timezone=None, consent={})
    problems = []
    for name, raw in zip(header, cells, strict=True):
        value = raw.strip()
        if not value:
            continue
        try:
            if name in IDENTITY_FIELDS:
                row.identities[name] = normalize_identity(name, value)
            elif name in CONSENT_COLUMNS:
                row.consent[CONSENT_COLUMNS[name]] = _boolean(value)
            elif name == "timezone":
                row.timezone = normalize_timezone(value)
            elif name == "locale":
                row.locale = _locale(value)
            else:
                row.attributes[name] = _cell_value(value)
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
    if problems:
        return " ".join(problems)
    if not row.identities:
        return _("No identity: fill at least one of %s.") % ", ".join(IDENTITY_FIELDS)
    return row


def _boolean(value: str) -> bool:
    lowered = value.lower()
    if lowered in TRUE:
        return True
    if lowered in FALSE:
        return False
    raise ValueError(_("%r is not true/false, yes/no or 1/0.") % value)


def read_rows(binary: IO[bytes], outcome: Outcome) -> Iterator[Row]:
    """Validated rows of the CSV stream; rejected ones go to ``outcome``."""
    text = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="surrogateescape", newline="")
    record = _Record()
    try:
        yield from _records(csv.reader(_lines(text, outcome, record)), outcome, record)
    finally:
        text.detach()  # leave the caller's stream open (and tell()-able)


def _lines(text: IO[str], outcome: Outcome, record: _Record) -> Iterator[str]:
    """The physical lines for the csv reader, none longer than ``MAX_LINE``:
    a longer one is read past in pieces, rejected with its number, and given
    to the reader as a blank line (so the reader's line numbers stay those of
    the file). An over-long header fails the import.

    A record continues on the next line only inside a quoted value: the line
    that would take a record past ``MAX_LINE`` is given as ``"`` and a line
    break, which closes the value and ends the record there (``_records``
    rejects it; the reader resumes at the next line, as after a value over
    the csv module's field limit)."""
    number = 0
    while line := text.readline(MAX_LINE + 1):
        number += 1
        if len(line) <= MAX_LINE or line.endswith(("\n", "\r")):
            if record.chars and record.chars + len(line) > MAX_LINE:
                record.cut = True
                yield '"\n'
                continue
            record.chars += len(line)
            yield line
            continue
        while (rest := text.readline(MAX_LINE + 1)) and not rest.endswith(("\n", "\r")):
            pass
        if number == 1:
            raise ImportFileError(
                _("The header row is longer than %(max)d characters.") % {"max": MAX_LINE}
            )
        outcome.reject(
            number,
            _("The line is longer than %(max)d characters: not a row of profiles.")
            % {"max": MAX_LINE},
        )
        yield "\n"


def _records(reader, outcome: Outcome, record: _Record) -> Iterator[Row]:
    try:
        header = read_header(reader)
    except ImportFileError:
        if not record.cut:
            raise
    # A header cut short is refused as too long, whatever else is wrong with it.
    if record.cut:
        raise ImportFileError(
            _("The header row is longer than %(max)d characters.") % {"max": MAX_LINE}
        )
    record.chars = 0
    previous_end = reader.line_num
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            record.chars, record.cut = 0, False
            outcome.reject(previous_end + 1, _("Malformed CSV: %s") % exc)
            previous_end = reader.line_num
            continue
        line, previous_end = previous_end + 1, reader.line_num
        cut, record.chars, record.cut = record.cut, 0, False
        if cut:
            outcome.reject(
                line,
                _("The row is longer than %(max)d characters: not a row of profiles.")
                % {"max": MAX_LINE},
            )
            continue
        if not cells or (cells == [""] and len(header) > 1):
            continue  # blank line
        parsed = parse_row(header, cells, line)
        if isinstance(parsed, str):
            outcome.reject(line, parsed)
        else:
            yield parsed


def batches(rows: Iterator[Row], size: int) -> Iterator[list[Row]]:
    """Rows in batches of ``size``, cut early before a row that names an
    identity an earlier row of the batch named (the later must see the
    earlier's result), unless it names only identities of one earlier row:
    that row's profile is the one it changes, applied after it in the batch.
    (Cutting there too made a file of one address repeated a batch, a
    transaction and nine statements a row: 50 times the work of distinct
    rows, a 200 MB upload a day and more in the import worker.)"""
    batch: list[Row] = []
    first: dict[tuple[str, str], frozenset] = {}  # identity → the row that named it first
    for row in rows:
        keys = frozenset(row.identities.items())
        if len(batch) >= size:
            yield batch
            batch, first = [], {}
        elif keys & first.keys():
            earlier = {first.get(key) for key in keys}
            if len(earlier) != 1 or None in earlier or not keys <= next(iter(earlier)):
                yield batch
                batch, first = [], {}
        batch.append(row)
        for key in keys:
            first.setdefault(key, keys)
    if batch:
        yield batch


# ---------------------------------------------------------------- writing

_PROFILE_FIELDS = [*IDENTITY_FIELDS, "attributes", "timezone", "locale", *CONSENT_FIELD.values()]


def _locale(value: str) -> str:
    normalized = normalize_locale(value)
    if normalized is None:
        raise ValueError(_("Use a language tag such as fr or fr-CA."))
    return normalized


def write_batch(
    batch: list[Row], *, audience_id: int, import_id, outcome: Outcome, actor=None
) -> None:
    """Upsert one batch of valid rows and list them as members, in one transaction.

    A concurrent writer may create a profile with one of our identities between
    our lookup and our insert; the batch is then retried once from the lookup.
    """
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                rejected = _write(batch, audience_id=audience_id, import_id=import_id, actor=actor)
            break
        except IntegrityError:
            if attempt == 2:
                raise
    for line, reason in rejected:
        outcome.reject(line, reason)
    outcome.imported += len(batch) - len(rejected)


class _Target:
    """A profile as the batch will leave it (plain values, no model instance:
    building a million model instances would dominate the import)."""

    __slots__ = ("pk", "values", "changed", "consent_changes")

    def __init__(self, pk: int | None, values: dict[str, Any]):
        self.pk, self.values = pk, values
        self.changed = False
        self.consent_changes: list[tuple[str, bool]] = []

    def apply(self, row: Row) -> None:
        values = self.values
        for name, value in row.identities.items():
            if values[name] != value:
                values[name] = value
                self.changed = True
        attributes = values["attributes"]
        if row.attributes and any(attributes.get(k) != v for k, v in row.attributes.items()):
            values["attributes"] = {**attributes, **row.attributes}
            self.changed = True
        if row.timezone is not None and values["timezone"] != row.timezone:
            values["timezone"] = row.timezone
            self.changed = True
        if row.locale is not None and values["locale"] != row.locale:
            values["locale"] = row.locale
            self.changed = True
        for channel, granted in row.consent.items():
            name = CONSENT_FIELD[channel]
            if values[name] != granted:
                values[name] = granted
                self.consent_changes.append((channel, granted))
                self.changed = True


def _blank() -> dict[str, Any]:
    values: dict[str, Any] = dict.fromkeys(_PROFILE_FIELDS)
    values.update(
        attributes={},
        timezone="",
        locale="",
        consent_email=False,
        consent_sms=False,
        consent_push=False,
    )
    return values


def _lookup(batch: list[Row]) -> dict[tuple[str, str], _Target]:
    wanted: dict[str, set[str]] = {name: set() for name in IDENTITY_FIELDS}
    for row in batch:
        for name, value in row.identities.items():
            wanted[name].add(value)
    wanted = {name: values for name, values in wanted.items() if values}
    index: dict[tuple[str, str], _Target] = {}
    for found in _profiles_with(wanted):
        target = _Target(found.pop("pk"), found)
        for name in IDENTITY_FIELDS:
            if found[name]:
                index[(name, found[name])] = target
    return index


def _profiles_with(wanted: dict[str, set[str]]) -> Iterator[dict[str, Any]]:
    """Profiles owning any of the identities, as dicts of ``_PROFILE_FIELDS``."""
    if not wanted:
        return iter(())
    if connection.vendor != "postgresql":
        q = Q()
        for name, values in wanted.items():
            q |= Q(**{f"{name}__in": values})
        return iter(Profile.objects.filter(q).values("pk", *_PROFILE_FIELDS))
    # One array parameter per identity instead of thousands of placeholders.
    where = " OR ".join(f"{name} = ANY(%s)" for name in wanted)
    sql = f"SELECT id, {', '.join(_PROFILE_FIELDS)} FROM audiences_profile WHERE {where}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [list(values) for values in wanted.values()])
        rows = cursor.fetchall()
    columns = ["pk", *_PROFILE_FIELDS]
    result = []
    for row in rows:
        found = dict(zip(columns, row, strict=True))
        if isinstance(found["attributes"], str):
            found["attributes"] = json.loads(found["attributes"])
        result.append(found)
    return iter(result)


def _hidden_from(actor, pks: set[int]) -> set[int]:
    """The ids among ``pks`` of profiles ``actor`` may not see (none for the operator)."""
    if actor is None or actor.is_superuser or not pks:
        return set()
    from audiences.selectors import not_hidden_profiles

    seen: set[int] = set()
    ordered = sorted(pks)
    for start in range(0, len(ordered), 900):  # under SQLite's variable limit
        chunk = Profile.objects.filter(pk__in=ordered[start : start + 900])
        seen.update(not_hidden_profiles(actor, chunk).values_list("pk", flat=True))
    return pks - seen


def _write(batch: list[Row], *, audience_id: int, import_id, actor=None) -> list[tuple[int, str]]:
    from audiences.privacy import CHANNEL_IDENTITY, suppressions_restore

    # An erased person's address coming back finds its suppression again.
    suppressions_restore(
        (channel, row.identities[name])
        for row in batch
        for channel, name in CHANNEL_IDENTITY.items()
        if row.identities.get(name)
    )
    index = _lookup(batch)
    hidden = _hidden_from(actor, {target.pk for target in index.values()})
    rejected: list[tuple[int, str]] = []
    targets: dict[int, _Target] = {}  # by id(): one profile may be named by two rows
    for row in batch:
        found = {
            id(index[key]): (index[key], key[0]) for key in row.identities.items() if key in index
        }
        owners = {target.pk: name for target, name in found.values()}
        if hidden and hidden.intersection(owners):
            # Checked before conflicts, whose reason names profile ids.
            rejected.append((row.line, _("This identity belongs to a profile you cannot access.")))
            continue
        if len(found) > 1:
            rejected.append(
                (
                    row.line,
                    _("Conflicting identities: %s belong to different profiles.")
                    % ", ".join(f"{name} (#{pk})" for pk, name in sorted(owners.items())),
                )
            )
            continue
        if found:
            target = next(iter(found.values()))[0]
        else:
            target = _Target(None, _blank())
        if row.attributes:
            problem = attributes_problem({**target.values["attributes"], **row.attributes})
            if problem:
                rejected.append((row.line, problem))
                continue
        target.apply(row)
        targets[id(target)] = target
        # A later row of the batch naming only these identities (``batches``)
        # changes the same profile, a new one included.
        for key in row.identities.items():
            index[key] = target
    if connection.vendor == "postgresql":
        _save_postgresql(list(targets.values()), audience_id=audience_id, import_id=import_id)
    else:
        _save_orm(list(targets.values()), audience_id=audience_id, import_id=import_id)
    return rejected


def _save_orm(targets: list[_Target], *, audience_id: int, import_id) -> None:
    """Any database: Django's bulk operations, batches under SQLite's 999 variables."""
    new = [t for t in targets if t.pk is None]
    created = Profile.objects.bulk_create(
        [Profile(**t.values) for t in new], batch_size=_insert_batch(len(_PROFILE_FIELDS) + 2)
    )
    for target, profile in zip(new, created, strict=True):
        target.pk = profile.pk
    new_ids = {id(t) for t in new}
    changed = [t for t in targets if t.changed and id(t) not in new_ids]
    if changed:
        now = timezone.now()
        Profile.objects.bulk_update(
            [Profile(pk=t.pk, updated_at=now, **t.values) for t in changed],
            [*_PROFILE_FIELDS, "updated_at"],
            batch_size=200,
        )
    ConsentChange.objects.bulk_create(
        [
            ConsentChange(profile_id=t.pk, channel=c, granted=g, source="import")
            for t in targets
            for c, g in t.consent_changes
        ],
        batch_size=_insert_batch(4),
    )
    AudienceMember.objects.bulk_create(
        [
            AudienceMember(audience_id=audience_id, profile_id=t.pk, import_id=import_id)
            for t in targets
        ],
        batch_size=_insert_batch(3),
        update_conflicts=True,
        unique_fields=["audience", "profile"],
        update_fields=["import_id"],
    )


def _insert_batch(fields: int) -> int:
    if connection.vendor == "postgresql":
        return 2000
    return max(1, 999 // fields)


_STAGE_COLUMNS = (
    "profile_id bigint, is_new boolean, changed boolean, email varchar(254), phone varchar(20), "
    "push_token varchar(512), ext_id varchar(255), attributes jsonb, timezone varchar(64), "
    "locale varchar(35), "
    "consent_email boolean, consent_sms boolean, consent_push boolean, consent_changes jsonb"
)


def _save_postgresql(targets: list[_Target], *, audience_id: int, import_id) -> None:
    """PostgreSQL: COPY the batch into a temporary table, then a few set-based
    statements (ids drawn from the sequence first, so no row needs RETURNING)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS audiences_import_stage ({_STAGE_COLUMNS}) "
            "ON COMMIT DELETE ROWS"
        )
        # Empty even inside an outer transaction (tests, a caller's atomic block).
        cursor.execute("TRUNCATE audiences_import_stage")
        new = [t for t in targets if t.pk is None]
        if new:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence('audiences_profile', 'id')) "
                "FROM generate_series(1, %s)",
                [len(new)],
            )
            for target, (pk,) in zip(new, cursor.fetchall(), strict=True):
                target.pk = pk
        new_ids = {id(t) for t in new}
        with cursor.cursor.copy("COPY audiences_import_stage FROM STDIN") as copy:
            for t in targets:
                v = t.values
                copy.write_row(
                    (
                        t.pk,
                        id(t) in new_ids,
                        t.changed,
                        v["email"],
                        v["phone"],
                        v["push_token"],
                        v["profile_id"],
                        json.dumps(v["attributes"]),
                        v["timezone"],
                        v["locale"],
                        v["consent_email"],
                        v["consent_sms"],
                        v["consent_push"],
                        json.dumps(t.consent_changes) if t.consent_changes else None,
                    )
                )
        cursor.execute(_PG_INSERT)
        cursor.execute(_PG_UPDATE)
        cursor.execute(_PG_CONSENT)
        cursor.execute(_PG_MEMBERS, [audience_id, import_id])


_PG_INSERT = """
INSERT INTO audiences_profile (id, email, phone, push_token, profile_id, attributes, timezone,
    locale, consent_email, consent_sms, consent_push, created_at, updated_at)
SELECT profile_id, email, phone, push_token, ext_id, attributes, timezone, locale,
    consent_email, consent_sms, consent_push, now(), now()
FROM audiences_import_stage WHERE is_new
"""
_PG_UPDATE = """
UPDATE audiences_profile AS p SET email = s.email, phone = s.phone, push_token = s.push_token,
    profile_id = s.ext_id, attributes = s.attributes, timezone = s.timezone, locale = s.locale,
    consent_email = s.consent_email, consent_sms = s.consent_sms, consent_push = s.consent_push,
    updated_at = now()
FROM audiences_import_stage AS s WHERE s.changed AND NOT s.is_new AND p.id = s.profile_id
"""
_PG_CONSENT = """
INSERT INTO audiences_consentchange (profile_id, channel, granted, source, changed_at)
SELECT s.profile_id, c.value ->> 0, (c.value ->> 1)::boolean, 'import', clock_timestamp()
FROM audiences_import_stage AS s, jsonb_array_elements(s.consent_changes) WITH ORDINALITY AS c(value, n)
WHERE s.consent_changes IS NOT NULL ORDER BY s.profile_id, c.n
"""
_PG_MEMBERS = """
INSERT INTO audiences_audiencemember (audience_id, profile_id, import_id)
SELECT %s, profile_id, %s FROM audiences_import_stage
ON CONFLICT (audience_id, profile_id) DO UPDATE SET import_id = EXCLUDED.import_id
"""


# ---------------------------------------------------------------- driver

Progress = Callable[[int, Outcome], None]


def import_stream(
    binary: IO[bytes],
    *,
    audience_id: int,
    import_id,
    on_progress: Progress | None = None,
    size: int | None = None,
    actor=None,
) -> Outcome:
    """Import a CSV byte stream into the audience; returns the counts.

    ``actor``: the uploader, whose hidden profiles are refused (None: the
    operator). ``on_progress(bytes_read, outcome)`` is called after each batch. Raises
    ``ImportFileError`` for a file that cannot be imported at all.
    """
    outcome = Outcome()
    for batch in batches(read_rows(binary, outcome), size or batch_size()):
        write_batch(
            batch, audience_id=audience_id, import_id=import_id, outcome=outcome, actor=actor
        )
        if on_progress is not None:
            on_progress(_position(binary), outcome)
    # Members listed by an earlier file of this audience, not by this one, leave.
    AudienceMember.objects.filter(audience_id=audience_id).exclude(import_id=import_id).delete()
    return outcome


def _position(binary: IO[bytes]) -> int:
    try:
        return binary.tell()
    except (OSError, ValueError):
        return 0


# A million-row file takes minutes; the cluster's default timeout is for short tasks.
IMPORT_TIMEOUT = 6 * 3600
STALE_AFTER = timedelta(minutes=15)


def profile_import_create(
    *, audience, upload, file_name: str, actor=None, enqueue: bool = True
) -> ProfileImport:
    """Store the uploaded file and queue its import into ``audience`` (an upload
    audience); the worker cluster runs it once the transaction commits."""
    from django_q.tasks import async_task

    profile_import = ProfileImport(audience=audience, file_name=file_name[:255], created_by=actor)
    profile_import.file.save(f"{profile_import.id}.csv", upload, save=False)
    profile_import.bytes_total = profile_import.file.size
    profile_import.save()
    Audience.objects.filter(pk=audience.pk).update(status=Audience.Status.IMPORTING)
    import_id = str(profile_import.id)
    if enqueue:
        transaction.on_commit(
            lambda: async_task(
                "audiences.tasks.run_profile_import", import_id, timeout=IMPORT_TIMEOUT
            )
        )
    return profile_import


def profile_import_run(
    *, import_id, on_progress: Progress | None = None, stream: IO[bytes] | None = None
) -> ProfileImport | None:
    """Run a queued import (idempotent: a second delivery finds it claimed and
    returns). Progress and counts are saved after every batch, so the audience
    page can show them while the file streams in. ``stream`` replaces the stored
    file (the command line reads the user's file in place)."""
    now = timezone.now()
    claimable = Q(status=ProfileImport.Status.QUEUED) | Q(
        status=ProfileImport.Status.RUNNING, heartbeat_at__lt=now - STALE_AFTER
    )
    claimed = ProfileImport.objects.filter(claimable, pk=import_id).update(
        status=ProfileImport.Status.RUNNING, started_at=now, heartbeat_at=now
    )
    if not claimed:
        return None
    profile_import = ProfileImport.objects.select_related("audience", "created_by").get(
        pk=import_id
    )
    audience = profile_import.audience
    refused = _reimport_refused(profile_import)
    if refused:
        _finish(profile_import, ProfileImport.Status.FAILED, refused, None)
        discard_file(profile_import)
        profile_import.refresh_from_db()
        return profile_import

    def progress(position: int, outcome: Outcome) -> None:
        ProfileImport.objects.filter(pk=import_id).update(
            heartbeat_at=timezone.now(),
            bytes_done=position,
            rows_imported=outcome.imported,
            rows_rejected=outcome.rejected,
            rejected=outcome.sample,
        )
        if on_progress is not None:
            on_progress(position, outcome)

    status, error, outcome = ProfileImport.Status.SUCCEEDED, "", Outcome()
    try:
        with _opened(profile_import, stream) as binary:
            outcome = import_stream(
                binary,
                audience_id=audience.pk,
                import_id=profile_import.id,
                on_progress=progress,
                actor=profile_import.created_by,  # the uploader; None: the operator
            )
    except ImportFileError as exc:
        status, error = ProfileImport.Status.FAILED, str(exc)
    except Exception as exc:  # recorded for the user, then re-raised for the cluster's log
        _finish(
            profile_import, ProfileImport.Status.FAILED, _("The import failed: %s") % exc, outcome
        )
        discard_file(profile_import)
        raise
    else:
        if outcome.rejected and not outcome.imported:
            # "Ready, 0 profiles" read as success; nothing usable came in.
            status = ProfileImport.Status.FAILED
            error = ngettext(
                "Its %(count)d row was rejected: no profile was imported. See the reason below.",
                "All %(count)d rows were rejected: no profile was imported. See the reasons below.",
                outcome.rejected,
            ) % {"count": outcome.rejected}
    _finish(profile_import, status, error, outcome)
    discard_file(profile_import)
    profile_import.refresh_from_db()
    return profile_import


def _reimport_refused(profile_import: ProfileImport) -> str:
    """Why a new file may not replace the audience's members now, else "".

    The upload was checked when it was received (review 6 #2: a new file into
    an upload audience used by a committed campaign needs the permission to
    activate it), but the file is imported later: one uploaded while the
    campaign was a draft, imported once it was approved, replaced who the
    approved campaign sends to (review 8). Checked again here, for the
    uploader, when an earlier file made the audience (its first file is what
    the approver was shown as importing); the operator's imports (no uploader)
    are not checked.
    """
    actor = profile_import.created_by
    if actor is None:
        return ""
    earlier = ProfileImport.objects.filter(
        audience_id=profile_import.audience_id, created_at__lt=profile_import.created_at
    )
    if not earlier.exists():
        return ""
    from audiences.services import AudienceInUse, check_rule_change_allowed

    try:
        check_rule_change_allowed(audience=profile_import.audience, actor=actor, reimport=True)
    except AudienceInUse:
        pass
    else:
        return ""
    # The reason is stored on the import and shown to whoever sees the
    # audience: the campaigns are counted, never named (some may be restricted).
    try:
        check_rule_change_allowed(audience=profile_import.audience, actor=None, reimport=True)
    except AudienceInUse as exc:
        return str(exc)
    return ""


def discard_file(profile_import: ProfileImport) -> bool:
    """Delete a finished import's stored CSV: it holds every person in it, and
    nothing reads it once the import has finished (the counts and the first
    rejected rows stay on the import). A storage error leaves it for the
    nightly retention task (``campaigns.retention.delete_import_files``)."""
    if not profile_import.file:
        return False
    try:
        profile_import.file.delete(save=False)
    except Exception:  # noqa: BLE001 — the retention task tries again
        logger.warning("Could not delete the file of import %s", profile_import.pk, exc_info=True)
        return False
    ProfileImport.objects.filter(pk=profile_import.pk).update(file="")
    return True


def profile_import_sweep() -> int:
    """Queue again the imports whose worker went away (queued or running with
    no heartbeat for ``STALE_AFTER``); returns how many. Safe to run often."""
    from django_q.tasks import async_task

    cutoff = timezone.now() - STALE_AFTER
    stale = ProfileImport.objects.filter(
        Q(status=ProfileImport.Status.QUEUED, created_at__lt=cutoff)
        | Q(status=ProfileImport.Status.RUNNING, heartbeat_at__lt=cutoff)
    ).values_list("pk", flat=True)
    count = 0
    for pk in stale:
        async_task("audiences.tasks.run_profile_import", str(pk), timeout=IMPORT_TIMEOUT)
        count += 1
    return count


def _opened(profile_import: ProfileImport, stream: IO[bytes] | None):
    if stream is not None:
        return contextlib.nullcontext(stream)
    return profile_import.file.open("rb")


def _finish(
    profile_import: ProfileImport, status: str, error: str, outcome: Outcome | None
) -> None:
    audience = profile_import.audience
    size = AudienceMember.objects.filter(audience=audience).count()
    counts = {}
    if outcome is not None:  # None: keep the counts the last batch saved
        counts = {
            "rows_imported": outcome.imported,
            "rows_rejected": outcome.rejected,
            "rejected": outcome.sample,
            "bytes_done": profile_import.bytes_total,
        }
    with transaction.atomic():
        ProfileImport.objects.filter(pk=profile_import.pk).update(
            status=status, error=error, finished_at=timezone.now(), **counts
        )
        audience_status = Audience.Status.READY
        if status == ProfileImport.Status.FAILED and not size:
            audience_status = Audience.Status.FAILED
        Audience.objects.filter(pk=audience.pk).update(size=size, status=audience_status)
