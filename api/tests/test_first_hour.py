"""The API keys page's "Try it" command names one of the user's own websites, and works as
shown."""

from __future__ import annotations

import html
import re

import pytest
from django.test import Client

from simple_analytics.testing import make_user, make_website

pytestmark = pytest.mark.django_db

TRY_IT = re.compile(r'<pre data-try-it>curl -H "Authorization: Bearer (\S+)" "([^"]+)"</pre>')


def test_try_it_asks_for_a_website_of_the_user_and_gets_its_stats():
    user = make_user()
    website = make_website(owner=user, domain="shop.example")
    make_website(domain="someone-else.example")
    client = Client()
    client.force_login(user)
    page = client.post("/account/api-keys/create/", {"name": "try"}, follow=True)
    match = TRY_IT.search(page.content.decode())
    assert match is not None
    key, url = match.group(1), html.unescape(match.group(2))
    assert url == f"http://testserver/api/v1/stats?site={website.tracking_id}&period=7d"
    response = Client().get(url, HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200
    assert response.json()["pageviews"] == 0


def test_without_a_website_the_page_says_to_add_one_first():
    client = Client()
    client.force_login(make_user())
    page = client.post("/account/api-keys/create/", {"name": "try"}, follow=True).content
    assert b"data-try-it" not in page and b"add a website</a> first" in page
    assert b"TRACKING_ID" not in page
