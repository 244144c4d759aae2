"""Notices naming a campaign record its id (review 6, finding 7): they are
worded from the campaign as it is when read, for a reader who may see it.

Notices written before name the campaign only in their parameters. Backfilled
here: decisions and experiment results link to the campaign (its id is in the
link); an approval request's notice links to the queue, so it is matched to
the approval request made for a campaign of that name, with that message, in
the minute before it. A notice matched to nothing keeps no id and is shown
without its name (``accounts.notices.for_reader``)."""

import re
from datetime import timedelta

from django.db import migrations

_LINKED = {"approved", "changes_requested", "approval_cancelled", "experiment_winner"}
_CAMPAIGN_URL = re.compile(r"^(?:/[a-z]{2}(?:-[a-z]+)?)?/campaigns/(\d+)/")


def backfill(apps, schema_editor):
    Notification = apps.get_model("accounts", "Notification")
    ApprovalRequest = apps.get_model("campaigns", "ApprovalRequest")
    kinds = _LINKED | {"approval_requested"}
    for notice in Notification.objects.filter(kind__in=kinds).iterator(chunk_size=500):
        params = dict(notice.params or {})
        if isinstance(params.get("campaign"), int):
            continue
        pk = None
        if notice.kind in _LINKED:
            found = _CAMPAIGN_URL.match(notice.url or "")
            pk = int(found.group(1)) if found else None
        else:
            matches = list(
                ApprovalRequest.objects.filter(
                    campaign__name=params.get("name", ""),
                    message=params.get("comment", ""),
                    created_at__lte=notice.created_at,
                    created_at__gte=notice.created_at - timedelta(minutes=1),
                )
                .order_by()
                .values_list("campaign_id", flat=True)
                .distinct()
            )
            pk = matches[0] if len(matches) == 1 else None
        if pk is not None:
            params["campaign"] = pk
            Notification.objects.filter(pk=notice.pk).update(params=params)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_user_time_zone_preference"),
        ("campaigns", "0015_restrict_audiences_naming_restricted_campaigns"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
