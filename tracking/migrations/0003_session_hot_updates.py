"""Sessions updated in place: no index on a column an event changes, room in each page.

Every event updates its session's last_seen_at, duration and counters. With no indexed
column among them and free space in the row's page, PostgreSQL writes a heap-only tuple
(HOT): no new entry in any of the table's indexes. The website's own index goes too:
session_site_started starts with the website. (SQLite: the indexes only.)
"""

import django.db.models.deletion
from django.db import migrations, models

FILLFACTOR = 80


def set_fillfactor(apps, schema_editor, value=FILLFACTOR):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE tracking_session SET (fillfactor = {int(value)})")


def reset_fillfactor(apps, schema_editor):
    set_fillfactor(apps, schema_editor, value=100)


class Migration(migrations.Migration):

    dependencies = [
        ('tracking', '0002_ingestion_hardening'),
        ('websites', '0001_initial'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='session',
            name='session_visitor_seen',
        ),
        migrations.AlterField(
            model_name='session',
            name='website',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, to='websites.website'),
        ),
        migrations.AddIndex(
            model_name='session',
            index=models.Index(fields=['visitor_id'], name='session_visitor'),
        ),
        migrations.RunPython(set_fillfactor, reset_fillfactor),
    ]
