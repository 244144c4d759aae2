from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0019_contenttemplate_editors"),
    ]

    operations = [
        migrations.AddField(
            model_name="campaignversion",
            name="editors",
            field=models.JSONField(blank=True, default=list, editable=False),
        ),
    ]
