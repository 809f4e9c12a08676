from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tracking", "0003_session_hot_updates"),
    ]

    operations = [
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
                ],
                max_length=32,
            ),
        ),
    ]
