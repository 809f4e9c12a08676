# JobRun moved to the jobs app (jobs.0001_initial); its table rollups_jobrun stays as it is.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('rollups', '0002_granularity_month'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='JobRun')],
            database_operations=[],
        ),
    ]
