# JobRun, moved here from the rollups app: only the model state moves. Its table
# (rollups_jobrun, created by rollups.0001_initial) and its rows stay as they are.

from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('rollups', '0003_jobrun_to_jobs'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='JobRun',
                    fields=[
                        ('name', models.CharField(max_length=64, primary_key=True, serialize=False)),
                        ('last_success_at', models.DateTimeField(blank=True, null=True)),
                        ('last_error_at', models.DateTimeField(blank=True, null=True)),
                        ('last_error', models.TextField(blank=True)),
                    ],
                    options={
                        'db_table': 'rollups_jobrun',
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
