"""``demo`` returns with its snapshots rolled up: nothing is left for the rollup job, no
definition's backfill waits in the queue to reopen the days, and the first dashboard reads
snapshots."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from rollups.buckets import settle
from rollups.models import Granularity, Watermark
from simple_analytics.management.commands.demo import DEMO_DOMAIN
from websites.models import Website

pytestmark = pytest.mark.django_db


def test_the_demo_returns_with_every_finished_bucket_rolled_up():
    call_command("demo", events=3000, days=7, quiet=True, stdout=StringIO())
    website = Website.objects.get(domain=DEMO_DOMAIN)
    assert website.first_event_at is not None
    now = timezone.now()
    hour = Watermark.objects.get(website=website, granularity=Granularity.HOUR)
    day = Watermark.objects.get(website=website, granularity=Granularity.DAY)
    assert hour.closed_until is not None
    assert hour.closed_until > now - settle() - dt.timedelta(hours=1)
    today = timezone.localtime(now, website.tz).date()
    assert day.closed_until is not None
    assert timezone.localtime(day.closed_until, website.tz).date() >= today - dt.timedelta(days=1)
    out = StringIO()
    call_command("rollup", "--quiet", stdout=out)
    assert out.getvalue().strip() == "closed 0 buckets, recomputed 0"
