"""Saved segments: save the dashboard's filters under a name, apply them on any period,
rename and delete them; bad input is a 400 with a message, someone else's website a 404."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.http import urlencode

from dashboard.models import MAX_SEGMENTS_PER_WEBSITE, Segment
from dashboard.segments import segment_filters
from simple_analytics.testing import make_user, make_website, record_events

pytestmark = pytest.mark.django_db
D = dt.datetime(2026, 1, 15, 10, tzinfo=dt.UTC)
S = dt.timedelta(seconds=1)
DAY = {"period": "custom", "from": "2026-01-15", "to": "2026-01-15"}
MONTH = {"period": "custom", "from": "2026-01-01", "to": "2026-01-31"}
PRICING = {"page": "/pricing"}


def ev(type_, path, at, **extra):
    return {"type": type_, "url": f"https://example.com{path}", "at": at, **extra}


@pytest.fixture
def client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def visits(website):
    """A views / then /pricing; B views / only: 2 visitors, 1 of them on /pricing."""
    record_events(
        website,
        [
            ev("PAGE_VIEW", "/", D),
            ev("PATH_CHANGE", "/pricing", D + 60 * S),
            ev("PAGE_VIEW", "/", D + 5 * S, ip="198.51.100.2"),
        ],
    )
    return website


def dashboard(client, website, **query):
    return client.get(reverse("dashboard:overview", args=[website.pk]), query)


def save(client, website, name, filters=PRICING, back=DAY):
    as_text = filters if isinstance(filters, str) else urlencode(filters)
    data = {"name": name, "filters": as_text, "back": urlencode(back)}
    return client.post(reverse("dashboard:segment_save", args=[website.pk]), data)


def visitors(response):
    return {c.key: c.value for c in response.context["cards"]}["visitors"]


def masked(response):
    # The page's logout form carries a CSRF token, masked anew on every render.
    return re.sub(rb'(name="csrfmiddlewaretoken" value=")[^"]+"', rb"\1-", response.content)


def query_of(url):
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_the_owner_saves_the_filters_and_lands_on_the_segment(client, visits):
    page = dashboard(client, visits, **DAY, **PRICING)
    menu = page.context["segments"]
    assert menu.can_save and not menu.items
    html = page.content.decode()
    assert "Save these filters as a segment" in html
    assert re.search(r'<link rel="stylesheet" href="[^"]*/dashboard/segments[.\w]*\.css">', html)

    response = save(client, visits, "  Pricing readers ", menu.filters_query, {})
    assert response.status_code == 302
    segment = Segment.objects.get(website=visits)
    assert segment.name == "Pricing readers"  # trimmed
    assert segment.query == "page=%2Fpricing"
    # The form's hidden fields carry the period: back to it, with the segment applied.
    response = save(client, visits, "Again", {"page": "/"}, DAY)
    assert query_of(response["Location"]) == {**DAY, "page": "/"}

    page = client.get(response["Location"])
    menu = page.context["segments"]
    assert menu.current == "Again" and not menu.can_save
    assert [i.name for i in menu.items] == ["Again", "Pricing readers"]
    assert 'aria-current="true">Again</a>' in page.content.decode()
    assert "Saved the segment “Again”." in page.content.decode()


def test_a_segment_applies_on_another_period_in_place_of_the_filters(client, visits):
    Segment.objects.create(website=visits, name="Pricing", query="page=%2Fpricing")
    page = dashboard(client, visits, **MONTH, source="(none)", funnel="Signup")
    assert visitors(page) == "2"
    (item,) = page.context["segments"].items
    assert not item.current and not item.broken
    # The month and the view stay; the segment's filters replace the page's.
    assert query_of(item.url) == {**MONTH, **PRICING, "funnel": "Signup"}

    applied = client.get(item.url)
    assert applied.status_code == 200
    assert visitors(applied) == "1"
    assert [c.value for c in applied.context["chips"]] == ["/pricing"]
    assert applied.context["segments"].current == "Pricing"


def test_names_are_unique_per_website_and_filters_saved_once(client, visits, owner):
    assert save(client, visits, "Pricing").status_code == 302
    taken = save(client, visits, " Pricing ", {"page": "/"})
    assert taken.status_code == 400
    assert "A segment named “Pricing” exists already." in taken.content.decode()
    again = save(client, visits, "Other name")
    assert again.status_code == 400
    assert "saved already, as “Pricing”" in again.content.decode()
    # Another website of the same owner may use the name.
    other = make_website(owner=owner, domain="other.example")
    assert save(client, other, "Pricing").status_code == 302
    assert Segment.objects.count() == 2


def test_a_website_has_at_most_50_segments(client, visits):
    Segment.objects.bulk_create(
        Segment(website=visits, name=f"s{n:02}", query=f"page=%2Fp{n}")
        for n in range(MAX_SEGMENTS_PER_WEBSITE)
    )
    response = save(client, visits, "One more")
    assert response.status_code == 400
    assert f"at most {MAX_SEGMENTS_PER_WEBSITE} segments" in response.content.decode()
    assert Segment.objects.filter(website=visits).count() == MAX_SEGMENTS_PER_WEBSITE
    menu = dashboard(client, visits, **DAY, **PRICING).context["segments"]
    assert menu.full and not menu.can_save


def test_a_stored_query_that_no_longer_parses_is_listed_as_broken(client, visits):
    too_long = Segment.objects.create(
        website=visits, name="Too long", query=urlencode({"page": "x" * 5000})
    )
    gone = Segment.objects.create(website=visits, name="Gone", query="no_such_filter=1")
    ok = Segment.objects.create(website=visits, name="Fine", query="page=%2Fpricing")
    assert segment_filters(too_long) is None and segment_filters(gone) is None
    assert segment_filters(ok)

    page = dashboard(client, visits, **DAY)
    assert page.status_code == 200
    items = {i.name: i for i in page.context["segments"].items}
    assert items["Too long"].broken and items["Gone"].broken and not items["Fine"].broken
    html = page.content.decode()
    assert html.count("(no longer valid)") == 2
    assert f'action="{items["Gone"].delete_url}"' in html

    delete = client.post(items["Gone"].delete_url, {"filters": "", "back": urlencode(DAY)})
    assert delete.status_code == 302
    assert not Segment.objects.filter(pk=gone.pk).exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "", "filters": "page=%2F"}, "Give the segment a name."),
        ({"name": "   ", "filters": "page=%2F"}, "Give the segment a name."),
        ({"name": "x" * 81, "filters": "page=%2F"}, "at most 80 characters"),
        ({"name": "a\x00b", "filters": "page=%2F"}, "control characters"),
        ({"name": "a\nb", "filters": "page=%2F"}, "control characters"),
        ({"name": "Nothing", "filters": ""}, "There are no filters to save"),
        ({"name": "Nothing", "filters": "no_such_filter=1"}, "There are no filters to save"),
        ({"name": "Long", "filters": urlencode({"page": "x" * 3000})}, "too long"),
        ({}, "Give the segment a name."),
    ],
)
def test_bad_input_is_a_400_with_a_message(client, visits, data, message):
    response = client.post(reverse("dashboard:segment_save", args=[visits.pk]), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert "Back to the dashboard" in response.content.decode()
    assert not Segment.objects.exists()


def test_only_post_is_accepted(client, visits):
    Segment.objects.create(website=visits, name="Pricing", query="page=%2Fpricing")
    segment = Segment.objects.get()
    for url in (
        reverse("dashboard:segment_save", args=[visits.pk]),
        reverse("dashboard:segment_delete", args=[visits.pk, segment.pk]),
        reverse("dashboard:segment_rename", args=[visits.pk, segment.pk]),
    ):
        assert client.get(url).status_code == 405
    assert Segment.objects.count() == 1


def test_a_bad_period_to_return_to_falls_back_to_the_default(client, visits):
    response = save(client, visits, "Pricing", back={"period": "bogus", "event": "Signup"})
    assert response.status_code == 302
    assert query_of(response["Location"]) == {"period": "30d", "event": "Signup", **PRICING}


def test_rename_and_delete(client, visits):
    assert save(client, visits, "Pricing").status_code == 302
    assert save(client, visits, "Home", {"page": "/"}).status_code == 302
    pricing = Segment.objects.get(name="Pricing")
    rename = reverse("dashboard:segment_rename", args=[visits.pk, pricing.pk])
    page = {"filters": "page=%2F", "back": urlencode(DAY)}

    assert client.post(rename, {**page, "name": "Home"}).status_code == 400
    assert client.post(rename, {**page, "name": ""}).status_code == 400
    response = client.post(rename, {**page, "name": " Pricing page "})
    assert response.status_code == 302
    # Back to the page as it was: its period and its filters.
    assert query_of(response["Location"]) == {**DAY, "page": "/"}
    pricing.refresh_from_db()
    assert pricing.name == "Pricing page"

    delete = reverse("dashboard:segment_delete", args=[visits.pk, pricing.pk])
    response = client.post(delete, {"filters": "page=%2Fpricing", "back": urlencode(DAY)})
    assert response.status_code == 302
    # The page keeps its filters; only their name is gone.
    assert query_of(response["Location"]) == {**DAY, **PRICING}
    assert list(Segment.objects.values_list("name", flat=True)) == ["Home"]
    assert client.post(delete).status_code == 404


def test_an_outsider_gets_the_404_of_a_missing_object(visits, owner):
    segment = Segment.objects.create(website=visits, name="Pricing", query="page=%2Fpricing")
    outsider = Client()
    outsider.force_login(make_user())
    urls = [
        reverse("dashboard:segment_save", args=[visits.pk]),
        reverse("dashboard:segment_rename", args=[visits.pk, segment.pk]),
        reverse("dashboard:segment_delete", args=[visits.pk, segment.pk]),
    ]
    data = {"name": "Mine now", "filters": "page=%2F"}
    missing = outsider.post(reverse("dashboard:segment_save", args=[visits.pk + 999]), data)
    assert missing.status_code == 404
    for url in urls:
        response = outsider.post(url, data)
        assert response.status_code == 404
        assert masked(response) == masked(missing)
    # The owner's other website cannot reach this segment either.
    client = Client()
    client.force_login(owner)
    other = make_website(owner=owner, domain="other.example")
    url = reverse("dashboard:segment_delete", args=[other.pk, segment.pk])
    assert client.post(url).status_code == 404
    assert list(Segment.objects.values_list("name", flat=True)) == ["Pricing"]
    # Anonymous: to the login page.
    assert Client().post(urls[0], data).status_code == 302
    assert Segment.objects.count() == 1


def test_the_forms_need_the_csrf_token(visits, owner):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)
    save_url = reverse("dashboard:segment_save", args=[visits.pk])
    data = {"name": "Pricing", "filters": "page=%2Fpricing", "back": urlencode(DAY)}
    assert browser.post(save_url, data).status_code == 403
    assert not Segment.objects.exists()

    page = dashboard(browser, visits, **DAY, **PRICING).content.decode()
    form = re.search(
        r'<form method="post" action="([^"]+)" class="seg-form seg-save">(.*?)</form>', page, re.S
    )
    assert form and form[1] == save_url
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form[2]))
    assert set(fields) == {"csrfmiddlewaretoken", "filters", "back"}
    response = browser.post(save_url, {**fields, "name": "Pricing"})
    assert response.status_code == 302
    assert Segment.objects.get().query == "page=%2Fpricing"


def test_without_filters_the_menu_explains_how_to_make_one(client, visits):
    page = dashboard(client, visits, **DAY)
    menu = page.context["segments"]
    assert not menu.can_save and menu.current is None
    html = page.content.decode()
    assert "No saved segments yet." in html
    assert "then save the filters here" in html
    assert "Save these filters as a segment" not in html
