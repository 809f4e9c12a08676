"""Email reports end to end: a real SMTP server in the process receives what Django's SMTP
backend sends, and the tests read the arrived messages."""

from __future__ import annotations

import datetime as dt
import io
import re
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.core.mail import EmailMultiAlternatives
from django.core.management import call_command
from django.test import Client

from dashboard import formatting as fmt
from reports import tasks
from reports.content import report_build
from reports.models import DeliveryState, Frequency, ReportDelivery, ReportSubscription
from reports.schedule import due_period, report_period, send_at
from reports.services import Outcome, reports_send_due, subscriptions_set
from reports.tests.smtp import Inbox, free_port, smtp_settings, start
from simple_analytics.testing import make_user, make_website, record_events
from stats import queries
from stats.periods import for_days

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
BASE = "https://stats.example.test"
# Monday 30 November 2026, 07:30 in Berlin: the week of 23-29 November is due.
MONDAY_MORNING = dt.datetime(2026, 11, 30, 7, 30, tzinfo=BERLIN).astimezone(dt.UTC)
WEEK = (dt.date(2026, 11, 23), dt.date(2026, 11, 29))


@pytest.fixture
def inbox(settings):
    box = Inbox()
    controller = start(box)
    for name, value in smtp_settings(controller.port).items():
        setattr(settings, name, value)
    settings.BASE_URL = BASE
    yield box
    controller.stop()


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=BERLIN)


def visit(
    path: str, when: dt.datetime, ip: str, referrer: str = "", host: str = "shop.example"
) -> dict:
    event = {"type": "PAGE_VIEW", "url": f"https://{host}{path}", "at": when, "ip": ip}
    if referrer:
        event["referrer"] = referrer
    return event


@pytest.fixture
def site():
    owner = make_user("owner@example.com")
    website = make_website(owner=owner, domain="shop.example", timezone="Europe/Berlin")
    record_events(
        website,
        [
            # The week reported: Monday 23 to Sunday 29 November.
            visit("/", at(23, 10), "198.51.100.1", "https://www.google.com/"),
            {
                "type": "PATH_CHANGE",
                "url": "https://shop.example/pricing",
                "at": at(23, 10, 2),
                "ip": "198.51.100.1",
            },
            {
                "type": "PAGE_EXIT",
                "url": "https://shop.example/pricing",
                "at": at(23, 10, 5),
                "ip": "198.51.100.1",
            },
            visit("/blog/hello", at(24, 9), "198.51.100.2", "https://news.ycombinator.com/"),
            visit("/", at(24, 18), "198.51.100.3"),
            visit("/pricing", at(26, 12), "198.51.100.4", "https://www.google.com/"),
            visit("/docs", at(29, 23, 30), "198.51.100.5"),
            # The week before, and the Monday after (in neither report).
            visit("/", at(17, 11), "198.51.100.6"),
            visit("/", at(30, 0, 30), "198.51.100.7"),
        ],
    )
    return website


LONG_AGO = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


def subscribe(user, website, frequency=Frequency.WEEKLY, created_at=LONG_AGO):
    subscription = ReportSubscription.objects.create(
        user=user, website=website, frequency=frequency
    )
    ReportSubscription.objects.filter(pk=subscription.pk).update(created_at=created_at)
    subscription.refresh_from_db()
    return subscription


def parts(message):
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    return text, html


# --- the email --------------------------------------------------------------------------


def test_the_report_arrives_over_smtp_with_the_numbers_of_the_stats_layer(inbox, site):
    subscribe(site.owner, site)

    assert reports_send_due(now=MONDAY_MORNING) == {Outcome.SENT: 1}

    [message] = inbox.messages
    [envelope] = inbox.envelopes
    assert envelope.rcpt_tos == ["owner@example.com"]
    assert message["To"] == "owner@example.com"
    assert message["From"] == "Simple Analytics <noreply@localhost>"
    period = for_days(*WEEK, BERLIN)
    current = queries.summary(site, period)
    previous = queries.summary(site, period.previous())
    assert (current.visitors, current.pageviews, previous.visitors) == (5, 6, 1)
    assert message["Subject"].strip() == (
        f"{site.name}: 5 visitors (↑ 400%) · weekly report, 23 – 29 Nov 2026"
    )
    text, html = parts(message)
    for part in (text, html):
        assert fmt.number(current.visitors) in part
        assert fmt.number(current.pageviews) in part
        assert fmt.duration(current.avg_session_duration_s) in part
        assert fmt.percent(current.bounce_rate) in part
        assert "↑ 400%" in part  # visitors against the week before
        for row in queries.breakdown(site, period, "pages", limit=5):
            assert row.value in part
        assert "Google" in part and "Hacker News" in part
        assert "Direct / None" in part
    assert "Visitors: 5 (↑ 400%)" in text
    assert "Page views: 6 (↑ 500%)" in text
    # The chart: seven day columns of table cells, nothing a mail client strips.
    assert len(re.findall(r'<td width="\d+" height="80" valign="bottom"', html)) == 7
    for day in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"):
        assert f">{day}<" in html
    assert not re.search(r"<img|<svg|<style|<link|<script|url\(", html, re.I)
    # Every link goes to BASE_URL: the dashboard on the same week, settings, unsubscribe.
    links = re.findall(r'href="([^"]+)"', html)
    assert links and all(link.startswith(BASE + "/") for link in links)
    assert f"{BASE}/websites/{site.pk}/?period=custom&amp;from=2026-11-23&amp;to=2026-11-29" in html


def test_the_report_has_one_click_unsubscribe_that_works_logged_out(inbox, site):
    subscription = subscribe(site.owner, site)
    reports_send_due(now=MONDAY_MORNING)
    [message] = inbox.messages
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = message["List-Unsubscribe"].strip().strip("<>")
    assert url == f"{BASE}/reports/unsubscribe/{subscription.unsubscribe_token}/"
    text, html = parts(message)
    assert url in text and f'href="{url}"' in html
    path = urlsplit(url).path
    client = Client(enforce_csrf_checks=True)

    # A GET (a link scanner, a preview) only asks.
    page = client.get(path)
    assert page.status_code == 200
    assert b"Unsubscribe?" in page.content and b'method="post"' in page.content
    assert ReportSubscription.objects.filter(pk=subscription.pk).exists()
    # The mail client's one-click POST (RFC 8058): no login, no CSRF token.
    done = client.post(
        path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert done.status_code == 200 and b"Unsubscribed" in done.content
    assert not ReportSubscription.objects.filter(pk=subscription.pk).exists()
    # The link is spent, and nothing more is sent.
    assert client.get(path).status_code == 404
    assert client.post(path).status_code == 404
    assert reports_send_due(now=MONDAY_MORNING + dt.timedelta(days=7)) == {}


def test_an_unknown_unsubscribe_token_is_a_404_page():
    response = Client().get("/reports/unsubscribe/not-a-token/")
    assert response.status_code == 404
    assert b"no longer valid" in response.content


def test_the_monthly_report_covers_the_last_calendar_month(inbox, site):
    subscribe(site.owner, site, Frequency.MONTHLY)
    december_1st = dt.datetime(2026, 12, 1, 7, 0, tzinfo=BERLIN).astimezone(dt.UTC)
    assert reports_send_due(now=december_1st - dt.timedelta(minutes=1)) == {}
    assert reports_send_due(now=december_1st) == {Outcome.SENT: 1}
    [message] = inbox.messages
    assert message["Subject"].strip().endswith("monthly report, November 2026")
    text, html = parts(message)
    november = for_days(dt.date(2026, 11, 1), dt.date(2026, 11, 30), BERLIN)
    assert f"Visitors: {queries.summary(site, november).visitors}" in text
    assert len(re.findall(r'<td width="\d+" height="80" valign="bottom"', html)) == 30


# --- once per period --------------------------------------------------------------------


def test_the_job_sends_once_per_period_across_runs(inbox, site):
    subscribe(site.owner, site)
    assert reports_send_due(now=MONDAY_MORNING) == {Outcome.SENT: 1}
    assert reports_send_due(now=MONDAY_MORNING + dt.timedelta(hours=1)) == {}
    assert reports_send_due(now=MONDAY_MORNING + dt.timedelta(days=3)) == {}
    assert len(inbox.messages) == 1
    delivery = ReportDelivery.objects.get()
    assert (delivery.period_start, delivery.state) == (WEEK[0], DeliveryState.SENT)
    # The next week is a new period.
    assert reports_send_due(now=MONDAY_MORNING + dt.timedelta(days=7)) == {Outcome.SENT: 1}
    assert len(inbox.messages) == 2


def test_the_periodic_task_sends_once_across_two_runs(inbox, site):
    subscribe(site.owner, site)
    tasks.send_reports.call_local()
    tasks.send_reports.call_local()
    assert len(inbox.messages) == 1


def test_a_worker_killed_between_claim_and_send_never_sends_twice(inbox, site, monkeypatch):
    subscribe(site.owner, site)

    def killed(self, fail_silently=False):
        raise SystemExit("worker killed mid-send")

    monkeypatch.setattr(EmailMultiAlternatives, "send", killed)
    with pytest.raises(SystemExit):
        reports_send_due(now=MONDAY_MORNING)
    monkeypatch.undo()
    assert ReportDelivery.objects.get().state == DeliveryState.CLAIMED
    # The restarted worker: the claim stands (the server may have taken the message).
    assert reports_send_due(now=MONDAY_MORNING + dt.timedelta(hours=1)) == {}
    assert inbox.messages == []


def test_a_send_the_smtp_server_refused_is_retried(inbox, site, settings):
    subscribe(site.owner, site)
    port = settings.EMAIL_PORT
    settings.EMAIL_PORT = free_port()  # nobody listens: connection refused
    assert reports_send_due(now=MONDAY_MORNING) == {Outcome.FAILED: 1}
    delivery = ReportDelivery.objects.get()
    assert delivery.state == DeliveryState.FAILED and "refused" in delivery.error.lower()
    settings.EMAIL_PORT = port
    assert reports_send_due(now=MONDAY_MORNING + dt.timedelta(hours=1)) == {Outcome.SENT: 1}
    assert reports_send_due(now=MONDAY_MORNING + dt.timedelta(hours=2)) == {}
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == (DeliveryState.SENT, 2)
    assert len(inbox.messages) == 1


def test_a_website_without_data_sends_nothing(inbox):
    owner = make_user()
    website = make_website(owner=owner, domain="quiet.example", timezone="Europe/Berlin")
    subscribe(owner, website)
    assert reports_send_due(now=MONDAY_MORNING) == {Outcome.SKIPPED: 1}
    assert reports_send_due(now=MONDAY_MORNING + dt.timedelta(hours=1)) == {}
    assert inbox.messages == []


def test_a_new_subscription_starts_with_the_next_period(inbox, site):
    subscribe(site.owner, site, created_at=MONDAY_MORNING + dt.timedelta(hours=2))
    assert reports_send_due(now=MONDAY_MORNING + dt.timedelta(hours=3)) == {}
    assert reports_send_due(now=MONDAY_MORNING + dt.timedelta(days=7)) == {Outcome.SENT: 1}


# --- the recipient's local morning ------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "local", "due"),
    [
        ("Europe/Berlin", dt.datetime(2026, 11, 30, 6, 59), None),
        ("Europe/Berlin", dt.datetime(2026, 11, 30, 7, 0), WEEK),
        ("Europe/Berlin", dt.datetime(2026, 12, 6, 23, 59), WEEK),  # catching up on Sunday
        ("Europe/Berlin", dt.datetime(2026, 12, 7, 6, 0), None),  # the next one not yet
        ("Pacific/Auckland", dt.datetime(2026, 11, 30, 7, 5), WEEK),
        ("America/Los_Angeles", dt.datetime(2026, 11, 30, 7, 5), WEEK),
        ("Asia/Kolkata", dt.datetime(2026, 11, 30, 7, 30), WEEK),
    ],
)
def test_a_report_is_due_from_seven_in_the_websites_morning(tz, local, due):
    now = local.replace(tzinfo=ZoneInfo(tz)).astimezone(dt.UTC)
    period = due_period(Frequency.WEEKLY, ZoneInfo(tz), now=now)
    assert (period and (period.first_day, period.last_day)) == due


def test_one_instant_is_morning_in_one_time_zone_and_night_in_another(inbox):
    # 06:10 UTC on Monday 30 November: 07:10 in Berlin, 19:10 in Auckland (its Monday
    # morning was hours ago), 22:10 on Sunday in Los Angeles.
    now = dt.datetime(2026, 11, 30, 6, 10, tzinfo=dt.UTC)
    sent = {}
    for tz in ("Europe/Berlin", "Pacific/Auckland", "America/Los_Angeles", "Asia/Tokyo"):
        owner = make_user()
        website = make_website(
            owner=owner, domain=f"{tz.split('/')[1].lower().replace('_', '-')}.example", timezone=tz
        )
        record_events(website, [visit("/", at(24, 12), "198.51.100.9", host=website.domain)])
        sent[tz] = subscribe(owner, website)
    # Los Angeles is still on its Sunday: the week before is its latest (without data).
    assert reports_send_due(now=now) == {Outcome.SENT: 3, Outcome.SKIPPED: 1}
    to = sorted(m["To"] for m in inbox.messages)
    assert to == sorted(sent[tz].user.email for tz in sent if tz != "America/Los_Angeles")
    # Los Angeles reaches 07:00 on Monday at 15:00 UTC.
    la = dt.datetime(2026, 11, 30, 7, 0, tzinfo=ZoneInfo("America/Los_Angeles"))
    assert send_at(report_period(Frequency.WEEKLY, la.date(), la.tzinfo)) == la
    assert reports_send_due(now=la.astimezone(dt.UTC)) == {Outcome.SENT: 1}


def test_periods_are_the_last_whole_week_and_month():
    sunday = dt.date(2026, 11, 29)
    assert report_period(Frequency.WEEKLY, sunday, BERLIN).first_day == dt.date(2026, 11, 16)
    monday = dt.date(2026, 11, 30)
    period = report_period(Frequency.WEEKLY, monday, BERLIN)
    assert (period.first_day, period.last_day, period.days) == (*WEEK, 7)
    january = report_period(Frequency.MONTHLY, dt.date(2027, 1, 1), BERLIN)
    assert (january.first_day, january.last_day) == (dt.date(2026, 12, 1), dt.date(2026, 12, 31))
    march = report_period(Frequency.MONTHLY, dt.date(2026, 3, 31), BERLIN)
    assert (march.first_day, march.last_day) == (dt.date(2026, 2, 1), dt.date(2026, 2, 28))


# --- opting in, and the same SMTP path for account emails -------------------------------


def test_the_owner_opts_in_and_out_on_the_settings_page(site):
    client = Client()
    client.force_login(site.owner)
    settings_page = client.get(f"/websites/{site.pk}/settings/")
    assert f'href="/websites/{site.pk}/reports/"'.encode() in settings_page.content
    page = client.get(f"/websites/{site.pk}/reports/")
    assert page.status_code == 200 and b"owner@example.com" in page.content
    response = client.post(f"/websites/{site.pk}/reports/", {"weekly": "on", "monthly": "on"})
    assert response.status_code == 302
    assert set(ReportSubscription.objects.values_list("frequency", flat=True)) == {
        "weekly",
        "monthly",
    }
    client.post(f"/websites/{site.pk}/reports/", {"monthly": "on"})
    [subscription] = ReportSubscription.objects.all()
    assert (subscription.user, subscription.frequency) == (site.owner, "monthly")
    page = client.get(f"/websites/{site.pk}/reports/")
    assert b'id="id_monthly" checked' in page.content
    assert b'id="id_weekly" checked' not in page.content


def test_another_user_cannot_subscribe_to_a_website(site):
    other = make_user()
    client = Client()
    client.force_login(other)
    assert client.post(f"/websites/{site.pk}/reports/", {"weekly": "on"}).status_code == 404
    assert not ReportSubscription.objects.exists()


def test_subscriptions_set_keeps_the_token_of_a_kept_report(site):
    subscriptions_set(user=site.owner, website=site, frequencies=["weekly"])
    token = ReportSubscription.objects.get().unsubscribe_token
    subscriptions_set(user=site.owner, website=site, frequencies=["weekly", "monthly"])
    assert ReportSubscription.objects.get(frequency="weekly").unsubscribe_token == token


def test_a_password_reset_goes_through_the_same_smtp_server(inbox, site):
    response = Client().post("/accounts/password/reset/", {"email": "owner@example.com"})
    assert response.status_code == 302
    [message] = inbox.messages
    assert message["To"] == "owner@example.com"
    assert "/accounts/password/reset/key/" in message.get_body(("plain",)).get_content()


def test_the_report_build_reads_the_period_and_the_one_before(site):
    subscription = subscribe(site.owner, site)
    report = report_build(subscription, for_days(*WEEK, BERLIN))
    assert [h.label for h in report.headlines] == [
        "Visitors",
        "Page views",
        "Visit duration",
        "Bounce rate",
    ]
    assert [b.visitors for b in report.bars] == [1, 2, 0, 1, 0, 0, 1]
    assert report.has_data


def test_report_preview_renders_without_sending(site, tmp_path):
    out = io.StringIO()
    html = tmp_path / "report.html"
    call_command(
        "report_preview", site=site.tracking_id, today=dt.date(2026, 11, 30), html=html, stdout=out
    )
    assert "weekly report, 23 – 29 Nov 2026" in out.getvalue()
    assert "Visitors: 5 (↑ 400%)" in out.getvalue()
    assert "Visitors per day" in html.read_text()
    assert not ReportSubscription.objects.exists() and not ReportDelivery.objects.exists()
