from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("websites", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="website",
            name="allowed_hostnames",
            field=models.TextField(blank=True, default=""),
        ),
    ]
