"""Write realistic NDJSON events for `simple-analytics import-events` (benchmarks, demos).

    python bench/make_events.py --site TRACKING_ID --events 1000000 --days 90 > events.ndjson
    python bench/make_events.py --site TRACKING_ID --custom-events > events.ndjson

The traffic model is core.synthetic (daily and weekly rhythm, growth, a campaign spike);
``--custom-events`` adds what visitors did (core.synthetic.with_custom_events), about 6% more
events, for the goals and funnel of core.synthetic.GOALS and FUNNEL.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run by path: the repository first

from core.synthetic import generate, with_custom_events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", required=True)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--end", default=None, help="last day (YYYY-MM-DD), default today UTC")
    parser.add_argument("--domain", default="example.com")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--custom-events", action="store_true", help="add sign-ups, downloads, outbound clicks"
    )
    args = parser.parse_args()
    end = dt.date.fromisoformat(args.end) if args.end else dt.datetime.now(dt.UTC).date()
    write = sys.stdout.write
    events = generate(
        site=args.site,
        events=args.events,
        days=args.days,
        end=end,
        domain=args.domain,
        seed=args.seed,
    )
    if args.custom_events:
        events = with_custom_events(events, domain=args.domain)
    for event in events:
        write(json.dumps(event, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
