"""Job bookkeeping: the last success and error of each periodic job."""

from __future__ import annotations

from django.db import models


class JobRun(models.Model):
    """The last successful run of each periodic job (``simple-analytics status``)."""

    name = models.CharField(max_length=64, primary_key=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        # Created by the rollups app, which held this model first: the rows stay put.
        db_table = "rollups_jobrun"

    def __str__(self) -> str:
        return f"{self.name}: {self.last_success_at}"
