"""Engaged time per bucket and session row; time on page and scroll depth per page row,
as sums and counts (``stats.measures.PAGE``).

Nullable, without a default or a CHECK: both databases add the columns without rewriting
the tables; NULL reads as 0. Buckets closed before this migration keep NULL (no engagement
was reported then): ``rollup --from --to`` recomputes them where raw data remains.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("rollups", "0003_jobrun_to_jobs"),
    ]

    operations = [
        migrations.AddField(
            model_name="snapshot",
            name="engaged_ms",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="snapshotrow",
            name="engaged_ms",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="snapshotrow",
            name="engaged_views",
            field=models.IntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="snapshotrow",
            name="scroll_pct_sum",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="snapshotrow",
            name="scroll_views",
            field=models.IntegerField(blank=True, null=True),
        ),
    ]
