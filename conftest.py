"""Suite-wide fixtures. PostgreSQL and Redis checks: skip locally, fail under CI=true."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    from tracking.identity import forget_salts
    from websites.selectors import tracked_site_forget

    tracked_site_forget()
    forget_salts()
    yield
    tracked_site_forget()
    forget_salts()


def require_service(name: str, reachable: bool) -> None:
    if reachable:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} is required under CI=true but is not reachable")
    pytest.skip(f"{name} not reachable")


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Close PostgreSQL connection pools before the test database is dropped."""
    yield
    from django.db import connections

    with django_db_blocker.unblock():
        for conn in connections.all(initialized_only=True):
            if getattr(conn, "pool", None) is not None:
                conn.close_pool()
