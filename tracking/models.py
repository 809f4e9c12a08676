"""Raw tracking data: events, the sessions they belong to, daily salts and drop counters."""

from __future__ import annotations

from django.db import models


class EventType(models.TextChoices):
    PAGE_VIEW = "PAGE_VIEW"
    PATH_CHANGE = "PATH_CHANGE"
    PAGE_EXIT = "PAGE_EXIT"
    EVENT = "EVENT"  # a custom event: a name and optional props, not a page view


PAGEVIEW_TYPES = frozenset({EventType.PAGE_VIEW.value, EventType.PATH_CHANGE.value})


class DeviceType(models.TextChoices):
    DESKTOP = "desktop"
    MOBILE = "mobile"
    TABLET = "tablet"


class DropReason(models.TextChoices):
    """Why an event answered 2xx was not stored; the label is what the dashboard shows."""

    BOT = "bot", "Bot events filtered out"
    EXIT_WITHOUT_SESSION = "exit_without_session", "Exit reports without a visit, ignored"
    DUPLICATE = "duplicate", "Retried events already stored"
    RATE_LIMITED = "rate_limited", "Page views over the per-visit rate limit"
    REFERRER_SPAM = "referrer_spam", "Referrer spam filtered out"
    DO_NOT_TRACK = "do_not_track", "Visitors asking not to be tracked (DNT / GPC)"
    FOREIGN_HOST = "foreign_host", "Events from pages on hosts the settings do not allow"
    EXCLUDED_IP = "excluded_ip", "Events from addresses the settings exclude"
    EXCLUDED_PATH = "excluded_path", "Events on pages the settings exclude"


class Salt(models.Model):
    """The random salt of one calendar day; deleted about two days later (see identity.py)."""

    day = models.DateField(unique=True)
    value = models.BinaryField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"salt of {self.day}"  # never the value


class Session(models.Model):
    """A visit: one visitor's events with less than 30 minutes between consecutive events.

    ``visitor_id`` is a keyed hash (64 bits) of the salt of the website's local day, the
    website, the IP and the User-Agent; neither the IP nor the User-Agent is stored.
    """

    # No index of its own: session_site_started starts with it. Deleted with the website
    # by ``tracking.signals``, in SQL: Django's cascade would load every session first.
    website = models.ForeignKey("websites.Website", on_delete=models.DO_NOTHING, db_index=False)
    visitor_id = models.BigIntegerField()
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    duration_s = models.PositiveIntegerField(default=0)
    entry_path = models.TextField()
    exit_path = models.TextField()
    pageviews = models.PositiveIntegerField(default=0)
    is_bounce = models.BooleanField(default=True)
    has_exit = models.BooleanField(default=False)
    browser = models.CharField(max_length=64, blank=True)
    os = models.CharField(max_length=64, blank=True)
    device = models.CharField(max_length=8, choices=DeviceType.choices)
    source = models.CharField(max_length=255, blank=True)
    referrer_host = models.CharField(max_length=255, blank=True)
    utm_source = models.CharField(max_length=255, blank=True)
    utm_medium = models.CharField(max_length=255, blank=True)
    utm_campaign = models.CharField(max_length=255, blank=True)
    utm_content = models.CharField(max_length=255, blank=True)
    utm_term = models.CharField(max_length=255, blank=True)
    channel = models.CharField(max_length=32, blank=True)
    screen = models.PositiveIntegerField(null=True, blank=True)
    screen_size = models.CharField(max_length=8, blank=True)  # "" when no width was sent
    # ISO 3166-1 alpha-2 and 3166-2 codes, the city's English name, the primary language
    # subtag ("en"); "" when unknown. Never the address they were looked up from.
    country = models.CharField(max_length=2, blank=True)
    region = models.CharField(max_length=8, blank=True)
    city = models.CharField(max_length=128, blank=True)
    language = models.CharField(max_length=16, blank=True)
    # A fixed one-minute window of page views, to cap a storm of SPA navigations (see
    # ``INGEST_SESSION_PAGEVIEWS_PER_MINUTE``); kept here so the cap costs no extra query.
    minute_started_at = models.DateTimeField(null=True, blank=True)
    minute_pageviews = models.PositiveIntegerField(default=0)
    # Engaged time reported for the visit's pages. Nullable, like the columns below: added
    # without rewriting the table, and NULL takes no room.
    engaged_ms = models.BigIntegerField(null=True, blank=True)
    # The deepest scroll reported for the latest page view so far; NULL until it reports.
    # A later report of that view then counts neither the view nor its depth again.
    view_scroll = models.SmallIntegerField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["website", "started_at"], name="session_site_started"),
            # Session assignment looks a visitor's open session up by id (a visitor id has
            # a few sessions a day at most). Not by last_seen_at too: every event updates
            # it, and with no indexed column changed (and free room in the page, see the
            # table's fillfactor in migration 0003) PostgreSQL updates the row in place
            # (HOT) instead of adding an entry to every index.
            models.Index(fields=["visitor_id"], name="session_visitor"),
        ]

    def __str__(self) -> str:
        return (
            f"session {self.pk} of website {self.website_id} from {self.started_at:%Y-%m-%d %H:%M}"
        )


class Event(models.Model):
    # Deleted with the website or the session, in SQL (``tracking.signals``, retention).
    website = models.ForeignKey("websites.Website", on_delete=models.DO_NOTHING, db_index=False)
    session = models.ForeignKey(Session, on_delete=models.DO_NOTHING)
    type = models.CharField(max_length=12, choices=EventType.choices)
    path = models.TextField()
    created_at = models.DateTimeField()
    # The report of the page view left (PATH_CHANGE, PAGE_EXIT) as it adds up per page:
    # time and depth added, first report or not, path if not this event's (decisions.md).
    engaged_ms = models.PositiveIntegerField(null=True, blank=True)
    scroll_pct = models.SmallIntegerField(null=True, blank=True)
    engaged_view = models.BooleanField(null=True, blank=True)
    engaged_path = models.TextField(null=True, blank=True)  # noqa: DJ001
    # 64-bit hash of (website, the client's event id): a retried beacon is stored once.
    # NULL for clients that send no id (old pixel.js copies); the partial unique index
    # then costs them nothing.
    dedup_key = models.BigIntegerField(null=True, blank=True)
    # Custom events (type EVENT) only: the trimmed name, and the props as a flat {key: text}
    # object. NULL, not "", on other rows: a NULL takes no room in the row's data.
    name = models.TextField(null=True, blank=True)  # noqa: DJ001
    props = models.JSONField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["website", "created_at"], name="event_site_created"),
        ]
        constraints = [
            # The key hashes the website in, so it is unique per website by construction;
            # one bigint column keeps the index half the size of (website, key).
            models.UniqueConstraint(
                fields=["dedup_key"],
                condition=models.Q(dedup_key__isnull=False),
                name="event_dedup_key_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.path}"


class DropCount(models.Model):
    """Events answered 2xx but not stored, counted per website, UTC day and reason."""

    website = models.ForeignKey("websites.Website", on_delete=models.CASCADE)
    day = models.DateField()
    reason = models.CharField(max_length=32, choices=DropReason.choices)
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["website", "day", "reason"], name="dropcount_unique")
        ]

    def __str__(self) -> str:
        return f"{self.count} {self.reason} on {self.day}"
