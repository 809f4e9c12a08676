"""Rate limits on ``POST /api/event``: per client IP and per website, 429 with Retry-After,
counted in Redis under the PostgreSQL + Redis pass (in process memory under the SQLite
pass), failing open when Redis is down."""

from __future__ import annotations

import ipaddress
import itertools
import json
import logging
import os
import random
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.test import override_settings

from simple_analytics.testing import DESKTOP_UA, make_website
from tracking import ratelimit
from tracking.models import DropCount, Event

pytestmark = pytest.mark.django_db

PROXIES = [ipaddress.ip_network("10.0.0.0/8")]


# Windows only move forward (as time does); this run's start is random so a shared Redis
# never holds counters of an earlier run's windows.
_windows = itertools.count(random.randrange(10**6, 10**7) * 1000)


@pytest.fixture(autouse=True)
def window(monkeypatch) -> float:
    """A fresh one-minute window per test, 5 s in: counters never meet another test's or
    another run's, and a window boundary never falls mid-test."""
    start = next(_windows) * 10 * ratelimit.WINDOW_S + 5.0
    monkeypatch.setattr(ratelimit, "_clock", lambda: start)
    ratelimit.resume()
    yield start
    ratelimit.resume()


def random_ip() -> str:
    # TEST-NET-3 would give only 256 addresses; any unicast address will do.
    return str(ipaddress.IPv4Address(random.randrange(0x0B000000, 0xDF000000)))


def post(client, website, ip: str, **extra):
    url = f"https://{website.domain}/"
    body = {"site": website.tracking_id, "type": "PAGE_VIEW", "url": url}
    body.update(extra.pop("body", {}))
    return client.generic(
        "POST",
        "/api/event",
        json.dumps(body),
        content_type="text/plain",
        HTTP_USER_AGENT=DESKTOP_UA,
        REMOTE_ADDR=ip,
        **extra,
    )


def statuses(client, website, ip: str, n: int, **extra) -> list[int]:
    return [post(client, website, ip, **extra).status_code for _ in range(n)]


@override_settings(INGEST_RATE_LIMIT_IP=5, INGEST_RATE_LIMIT_WEBSITE=0)
def test_a_flooding_client_gets_429_with_retry_after_while_a_normal_one_sees_no_error(client):
    website = make_website()
    flooder, normal = random_ip(), random_ip()
    assert statuses(client, website, flooder, 12) == [202] * 5 + [429] * 7
    refused = post(client, website, flooder)
    assert refused.status_code == 429
    assert refused["Retry-After"] == "55"  # the window started 5 s ago
    assert refused["Access-Control-Allow-Origin"] == "*"
    assert refused["Content-Type"] == "application/json"
    assert json.loads(refused.content) == {"error": "too many events, retry later"}
    assert statuses(client, website, normal, 5) == [202] * 5
    assert Event.objects.count() == 10
    assert DropCount.objects.count() == 0  # a 429 is not an accepted-then-dropped event


@override_settings(INGEST_RATE_LIMIT_IP=3, INGEST_RATE_LIMIT_WEBSITE=0)
def test_the_next_window_accepts_the_client_again(client, monkeypatch, window):
    website = make_website()
    ip = random_ip()
    assert statuses(client, website, ip, 4) == [202, 202, 202, 429]
    monkeypatch.setattr(ratelimit, "_clock", lambda: window + 54.5)  # 0.5 s before the end
    assert post(client, website, ip)["Retry-After"] == "1"
    monkeypatch.setattr(ratelimit, "_clock", lambda: window + 55)
    assert statuses(client, website, ip, 3) == [202] * 3


@override_settings(INGEST_RATE_LIMIT_IP=0, INGEST_RATE_LIMIT_WEBSITE=8)
def test_the_per_website_limit_caps_that_website_only(client):
    busy, other = make_website(domain="busy.example"), make_website(domain="other.example")
    answers = [post(client, busy, random_ip()).status_code for _ in range(10)]
    assert answers == [202] * 8 + [429] * 2
    assert statuses(client, other, random_ip(), 3) == [202] * 3
    assert Event.objects.filter(website=busy).count() == 8


@override_settings(INGEST_RATE_LIMIT_IP=3, INGEST_RATE_LIMIT_WEBSITE=10)
def test_a_flooding_client_does_not_use_up_its_websites_allowance(client):
    website = make_website()
    assert statuses(client, website, random_ip(), 20) == [202] * 3 + [429] * 17
    # Only the flooder's 3 accepted events count against the website: 7 more fit.
    assert statuses(client, website, random_ip(), 3) == [202] * 3
    assert statuses(client, website, random_ip(), 3) == [202] * 3
    assert statuses(client, website, random_ip(), 2) == [202, 429]


@override_settings(INGEST_RATE_LIMIT_IP=3, INGEST_RATE_LIMIT_WEBSITE=0)
def test_forged_x_forwarded_for_or_body_ip_does_not_escape_the_ip_limit(client):
    website = make_website()
    ip = random_ip()
    answers = [
        post(client, website, ip, HTTP_X_FORWARDED_FOR=random_ip(), body={"ip": random_ip()})
        for _ in range(5)
    ]
    assert [a.status_code for a in answers] == [202, 202, 202, 429, 429]


@override_settings(INGEST_RATE_LIMIT_IP=3, INGEST_RATE_LIMIT_WEBSITE=0, TRUSTED_PROXIES=PROXIES)
def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(client):
    website = make_website()
    proxy = "10.1.2.3"
    a, b = random_ip(), random_ip()
    assert statuses(client, website, proxy, 4, HTTP_X_FORWARDED_FOR=a) == [202] * 3 + [429]
    assert statuses(client, website, proxy, 3, HTTP_X_FORWARDED_FOR=b) == [202] * 3


@override_settings(INGEST_RATE_LIMIT_IP=2, INGEST_RATE_LIMIT_WEBSITE=0)
def test_an_ipv6_client_is_limited_per_64(client):
    website = make_website()
    prefix = f"2001:db8:{random.randrange(65536):x}:{random.randrange(65536):x}"
    same_64 = [f"{prefix}::1", f"{prefix}::2", f"{prefix}:0:0:0:ffff"]
    assert [post(client, website, ip).status_code for ip in same_64] == [202, 202, 429]
    assert post(client, website, f"2001:db8:ffff:{random.randrange(65536):x}::1").status_code == 202


@override_settings(INGEST_RATE_LIMIT_IP=1, INGEST_RATE_LIMIT_WEBSITE=0)
def test_malformed_requests_are_not_counted(client):
    website = make_website()
    ip = random_ip()
    bad = client.generic("POST", "/api/event", b"{nope", content_type="text/plain", REMOTE_ADDR=ip)
    assert bad.status_code == 400
    assert statuses(client, website, ip, 2) == [202, 429]


def counter_keys() -> list[str]:
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        client = backend._cache.get_client()
        return [k.decode() for k in client.keys(backend.make_key("rl:*"))]
    return ratelimit._COUNTERS.keys()  # other caches: counted in this process


# 16: within 16 batches of the limit, so every event is added to Redis at once.
@override_settings(INGEST_RATE_LIMIT_IP=16, INGEST_RATE_LIMIT_WEBSITE=16)
def test_counters_never_hold_the_ip_and_on_redis_are_shared_with_an_expiry(client):
    website = make_website()
    ip = random_ip()
    post(client, website, ip)
    keys = [k for k in counter_keys() if ratelimit.client_key(ip) in k]
    assert len(keys) == 1
    assert all(ip not in k for k in counter_keys())
    backend = caches["default"]
    if settings.REDIS_URL:
        # Production layout: the counters live in Redis with an expiry, for all processes.
        assert isinstance(backend, RedisCache)
        client = backend._cache.get_client()
        assert 0 < client.ttl(keys[0]) <= 2 * ratelimit.WINDOW_S
        assert int(client.get(keys[0])) == 1


@override_settings(
    INGEST_RATE_LIMIT_IP=2,
    INGEST_RATE_LIMIT_WEBSITE=2,
    CACHES={
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            # Nothing listens on port 1: every command fails as with a stopped Redis.
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    },
)
def test_when_redis_is_down_events_are_accepted(client, monkeypatch, caplog):
    website = make_website()
    ip = random_ip()
    attempts = []
    real_count = ratelimit._count

    def counting(*args):
        attempts.append(args)
        return real_count(*args)

    monkeypatch.setattr(ratelimit, "_count", counting)
    with caplog.at_level(logging.WARNING, logger="tracking.ratelimit"):
        assert statuses(client, website, ip, 6) == [202] * 6
    assert Event.objects.count() == 6
    # One failed attempt, then the limiter stays off instead of retrying a dead server.
    assert len(attempts) == 1
    assert [r.message for r in caplog.records].count(
        "rate limiting is off for 10 s: the cache failed (events are accepted meanwhile)"
    ) == 1


@override_settings(INGEST_RATE_LIMIT_IP=0, INGEST_RATE_LIMIT_WEBSITE=0)
def test_with_both_limits_off_the_cache_is_not_touched(client, monkeypatch):
    website = make_website()
    monkeypatch.setattr(ratelimit, "_count", lambda *a: pytest.fail("cache used"))
    assert statuses(client, website, random_ip(), 3) == [202] * 3


def test_the_production_defaults_and_their_environment_variables():
    """Outside the test suite the limits are on; each has its environment variable."""
    code = (
        "from django.conf import settings as s; "
        "print(s.INGEST_RATE_LIMIT_IP, s.INGEST_RATE_LIMIT_WEBSITE, "
        "s.INGEST_SESSION_PAGEVIEWS_PER_MINUTE, s.HONOR_DNT)"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith(("INGEST_", "HONOR_"))}
    base.update(DJANGO_SETTINGS_MODULE="simple_analytics.settings", TESTING="False")

    def run(**env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", "import django; django.setup(); " + code],
            env={**base, **env},
            capture_output=True,
            text=True,
        )

    assert run().stdout.split() == ["600", "300000", "60", "True"]
    custom = run(
        INGEST_RATE_LIMIT_IP="50",
        INGEST_RATE_LIMIT_WEBSITE="0",
        INGEST_SESSION_PAGEVIEWS_PER_MINUTE="20",
        HONOR_DNT="False",
    )
    assert custom.stdout.split() == ["50", "0", "20", "False"]
    broken = run(HONOR_DNT="yes")
    assert broken.returncode != 0 and "HONOR_DNT must be True or False" in broken.stderr


@pytest.mark.django_db(transaction=True)  # the fast path hands its connection back
@override_settings(INGEST_RATE_LIMIT_IP=1, INGEST_RATE_LIMIT_WEBSITE=0)
def test_the_wsgi_fast_path_answers_429_with_retry_after():
    from tracking.tests.test_collect import _wsgi

    website = make_website()
    body = json.dumps(
        {"site": website.tracking_id, "type": "PAGE_VIEW", "url": "https://example.com/"}
    ).encode()
    ip = random_ip()
    assert _wsgi("POST", body, REMOTE_ADDR=ip)[0] == "202 Accepted"
    status, headers, out = _wsgi("POST", body, REMOTE_ADDR=ip)
    assert status == "429 Too Many Requests"
    assert headers["Retry-After"] == "55"
    assert headers["Content-Length"] == str(len(out))
    assert json.loads(out) == {"error": "too many events, retry later"}
    assert Event.objects.count() == 1


@pytest.mark.postgres  # the pass with Redis as the cache
def test_processes_share_a_limit_through_redis_in_batches_and_overshoot_little(window):
    """Two processes' counters against one Redis: far fewer round trips than events, the
    limit holds within the documented bound, and a flood is refused on both."""
    from conftest import require_service

    backend = caches["default"]
    require_service("Redis", isinstance(backend, RedisCache))
    calls = []
    real_script = ratelimit._SCRIPT

    def counted(*args, **kwargs):
        calls.append(kwargs["args"][:2])
        return real_script(*args, **kwargs)

    tick = int(window // ratelimit.WINDOW_S)
    ip_key = f"rl:ip:{tick}:{ratelimit.client_key(random_ip())}"
    site_key = f"rl:site:{tick}:batch{random.randrange(10**9)}"
    processes = [ratelimit._Counters(), ratelimit._Counters()]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ratelimit, "_SCRIPT", counted)
        verdicts = [
            processes[n % 2].count(tick, ip_key, site_key, 100, 0, backend) for n in range(300)
        ]
    accepted = verdicts.count(0)
    # Each process holds back at most a sixteenth of the headroom: 2 x 100 / 16.
    assert 100 <= accepted <= 100 + 2 * 100 // 16
    assert verdicts[-20:] == [1] * 20
    assert len(calls) < 300 / 3
    # Every event was counted in Redis or is still held back by one of the processes.
    held_back = sum(p._counters[ip_key][1] for p in processes)
    client = backend._cache.get_client()
    assert int(client.get(backend.make_key(ip_key))) + held_back == 300
    # A website counter with its production limit: one round trip per 50 events.
    calls.clear()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ratelimit, "_SCRIPT", counted)
        for _ in range(200):
            key = f"rl:ip:{tick}:{ratelimit.client_key(random_ip())}"
            assert processes[0].count(tick, key, site_key, 600, 300_000, backend) == 0
    assert len(calls) == 4
