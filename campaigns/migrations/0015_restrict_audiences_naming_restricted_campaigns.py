"""Review 4 #10: a rule audience naming a restricted campaign in an engagement
condition tells who received, opened or clicked it; such audiences are now
restricted when saved. Existing open ones are restricted here, their author
keeping view and change access (they could see the campaign when the rule was
saved: the builder and the API refuse any other)."""

from django.db import migrations


def _named(rule) -> set[int]:
    found: set[int] = set()

    def walk(node) -> None:
        if not isinstance(node, dict) or len(node) != 1:
            return
        ((kind, items),) = node.items()
        if kind not in ("all", "any") or not isinstance(items, list):
            return
        for item in items:
            if isinstance(item, dict) and "engagement" in item:
                pk = item.get("campaignId")
                if isinstance(pk, int) and not isinstance(pk, bool) and 0 < pk < 2**63:
                    found.add(pk)
            elif isinstance(item, dict):
                walk(item)

    walk(rule)
    return found


def restrict(apps, schema_editor) -> None:
    Audience = apps.get_model("audiences", "Audience")
    Campaign = apps.get_model("campaigns", "Campaign")
    Permission = apps.get_model("auth", "Permission")
    ContentType = apps.get_model("contenttypes", "ContentType")
    UserObjectPermission = apps.get_model("guardian", "UserObjectPermission")

    restricted = set(Campaign.objects.filter(restricted=True).values_list("pk", flat=True))
    if not restricted:
        return
    rows = Audience.objects.filter(kind="rule", restricted=False).values_list(
        "pk", "rule", "created_by_id"
    )
    naming = [(pk, author) for pk, rule, author in rows.iterator() if _named(rule) & restricted]
    if not naming:
        return
    Audience.objects.filter(pk__in=[pk for pk, _ in naming]).update(restricted=True)
    content_type = ContentType.objects.filter(app_label="audiences", model="audience").first()
    perms = list(
        Permission.objects.filter(
            content_type=content_type, codename__in=["view_audience", "change_audience"]
        )
    )
    for pk, author in naming:
        if author is None:
            continue
        for perm in perms:
            UserObjectPermission.objects.get_or_create(
                user_id=author, permission=perm, content_type=content_type, object_pk=str(pk)
            )


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0014_merge_0012_proof_lease_0013_backfill_held_out_at"),
        ("audiences", "0006_conversion_event_id_per_person"),
        ("guardian", "0003_remove_groupobjectpermission_guardian_gr_content_ae6aec_idx_and_more"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(restrict, migrations.RunPython.noop)]
