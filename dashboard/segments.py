"""Saved segments: a website's named sets of dashboard filters, applied with one click.

A segment stores the canonical query string of its filters (``urlencode(Filters.as_query())``)
and parses it again on every read: one that no longer parses is listed as broken, with
only a delete button. Owner-only like every website page: another user's website, or a
segment of another website, is a 404, the same answer as an id that does not exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from core.http import AuthenticatedHttpRequest
from dashboard import presenters
from dashboard.models import MAX_SEGMENT_NAME_CHARS, MAX_SEGMENTS_PER_WEBSITE, Segment
from stats.filters import NO_FILTERS, Filters
from stats.periods import Period, PeriodError, from_query
from teams.models import Role
from websites.models import Website
from websites.selectors import website_get_for_user_or_404

# Far above any real set of filters; keeps a hand-made request from storing megabytes.
MAX_QUERY_CHARS = 20_000


# --- services ---------------------------------------------------------------------------


def segment_filters(segment: Segment) -> Filters | None:
    """The segment's filters, or None when its stored query no longer parses (or no
    longer holds any filter, say a dimension that was removed)."""
    try:
        filters = Filters.from_query(QueryDict(segment.query))
    except ValueError:  # FilterError, or a query Django refuses to parse
        return None
    return filters if filters else None


def _query(filters: Filters) -> str:
    return urlencode(filters.as_query())


def validate_name(name: str) -> str:
    """A segment's name, trimmed: 1 to 80 characters, printable."""
    name = name.strip()
    if not name:
        raise ValidationError("Give the segment a name.")
    if len(name) > MAX_SEGMENT_NAME_CHARS:
        raise ValidationError(
            f"A segment name has at most {MAX_SEGMENT_NAME_CHARS} characters, not {len(name)}."
        )
    # PostgreSQL cannot store NUL; other control characters only hide what a name says.
    if any(not ch.isprintable() for ch in name):
        raise ValidationError("A segment name cannot contain control characters.")
    return name


def segment_create(*, website: Website, name: str, filters: Filters) -> Segment:
    """A new segment of ``website`` naming ``filters``; raises ValidationError for a bad or
    taken name, no filters, filters saved already, or a website at its limit."""
    name = validate_name(name)
    if not filters:
        raise ValidationError(
            "There are no filters to save: filter the dashboard first (click any row)."
        )
    query = _query(filters)
    if len(query) > MAX_QUERY_CHARS:
        raise ValidationError("These filters are too long to save as a segment.")
    with transaction.atomic():
        # The website's row is the lock: two saves at once cannot both pass the limit.
        Website.objects.select_for_update().filter(pk=website.pk).values_list("pk").get()
        saved = list(Segment.objects.filter(website=website).values_list("name", "query"))
        if any(n == name for n, _ in saved):
            raise ValidationError(f"A segment named “{name}” exists already.")
        same = next((n for n, q in saved if q == query), None)
        if same is not None:
            raise ValidationError(f"These filters are saved already, as “{same}”.")
        if len(saved) >= MAX_SEGMENTS_PER_WEBSITE:
            raise ValidationError(
                f"A website has at most {MAX_SEGMENTS_PER_WEBSITE} segments: "
                "delete one to save another."
            )
        try:
            with transaction.atomic():
                return Segment.objects.create(website=website, name=name, query=query)
        except IntegrityError:  # another request took the name since the check above
            raise ValidationError(f"A segment named “{name}” exists already.") from None


def segment_rename(*, segment: Segment, name: str) -> Segment:
    """The segment under a new name; raises ValidationError for a bad or taken name."""
    name = validate_name(name)
    taken = Segment.objects.filter(website_id=segment.website_id, name=name)
    if taken.exclude(pk=segment.pk).exists():
        raise ValidationError(f"A segment named “{name}” exists already.")
    segment.name = name
    try:
        with transaction.atomic():
            segment.save(update_fields=["name"])
    except IntegrityError:  # another request took the name since the check above
        raise ValidationError(f"A segment named “{name}” exists already.") from None
    return segment


def segment_delete(*, segment: Segment) -> None:
    segment.delete()


# --- what the dashboard shows -----------------------------------------------------------


@dataclass(frozen=True)
class Item:
    pk: int
    name: str
    url: str | None  # applies the segment; None when its filters no longer parse
    current: bool
    delete_url: str
    rename_url: str

    @property
    def broken(self) -> bool:
        return self.url is None


@dataclass(frozen=True)
class Menu:
    items: list[Item]
    current: str | None  # the name of the segment whose filters are the page's
    can_save: bool  # filters are active, not saved yet, and the website has room
    full: bool
    save_url: str
    # The hidden fields of every form: the page's filters, and its period and view.
    filters_query: str
    back_query: str
    max_name_chars: int = MAX_SEGMENT_NAME_CHARS
    max_segments: int = MAX_SEGMENTS_PER_WEBSITE


def menu(
    request: HttpRequest,
    website: Website,
    period: Period,
    filters: Filters,
    view: Mapping[str, str] | None = None,
) -> Menu:
    """The overview's Segments menu: each segment as a link that applies its filters on
    this period and view (in place of the page's filters), and the forms to save, rename
    and delete. One query."""
    here = _query(filters) if filters else None
    items = []
    segments = sorted(
        Segment.objects.filter(website=website), key=lambda s: (s.name.casefold(), s.pk)
    )
    for segment in segments:
        seg_filters = segment_filters(segment)
        url = None
        if seg_filters is not None:
            url = presenters.dashboard_url(request.path, period, seg_filters, view=view)
        items.append(
            Item(
                pk=segment.pk,
                name=segment.name,
                url=url,
                current=seg_filters is not None and _query(seg_filters) == here,
                delete_url=reverse("dashboard:segment_delete", args=[website.pk, segment.pk]),
                rename_url=reverse("dashboard:segment_rename", args=[website.pk, segment.pk]),
            )
        )
    current = next((item.name for item in items if item.current), None)
    full = len(items) >= MAX_SEGMENTS_PER_WEBSITE
    return Menu(
        items=items,
        current=current,
        can_save=bool(filters) and current is None and not full,
        full=full,
        save_url=reverse("dashboard:segment_save", args=[website.pk]),
        filters_query=_query(filters),
        back_query=urlencode({**period.as_query(), **(view or {})}),
    )


# --- views --------------------------------------------------------------------------------


def _posted_filters(request: HttpRequest) -> Filters:
    """The page's filters, sent back in the hidden field ``filters``; raises ValueError."""
    return Filters.from_query(QueryDict(request.POST.get("filters", "")))


def _back(request: HttpRequest, website: Website, filters: Filters) -> str:
    """The dashboard the form was on (period and view from the hidden field ``back``) with
    ``filters``; a part that no longer parses falls back to the default."""
    params = QueryDict(request.POST.get("back", ""))
    try:
        period = from_query(params, website.tz)
    except PeriodError:
        period = from_query({}, website.tz)
    path = reverse("dashboard:overview", args=[website.pk])
    return presenters.dashboard_url(path, period, filters, view=presenters.view_state(params))


def _refused(
    request: HttpRequest, website: Website, action: str, error: Exception, filters: Filters
) -> HttpResponse:
    text = " ".join(error.messages) if isinstance(error, ValidationError) else str(error)
    context = {
        "website": website,
        "action": action,
        "message": text,
        "back_url": _back(request, website, filters),
    }
    return render(request, "dashboard/segment_error.html", context, status=400)


def _segment_get_or_404(website: Website, segment_pk: int) -> Segment:
    segment = Segment.objects.filter(website=website, pk=segment_pk).first()
    if segment is None:
        raise Http404("No such segment")
    return segment


@login_required
@require_POST
def segment_save(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Save the page's filters under ``name``, then show the dashboard with them."""
    website = website_get_for_user_or_404(request.user, pk, need=Role.ADMIN)
    try:
        filters = _posted_filters(request)
    except ValueError as exc:
        return _refused(request, website, "save", exc, NO_FILTERS)
    try:
        segment = segment_create(
            website=website, name=request.POST.get("name", ""), filters=filters
        )
    except ValidationError as exc:
        return _refused(request, website, "save", exc, filters)
    messages.success(request, f"Saved the segment “{segment.name}”.")
    return redirect(_back(request, website, filters))


def _page_filters(request: HttpRequest) -> Filters:
    try:
        return _posted_filters(request)
    except ValueError:
        return NO_FILTERS


@login_required
@require_POST
def segment_rename_view(
    request: AuthenticatedHttpRequest, pk: int, segment_pk: int
) -> HttpResponse:
    website = website_get_for_user_or_404(request.user, pk, need=Role.ADMIN)
    segment = _segment_get_or_404(website, segment_pk)
    filters = _page_filters(request)
    old = segment.name
    try:
        segment_rename(segment=segment, name=request.POST.get("name", ""))
    except ValidationError as exc:
        return _refused(request, website, "rename", exc, filters)
    messages.success(request, f"Renamed the segment “{old}” to “{segment.name}”.")
    return redirect(_back(request, website, filters))


@login_required
@require_POST
def segment_delete_view(
    request: AuthenticatedHttpRequest, pk: int, segment_pk: int
) -> HttpResponse:
    """Delete the segment; the page keeps its filters (only their name goes)."""
    website = website_get_for_user_or_404(request.user, pk, need=Role.ADMIN)
    segment = _segment_get_or_404(website, segment_pk)
    segment_delete(segment=segment)
    messages.success(request, f"Deleted the segment “{segment.name}”.")
    return redirect(_back(request, website, _page_filters(request)))
