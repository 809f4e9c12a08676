"""A website's snapshot rows go with it, as one delete by website in the deleting
transaction, not row by row through Django's cascade (``tracking.signals`` does the same
for the raw data)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import pre_delete
from django.dispatch import receiver

from rollups.models import SnapshotRow
from websites.models import Website


@receiver(pre_delete, sender=Website, dispatch_uid="rollups-snapshot-rows")
def _snapshot_rows_delete(sender: Any, instance: Website, using: str, **_: Any) -> None:
    SnapshotRow.objects.using(using).filter(website_id=instance.pk)._raw_delete(using)
