"""The email of a report: numbers from ``stats.queries``, rendered from Django templates
into a plain-text and an HTML part that common mail clients show alike.

The HTML uses tables, inline styles and ``bgcolor`` only: Gmail and Outlook drop SVG,
external images and style sheets, so the daily chart is a row of table cells.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from dashboard import formatting as fmt
from reports.models import Frequency, ReportSubscription
from stats import queries
from stats.dimensions import by_breakdown
from stats.periods import Period
from websites.management.commands.site_add import local_base_url
from websites.models import Website

TOP_ROWS = 5
CHART_HEIGHT_PX = 80
CHART_WIDTH_PX = 520


@dataclass(frozen=True)
class Headline:
    label: str
    value: str
    change: fmt.Change


@dataclass(frozen=True)
class Bar:
    label: str  # under the bar; "" to leave a gap between labels
    title: str  # "Mon 24 Nov: 120 visitors"
    height: int  # px, 0 for an empty day
    visitors: int


@dataclass(frozen=True)
class ListRow:
    value: str
    visitors: str
    width: int  # px of the row's share bar


@dataclass(frozen=True)
class Report:
    website: Website
    frequency: str
    period: Period
    current: queries.Summary
    previous: queries.Summary
    headlines: list[Headline]
    bars: list[Bar]
    pages: list[ListRow]
    sources: list[ListRow]
    dashboard_url: str
    settings_url: str
    unsubscribe_url: str

    @property
    def period_label(self) -> str:
        first, last = self.period.first_day, self.period.last_day
        if self.frequency == Frequency.MONTHLY:
            return f"{first:%B %Y}"
        if first.year != last.year:
            return f"{first:%-d %b %Y} – {last:%-d %b %Y}"
        if first.month != last.month:
            return f"{first:%-d %b} – {last:%-d %b %Y}"
        return f"{first:%-d} – {last:%-d %b %Y}"

    @property
    def title(self) -> str:
        return f"{Frequency(self.frequency).label} report"

    @property
    def has_data(self) -> bool:
        """Whether there is anything to tell: data in this period or in the one before (a
        drop to zero is news: the snippet may have gone missing)."""
        return bool(self.current.sessions or self.previous.sessions or self.current.pageviews)

    @property
    def subject(self) -> str:
        visitors = self.headlines[0]
        change = f" ({visitors.change.text})" if visitors.change.direction != "none" else ""
        return (
            f"{self.website.name}: {visitors.value} visitors{change}"
            f" · {self.title.lower()}, {self.period_label}"
        )


def base_url() -> str:
    """This server's public URL for links in emails: ``BASE_URL``, else ``http://HOST:PORT``
    (right only on this machine: the settings page says to set ``BASE_URL``)."""
    configured: str = settings.BASE_URL
    return configured or local_base_url(settings.HOST, settings.PORT)


def unsubscribe_url(subscription: ReportSubscription) -> str:
    path = reverse("reports:unsubscribe", args=[subscription.unsubscribe_token])
    return base_url() + path


def _headlines(current: queries.Summary, previous: queries.Summary) -> list[Headline]:
    return [
        Headline(
            "Visitors",
            fmt.number(current.visitors),
            fmt.change(current.visitors, previous.visitors),
        ),
        Headline(
            "Page views",
            fmt.number(current.pageviews),
            fmt.change(current.pageviews, previous.pageviews),
        ),
        Headline(
            "Visit duration",
            fmt.duration(current.avg_session_duration_s),
            fmt.change(current.avg_session_duration_s, previous.avg_session_duration_s),
        ),
        Headline(
            "Bounce rate",
            fmt.percent(current.bounce_rate),
            fmt.change(
                current.bounce_rate, previous.bounce_rate, higher_is_better=False, points=True
            ),
        ),
    ]


def _bars(points: list[queries.Point], frequency: str) -> list[Bar]:
    peak = max((p.visitors for p in points), default=0)
    bars = []
    for i, point in enumerate(points):
        day = point.t.date()
        noun = "visitor" if point.visitors == 1 else "visitors"
        height = round(point.visitors / peak * CHART_HEIGHT_PX) if peak else 0
        if frequency == Frequency.WEEKLY:
            label = f"{day:%a}"
        else:
            label = str(day.day) if i % 7 == 0 else ""
        bars.append(
            Bar(
                label=label,
                title=f"{day:%a %-d %b}: {fmt.number(point.visitors)} {noun}",
                height=max(height, 2) if point.visitors else 0,
                visitors=point.visitors,
            )
        )
    return bars


def _rows(rows: list[queries.Row], breakdown: str) -> list[ListRow]:
    dimension = by_breakdown(breakdown)
    peak = max((r.visitors for r in rows), default=0)
    return [
        ListRow(
            value=dimension.display(row.value),
            visitors=fmt.number(row.visitors),
            width=max(round(row.visitors / peak * 120), 1) if peak else 0,
        )
        for row in rows
    ]


def report_build(subscription: ReportSubscription, period: Period) -> Report:
    """Every number of the email, read through ``stats.queries`` as the dashboard reads it
    (the change is against ``period.previous()``, as the dashboard compares)."""
    website = subscription.website
    current = queries.summary(website, period)
    previous = queries.summary(website, period.previous())
    points = queries.timeseries(website, period)
    base = base_url()
    dashboard = reverse("dashboard:overview", args=[website.pk])
    return Report(
        website=website,
        frequency=subscription.frequency,
        period=period,
        current=current,
        previous=previous,
        headlines=_headlines(current, previous),
        bars=_bars(points, subscription.frequency),
        pages=_rows(queries.breakdown(website, period, "pages", limit=TOP_ROWS), "pages"),
        sources=_rows(queries.breakdown(website, period, "sources", limit=TOP_ROWS), "sources"),
        dashboard_url=f"{base}{dashboard}?{urlencode(period.as_query())}",
        settings_url=base + reverse("reports:settings", args=[website.pk]),
        unsubscribe_url=unsubscribe_url(subscription),
    )


def report_render(report: Report) -> tuple[str, str, str]:
    """Subject, plain text and HTML of the email."""
    context = {
        "report": report,
        "chart_height": CHART_HEIGHT_PX,
        "bar_width": CHART_WIDTH_PX // max(len(report.bars), 1),
    }
    text = render_to_string("reports/email/report.txt", context)
    html = render_to_string("reports/email/report.html", context)
    return report.subject, text, html


def report_message(report: Report, *, to: str) -> EmailMultiAlternatives:
    """The message, with the one-click unsubscribe headers of RFC 8058 (mail clients show an
    Unsubscribe button and POST to the link without opening it)."""
    subject, text, html = report_render(report)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        to=[to],
        headers={
            "List-Unsubscribe": f"<{report.unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
        },
    )
    message.attach_alternative(html, "text/html")
    return message
