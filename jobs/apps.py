"""The jobs app: wires ingestion's post-commit hook to the debounced dashboard refresh, and
new goals and funnels to their backfill."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.apps import AppConfig
from django.db import transaction

if TYPE_CHECKING:
    from goals.models import Funnel, Goal


class JobsConfig(AppConfig):
    name = "jobs"

    def ready(self) -> None:
        # Injected here: tracking must not import jobs (jobs depends on tracking).
        from jobs.tasks import request_refresh
        from tracking import collect

        collect.set_commit_hook(request_refresh)

        # A new goal or funnel counts from the oldest raw data still kept, not from today.
        from django.db.models.signals import post_delete, post_save

        from goals.models import Funnel, Goal

        for model in (Goal, Funnel):
            post_save.connect(_defined, sender=model, dispatch_uid=f"backfill-{model.__name__}")
            post_delete.connect(_deleted, sender=model, dispatch_uid=f"forget-{model.__name__}")


def _defined(sender: type, instance: Goal | Funnel, created: bool, **kwargs: object) -> None:
    from jobs.tasks import backfill_conversions, definitions_changed

    website_id = instance.website_id
    # At once, not by the worker: cached answers keyed without the definitions expire now.
    transaction.on_commit(lambda: definitions_changed(website_id))
    if created:
        transaction.on_commit(lambda: backfill_conversions(website_id))


def _deleted(sender: type, instance: Goal | Funnel, **kwargs: object) -> None:
    from jobs.tasks import definitions_changed

    website_id = instance.website_id
    transaction.on_commit(lambda: definitions_changed(website_id))
