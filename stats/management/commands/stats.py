from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from goals.selectors import funnel_get
from stats import queries
from stats.dimensions import PUBLIC_BREAKDOWNS
from stats.periods import PeriodError, from_query
from websites.models import Website


class Command(BaseCommand):
    help = "Print a website's stats (the numbers the dashboard shows, from the same layer)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--site", required=True, help="tracking id")
        parser.add_argument("--from", dest="from_", help="first local day, YYYY-MM-DD")
        parser.add_argument("--to", help="last local day, YYYY-MM-DD (inclusive)")
        parser.add_argument("--period", help="today, 7d, 30d, ... instead of --from/--to")
        parser.add_argument("--limit", type=int, default=10)
        parser.add_argument("--json", action="store_true", help="the stats JSON of the API")
        parser.add_argument("--funnel", help="a funnel's name: its steps instead of the stats")

    def handle(self, *args: Any, **options: Any) -> None:
        site: str = options["site"]
        from_: str | None = options["from_"]
        to: str | None = options["to"]
        period: str | None = options["period"]
        limit: int = options["limit"]
        website = Website.objects.filter(tracking_id=site).first()
        if website is None:
            raise CommandError(f"no website with tracking id {site!r}")
        params = {k: v for k, v in {"period": period, "from": from_, "to": to}.items() if v}
        try:
            p = from_query(params, website.tz)
        except PeriodError as exc:
            raise CommandError(str(exc)) from None
        if not 1 <= limit <= 1000:
            raise CommandError("--limit must be from 1 to 1000")
        funnel_name: str | None = options["funnel"]
        if funnel_name is not None:
            funnel = funnel_get(website, funnel_name)
            if funnel is None:
                raise CommandError(f"no funnel named {funnel_name!r} on this website")
            steps = queries.funnel_json(website, p, funnel)
            if options["json"]:
                self.stdout.write(_dumps(steps))
                return
            self.stdout.write(f"{funnel.name}  {p.first_day} – {p.last_day} ({website.timezone})")
            for step in steps["steps"]:
                rate = step["conversion_rate"]
                shown = "-" if rate is None else f"{rate:.1%}"
                self.stdout.write(f"  {step['value'][:48]:<50} {step['visits']:>9} {shown:>8}")
            return
        data = queries.stats_json(website, p, limit=limit)
        if options["json"]:
            self.stdout.write(_dumps(data))
            return
        self.stdout.write(f"{website.domain}  {p.first_day} – {p.last_day} ({website.timezone})")
        for key in (
            "visitors",
            "pageviews",
            "sessions",
            "avg_session_duration_s",
            "bounce_rate",
            "views_per_session",
        ):
            self.stdout.write(f"  {key:<24} {data[key]}")
        for dimension in PUBLIC_BREAKDOWNS:
            self.stdout.write(f"\n{dimension}")
            for row in data[dimension]:
                value = row["value"] or "(none)"
                self.stdout.write(f"  {value[:48]:<50} {row['visitors']:>9} {row['pageviews']:>10}")
        for name, count in (("goals", "events"), ("events", "events")):
            self.stdout.write(f"\n{name}")
            for row in data[name]:
                self.stdout.write(
                    f"  {row['value'][:48]:<50} {row['visitors']:>9} {row[count]:>10}"
                )


def _dumps(data: object) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)
