"""Business rules at send time (SPEC §12): exact, whatever the number of senders.

``hold_back`` runs inside the short transaction that claims a batch
(``send.claim_batch``, shared by the run senders and the trigger dispatcher),
right after the claim's UPDATE, so a delivery is either claimed *and counted*
or not claimed at all; no lock outlives that transaction, and none is held
while a provider answers.

* Quiet hours: a claimed delivery whose profile is inside a rule's daily quiet
  window (the profile's time zone, else the campaign's) goes back to
  ``pending`` with ``send_after`` at the window's end (action ``delay``), or is
  excluded with reason ``quiet_hours`` (``skip``).
* Frequency caps: one ``RuleCounter`` row per (capping rule, profile) holds the
  profile's recent sends. One upsert creates the missing rows, locks them all
  (PostgreSQL: the conflicting rows are locked until commit, like ``SELECT …
  FOR UPDATE``; SQLite: the IMMEDIATE transaction already holds the only write
  lock) and returns their contents; the batch is counted in memory; one more
  upsert writes the new contents. Two senders that claimed deliveries of the
  same profile (two campaigns, two hosts) serialize on that row: the second
  reads what the first committed, so both cannot pass the cap. Rows are
  touched in (rule, profile) order, so senders never deadlock.

A send is counted when it is claimed, keyed by the delivery's id: a delivery
claimed again after a lease expired or a transient failure is not counted
twice. A claimed delivery that then fails still counts (the cap errs towards
fewer messages, never more).

The cost when no rule applies: one read of the (small) rules table per batch.
With a cap: one read of the batch's profiles and two upserts per batch, never
a statement per delivery.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime

from django.db import connection
from django.db.models import F

from campaigns.engine.clock import now
from campaigns.models import BusinessRule, Delivery, RuleCounter, Run
from campaigns.rules import applies, quiet_until, zone


class HeldBack:
    """What one claim held back: counts by reason and the delayed ones."""

    def __init__(self) -> None:
        self.excluded: dict[str, list[int]] = defaultdict(list)  # reason → delivery ids
        self.delayed: dict[datetime, list[int]] = defaultdict(list)  # until → delivery ids

    def __len__(self) -> int:
        return sum(map(len, self.excluded.values())) + sum(map(len, self.delayed.values()))


def hold_back(claimed: list[tuple[int, int]], runs: dict[int, Run]) -> tuple[list, int]:
    """Inside the claim's transaction: apply the business rules to the claimed
    (delivery id, run id) pairs; the pairs that may be sent, and how many were
    held back (already written: excluded, or pending again with a later
    ``send_after``)."""
    if not claimed:
        return claimed, 0
    rules = list(BusinessRule.objects.filter(active=True))
    if not rules:
        return claimed, 0
    rules_of_run = {}
    for run_id in {rid for _pk, rid in claimed}:
        campaign = runs[run_id].campaign
        rules_of_run[run_id] = [
            r
            for r in rules
            if applies(
                r,
                channel=campaign.channel,
                category=campaign.category,
                exempt=campaign.exempt_from_rules,
            )
        ]
    checked = [(pk, rid) for pk, rid in claimed if rules_of_run[rid]]
    if not checked:
        return claimed, 0
    moment = now()
    profiles = {
        pk: (profile_id, tz)
        for pk, profile_id, tz in Delivery.objects.filter(
            id__in=[pk for pk, _rid in checked]
        ).values_list("id", "profile_id", "profile__timezone")
    }
    held = HeldBack()
    passing = _quiet_hours(checked, runs, rules_of_run, profiles, moment, held)
    _caps(passing, rules_of_run, profiles, moment, held)
    if not len(held):
        return claimed, 0
    _write(held, dict(claimed))
    gone = {pk for ids in held.excluded.values() for pk in ids}
    gone |= {pk for ids in held.delayed.values() for pk in ids}
    return [(pk, rid) for pk, rid in claimed if pk not in gone], len(held)


def _quiet_hours(checked, runs, rules_of_run, profiles, moment, held) -> list:
    passing = []
    for pk, rid in checked:
        quiet = [r for r in rules_of_run[rid] if r.has_quiet_hours]
        if not quiet or pk not in profiles:
            passing.append((pk, rid))
            continue
        tz = zone(profiles[pk][1], runs[rid].version.timezone)
        ends = [(r, quiet_until(moment, r.quiet_start, r.quiet_end, tz)) for r in quiet]
        ends = [(r, until) for r, until in ends if until is not None]
        if not ends:
            passing.append((pk, rid))
        elif any(r.quiet_action == BusinessRule.QuietAction.SKIP for r, _u in ends):
            held.excluded[Delivery.Reason.QUIET_HOURS].append(pk)
        else:
            held.delayed[max(until for _r, until in ends)].append(pk)
    return passing


def _caps(passing, rules_of_run, profiles, moment, held) -> None:
    wanted = sorted(
        {
            (r.pk, profiles[pk][0])
            for pk, rid in passing
            for r in rules_of_run[rid]
            if r.has_cap and pk in profiles and profiles[pk][0] is not None
        }
    )
    if not wanted:
        return
    recent = _lock_counters(wanted)
    by_id = {r.pk: r for rules in rules_of_run.values() for r in rules}
    epoch = int(moment.timestamp())
    for rule_id, rows in list(recent.items()):
        window = by_id[rule_id].cap_window_hours * 3600
        recent[rule_id] = {
            p: [e for e in sends if e[0] > epoch - window] for p, sends in rows.items()
        }
    changed: set[tuple[int, int]] = set()
    for pk, rid in sorted(passing):
        profile_id = profiles.get(pk, (None,))[0]
        caps = [r for r in rules_of_run[rid] if r.has_cap]
        if profile_id is None or not caps:
            continue
        lists = [(r, recent[r.pk][profile_id]) for r in caps]
        if any(any(e[1] == pk for e in sends) for _r, sends in lists):
            continue  # claimed before (lease expired, transient failure): counted once
        if any(len(sends) >= r.cap_max_messages for r, sends in lists):
            held.excluded[Delivery.Reason.FREQUENCY_CAP].append(pk)
            continue
        for r, sends in lists:
            sends.append([epoch, pk])
            changed.add((r.pk, profile_id))
    if changed:
        _store_counters(sorted((k, recent[k[0]][k[1]]) for k in changed))


def _json_param() -> str:
    return "%s::jsonb" if connection.vendor == "postgresql" else "%s"


def _lock_counters(keys: list[tuple[int, int]]) -> dict[int, dict[int, list]]:
    """Create, lock and read the counters of ``keys`` (sorted) in one statement
    (one per 300 keys: SQLite takes at most 999 parameters)."""
    table = RuleCounter._meta.db_table
    found: dict[int, dict[int, list]] = defaultdict(dict)
    for start in range(0, len(keys), 300):
        chunk = keys[start : start + 300]
        rows = ", ".join([f"(%s, %s, {_json_param()})"] * len(chunk))
        sql = (
            f"INSERT INTO {table} (rule_id, profile_id, recent) VALUES {rows}"
            f" ON CONFLICT (rule_id, profile_id) DO UPDATE SET recent = {table}.recent"
            " RETURNING rule_id, profile_id, recent"
        )
        params = [v for rule_id, profile_id in chunk for v in (rule_id, profile_id, "[]")]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            for rule_id, profile_id, recent in cursor.fetchall():
                sends = json.loads(recent) if isinstance(recent, str) else recent
                found[rule_id][profile_id] = sends
    return found


def _store_counters(items: list[tuple[tuple[int, int], list]]) -> None:
    table = RuleCounter._meta.db_table
    for start in range(0, len(items), 300):
        chunk = items[start : start + 300]
        rows = ", ".join([f"(%s, %s, {_json_param()})"] * len(chunk))
        sql = (
            f"INSERT INTO {table} (rule_id, profile_id, recent) VALUES {rows}"
            " ON CONFLICT (rule_id, profile_id) DO UPDATE SET recent = excluded.recent"
        )
        params = [v for (r, p), sends in chunk for v in (r, p, json.dumps(sends))]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def _write(held: HeldBack, run_of: dict[int, int]) -> None:
    """Excluded with their reason, or pending again until the window ends (a
    delay is not an attempt); the runs' ``excluded`` counters moved."""
    excluded_per_run: dict[int, int] = defaultdict(int)
    for reason, ids in held.excluded.items():
        Delivery.objects.filter(id__in=ids).update(
            status=Delivery.Status.EXCLUDED, reason=reason, claimed_by="", lease_expires_at=None
        )
        for pk in ids:
            excluded_per_run[run_of[pk]] += 1
    for until, ids in held.delayed.items():
        Delivery.objects.filter(id__in=ids).update(
            status=Delivery.Status.PENDING,
            claimed_by="",
            lease_expires_at=None,
            send_after=until,
            attempts=F("attempts") - 1,
        )
    by_count: dict[int, list[int]] = defaultdict(list)
    for rid, n in excluded_per_run.items():
        by_count[n].append(rid)
    for n, rids in by_count.items():
        Run.objects.filter(pk__in=rids).update(excluded=F("excluded") + n)
