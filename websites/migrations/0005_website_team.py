"""Websites belong to teams: every user gets a personal team (its owner), and each
website moves to its owner's personal team; ``owner`` stays as "created by"."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def personal_teams(apps, schema_editor):
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    Team = apps.get_model("teams", "Team")
    Membership = apps.get_model("teams", "Membership")
    Website = apps.get_model("websites", "Website")
    users = User.objects.values_list("pk", "email", "username")
    for user_id, email, username in users.iterator():
        team, created = Team.objects.get_or_create(
            personal_for_id=user_id, defaults={"name": (email or username)[:100] or "Personal"}
        )
        if created:
            Membership.objects.create(team=team, user_id=user_id, role="owner")
        Website.objects.filter(owner_id=user_id, team__isnull=True).update(team=team)


class Migration(migrations.Migration):
    dependencies = [
        ("teams", "0001_initial"),
        ("websites", "0004_sharelink"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="website",
            name="team",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="websites",
                to="teams.team",
            ),
        ),
        migrations.AlterField(
            model_name="website",
            name="owner",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="websites",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.RunPython(personal_teams, migrations.RunPython.noop),
    ]
