"""Website services: update and delete validate first and drop the ingest cache."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.exceptions import ValidationError

from simple_analytics.testing import make_user, make_website
from websites import selectors
from websites.forms import timezone_choices
from websites.models import Website
from websites.selectors import tracked_site_forget, tracked_site_get, website_list_for_user
from websites.services import website_create, website_delete, website_update

pytestmark = pytest.mark.django_db


def test_update_validates_everything_before_changing_anything():
    website = make_website(domain="example.com")
    with pytest.raises(ValidationError):
        website_update(website=website, domain="new.example", timezone="Not/AZone")
    assert website.domain == "example.com"
    website.refresh_from_db()
    assert website.domain == "example.com"


def test_update_with_nothing_leaves_the_row_alone():
    website = make_website()
    assert website_update(website=website) is website


def test_update_name_defaults_to_the_new_domain():
    website = make_website(domain="example.com")
    website_update(website=website, name="", domain="https://www.other.example/x")
    website.refresh_from_db()
    assert (website.domain, website.name) == ("other.example", "other.example")


def test_a_long_domain_fits_the_name():
    label = "a" * 63
    domain = ".".join([label, label, label, "com"])
    website = website_create(owner=make_user(), domain=domain)
    assert website.name == domain[:200]


def test_delete_forgets_the_cached_site():
    website = make_website()
    tracking_id = website.tracking_id
    assert tracked_site_get(tracking_id) is not None
    website_delete(website=website)
    assert not Website.objects.filter(tracking_id=tracking_id).exists()
    assert tracked_site_get(tracking_id) is None


def test_list_for_user_is_the_users_own_sites_by_name():
    owner = make_user()
    b = website_create(owner=owner, domain="b.example", name="Beta")
    a = website_create(owner=owner, domain="a.example", name="Alpha")
    make_website(domain="c.example")
    assert list(website_list_for_user(owner)) == [a, b]


def test_time_zone_choices_start_with_utc_and_group_by_region():
    choices = timezone_choices()
    assert choices[0] == ("UTC", "UTC")
    groups = dict(choices[1:])
    assert ("Europe/Berlin", "Europe/Berlin") in groups["Europe"]
    assert ("America/New_York", "America/New York") in groups["America"]
    assert all(zone != "localtime" for _, items in choices[1:] for zone, _ in items)


def test_tracking_ids_are_alphanumeric_so_they_work_as_cli_arguments():
    from websites.models import new_tracking_id

    ids = {new_tracking_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(len(i) == 12 and i.isascii() and i.isalnum() for i in ids)


class _SlowLookups:
    """Counts the ingest path's site lookups and makes each take a while (a busy pool)."""

    def __init__(self, monkeypatch) -> None:
        self.calls = 0
        real = selectors.Website.objects.filter

        def slow_filter(*args, **kwargs):
            self.calls += 1
            time.sleep(0.3)
            return real(*args, **kwargs)

        monkeypatch.setattr(selectors.Website.objects, "filter", slow_filter)


def _at_once(n: int, call):
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda _: call(), range(n)))


@pytest.mark.django_db(transaction=True)  # the threads read the site with their own connections
def test_threads_that_miss_the_site_cache_together_query_it_once(monkeypatch):
    website = make_website()
    tracked_site_forget()
    lookups = _SlowLookups(monkeypatch)
    sites = _at_once(16, lambda: tracked_site_get(website.tracking_id))  # a cold start
    assert lookups.calls == 1
    assert {site.id for site in sites} == {website.id}
    # Expired: one thread reloads it, the others answer from the expired entry at once.
    later = time.monotonic() + 3600
    started = time.monotonic()
    sites = _at_once(16, lambda: tracked_site_get(website.tracking_id, now=later))
    assert lookups.calls == 2
    assert {site.id for site in sites} == {website.id}
    assert time.monotonic() - started < 2.0
