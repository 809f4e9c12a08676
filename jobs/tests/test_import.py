from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from simple_analytics.cli import translate
from simple_analytics.testing import DESKTOP_UA, IPHONE_UA, make_user, make_website
from tracking.models import DropCount, Event, Session
from websites.models import Website

pytestmark = pytest.mark.django_db


def line(website, ts, type_="PAGE_VIEW", path="/", ip="198.51.100.1", ua=DESKTOP_UA, **extra):
    return json.dumps(
        {
            "site": website.tracking_id,
            "type": type_,
            "url": f"https://example.com{path}",
            "ts": ts,
            "ip": ip,
            "user_agent": ua,
            **extra,
        }
    )


def test_import_events_builds_sessions_like_live_ingestion(tmp_path):
    website = make_website()
    lines = [
        line(website, "2026-01-05T10:00:00Z", path="/a?utm_source=mail", referrer="https://t.co/x"),
        line(website, "2026-01-05T10:01:00Z", "PATH_CHANGE", "/b"),
        line(website, "2026-01-05T10:01:30Z", "PAGE_EXIT", "/b", engaged_ms=25_000),
        line(website, "2026-01-05T10:00:10Z", ua=IPHONE_UA, ip="198.51.100.2"),
        line(website, "2026-01-05T11:00:00Z", path="/later"),  # 58.5 min idle: new session
        line(website, "2026-01-05T11:00:00Z", ua="Googlebot/2.1 (+http://www.google.com/bot.html)"),
        line(website, "2026-01-05T13:00:00Z", "PAGE_EXIT", "/gone"),  # continues nothing
    ]
    path = tmp_path / "events.ndjson"
    path.write_text("\n".join(lines) + "\n")
    out = StringIO()
    call_command("import_events", str(path), "--quiet", "--chunk-size", "3", stdout=out)
    assert "7 lines: 5 events stored, 0 rejected" in out.getvalue()
    first = Session.objects.get(entry_path="/a")
    assert (first.pageviews, first.exit_path, first.duration_s) == (2, "/b", 90)
    assert (first.utm_source, first.referrer_host, first.has_exit) == ("mail", "t.co", True)
    assert Session.objects.filter(device="mobile").count() == 1
    assert Session.objects.filter(entry_path="/later").count() == 1
    assert Event.objects.count() == 5
    drops = dict(DropCount.objects.values_list("reason", "count"))
    assert drops == {"bot": 1, "exit_without_session": 1}


def test_import_events_reports_bad_lines_by_number_and_loads_the_rest(tmp_path):
    website = make_website()
    good = line(website, "2026-01-05T10:00:00Z")
    path = tmp_path / "events.ndjson"
    path.write_text(
        "\n".join(
            [
                good,
                "{not json",
                json.dumps(
                    {
                        "site": "nope",
                        "type": "PAGE_VIEW",
                        "url": "https://e.com/",
                        "ts": "2026-01-05T10:00:00Z",
                    }
                ),
                line(website, "yesterday"),
                line(website, "2026-01-05T10:00:00Z", type_="CLICK"),
                "[1, 2]",
            ]
        )
    )
    out, err = StringIO(), StringIO()
    call_command("import_events", str(path), "--quiet", stdout=out, stderr=err)
    assert "6 lines: 1 events stored, 5 rejected" in out.getvalue()
    messages = err.getvalue().splitlines()
    assert [m.split(":")[0] for m in messages] == ["line 2", "line 3", "line 4", "line 5", "line 6"]
    assert "unknown or inactive site id" in messages[1]
    assert Event.objects.count() == 1


def test_createuser_and_site_add_print_a_working_snippet():
    out = StringIO()
    call_command(
        "createuser", "Owner@Example.com", "--password", "a-long-pass-phrase-77", stdout=out
    )
    call_command(
        "site_add",
        "https://www.Shop.example/",
        "--owner",
        "owner@example.com",
        "--timezone",
        "Europe/Berlin",
        stdout=out,
    )
    website = Website.objects.get()
    assert (website.domain, website.timezone) == ("shop.example", "Europe/Berlin")
    assert f'data-site="{website.tracking_id}"' in out.getvalue()
    assert "/pixel.js" in out.getvalue()


@pytest.mark.parametrize(
    "args, message",
    [
        (["not a domain", "--owner", "o@example.com"], "not a valid domain"),
        (
            ["shop.example", "--owner", "o@example.com", "--timezone", "Mars/Base"],
            "unknown time zone",
        ),
        (["shop.example", "--owner", "nobody@example.com"], "no user"),
    ],
)
def test_site_add_rejects_bad_input_clearly(args, message):
    make_user("o@example.com")
    with pytest.raises(CommandError, match=message):
        call_command("site_add", *args)


def test_cli_names_map_to_commands():
    assert translate(["site", "add", "x.com", "--owner", "a"]) == [
        "site_add",
        "x.com",
        "--owner",
        "a",
    ]
    assert translate(["import-events", "f.ndjson"]) == ["import_events", "f.ndjson"]
    assert translate(["migrate"]) == ["migrate"]


def test_a_user_agent_with_nul_or_a_lone_surrogate_is_stored_alike_on_every_database():
    """PostgreSQL stores neither in a text column; the parsed names must not carry them."""
    from tracking.importer import import_lines

    website = make_website()
    agents = [IPHONE_UA + "\x00", "\x00" + DESKTOP_UA, DESKTOP_UA + "\ud800"]
    report = import_lines(
        line(website, f"2026-01-05T10:0{i}:00Z", ip=f"198.51.100.{i + 1}", ua=ua)
        for i, ua in enumerate(agents)
    )
    assert report.errors == [] and report.stored == 3
    browsers = sorted(Session.objects.values_list("browser", "os"))
    assert browsers == [("Chrome", "Windows"), ("Chrome", "Windows"), ("Safari", "iOS")]
