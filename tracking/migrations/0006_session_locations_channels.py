"""Where visits come from (country, region, city, language, screen size, channel, the
other UTM tags) and two exclusion drop reasons.

The new columns are NOT NULL with "" for existing rows: PostgreSQL (11+) stores such a
default in the catalogue and rewrites no rows.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tracking", "0005_custom_events"),
    ]

    operations = [
        migrations.AddField(
            model_name="session",
            name="channel",
            field=models.CharField(blank=True, max_length=32),
        ),
        migrations.AddField(
            model_name="session",
            name="city",
            field=models.CharField(blank=True, max_length=128),
        ),
        migrations.AddField(
            model_name="session",
            name="country",
            field=models.CharField(blank=True, max_length=2),
        ),
        migrations.AddField(
            model_name="session",
            name="language",
            field=models.CharField(blank=True, max_length=16),
        ),
        migrations.AddField(
            model_name="session",
            name="region",
            field=models.CharField(blank=True, max_length=8),
        ),
        migrations.AddField(
            model_name="session",
            name="screen_size",
            field=models.CharField(blank=True, max_length=8),
        ),
        migrations.AddField(
            model_name="session",
            name="utm_content",
            field=models.CharField(blank=True, max_length=255),
        ),
        migrations.AddField(
            model_name="session",
            name="utm_term",
            field=models.CharField(blank=True, max_length=255),
        ),
        migrations.AlterField(
            model_name="dropcount",
            name="reason",
            field=models.CharField(
                choices=[
                    ("bot", "Bot events filtered out"),
                    ("exit_without_session", "Exit reports without a visit, ignored"),
                    ("duplicate", "Retried events already stored"),
                    ("rate_limited", "Page views over the per-visit rate limit"),
                    ("referrer_spam", "Referrer spam filtered out"),
                    ("do_not_track", "Visitors asking not to be tracked (DNT / GPC)"),
                    ("foreign_host", "Events from pages on hosts the settings do not allow"),
                    ("excluded_ip", "Events from addresses the settings exclude"),
                    ("excluded_path", "Events on pages the settings exclude"),
                ],
                max_length=32,
            ),
        ),
    ]
