"""Code that must not wait marks itself; code that would wait (a database or cache round
trip) checks the mark and raises ``WouldBlock`` *before* it changes anything.

The front answers ``/api/event`` on its event loop, where one wait stalls every connection
of the worker. Its caches answer nearly every event from memory; the rare event that would
wait (a cache miss, a batch for Redis) is handed to a thread instead (``tracking.collect``).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

_forbidden: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "blocking_forbidden", default=False
)


class WouldBlock(Exception):
    """Raised instead of waiting while waiting is forbidden; nothing was changed."""


@contextlib.contextmanager
def forbidden() -> Iterator[None]:
    """Within this block (this thread or task only), ``check()`` raises ``WouldBlock``."""
    token = _forbidden.set(True)
    try:
        yield
    finally:
        _forbidden.reset(token)


def check() -> None:
    """Call before a wait: raises ``WouldBlock`` inside ``forbidden()``."""
    if _forbidden.get():
        raise WouldBlock
