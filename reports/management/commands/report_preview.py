from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from reports.content import report_build, report_render
from reports.models import Frequency, ReportSubscription
from reports.schedule import report_period
from websites.models import Website


class Command(BaseCommand):
    help = (
        "Render a website's email report without sending it: prints the subject and the "
        "text part, writes the HTML part to --html."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--site", help="tracking id (default: the first website)")
        parser.add_argument("--frequency", choices=Frequency.values, default=Frequency.WEEKLY)
        parser.add_argument(
            "--today", type=dt.date.fromisoformat, help="local day it is sent (default: today)"
        )
        parser.add_argument("--html", type=Path, help="write the HTML part to this file")

    def handle(self, *args: Any, **options: Any) -> None:
        websites = Website.objects.select_related("owner", "team").order_by("pk")
        if options["site"]:
            websites = websites.filter(tracking_id=options["site"])
        website = websites.first()
        if website is None:
            raise CommandError("no such website")
        today = options["today"] or dt.datetime.now(website.tz).date()
        period = report_period(options["frequency"], today, website.tz)
        # Unsaved: a preview subscribes nobody (its unsubscribe link leads nowhere).
        member = website.team.memberships.select_related("user").order_by("pk").first()
        user = website.owner or (member.user if member else None)
        if user is None:
            raise CommandError("the website's team has no members to preview the report for")
        subscription = ReportSubscription(
            user=user,
            website=website,
            frequency=options["frequency"],
            unsubscribe_token="preview",
        )
        subject, text, html = report_render(report_build(subscription, period))
        self.stdout.write(f"Subject: {subject}\n\n{text}")
        if options["html"]:
            options["html"].write_text(html, encoding="utf-8")
