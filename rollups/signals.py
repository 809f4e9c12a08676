"""A website's snapshot rows go with it, and an open bucket's rows and records with their
part, as one delete each in the deleting transaction, not row by row through Django's
cascade: the admin's confirmation page would list them all (``tracking.signals`` does the
same for the raw data)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import pre_delete
from django.dispatch import receiver

from rollups.models import OpenPart, OpenRecord, OpenRow, SnapshotRow
from websites.models import Website


@receiver(pre_delete, sender=Website, dispatch_uid="rollups-snapshot-rows")
def _snapshot_rows_delete(sender: Any, instance: Website, using: str, **_: Any) -> None:
    SnapshotRow.objects.using(using).filter(website_id=instance.pk)._raw_delete(using)


@receiver(pre_delete, sender=OpenPart, dispatch_uid="rollups-open-part")
def _open_part_delete(sender: Any, instance: OpenPart, using: str, **_: Any) -> None:
    OpenRecord.objects.using(using).filter(part_id=instance.pk)._raw_delete(using)
    OpenRow.objects.using(using).filter(part_id=instance.pk)._raw_delete(using)
