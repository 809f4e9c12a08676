"""The measures: what is counted per bucket and per breakdown value, named once.

The names are the fields of ``Snapshot`` and ``SnapshotRow`` and the keys of every dict the
raw reads, the snapshot reads and the rollups pass around, so pieces add up by name.
"""

from __future__ import annotations

from django.db.models import Aggregate, Count, Q, Sum

# A bucket's headline measures. ``pageviews`` counts page view events by their own time;
# ``session_pageviews`` the page views of the sessions that started in the bucket.
SUMMARY: tuple[str, ...] = (
    "pageviews",
    "visitors",
    "sessions",
    "bounces",
    "duration_s",
    "session_pageviews",
    "exits",
    "engaged_ms",
)
# A session breakdown row's measures (``pageviews``: of the sessions with that value).
ROW: tuple[str, ...] = (
    "pageviews",
    "visitors",
    "sessions",
    "bounces",
    "duration_s",
    "exits",
    "engaged_ms",
)
# A page row's measures: its page views and their visitors, then the reports of its views
# (sums and counts, so they add up: time on page = engaged_ms / engaged_views).
PAGE: tuple[str, ...] = (
    "pageviews",
    "visitors",
    "engaged_ms",
    "engaged_views",
    "scroll_pct_sum",
    "scroll_views",
)
# Every measure a snapshot row stores.
STORED_ROW: tuple[str, ...] = (*ROW, *PAGE[3:])
# A breakdown's totals as the reads return them, in this order.
TOTALS: tuple[str, ...] = ("pageviews", "visitors", "sessions", *PAGE[2:])


def session_aggregates() -> dict[str, Aggregate]:
    """Each row measure over raw ``Session`` rows (definitions in ``stats.queries``)."""
    return {
        "pageviews": Sum("pageviews"),
        "visitors": Count("visitor_id", distinct=True),
        "sessions": Count("id"),
        "bounces": Count("id", filter=Q(is_bounce=True)),
        "duration_s": Sum("duration_s"),
        "exits": Count("id", filter=Q(has_exit=True)),
        "engaged_ms": Sum("engaged_ms"),
    }


def sums(names: tuple[str, ...]) -> dict[str, Aggregate]:
    """``Sum`` of each stored measure: snapshots add up across buckets."""
    return {name: Sum(name) for name in names}


def zero(names: tuple[str, ...] = SUMMARY) -> dict[str, int]:
    return dict.fromkeys(names, 0)
