"""Per-page engagement: what a PATH_CHANGE or PAGE_EXIT reports of the page view it
leaves, and what the session keeps to count each view once (docs/decisions.md).

Every new column is nullable, without a default and without a CHECK (the "positive"
fields have one): PostgreSQL then adds it without rewriting or even scanning the table,
SQLite without copying it, and a NULL takes no room in the rows that never carry one.
The payload's validation keeps the values in range.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tracking", "0006_session_locations_channels"),
    ]

    operations = [
        migrations.AddField(
            model_name="session",
            name="engaged_ms",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="session",
            name="view_scroll",
            field=models.SmallIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="event",
            name="scroll_pct",
            field=models.SmallIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="event",
            name="engaged_view",
            field=models.BooleanField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="event",
            name="engaged_path",
            field=models.TextField(blank=True, null=True),
        ),
    ]
