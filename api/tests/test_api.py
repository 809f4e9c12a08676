from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client

from api.models import ApiKey, hash_key
from simple_analytics.testing import make_user, make_website, record_events
from simple_analytics.tests.fuzz import HOSTILE_DIGITS, hostile_dates

pytestmark = pytest.mark.django_db
DAY = dt.datetime(2026, 2, 3, 10, tzinfo=dt.UTC)


@pytest.fixture
def owner_key():
    owner = make_user()
    website = make_website(owner=owner)
    record_events(
        website,
        [
            {"type": "PAGE_VIEW", "url": "https://example.com/a?utm_source=mail", "at": DAY},
            {
                "type": "PATH_CHANGE",
                "url": "https://example.com/b",
                "at": DAY + dt.timedelta(seconds=30),
                # The report of /a, left for /b.
                "engaged_ms": 12_500,
                "scroll_pct": 40,
            },
            {"type": "PAGE_VIEW", "url": "https://example.com/a", "at": DAY, "ip": "198.51.100.9"},
        ],
    )
    _, key = ApiKey.issue(user=owner, name="test")
    return website, key


def get(client: Client, path: str, key: str | None, **params):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    return client.get(path, params, **headers)


def test_stats_returns_the_contract_json(client, owner_key):
    website, key = owner_key
    response = get(
        client,
        "/api/v1/stats",
        key,
        site=website.tracking_id,
        **{"from": "2026-02-03", "to": "2026-02-03"},
    )
    assert response.status_code == 200
    data = response.json()
    assert (data["pageviews"], data["visitors"], data["sessions"]) == (3, 2, 2)
    assert data["bounce_rate"] == 0.5
    assert data["views_per_session"] == 1.5
    assert data["avg_session_duration_s"] == 15.0
    assert data["avg_engaged_time_s"] == 6.25
    assert data["pages"][:2] == [
        {
            "value": "/a",
            "pageviews": 2,
            "visitors": 2,
            "time_on_page_s": 12.5,
            "scroll_depth_pct": 40.0,
        },
        {
            "value": "/b",
            "pageviews": 1,
            "visitors": 1,
            "time_on_page_s": None,
            "scroll_depth_pct": None,
        },
    ]
    assert data["entry_pages"] == [{"value": "/a", "visitors": 2, "sessions": 2, "pageviews": 3}]
    assert data["utm_sources"] == [{"value": "mail", "visitors": 1, "sessions": 1, "pageviews": 2}]
    for key_name in ("exit_pages", "sources", "utm_campaigns", "browsers", "os", "devices"):
        assert isinstance(data[key_name], list)


def test_timeseries_and_breakdown_endpoints(client, owner_key):
    website, key = owner_key
    params = {"site": website.tracking_id, "from": "2026-02-01", "to": "2026-02-04"}
    series = get(client, "/api/v1/timeseries", key, **params).json()
    assert series["granularity"] == "day"
    assert [p["pageviews"] for p in series["timeseries"]] == [0, 0, 3, 0]
    rows = get(client, "/api/v1/breakdown/pages", key, limit=1, **params).json()["results"]
    assert rows == [
        {
            "value": "/a",
            "pageviews": 2,
            "visitors": 2,
            "time_on_page_s": 12.5,
            "scroll_depth_pct": 40.0,
        }
    ]
    assert get(client, "/api/v1/breakdown/nope", key, **params).status_code == 404


def test_filters_apply_to_the_api(client, owner_key):
    website, key = owner_key
    data = get(
        client,
        "/api/v1/stats",
        key,
        site=website.tracking_id,
        period="custom",
        **{"from": "2026-02-03", "to": "2026-02-03", "utm_source": "mail"},
    ).json()
    assert (data["sessions"], data["pageviews"]) == (1, 2)


@pytest.mark.parametrize(
    ("filters", "sessions", "pageviews"),
    [
        ({"utm_source": "!mail"}, 1, 1),
        ({"utm_source": "mail|(none)"}, 2, 3),
        ({"page": "~B"}, 1, 1),
        ({"page": "!/a", "utm_source": "mail"}, 1, 1),
    ],
)
def test_filter_operators_apply_to_the_api(client, owner_key, filters, sessions, pageviews):
    website, key = owner_key
    day = {"from": "2026-02-03", "to": "2026-02-03"}
    data = get(client, "/api/v1/stats", key, site=website.tracking_id, **day, **filters).json()
    assert (data["sessions"], data["pageviews"]) == (sessions, pageviews)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"period": "forever"}, "period must be one of"),
        ({"from": "2026-13-01", "to": "2026-02-01"}, "from must be a date"),
        ({"from": "2026-02-05", "to": "2026-02-01"}, "from must not be after to"),
        ({"from": "2020-01-01", "to": "2026-02-01"}, "at most"),
        ({"period": "custom"}, "needs from and to"),
        ({"limit": "0"}, "limit must be"),
        ({"limit": "abc"}, "limit must be"),
        ({"limit": "100000"}, "limit must be"),
        ({"page": "x" * 3000}, "too long"),
        ({"country": "~D"}, "stored as a code"),
        ({"goal": "A|B"}, "one value"),
    ],
)
def test_bad_parameters_get_a_400_with_a_message(client, owner_key, params, message):
    website, key = owner_key
    response = get(client, "/api/v1/stats", key, site=website.tracking_id, **params)
    assert response.status_code == 400
    assert message in response.json()["error"]


@pytest.mark.parametrize("limit", [*HOSTILE_DIGITS, "9" * 5000])
@pytest.mark.parametrize("path", ["/api/v1/stats", "/api/v1/timeseries", "/api/v1/breakdown/pages"])
def test_a_limit_in_anything_but_ascii_digits_is_a_400_in_json(client, owner_key, path, limit):
    # int() refuses "²" and more than 4,300 digits, and reads "٣" and " 1" as numbers.
    website, key = owner_key
    response = get(client, path, key, site=website.tracking_id, limit=limit)
    assert response.status_code == 400, (limit, response.content[:200])
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": "limit must be an integer from 1 to 1000"}


@pytest.mark.parametrize("day", hostile_dates("2026-02-03"))
def test_a_date_in_anything_but_ascii_digits_is_a_400_in_json(client, owner_key, day):
    website, key = owner_key
    for params in ({"from": day, "to": "2026-02-03"}, {"from": "2026-02-03", "to": day}):
        response = get(client, "/api/v1/stats", key, site=website.tracking_id, **params)
        assert response.status_code == 400, (params, response.content[:200])
        assert "must be a date like 2026-01-31" in response.json()["error"]


def test_keys_are_required_and_scoped_to_their_owner(client, owner_key):
    website, key = owner_key
    _, other_key = ApiKey.issue(user=make_user(), name="other")
    assert get(client, "/api/v1/stats", None, site=website.tracking_id).status_code == 401
    assert get(client, "/api/v1/stats", "sa_wrong", site=website.tracking_id).status_code == 401
    other = get(client, "/api/v1/stats", other_key, site=website.tracking_id)
    missing = get(client, "/api/v1/stats", key, site="no-such-site")
    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json()
    # A NUL byte (PostgreSQL refuses it in any text comparison) is no site either, not a 500.
    with_nul = get(client, "/api/v1/stats", key, site=website.tracking_id + "\x00")
    assert with_nul.status_code == 404 and with_nul.json() == missing.json()


def test_revoked_keys_stop_working(client, owner_key):
    website, key = owner_key
    ApiKey.objects.filter(key_hash=hash_key(key)).update(revoked_at=DAY)
    assert get(client, "/api/v1/stats", key, site=website.tracking_id).status_code == 401


def test_keys_are_stored_hashed_and_shown_once(client):
    user = make_user()
    client.force_login(user)
    response = client.post("/account/api-keys/create/", {"name": "script"}, follow=True)
    page = response.content.decode()
    row = ApiKey.objects.get(user=user)
    plain = page.split('<pre id="new-key">')[1].split("</pre>")[0]
    assert plain.startswith("sa_") and row.key_hash == hash_key(plain)
    assert plain not in json.dumps(list(ApiKey.objects.values()), default=str)
    assert plain not in client.get("/account/api-keys/").content.decode()


def test_another_user_cannot_revoke_a_key(client):
    row, _ = ApiKey.issue(user=make_user(), name="mine")
    client.force_login(make_user())
    assert client.post(f"/account/api-keys/{row.pk}/revoke/").status_code == 404
    row.refresh_from_db()
    assert row.revoked_at is None


def test_openapi_document_is_served(client):
    doc = client.get("/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert {"/api/v1/stats", "/api/v1/timeseries", "/api/v1/breakdown/{dimension}"} <= set(
        doc["paths"]
    )


def test_cli_stats_prints_the_same_json(owner_key, capsys):
    from django.core.management import call_command

    website, key = owner_key
    call_command(
        "stats",
        "--site",
        website.tracking_id,
        "--from",
        "2026-02-03",
        "--to",
        "2026-02-03",
        "--json",
    )
    cli = json.loads(capsys.readouterr().out)
    api = get(
        Client(),
        "/api/v1/stats",
        key,
        site=website.tracking_id,
        **{"from": "2026-02-03", "to": "2026-02-03"},
    ).json()
    assert cli == api


@pytest.mark.parametrize("name", ["", " ", "x" * 101, "nul\x00byte"])
def test_a_bad_key_name_is_refused_with_a_message_and_no_key(client, name):
    user = make_user()
    client.force_login(user)
    response = client.post("/account/api-keys/create/", {"name": name}, follow=True)
    assert response.status_code == 200
    assert b"Give the key a name of at most 100 characters" in response.content
    assert not ApiKey.objects.filter(user=user).exists()
