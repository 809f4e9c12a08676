"""Custom events: type EVENT with a name and optional props, both NULL on other rows.

Adding nullable columns without a default rewrites no rows on PostgreSQL or SQLite.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tracking", "0004_dropcount_foreign_host"),
    ]

    operations = [
        migrations.AddField(
            model_name="event",
            name="name",
            field=models.TextField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="event",
            name="props",
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="event",
            name="type",
            field=models.CharField(
                choices=[
                    ("PAGE_VIEW", "Page View"),
                    ("PATH_CHANGE", "Path Change"),
                    ("PAGE_EXIT", "Page Exit"),
                    ("EVENT", "Event"),
                ],
                max_length=12,
            ),
        ),
    ]
