"""Snapshot models: raw events and sessions rolled into hourly, daily and monthly buckets.

A bucket is identified by its granularity and its start instant (UTC): an hourly bucket is
a UTC hour; a daily bucket is one *local* day of the website's time zone, stored by the
UTC instant of its local midnight. Every bucket is recomputed from raw data and replaced,
never incremented (see ``rollups.fill``).

Unique visitors add exactly across daily buckets: the visitor id is a hash salted per
local day, so the same person on two days has two ids and the distinct count of a range of
whole days is the sum of the daily counts. They do *not* add across hourly buckets (one
person in two hours of one day has one id), which is why intra-day totals come from the
daily bucket of that day, never from summed hours. Monthly buckets are exact sums of their
daily buckets (visitors included, for the same reason).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator

from django.conf import settings
from django.db import models, transaction
from django.db.models import F

from websites.models import Website


class Granularity(models.TextChoices):
    HOUR = "hour"
    DAY = "day"
    # Sums of a closed local month's daily snapshots: a year is 12 rows per value, not 365.
    MONTH = "month"


class Snapshot(models.Model):
    """Headline measures of one bucket, defined as in ``stats.queries``."""

    website = models.ForeignKey("websites.Website", on_delete=models.CASCADE, db_index=False)
    granularity = models.CharField(max_length=8, choices=Granularity.choices)
    start = models.DateTimeField()
    pageviews = models.PositiveIntegerField(default=0)
    visitors = models.PositiveIntegerField(default=0)
    sessions = models.PositiveIntegerField(default=0)
    bounces = models.PositiveIntegerField(default=0)
    duration_s = models.PositiveBigIntegerField(default=0)
    session_pageviews = models.PositiveIntegerField(default=0)
    exits = models.PositiveIntegerField(default=0)
    # Engaged time of the bucket's sessions. Nullable, like the rows' new measures: added
    # without rewriting the tables (NULL reads as 0).
    engaged_ms = models.BigIntegerField(null=True, blank=True)
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["website", "granularity", "start"], name="snapshot_bucket_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.granularity} snapshot of website {self.website_id} at {self.start}"


class SnapshotRow(models.Model):
    """One dimension value of one bucket.

    Session dimensions (entry/exit page, source, UTM, browser, OS, device) describe the
    sessions that started in the bucket with that value: their visitors, sessions, page
    views, bounces, total duration, exits and engaged time. ``page`` rows count the page
    views of that path made in the bucket and the distinct visitors who made them
    (``sessions`` is 0), and the reports of its views sent in the bucket: their engaged
    time, the views that reported one, the sum of their deepest scroll, the views that
    reported one (``stats.measures.PAGE``).
    """

    # Deleted with the website in SQL (``rollups.signals``): a busy site keeps hundreds of
    # thousands of rows, which the admin's confirmation page would load and list one by one.
    website = models.ForeignKey("websites.Website", on_delete=models.DO_NOTHING, db_index=False)
    granularity = models.CharField(max_length=8, choices=Granularity.choices)
    start = models.DateTimeField()
    dimension = models.CharField(max_length=16)
    value = models.TextField()
    pageviews = models.PositiveIntegerField(default=0)
    visitors = models.PositiveIntegerField(default=0)
    sessions = models.PositiveIntegerField(default=0)
    bounces = models.PositiveIntegerField(default=0)
    duration_s = models.PositiveBigIntegerField(default=0)
    exits = models.PositiveIntegerField(default=0)
    engaged_ms = models.BigIntegerField(null=True, blank=True)
    engaged_views = models.IntegerField(null=True, blank=True)
    scroll_pct_sum = models.BigIntegerField(null=True, blank=True)
    scroll_views = models.IntegerField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["website", "granularity", "dimension", "start"], name="snaprow_lookup"
            ),
            # A bucket's rows are replaced together.
            models.Index(fields=["website", "granularity", "start"], name="snaprow_bucket"),
        ]

    def __str__(self) -> str:
        return f"{self.dimension}={self.value!r} at {self.start}"


class Watermark(models.Model):
    """Per website and granularity: every bucket starting before ``closed_until`` is final.

    A late event (a session that goes on after its bucket was closed, an import of old
    events) moves ``closed_until`` back, and the next rollup recomputes from there.

    Cache keys include these counters, so a new fill makes old answers unreachable:
    ``version`` changes on every write of a bucket of this granularity (the open hour and
    day included); ``repairs`` only when ``closed_until`` moves back, that is when a closed
    bucket may change. ``raw_pruned_before`` (daily row): raw data before it is deleted, so
    buckets before it are never recomputed.

    Every change goes through the methods below, on a row obtained from ``locked()``.
    """

    website = models.ForeignKey("websites.Website", on_delete=models.CASCADE, db_index=False)
    granularity = models.CharField(max_length=8, choices=Granularity.choices)
    closed_until = models.DateTimeField(null=True, blank=True)
    # The first bucket ever rolled: snapshots answer [covered_from, closed_until).
    covered_from = models.DateTimeField(null=True, blank=True)
    version = models.PositiveBigIntegerField(default=0)
    repairs = models.PositiveBigIntegerField(default=0)
    raw_pruned_before = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["website", "granularity"], name="watermark_unique")
        ]

    def __str__(self) -> str:
        return f"{self.granularity} watermark of website {self.website_id}: {self.closed_until}"

    @classmethod
    @contextlib.contextmanager
    def locked(cls, website: Website, granularity: str) -> Iterator[Watermark]:
        """The website's watermark row (created if missing), locked until the block ends.

        The block is one transaction: the buckets it replaces and the watermark change
        commit together, and concurrent writers of this website and granularity wait.
        """
        with transaction.atomic():
            cls.objects.get_or_create(website=website, granularity=granularity)
            yield cls.objects.select_for_update().get(website=website, granularity=granularity)

    def is_closed(self, bucket_start: dt.datetime) -> bool:
        """Whether the bucket starting at ``bucket_start`` is final (before ``closed_until``)."""
        return self.closed_until is not None and bucket_start < self.closed_until

    def has_raw(self, bucket_start: dt.datetime) -> bool:
        """Whether the raw data of a bucket starting there still exists (not pruned)."""
        return self.raw_pruned_before is None or bucket_start >= self.raw_pruned_before

    def close_through(self, bucket_start: dt.datetime, bucket_end: dt.datetime) -> None:
        """Mark the bucket ``[bucket_start, bucket_end)`` final: ``closed_until`` moves to its
        end, ``covered_from`` back to its start if it is the first, and ``version`` goes up."""
        self.closed_until = bucket_end
        if self.covered_from is None or bucket_start < self.covered_from:
            self.covered_from = bucket_start
        self.version = F("version") + 1
        self.save(update_fields=["closed_until", "covered_from", "version"])

    def bump(self, *, repair: bool = False) -> None:
        """Record a rewritten bucket: ``version`` goes up; ``repairs`` too when the bucket
        was closed (``repair=True``), so cached answers over closed buckets expire."""
        self.version = F("version") + 1
        fields = ["version"]
        if repair:
            self.repairs = F("repairs") + 1
            fields.append("repairs")
        self.save(update_fields=fields)

    def move_back(self, to: dt.datetime) -> None:
        """Reopen every bucket from ``to`` on: the next rollup recomputes them."""
        self.closed_until = to
        self.version = F("version") + 1
        self.repairs = F("repairs") + 1
        self.save(update_fields=["closed_until", "version", "repairs"])


def retention_horizon(granularity: str, now: dt.datetime) -> dt.datetime:
    """Snapshots of this granularity starting before the returned instant are deleted by
    retention (``HOURLY_RETENTION_DAYS``, ``DAILY_RETENTION_DAYS`` for days and months)."""
    if granularity == Granularity.HOUR:
        return now - dt.timedelta(days=settings.HOURLY_RETENTION_DAYS)
    return now - dt.timedelta(days=settings.DAILY_RETENTION_DAYS)


class OpenPart(models.Model):
    """The running totals of one bucket that is not closed yet (``rollups.incremental``).

    ``seen_until``: every event made before it has been absorbed; ``seen_ids`` are the
    events made since then that have been absorbed too, as runs ``[first, last]`` of
    consecutive ids. ``definitions``: the goals and funnels the totals counted and the
    records' format (a change rebuilds them).
    """

    website = models.ForeignKey("websites.Website", on_delete=models.CASCADE, db_index=False)
    granularity = models.CharField(max_length=8, choices=Granularity.choices)
    start = models.DateTimeField()
    seen_until = models.DateTimeField()
    seen_ids = models.JSONField(default=list)
    definitions = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["website", "granularity", "start"], name="openpart_bucket_unique"
            )
        ]

    def __str__(self) -> str:
        return f"open {self.granularity} of website {self.website_id} at {self.start}"


class OpenRow(models.Model):
    """One (dimension, value) of an open bucket's totals: its measures as a name -> int
    object, with ``items`` (sessions, events or reports) deciding whether its row exists."""

    # Deleted with their part in SQL (``rollups.signals``), not listed one by one.
    part = models.ForeignKey(OpenPart, on_delete=models.DO_NOTHING, db_index=False)
    dimension = models.CharField(max_length=16)
    value = models.TextField()
    measures = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["part", "dimension", "value"], name="openrow_key_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.dimension}={self.value!r} of {self.part_id}"


class OpenRecord(models.Model):
    """One session that may still change, as an open bucket's totals counted it: its
    mutable fields and its events' ids (``contribution``), so that the next refresh can
    take back what it added when the session changes."""

    # One per open session of the day: deleted with their part in SQL (``rollups.signals``).
    part = models.ForeignKey(OpenPart, on_delete=models.DO_NOTHING, db_index=False)
    session_id = models.BigIntegerField()
    last_seen_at = models.DateTimeField()
    contribution = models.JSONField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["part", "session_id"], name="openrecord_unique")
        ]
        indexes = [models.Index(fields=["part", "last_seen_at"], name="openrecord_seen")]

    def __str__(self) -> str:
        return f"session {self.session_id} of {self.part_id}"
