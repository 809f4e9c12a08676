"""Saved segments: a website's named sets of dashboard filters (``dashboard.segments``)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from websites.models import Website

MAX_SEGMENT_NAME_CHARS = 80
MAX_SEGMENTS_PER_WEBSITE = 50


class Segment(models.Model):
    """A name for the filters of the query string ``query``.

    ``query`` is the canonical urlencoded form of ``Filters.as_query()`` at the time of
    saving; it is parsed again on every read, so a filter that has since changed shape
    shows the segment as broken instead of applying something else.
    """

    website = models.ForeignKey(Website, on_delete=models.CASCADE, related_name="segments")
    name = models.CharField(max_length=MAX_SEGMENT_NAME_CHARS)
    query = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["website", "name"], name="dashboard_segment_unique_name"
            ),
            models.CheckConstraint(condition=~Q(name=""), name="dashboard_segment_has_name"),
        ]

    def __str__(self) -> str:
        return self.name
