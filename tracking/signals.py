"""A website's raw data goes with it, as two set-based deletes in the deleting transaction.

Django's own cascade loads every session of the website as an object and deletes its events
500 sessions a statement: memory and round trips in proportion to the site's traffic
(docs/PERFORMANCE.md). The foreign keys stay in the database and are checked at COMMIT.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import pre_delete
from django.dispatch import receiver

from tracking.models import Event, Session
from websites.models import Website


@receiver(pre_delete, sender=Website, dispatch_uid="tracking-raw-data")
def _raw_data_delete(sender: Any, instance: Website, using: str, **_: Any) -> None:
    _rows_delete(instance.pk, using)
    # Writers still sending to it: what they committed meanwhile goes too, and later commits
    # wait for this transaction and find the website gone (else they would fail the delete).
    list(Website.objects.using(using).select_for_update().filter(pk=instance.pk).values("pk"))
    _rows_delete(instance.pk, using)


def _rows_delete(website_id: int, using: str) -> None:
    Event.objects.using(using).filter(website_id=website_id)._raw_delete(using)
    Session.objects.using(using).filter(website_id=website_id)._raw_delete(using)
