"""Nothing personal is kept: a scan of everything the app writes after real traffic.

Visitors with known IP addresses (IPv4 and IPv6, placed by a City database) and
distinctive User-Agent strings send
events through the real ingestion endpoint (both doors: the Django view and the WSGI fast
path), a bot, a Do-Not-Track visitor, a malformed request; the same address also fails a
login and sends a wrong API key, and the owner reads the dashboard and its export. Then:

- no table (every column of every table, text, binary and integer, found through the
  database's own catalogue, so new tables are scanned too) holds the IP (as text, packed
  bytes or integer) or the User-Agent string;
- no cache key or value holds them (the in-process cache, or every key of this test's
  Redis database);
- no job payload holds them: the job queue runs for real here (not in the tests'
  immediate mode), and its storage (SQLite file, or Redis) is scanned;
- no log line holds them, at DEBUG level, Huey's logger included;
- the same visitor (IP + User-Agent) on two websites gets two unrelated visitor ids;
- after the salt rotation job, no salt of a day that ended more than 48 hours ago is left,
  and yesterday's ids cannot be recomputed once their salt is gone.

It runs in both passes of ``make test``: SQLite with the local cache, then PostgreSQL and
Redis.
"""

from __future__ import annotations

import datetime as dt
import io
import ipaddress
import json
import logging
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import connection
from django.test import Client
from huey.contrib.djhuey import HUEY

from api.models import ApiKey
from simple_analytics.testing import city_database, make_user, make_website
from tracking.identity import salt_for, visitor_id
from tracking.models import DropCount, Event, Salt, Session

pytestmark = pytest.mark.django_db

IPV4 = "203.0.113.77"
IPV6 = "2001:db8:abcd:12::77"
DNT_IP = "198.51.100.201"
# Real-looking agents with a token that nothing but the agent itself would contain.
UA_DESKTOP = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.6778.1 Safari/537.36 PrivacyCanaryDesk/7.3"
)
UA_PHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1 PrivacyCanaryPhone/2"
)
UA_BOT = "PrivacyCanaryBot/1.0 (+https://bot.example/about; crawler)"
UA_DNT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0 PrivacyCanaryDNT/1"
AGENTS = (UA_DESKTOP, UA_PHONE, UA_BOT, UA_DNT)
TOKENS = ("PrivacyCanaryDesk", "PrivacyCanaryPhone", "PrivacyCanaryBot", "PrivacyCanaryDNT")
ADDRESSES = (IPV4, IPV6, DNT_IP)


def text_needles() -> list[str]:
    out = [*AGENTS, *TOKENS]
    for ip in ADDRESSES:
        addr = ipaddress.ip_address(ip)
        out += [str(addr), addr.exploded]
    return out


def byte_needles() -> list[bytes]:
    out = [n.encode() for n in text_needles()]
    out += [ipaddress.ip_address(ip).packed for ip in ADDRESSES]
    out += [n.encode("utf-16-le") for n in (IPV4, UA_DESKTOP)]
    return out


INT_NEEDLES = {int(ipaddress.ip_address(ip)) for ip in ADDRESSES}


def leaks(value: Any) -> list[str]:
    """The needles found in one stored value (text, bytes or integer)."""
    if value is None:
        return []
    if isinstance(value, memoryview):
        value = value.tobytes()
    if isinstance(value, bytes | bytearray):
        found = [repr(n) for n in byte_needles() if n in value]
        try:  # text stored as bytes (pickles, JSON)
            found += leaks(value.decode("utf-8", "ignore"))
        except Exception:
            pass
        return found
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [str(value)] if value in INT_NEEDLES else []
    text = value if isinstance(value, str) else str(value)
    return [n for n in text_needles() if n in text]


# --- what gets written ---------------------------------------------------------------


def ingest_both_doors(body: dict[str, Any], ip: str, agent: str, **headers: str) -> set[int]:
    from wsgiref.util import setup_testing_defaults

    import simple_analytics.wsgi as wsgi

    data = json.dumps(body).encode()
    statuses = set()
    response = Client().post(
        "/api/event",
        data=data,
        content_type="text/plain",
        REMOTE_ADDR=ip,
        HTTP_USER_AGENT=agent,
        **headers,
    )
    statuses.add(response.status_code)
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api/event",
        "CONTENT_TYPE": "text/plain",
        "CONTENT_LENGTH": str(len(data)),
        "wsgi.input": io.BytesIO(data),
        "REMOTE_ADDR": ip,
        "HTTP_USER_AGENT": agent,
        **headers,
    }
    setup_testing_defaults(environ)
    seen: dict[str, str] = {}
    b"".join(wsgi.application(environ, lambda status, h: seen.update(status=status)))
    statuses.add(int(seen["status"].split()[0]))
    return statuses


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    """Every log record of the test, formatted as a handler would write it, at DEBUG."""
    # Importing the WSGI entry point runs django.setup(), which configures logging afresh
    # (dropping handlers added before): do it first.
    import simple_analytics.wsgi  # noqa: F401

    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Keep(level=logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    loggers = [logging.getLogger(), logging.getLogger("huey"), logging.getLogger("django")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    yield lines
    for lg, level in zip(loggers, levels, strict=True):
        lg.removeHandler(handler)
        lg.setLevel(level)


@pytest.fixture
def real_jobs(monkeypatch):
    """The job queue as in production: tasks are serialised into its storage, not run."""
    import simple_analytics.wsgi as wsgi

    # Like Django's test client: keep the test's transaction across fast-path requests.
    monkeypatch.setattr(wsgi, "close_old_connections", lambda: None)
    HUEY.immediate = False
    HUEY.flush()
    yield HUEY
    HUEY.flush()
    HUEY.immediate = True


@pytest.fixture
def traffic(log_lines, real_jobs, settings, tmp_path):
    # A City database places the canary addresses: only its codes and names may be kept.
    place = {
        "country": {"iso_code": "GB"},
        "subdivisions": [{"iso_code": "ENG"}],
        "city": {"names": {"en": "London"}},
    }
    networks = {"203.0.113.0/24": place, "2001:db8::/32": place, "198.51.100.0/24": place}
    settings.GEOIP_DATABASE = city_database(str(tmp_path / "city.mmdb"), networks)
    # Every limiter on, so their counters exist to be scanned.
    settings.INGEST_RATE_LIMIT_IP = 10_000
    settings.INGEST_RATE_LIMIT_WEBSITE = 100_000
    settings.STATS_CACHE = True
    settings.HONOR_DNT = True
    cache.clear()
    owner = make_user("privacy-owner@example.com")
    site_a = make_website(owner=owner, domain="a.example")
    site_b = make_website(owner=make_user(), domain="b.example")
    _, key = ApiKey.issue(user=owner, name="reader")

    def page(site, path: str, **extra: Any) -> dict[str, Any]:
        return {
            "site": site.tracking_id,
            "type": "PAGE_VIEW",
            "url": f"https://{site.domain}{path}",
            **extra,
        }

    accepted = []
    for ip, agent in ((IPV4, UA_DESKTOP), (IPV6, UA_PHONE)):
        for site in (site_a, site_b):
            accepted.append(
                ingest_both_doors(page(site, "/", referrer="https://www.google.com/"), ip, agent)
            )
            accepted.append(
                ingest_both_doors({**page(site, "/pricing"), "type": "PATH_CHANGE"}, ip, agent)
            )
        accepted.append(
            ingest_both_doors(
                {**page(site_a, "/pricing"), "type": "PAGE_EXIT", "engaged_ms": 4000}, ip, agent
            )
        )
    assert accepted == [{202}] * len(accepted)
    assert ingest_both_doors(page(site_a, "/"), IPV4, UA_BOT) == {202}  # a bot: dropped
    assert ingest_both_doors(page(site_a, "/"), DNT_IP, UA_DNT, HTTP_DNT="1") == {202}
    assert ingest_both_doors(page(site_a, "/"), DNT_IP, UA_DNT, HTTP_SEC_GPC="1") == {202}
    assert ingest_both_doors({"site": "nope"}, IPV4, UA_DESKTOP) == {400}  # malformed

    # The same address fails a login and guesses an API key; the owner reads the numbers.
    Client(REMOTE_ADDR=IPV4).post(
        "/accounts/login/", {"login": "x@example.com", "password": "no"}, HTTP_USER_AGENT=UA_DESKTOP
    )
    Client(REMOTE_ADDR=IPV4).get(
        "/api/v1/stats",
        {"site": site_a.tracking_id},
        HTTP_AUTHORIZATION="Bearer sa_wrong",
        HTTP_USER_AGENT=UA_DESKTOP,
    )
    Client(REMOTE_ADDR=IPV4).get(
        "/api/v1/stats",
        {"site": site_a.tracking_id, "period": "today"},
        HTTP_AUTHORIZATION=f"Bearer {key}",
        HTTP_USER_AGENT=UA_DESKTOP,
    )
    reader = Client(REMOTE_ADDR=IPV4, HTTP_USER_AGENT=UA_DESKTOP)
    reader.force_login(owner)
    assert reader.get(f"/websites/{site_a.pk}/", {"period": "today"}).status_code == 200
    assert reader.get(f"/websites/{site_a.pk}/export.csv", {"period": "today"}).status_code == 200
    return site_a, site_b


# --- the scans -----------------------------------------------------------------------


def database_rows() -> Iterator[tuple[str, str, Any]]:
    """(table, column, value) of every table the database lists."""
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {qn(table)}")
            columns = [c[0] for c in cursor.description]
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    yield table, column, value


def cache_entries() -> Iterator[tuple[str, Any]]:
    backend = cache._cache if hasattr(cache, "_cache") else None
    if isinstance(backend, dict):  # the in-process cache of the SQLite pass
        yield from backend.items()
        return
    yield from redis_entries()


def redis_entries() -> Iterator[tuple[str, Any]]:
    """Every key and value of this test's Redis database (cache, job queue, limiters)."""
    import redis

    client = redis.Redis.from_url(django_settings.REDIS_URL)
    for key in client.scan_iter(count=500):
        kind = client.type(key).decode()
        if kind == "string":
            value: Any = client.get(key)
        elif kind == "hash":
            value = client.hgetall(key)
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        elif kind == "set":
            value = client.smembers(key)
        elif kind == "zset":
            value = client.zrange(key, 0, -1, withscores=True)
        else:
            value = client.dump(key)
        yield key.decode("utf-8", "replace"), value


def flat(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from flat(k)
            yield from flat(v)
    elif isinstance(value, list | tuple | set):
        for item in value:
            yield from flat(item)
    else:
        yield value


def job_entries() -> Iterator[tuple[str, Any]]:
    """What the job queue holds: the SQLite file of SqliteHuey, or Redis."""
    storage = HUEY.storage
    if hasattr(storage, "filename"):
        db = sqlite3.connect(storage.filename)
        try:
            for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
                for row in db.execute(f'SELECT * FROM "{table}"'):
                    for value in row:
                        yield table, value
        finally:
            db.close()
    else:
        yield from redis_entries()


def test_no_ip_address_or_user_agent_is_kept_anywhere(traffic, log_lines, real_jobs):
    site_a, site_b = traffic
    # The traffic really landed, so the scans look at real rows, keys and jobs.
    assert Event.objects.filter(website=site_a).count() == 12
    assert Event.objects.filter(website=site_b).count() == 8
    assert DropCount.objects.filter(reason="bot").exists()
    assert DropCount.objects.filter(reason="do_not_track").get().count == 4
    assert Salt.objects.exists()
    placed = set(Session.objects.values_list("country", "region", "city"))
    assert placed == {("GB", "GB-ENG", "London")}, "the City database was not used"
    entries = list(cache_entries())
    assert entries, "the cache holds nothing: the scan would prove nothing"
    jobs = list(job_entries())
    assert len(real_jobs.scheduled()) + len(real_jobs.pending()) >= 1, "no job was queued"

    found = []
    tables = set()
    for table, column, value in database_rows():
        tables.add(table)
        found += [f"table {table}.{column}: {n}" for n in leaks(value)]
    assert {"tracking_event", "tracking_session", "websites_website"} <= tables
    for key, value in entries:
        found += [f"cache key {key!r}: {n}" for n in leaks(key)]
        found += [f"cache value of {key!r}: {n}" for v in flat(value) for n in leaks(v)]
    for where, value in jobs:
        found += [f"job queue ({where}): {n}" for v in flat(value) for n in leaks(v)]
    for line in log_lines:
        found += [f"log line {line[:120]!r}: {n}" for n in leaks(line)]
    assert found == [], "\n".join(found)
    assert log_lines, "nothing was logged: the log scan would prove nothing"


def test_the_scan_finds_what_it_looks_for(traffic, log_lines):
    """The scanner itself: a planted IP or User-Agent is found in a table, the cache, the
    job queue and the logs (so a green scan means something)."""
    site_a, _ = traffic
    Session.objects.filter(website=site_a).update(browser=UA_DESKTOP[:64], referrer_host=IPV4)
    Salt.objects.update(value=ipaddress.ip_address(IPV6).packed + b"\x00" * 16)
    cache.set("planted", {"who": UA_PHONE})
    logging.getLogger("simple_analytics.planted").debug("client %s", DNT_IP)
    found = [t for t, c, v in database_rows() if leaks(v)]
    assert {"tracking_session", "tracking_salt"} <= set(found)
    assert any(leaks(v) for _, value in cache_entries() for v in flat(value))
    assert any(leaks(line) for line in log_lines)
    from jobs.tasks import refresh_website

    refresh_website.schedule((UA_BOT,), delay=3600)
    assert any(leaks(v) for _, value in job_entries() for v in flat(value))


def test_the_same_visitor_on_two_websites_has_unrelated_ids(traffic):
    site_a, site_b = traffic
    for ip_agent_sessions in (
        Session.objects.filter(device="desktop"),
        Session.objects.filter(device="mobile"),
    ):
        ids = dict(ip_agent_sessions.values_list("website_id", "visitor_id").distinct())
        assert set(ids) == {site_a.pk, site_b.pk}
        assert ids[site_a.pk] != ids[site_b.pk]
    # Each visitor is one session per website (both doors, several events).
    assert Session.objects.filter(website=site_a).count() == 2
    assert Session.objects.filter(website=site_b).count() == 2


def test_with_do_not_track_not_honoured_the_visit_is_counted(real_jobs, settings):
    settings.HONOR_DNT = False
    site = make_website(domain="c.example")
    body = {"site": site.tracking_id, "type": "PAGE_VIEW", "url": "https://c.example/"}
    assert ingest_both_doors(body, DNT_IP, UA_DNT, HTTP_DNT="1") == {202}
    assert Event.objects.filter(website=site).count() == 2
    assert not DropCount.objects.filter(reason="do_not_track").exists()


def test_salts_older_than_48_hours_are_gone_after_rotation():
    """A day's salt is needed while some time zone is on that day (until 12:00 UTC the next
    day, UTC-12) and, for sessions across midnight, on the day after. The rotation job
    deletes every salt whose day ended more than 48 hours ago, keeps the ones still needed
    and creates tomorrow's ahead."""
    from jobs.tasks import rotate_salts

    now = dt.datetime.now(dt.UTC)
    today = now.date()
    for back in range(6, -1, -1):
        salt_for(today - dt.timedelta(days=back))
    old_day = today - dt.timedelta(days=4)
    old_id = visitor_id(salt_for(old_day), 1, IPV4, UA_DESKTOP)

    rotate_salts.call_local()

    days = set(Salt.objects.values_list("day", flat=True))
    for day in days:
        day_end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC)
        assert now - day_end < dt.timedelta(hours=48), f"the salt of {day} is still there"
    assert {today - dt.timedelta(days=1), today, today + dt.timedelta(days=1)} <= days
    # Gone means gone: the old day's ids cannot be computed again (a new salt is drawn).
    from tracking.identity import forget_salts

    forget_salts()
    assert visitor_id(salt_for(old_day), 1, IPV4, UA_DESKTOP) != old_id
