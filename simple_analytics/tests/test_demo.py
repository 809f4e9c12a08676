"""``simple-analytics demo``: traffic with custom events, goals and a funnel, in time order,
and a dashboard that shows them."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.test import Client

from core.synthetic import with_custom_events
from goals.models import Funnel, Goal
from simple_analytics.management.commands.demo import DEMO_DOMAIN, DEMO_EMAIL
from tracking.models import Event, EventType
from websites.models import Website


def page(ts: str, path: str, type_: str = "PAGE_VIEW", ip: str = "10.0.0.1") -> dict[str, str]:
    return {
        "site": "x",
        "type": type_,
        "url": f"https://shop.example{path}",
        "ts": ts,
        "ip": ip,
        "user_agent": "UA",
    }


def test_custom_events_follow_their_pages_in_time_order():
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    traffic = [
        page((start + dt.timedelta(seconds=2 * n)).isoformat(), path, ip=f"10.0.0.{n % 7}")
        for n, path in enumerate(["/pricing", "/signup", "/docs/a", "/blog/post-1", "/"] * 400)
    ]
    out = list(with_custom_events(traffic, domain="shop.example"))
    assert [e["ts"] for e in out] == sorted(e["ts"] for e in out)
    assert [e for e in out if e["type"] != "EVENT" and e not in traffic] == [
        e for e in out if e["type"] == "PATH_CHANGE"
    ]
    names = {e["name"] for e in out if e["type"] == "EVENT"}
    assert names == {"Signup", "File Download", "Outbound Link: Click", "Newsletter"}
    signup = next(e for e in out if e.get("name") == "Signup")
    assert set(signup["props"]) == {"plan", "billing"} and signup["url"].endswith("/signup")
    # Deterministic: the same traffic gets the same events.
    assert out == list(with_custom_events(traffic, domain="shop.example"))


@pytest.mark.django_db
def test_the_demo_shows_goals_events_and_a_funnel():
    out = io.StringIO()
    call_command("demo", events=4000, days=7, quiet=True, stdout=out)
    assert "4 goals and the funnel 'Pricing to signup'" in out.getvalue()
    website = Website.objects.get(domain=DEMO_DOMAIN)
    assert set(Goal.objects.filter(website=website).values_list("name", flat=True)) == {
        "Signup",
        "Signup plan=pro",
        "Visit /pricing",
        "Visit /signup",
    }
    funnel = Funnel.objects.get(website=website)
    assert [s.goal.name for s in funnel.steps.order_by("position")] == [
        "Visit /pricing",
        "Visit /signup",
        "Signup",
    ]
    assert Event.objects.filter(website=website, type=EventType.EVENT, name="Signup").exists()

    client = Client()
    client.force_login(website.owner)
    response = client.get(f"/websites/{website.pk}/", {"period": "7d"})
    conversions = response.context["conversions"]
    assert {r.label for r in conversions.goals.rows} >= {"Signup", "Visit /pricing"}
    assert all(r.visitors_exact > 0 for r in conversions.goals.rows)
    assert "Signup" in [r.label for r in conversions.events.rows]
    assert conversions.funnel.chosen == "Pricing to signup"
    assert conversions.funnel.steps[0].visits_exact > conversions.funnel.steps[-1].visits_exact > 0
    assert DEMO_EMAIL == website.owner.email
