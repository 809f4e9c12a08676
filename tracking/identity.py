"""Cookieless identity: daily salts and the visitor hash.

A visitor id is a keyed hash of (the salt of the website's local day, website, IP,
User-Agent). Salts are random, kept in the database and deleted about two days later, so
old ids can never be linked again; the IP is never stored. Each event carries today's and
yesterday's id, so a session crossing local midnight continues (``tracking.sessions``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading

from django.conf import settings
from django.db import IntegrityError, transaction

from core import blocking
from tracking.models import Salt

_salts: dict[dt.date, bytes] = {}
_salts_lock = threading.Lock()


def salt_for(day: dt.date) -> bytes:
    """The salt of a calendar day, created on first use; cached per process."""
    salt = _salts.get(day)
    if salt is not None:
        return salt
    blocking.check()
    with _salts_lock:
        salt = _salts.get(day)
        if salt is None:
            salt = _load_or_create_salt(day)
            if len(_salts) > 8:
                _salts.clear()
            _salts[day] = salt
    return salt


def _load_or_create_salt(day: dt.date) -> bytes:
    row = Salt.objects.filter(day=day).values_list("value", flat=True).first()
    if row is not None:
        return bytes(row)
    try:
        with transaction.atomic():
            Salt.objects.create(day=day, value=secrets.token_bytes(32))
    except IntegrityError:
        pass  # another process created it first: use theirs
    return bytes(Salt.objects.values_list("value", flat=True).get(day=day))


def forget_salts() -> None:
    with _salts_lock:
        _salts.clear()


def salts_prune(*, today: dt.date) -> int:
    """Delete salts no time zone can still need (older than ``SALT_KEEP_DAYS`` before today,
    UTC); create tomorrow's ahead. Returns the number deleted."""
    cutoff = today - dt.timedelta(days=settings.SALT_KEEP_DAYS)
    deleted, _ = Salt.objects.filter(day__lt=cutoff).delete()
    salt_for(today + dt.timedelta(days=1))
    with _salts_lock:
        for day in [d for d in _salts if d < cutoff]:
            del _salts[day]
    return deleted


def visitor_id(salt: bytes, website_id: int, ip: str, user_agent: str) -> int:
    """A signed 64-bit keyed hash (BLAKE2b with the day's salt as key)."""
    digest = hashlib.blake2b(
        f"{website_id}\x1f{ip}\x1f{user_agent}".encode("utf-8", "surrogatepass"),
        key=salt,
        digest_size=8,
    ).digest()
    return int.from_bytes(digest, "big", signed=True)


def visitor_ids(website_id: int, local_day: dt.date, ip: str, user_agent: str) -> tuple[int, int]:
    """(today's id, yesterday's id) for a visitor on a website's local day."""
    today = visitor_id(salt_for(local_day), website_id, ip, user_agent)
    yesterday = visitor_id(salt_for(local_day - dt.timedelta(days=1)), website_id, ip, user_agent)
    return today, yesterday
