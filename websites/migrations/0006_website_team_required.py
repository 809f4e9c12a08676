"""Separate from 0005: PostgreSQL refuses to alter a table with updates pending in the
same transaction (deferred foreign key checks)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("websites", "0005_website_team")]

    operations = [
        migrations.AlterField(
            model_name="website",
            name="team",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="websites",
                to="teams.team",
            ),
        ),
    ]
