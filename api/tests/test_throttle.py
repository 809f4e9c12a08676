"""The stats API refuses key guessing: after ``API_KEY_FAILURES_PER_MINUTE`` wrong or revoked
keys from one client IP, every API request from that IP gets 429 + ``Retry-After`` until the
minute is over. Other clients are not affected; ``X-Forwarded-For`` counts only from
``TRUSTED_PROXIES``; a failing cache never blocks (fail open); key creation is capped."""

from __future__ import annotations

import ipaddress
from unittest import mock

import pytest
from django.core.cache import cache
from django.test import Client

from accounts import throttle
from api.models import ApiKey
from simple_analytics.testing import make_user, make_website

pytestmark = pytest.mark.django_db

LIMIT = 5


@pytest.fixture(autouse=True)
def _limit(settings):
    cache.clear()
    settings.API_KEY_FAILURES_PER_MINUTE = LIMIT
    yield
    cache.clear()


@pytest.fixture
def site_and_key():
    owner = make_user()
    website = make_website(owner=owner)
    _, key = ApiKey.issue(user=owner, name="good")
    return website, key


def stats(site: str, key: str | None, ip: str = "203.0.113.7", **headers: str):
    if key is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return Client(REMOTE_ADDR=ip).get("/api/v1/stats", {"site": site, "period": "today"}, **headers)


def test_wrong_keys_from_one_address_are_throttled_with_retry_after(site_and_key):
    website, key = site_and_key
    for n in range(LIMIT):
        response = stats(website.tracking_id, f"sa_guess-{n}")
        assert response.status_code == 401, n
    # The next request is refused whatever it carries, even the right key: a 200 among the
    # 429s would tell a guesser which key is valid.
    for attempt in ("sa_guess-more", key, None):
        response = stats(website.tracking_id, attempt)
        assert response.status_code == 429, attempt
        assert 1 <= int(response["Retry-After"]) <= 60
        assert "retry" in response.json()["error"]
    # Another client is not affected.
    assert stats(website.tracking_id, key, ip="198.51.100.200").status_code == 200


def test_the_window_closes(site_and_key):
    website, key = site_and_key
    start = 1_800_000_000.0  # the start of a window
    with mock.patch("accounts.throttle.time.time", return_value=start + 10):
        for n in range(LIMIT):
            stats(website.tracking_id, f"sa_guess-{n}")
        response = stats(website.tracking_id, key)
        assert response.status_code == 429
        assert response["Retry-After"] == "50"
    with mock.patch("accounts.throttle.time.time", return_value=start + 61):
        assert stats(website.tracking_id, key).status_code == 200


def test_requests_without_a_key_and_with_good_keys_are_not_counted(site_and_key):
    website, key = site_and_key
    for _ in range(LIMIT * 3):
        assert stats(website.tracking_id, None).status_code == 401
        assert stats(website.tracking_id, key).status_code == 200
        # A good key for a site that is not yours is a 404, not a guess of a key.
        assert stats("no-such-site", key).status_code == 404


def test_revoked_keys_count_as_wrong_keys(site_and_key):
    website, key = site_and_key
    owner = website.owner
    for n in range(LIMIT):
        row, plain = ApiKey.issue(user=owner, name=f"old {n}")
        ApiKey.objects.filter(pk=row.pk).update(revoked_at="2026-01-01T00:00Z")
        assert stats(website.tracking_id, plain).status_code == 401
    assert stats(website.tracking_id, key).status_code == 429


def test_a_forged_forwarded_for_does_not_give_a_fresh_budget(site_and_key):
    website, key = site_and_key
    for n in range(LIMIT):
        forged = f"192.0.2.{n}"
        response = stats(website.tracking_id, f"sa_guess-{n}", HTTP_X_FORWARDED_FOR=forged)
        assert response.status_code == 401
    assert stats(website.tracking_id, key, HTTP_X_FORWARDED_FOR="192.0.2.99").status_code == 429


def test_behind_a_trusted_proxy_each_client_has_its_own_budget(site_and_key, settings):
    website, key = site_and_key
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8")]
    proxy = "10.0.0.2"
    for n in range(LIMIT):
        stats(website.tracking_id, f"sa_guess-{n}", ip=proxy, HTTP_X_FORWARDED_FOR="192.0.2.1")
    blocked = stats(website.tracking_id, key, ip=proxy, HTTP_X_FORWARDED_FOR="192.0.2.1")
    assert blocked.status_code == 429
    other = stats(website.tracking_id, key, ip=proxy, HTTP_X_FORWARDED_FOR="192.0.2.2")
    assert other.status_code == 200


def test_an_ipv6_client_is_counted_by_its_64(site_and_key):
    website, key = site_and_key
    for n in range(LIMIT):
        stats(website.tracking_id, f"sa_guess-{n}", ip=f"2001:db8:1:2::{n + 1}")
    assert stats(website.tracking_id, key, ip="2001:db8:1:2:ffff::1").status_code == 429
    assert stats(website.tracking_id, key, ip="2001:db8:1:3::1").status_code == 200


def test_the_address_is_not_kept_in_the_cache_key(site_and_key, rf):
    request = rf.get("/", REMOTE_ADDR="203.0.113.7")
    ident = throttle.client_id(request)
    assert "203.0.113.7" not in ident and "203" not in ident
    assert ident == throttle.client_id(rf.get("/", REMOTE_ADDR="203.0.113.7"))
    assert ident != throttle.client_id(rf.get("/", REMOTE_ADDR="203.0.113.8"))


def test_a_failing_cache_never_blocks_and_never_fails(site_and_key):
    website, key = site_and_key

    def broken(*args, **kwargs):
        raise ConnectionError("cache down")

    with (
        mock.patch.object(cache, "get", broken),
        mock.patch.object(cache, "add", broken),
        mock.patch.object(cache, "incr", broken),
        mock.patch.object(cache, "decr", broken),
    ):
        for n in range(LIMIT * 2):
            assert stats(website.tracking_id, f"sa_guess-{n}").status_code == 401
        assert stats(website.tracking_id, key).status_code == 200


def test_the_limit_can_be_switched_off(site_and_key, settings):
    website, key = site_and_key
    settings.API_KEY_FAILURES_PER_MINUTE = 0
    for n in range(LIMIT * 2):
        assert stats(website.tracking_id, f"sa_guess-{n}").status_code == 401
    assert stats(website.tracking_id, key).status_code == 200


def test_creating_keys_is_capped_per_hour(settings):
    settings.API_KEYS_CREATED_PER_HOUR = 3
    user = make_user()
    client = Client()
    client.force_login(user)
    for n in range(3):
        assert client.post("/account/api-keys/create/", {"name": f"k{n}"}).status_code == 302
    response = client.post("/account/api-keys/create/", {"name": "one too many"}, follow=True)
    assert b"Too many keys created" in response.content
    assert list(
        ApiKey.objects.filter(user=user).order_by("name").values_list("name", flat=True)
    ) == ["k0", "k1", "k2"]
    # Someone else is not affected.
    other = Client()
    other.force_login(make_user())
    other.post("/account/api-keys/create/", {"name": "theirs"})
    assert ApiKey.objects.filter(name="theirs").exists()


def test_a_database_error_while_looking_up_a_key_does_not_count_as_a_wrong_key(site_and_key):
    website, key = site_and_key
    with mock.patch("api.views.hash_key", side_effect=RuntimeError("database gone")):
        for _ in range(LIMIT * 2):
            with pytest.raises(RuntimeError):
                stats(website.tracking_id, key)
    assert stats(website.tracking_id, key).status_code == 200


def test_refused_key_names_do_not_use_up_the_hourly_cap(settings):
    settings.API_KEYS_CREATED_PER_HOUR = 1
    client = Client()
    client.force_login(make_user())
    for _ in range(3):
        client.post("/account/api-keys/create/", {"name": ""})
    assert client.post("/account/api-keys/create/", {"name": "k"}).status_code == 302
    assert ApiKey.objects.filter(name="k").exists()
