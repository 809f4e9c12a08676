"""The "Filter" form: operators and several values, through the redirect to the dashboard,
and the chips that read them back."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest

from simple_analytics.testing import IPHONE_UA, make_user, make_website, record_events

pytestmark = pytest.mark.django_db
D = dt.datetime(2026, 2, 3, 10, tzinfo=dt.UTC)
DAY = {"period": "custom", "from": "2026-02-03", "to": "2026-02-03"}


@pytest.fixture
def traffic(website):
    record_events(
        website,
        [
            {"type": "PAGE_VIEW", "url": "https://example.com/blog/a", "at": D},
            {
                "type": "PAGE_VIEW",
                "url": "https://example.com/docs",
                "at": D,
                "ip": "198.51.100.2",
                "user_agent": IPHONE_UA,
            },
            {
                "type": "PAGE_VIEW",
                "url": "https://example.com/",
                "at": D,
                "ip": "198.51.100.3",
                "referrer": "https://www.google.com/",
            },
        ],
    )
    return website


def add(client, website, **form):
    return client.get(f"/websites/{website.pk}/filter/", form)


def test_the_form_redirects_to_the_dashboard_with_the_filter(client, owner, traffic):
    client.force_login(owner)
    response = add(
        client,
        traffic,
        **DAY,
        event="Signup",
        source="Google",
        dimension="page",
        op="is_not",
        values="/docs\n\n(none)\n/docs",
    )
    assert response.status_code == 302
    url = urlsplit(response["Location"])
    assert url.path == f"/websites/{traffic.pk}/"
    assert parse_qs(url.query) == {
        "period": ["custom"],
        "from": ["2026-02-03"],
        "to": ["2026-02-03"],
        "page": ["!/docs|(none)"],
        "source": ["Google"],
        "event": ["Signup"],
    }


def test_a_filter_of_the_same_dimension_is_replaced(client, owner, traffic):
    client.force_login(owner)
    response = add(client, traffic, page="/docs", dimension="page", op="contains", values="BLOG")
    assert parse_qs(urlsplit(response["Location"]).query)["page"] == ["~BLOG"]


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"dimension": "nope", "op": "is", "values": "x"}, "choose what to filter by"),
        ({"dimension": "page", "op": "maybe", "values": "x"}, "choose an operator"),
        ({"dimension": "page", "op": "is", "values": " \n "}, "enter at least one value"),
        ({"dimension": "country", "op": "contains", "values": "D"}, "stored as a code"),
        ({"dimension": "page", "op": "is", "values": "\n".join(map(str, range(30)))}, "1 to 20"),
        ({"period": "forever", "dimension": "page", "op": "is", "values": "/"}, "period"),
    ],
)
def test_a_filter_that_cannot_be_asked_gets_a_400_that_says_why(
    client, owner, traffic, form, message
):
    client.force_login(owner)
    response = add(client, traffic, **form)
    assert response.status_code == 400
    assert message.lower() in response.content.decode().lower()


def test_an_outsider_gets_404(client, traffic):
    client.force_login(make_user("other@example.com"))
    assert add(client, traffic, dimension="page", op="is", values="/").status_code == 404


def test_chips_read_the_operator_and_every_value(client, owner, traffic):
    client.force_login(owner)
    query = {**DAY, "page": "!/docs|/", "device": "mobile|desktop", "source": "~goo"}
    html = client.get(f"/websites/{traffic.pk}/", query).content.decode()
    assert 'aria-label="Remove filter: Page is not /docs or /"' in html
    assert 'aria-label="Remove filter: Device is Mobile or Desktop"' in html
    assert 'aria-label="Remove filter: Source contains goo"' in html
    # Filters of several dimensions all apply: /blog/a was a direct visit, not from Google.
    assert "No visits in this period with these filters" in html


def test_several_values_mark_every_chosen_row(client, owner, traffic):
    client.force_login(owner)
    html = client.get(f"/websites/{traffic.pk}/", {**DAY, "page": "/docs|/blog/a"}).content.decode()
    assert html.count('class="bar-row active"') == 2


def test_a_second_website_is_not_mixed_in(client, owner, traffic):
    other = make_website(owner=owner, domain="other.example")
    client.force_login(owner)
    response = add(client, other, **DAY, dimension="page", op="is", values="/")
    assert urlsplit(response["Location"]).path == f"/websites/{other.pk}/"
