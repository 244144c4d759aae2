"""Keys an administrator made for someone else before ``0007`` are known as such.

``0007`` added ``ApiKey.created_by`` and ``for_another`` empty: every older
key looked like its owner's own, so ``accounts.keyguard`` never checked the
keys administrators had made for others, and such a key still followed its
owner's powers (a grant on a restricted campaign, the superuser flag) while
its maker kept a copy (tenth review #5; twelfth review). The admin logged
each key it made (``LogEntry``, an addition, by the administrator): a key
whose addition was logged by someone other than its owner was made for them.
Keys made on the settings page, through the API or with ``create_api_key``
were logged by nobody and stay their owner's. The keys marked here are
checked once ``migrate`` ends (``AccountsConfig``'s ``post_migrate``)."""

from django.db import migrations

ADDITION = 1


def mark(apps, schema_editor):
    ApiKey = apps.get_model("accounts", "ApiKey")
    LogEntry = apps.get_model("admin", "LogEntry")
    ContentType = apps.get_model("contenttypes", "ContentType")
    kind = ContentType.objects.filter(app_label="accounts", model="apikey").first()
    if kind is None:
        return
    makers = {}
    for object_id, user_id in (
        LogEntry.objects.filter(content_type=kind, action_flag=ADDITION)
        .order_by("action_time")
        .values_list("object_id", "user_id")
    ):
        makers.setdefault(object_id, user_id)
    keys = ApiKey.objects.filter(created_by__isnull=True, for_another=False)
    for key in keys.only("pk", "user_id"):
        maker = makers.get(str(key.pk))
        if maker is not None and maker != key.user_id:
            ApiKey.objects.filter(pk=key.pk).update(created_by_id=maker, for_another=True)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_apikey_made_by"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(mark, migrations.RunPython.noop)]
