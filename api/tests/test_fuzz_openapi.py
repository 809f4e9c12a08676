"""schemathesis against the OpenAPI document the app serves (``/api/v1/openapi.json``), run
in-process through the production WSGI entry point with an API key.

Every operation of the document is called with data generated from it; each answer must
not be a 5xx and must conform to the document: status code, content type, headers and body
schema. The ``site`` parameter is usually the key owner's real website with traffic, so the
generated periods, filters and limits reach the query layer rather than stopping at "no such
site".
"""

from __future__ import annotations

import datetime as dt
import os
import re

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from api.models import ApiKey, Scope
from simple_analytics.testing import make_user, make_website, record_events

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
SITES_PATH = "/api/v1/sites"

CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.response_schema_conformance,
]


@pytest.fixture
def served_app():
    """The production WSGI app. Like Django's test client, keep the test's connection and
    transaction open between requests (Django closes old connections per request)."""
    from simple_analytics.wsgi import application

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield application
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(served_app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", served_app)


@pytest.fixture
def owner_site():
    owner = make_user()
    website = make_website(owner=owner, domain="example.com")
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2)
    url = "https://example.com"
    record_events(
        website,
        [
            {"type": "PAGE_VIEW", "url": f"{url}/?utm_source=news&utm_campaign=launch", "at": now},
            {"type": "PATH_CHANGE", "url": f"{url}/pricing", "at": now + dt.timedelta(seconds=5)},
            {
                "type": "PAGE_EXIT",
                "url": f"{url}/pricing",
                "at": now + dt.timedelta(seconds=40),
                "engaged_ms": 30_000,
            },
            {
                "type": "PAGE_VIEW",
                "url": f"{url}/",
                "at": now,
                "ip": "198.51.100.9",
                "referrer": "https://www.google.com/",
            },
        ],
    )
    _, key = ApiKey.issue(user=owner, name="schemathesis")
    return website, key


# schemathesis' own pytest integration (``from_fixture`` + ``parametrize``) does not run
# under pytest 9 (it reads ``Function._nodeid``); its strategies under plain hypothesis do.
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "40")),
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_stats_api_conforms_to_its_openapi_document(api_schema, owner_site, mode):
    website, key = owner_site
    headers = {"Authorization": f"Bearer {key}"}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    operations = [op for op in operations if not op.path.startswith(SITES_PATH)]
    assert len(operations) == 3
    for operation in operations:

        @FUZZ
        @given(case=operation.as_strategy(generation_mode=mode), real_site=st.integers(0, 3))
        def call(case: schemathesis.Case, real_site: int) -> None:
            if real_site and isinstance(case.query, dict) and "site" in case.query:
                case.query["site"] = website.tracking_id
            case.call_and_validate(headers=headers, checks=CHECKS)

        call()


def test_the_served_document_is_valid_and_covers_every_api_route(api_schema):
    from simple_analytics.tests.routes import all_routes

    operations = {op.ok().path for op in api_schema.get_all_operations()}
    api_paths = {
        "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", r.pattern)
        for r in all_routes()
        if r.pattern.startswith("api/v1/") and r.name != "api:openapi"
    }
    assert operations == api_paths


def test_the_documented_refusals_conform_too(api_schema, owner_site, settings):
    """401 for a wrong key, then 429 with Retry-After once the address sent too many."""
    from django.core.cache import cache

    cache.clear()
    settings.API_KEY_FAILURES_PER_MINUTE = 2
    website, key = owner_site
    operation = api_schema["/api/v1/stats"]["GET"]
    case = operation.Case(query={"site": website.tracking_id, "period": "today"})
    statuses = [
        case.call_and_validate(
            headers={"Authorization": "Bearer sa_wrong"}, checks=CHECKS
        ).status_code
        for _ in range(3)
    ]
    assert statuses == [401, 401, 429]
    throttled = case.call_and_validate(headers={"Authorization": f"Bearer {key}"}, checks=CHECKS)
    assert throttled.status_code == 429
    cache.clear()


def test_hostile_digits_in_every_numeric_parameter_are_documented_400s(api_schema, owner_site):
    """Non-ASCII and non-decimal digits in each integer and date query parameter of each
    operation: a 400 whose status, headers and body conform to the document."""
    from simple_analytics.tests.fuzz import HOSTILE_DIGITS, hostile_dates

    website, key = owner_site
    headers = {"Authorization": f"Bearer {key}"}
    day = "2026-01-05"
    base = {"site": website.tracking_id, "period": "custom", "from": day, "to": day}
    sent = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        path_parameters = {"dimension": "pages"} if "{dimension}" in operation.path else None
        for param in operation.definition.raw.get("parameters", []):
            schema = param.get("schema", {})
            kind = schema.get("format") or schema.get("type")
            if param["in"] != "query" or kind not in ("integer", "date"):
                continue
            values = hostile_dates() if kind == "date" else HOSTILE_DIGITS
            for value in values:
                case = operation.Case(
                    query={**base, param["name"]: value}, path_parameters=path_parameters
                )
                response = case.call_and_validate(headers=headers, checks=CHECKS)
                assert response.status_code == 400, (operation.path, param["name"], value)
                sent += 1
    assert sent >= 3 * 2 * len(hostile_dates()) + 2 * len(HOSTILE_DIGITS)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_sites_api_conforms_to_its_openapi_document(api_schema, mode):
    """Every sites API operation with a read-write key: path parameters usually name the
    key owner's real website, goal, funnel, share link and invitation (made anew once deleted
    or revoked), so generated bodies reach the forms and services rather than stopping at
    "no such site"."""
    from goals.models import Funnel, Goal, GoalKind
    from goals.services import funnel_create, goal_create
    from teams.models import Membership, Role
    from teams.services import invitation_create, invitation_list_pending
    from websites.models import ShareLink, Website
    from websites.sharing import share_link_create

    owner = make_user()
    _, key = ApiKey.issue(user=owner, name="schemathesis", scope=Scope.READ_WRITE)
    headers = {"Authorization": f"Bearer {key}"}

    def real_ids() -> dict[str, str | int]:
        website = Website.objects.filter(owner=owner).first() or make_website(owner=owner)
        steps = [
            Goal.objects.filter(website=website, name=name).first()
            or goal_create(website=website, kind=GoalKind.EVENT, event_name=name, name=name)
            for name in ("fuzz-step-1", "fuzz-step-2")
        ]
        funnel = Funnel.objects.filter(website=website).first() or funnel_create(
            website=website, name="fuzz-funnel", steps=[goal.name for goal in steps]
        )
        # The newest goal: often one the fuzzer made, which a DELETE can remove.
        goal = Goal.objects.filter(website=website).order_by("-pk").first() or steps[0]
        link = ShareLink.objects.filter(website=website, revoked_at=None).first()
        link = link or share_link_create(website=website, label="fuzz").link
        invitation = invitation_list_pending(website.team).first()
        if invitation is None:
            actor = Membership.objects.get(team=website.team, user=owner)
            invitation = invitation_create(
                actor=actor, email="fuzz@example.com", role=Role.VIEWER
            ).invitation
        return {
            "site": website.tracking_id,
            "goal_id": goal.pk,
            "funnel_id": funnel.pk,
            "link_id": link.pk,
            "invitation_id": invitation.pk,
        }

    operations = [result.ok() for result in api_schema.get_all_operations()]
    operations = [op for op in operations if op.path.startswith(SITES_PATH)]
    assert len(operations) == 17
    for operation in operations:

        @FUZZ
        @given(case=operation.as_strategy(generation_mode=mode), real=st.integers(0, 3))
        def call(case: schemathesis.Case, real: int) -> None:
            if real and isinstance(case.path_parameters, dict):
                ids = real_ids()
                for name in case.path_parameters:
                    case.path_parameters[name] = ids[name]
            case.call_and_validate(headers=headers, checks=CHECKS)

        call()
