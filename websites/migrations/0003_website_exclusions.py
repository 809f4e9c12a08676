"""The website's exclusions: addresses and CIDR ranges, and path patterns, whose events
are answered but not stored.

Both columns are NOT NULL with "" (nothing excluded) for existing rows: PostgreSQL (11+)
stores such a default in the catalogue and rewrites no rows.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("websites", "0002_website_allowed_hostnames"),
    ]

    operations = [
        migrations.AddField(
            model_name="website",
            name="excluded_ips",
            field=models.TextField(blank=True, default=""),
        ),
        migrations.AddField(
            model_name="website",
            name="excluded_paths",
            field=models.TextField(blank=True, default=""),
        ),
    ]
