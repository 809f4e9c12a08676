"""The dashboard's Goals, Custom events and Funnel panels: ``stats.queries`` answers turned
into rows, bars and links, like ``dashboard.presenters`` does for the breakdowns.

A goal row filters the dashboard (``goal=NAME``); an event row opens its property values
(the view parameter ``event``), and a property value filters (``prop=KEY=VALUE``). The
funnel shown is the view parameter ``funnel`` (a funnel's name), else the first funnel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.urls import reverse

from dashboard import formatting as fmt
from dashboard.presenters import PANEL_LIMIT, dashboard_url
from stats import queries
from stats.filters import Filters
from stats.periods import Period
from websites.models import Website

# What the empty Custom events panel shows: the call, and the stub of docs/TRACKER.md.
EXAMPLE_CALL = 'sa("event", "Signup", {plan: "pro"})'
STUB = "<script>window.sa=window.sa||function(){(sa.q=sa.q||[]).push(arguments)}</script>"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


@dataclass(frozen=True)
class ConversionRow:
    label: str
    visitors: str
    visitors_exact: int
    events: str
    events_exact: int
    rate: str  # the conversion rate (goals only)
    bar: str  # SVG width, "43.2%"
    url: str
    active: bool
    title: str


@dataclass(frozen=True)
class GoalsPanel:
    rows: list[ConversionRow]  # empty: the website has no goals
    settings_url: str


@dataclass(frozen=True)
class PropertyGroup:
    key: str
    rows: list[ConversionRow]
    more: int  # values not shown


@dataclass(frozen=True)
class Drilldown:
    event: str
    summary: str  # "120 visitors, 180 events"
    groups: list[PropertyGroup]
    back_url: str


@dataclass(frozen=True)
class EventsPanel:
    rows: list[ConversionRow]
    drilldown: Drilldown | None
    example: str
    stub: str


@dataclass(frozen=True)
class FunnelStepBar:
    position: int
    name: str
    visits: str
    visits_exact: int
    rate: str  # conversion from the first step
    bar: str
    dropoff: str  # from the previous step, spelled out ("" for the first step)


@dataclass(frozen=True)
class FunnelPanel:
    names: list[str]  # every funnel of the website, for the choice
    chosen: str  # "" when the website has none
    missing: str  # a funnel asked for by name that does not exist
    steps: list[FunnelStepBar]
    summary: str
    keep: dict[str, str]  # the rest of the query string, for the choice's form
    settings_url: str


@dataclass(frozen=True)
class Conversions:
    goals: GoalsPanel
    events: EventsPanel
    funnel: FunnelPanel


def panels(
    website: Website,
    period: Period,
    filters: Filters,
    *,
    path: str,
    view: Mapping[str, str],
    data: Mapping[str, Any],
) -> Conversions:
    """The panels from ``data``, the bundle of ``queries.dashboard`` (only an open event's
    properties are asked apart)."""
    settings_url = reverse("goals:index", args=[website.pk])
    return Conversions(
        goals=goals_panel(period, filters, data["goals"], path=path, view=view, url=settings_url),
        events=events_panel(
            website,
            period,
            filters,
            data["events"],
            path=path,
            view=view,
            total_visitors=data["summary"].visitors,
        ),
        funnel=funnel_panel(
            period, filters, data["funnels"], path=path, view=view, url=settings_url
        ),
    )


def goals_panel(
    period: Period,
    filters: Filters,
    found: list[queries.GoalRow],
    *,
    path: str,
    view: Mapping[str, str],
    url: str,
) -> GoalsPanel:
    rows = []
    for goal in found[:PANEL_LIMIT]:
        rate = fmt.percent(goal.conversion_rate)
        rows.append(
            ConversionRow(
                label=goal.value,
                visitors=fmt.number(goal.visitors),
                visitors_exact=goal.visitors,
                events=fmt.number(goal.events),
                events_exact=goal.events,
                rate=rate,
                bar=fmt.bar_width(goal.conversion_rate or 0),
                url=dashboard_url(path, period, filters, {"goal": goal.value}, view),
                active=filters.get("goal") == goal.value,
                title=(
                    f"{goal.value}: {_plural(goal.visitors, 'converting visitor')} "
                    f"({rate} of visitors), {_plural(goal.events, 'event')}. "
                    "Click to show only the visits that converted."
                ),
            )
        )
    return GoalsPanel(rows=rows, settings_url=url)


def events_panel(
    website: Website,
    period: Period,
    filters: Filters,
    found: list[queries.EventRow],
    *,
    path: str,
    view: Mapping[str, str],
    total_visitors: int,
) -> EventsPanel:
    found = found[:PANEL_LIMIT]
    rows = []
    for event in found:
        ratio = fmt.share(event.visitors, total_visitors)
        rows.append(
            ConversionRow(
                label=event.value,
                visitors=fmt.number(event.visitors),
                visitors_exact=event.visitors,
                events=fmt.number(event.events),
                events_exact=event.events,
                rate="",
                bar=fmt.bar_width(ratio),
                url=dashboard_url(path, period, filters, view={**view, "event": event.value})
                + "#events",
                active=False,
                title=(
                    f"{event.value}: {_plural(event.visitors, 'visitor')}, "
                    f"{_plural(event.events, 'event')}. Click to see its properties."
                ),
            )
        )
    name = view.get("event")
    drilldown = None
    if name is not None:
        row = next((r for r in found if r.value == name), None)
        if row is None and len(found) == PANEL_LIMIT:  # maybe beyond the panel's rows
            every = queries.events(website, period, filters=filters, limit=None)
            row = next((r for r in every if r.value == name), None)
        drilldown = _drilldown(website, period, filters, path=path, view=view, event=row or name)
    return EventsPanel(rows=rows, drilldown=drilldown, example=EXAMPLE_CALL, stub=STUB)


def _drilldown(
    website: Website,
    period: Period,
    filters: Filters,
    *,
    path: str,
    view: Mapping[str, str],
    event: queries.EventRow | str,
) -> Drilldown:
    name = event if isinstance(event, str) else event.value
    # Every value: the limit of the query would cut across keys, so cut per key here.
    found = queries.properties(website, period, name, filters=filters, limit=None)
    whole = event.visitors if not isinstance(event, str) else max((r[2] for r in found), default=0)
    active = filters.get("prop")
    by_key: dict[str, list[ConversionRow]] = {}
    more: dict[str, int] = {}
    for key, value, visitors, n in found:  # by key, then most visitors first
        rows = by_key.setdefault(key, [])
        if len(rows) >= PANEL_LIMIT:
            more[key] = more.get(key, 0) + 1
            continue
        prop = f"{key}={value}"
        rows.append(
            ConversionRow(
                label=value or "(empty)",
                visitors=fmt.number(visitors),
                visitors_exact=visitors,
                events=fmt.number(n),
                events_exact=n,
                rate="",
                bar=fmt.bar_width(fmt.share(visitors, whole)),
                url=dashboard_url(path, period, filters, {"prop": prop}, view) + "#events",
                active=active == prop,
                title=(
                    f"{key} = {value}: {_plural(visitors, 'visitor')}, {_plural(n, 'event')}. "
                    "Click to show only the visits that sent it."
                ),
            )
        )
    groups = [PropertyGroup(key=k, rows=rows, more=more.get(k, 0)) for k, rows in by_key.items()]
    if isinstance(event, str):
        summary = "Not sent in this period" + (" with these filters." if filters else ".")
    else:
        summary = f"{_plural(event.visitors, 'visitor')}, {_plural(event.events, 'event')}"
    back = {k: v for k, v in view.items() if k != "event"}
    return Drilldown(
        event=name,
        summary=summary,
        groups=groups,
        back_url=dashboard_url(path, period, filters, view=back) + "#events",
    )


def funnel_panel(
    period: Period,
    filters: Filters,
    funnels: list[tuple[str, list[queries.FunnelStep]]],
    *,
    path: str,
    view: Mapping[str, str],
    url: str,
) -> FunnelPanel:
    asked = view.get("funnel", "")
    chosen = next((f for f in funnels if f[0] == asked), funnels[0] if funnels else None)
    keep = {**period.as_query(), **filters.as_query()}
    keep.update({k: v for k, v in view.items() if k != "funnel"})
    steps: list[FunnelStepBar] = []
    summary = ""
    if chosen is not None:
        found = chosen[1]
        previous = 0
        for k, step in enumerate(found, start=1):
            dropoff = ""
            if k > 1:
                lost = previous - step.visits
                dropoff = (
                    f"{fmt.percent(step.dropoff_rate)} dropped off ({_plural(lost, 'visit')})"
                    if step.dropoff_rate is not None
                    else "no visits to drop off"
                )
            steps.append(
                FunnelStepBar(
                    position=k,
                    name=step.value,
                    visits=fmt.number(step.visits),
                    visits_exact=step.visits,
                    rate=fmt.percent(step.conversion_rate),
                    bar=fmt.bar_width(step.conversion_rate or 0),
                    dropoff=dropoff,
                )
            )
            previous = step.visits
        summary = _funnel_summary(found)
    return FunnelPanel(
        names=[name for name, _ in funnels],
        chosen=chosen[0] if chosen is not None else "",
        missing=asked if asked and (chosen is None or chosen[0] != asked) else "",
        steps=steps,
        summary=summary,
        keep=keep,
        settings_url=url,
    )


def _funnel_summary(steps: list[queries.FunnelStep]) -> str:
    if not steps or steps[0].visits == 0:
        return "No visit reached the first step in this period."
    first, last = steps[0], steps[-1]
    return (
        f"{_plural(first.visits, 'visit')} reached “{first.value}”; {last.visits:,} of them "
        f"({fmt.percent(last.conversion_rate)}) went on to “{last.value}”."
    )
