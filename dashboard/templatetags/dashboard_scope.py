"""``{% scope_url "details" "pages" %}``: a dashboard URL of the page's ``scope``, the
owner's or a share link's (``dashboard.scope``)."""

from __future__ import annotations

from typing import Any

from django import template

from dashboard.scope import Scope

register = template.Library()


@register.simple_tag(takes_context=True)
def scope_url(context: template.Context, name: str, *args: Any) -> str:
    scope = context.get("scope")
    if not isinstance(scope, Scope):
        scope = Scope(context["website"])
    return scope.url(name, *args)
