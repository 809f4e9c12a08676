"""Code that must not wait marks itself; code that would wait (a database or cache round
trip) checks the mark and raises ``WouldBlock`` *before* it changes anything.

The front answers ``/api/event`` on its event loop, where one wait stalls every connection
of the worker. Its caches answer nearly every event from memory; the rare event that would
wait (a cache miss, a batch for Redis) is handed to a thread instead (``tracking.collect``).
What it does wait for on the loop (a body, a commit) has a deadline in ``Deadlines``.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

_forbidden: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "blocking_forbidden", default=False
)


class WouldBlock(Exception):
    """Raised instead of waiting while waiting is forbidden; nothing was changed."""


class forbidden:  # lower case: used like the function it was, ``with forbidden():``
    """Within this block (this thread or task only), ``check()`` raises ``WouldBlock``.
    A class, not ``contextlib.contextmanager``: entered twice per event on the hot path."""

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token = _forbidden.set(True)

    def __exit__(self, *exc: object) -> None:
        _forbidden.reset(self._token)


def is_forbidden() -> bool:
    return _forbidden.get()


def check() -> None:
    """Call before a wait: raises ``WouldBlock`` inside ``forbidden()``."""
    if _forbidden.get():
        raise WouldBlock


_Key = TypeVar("_Key", bound=Hashable)
_Due = tuple[float, Callable[[_Key], object]]  # (monotonic deadline, what runs then)


class Deadlines(Generic[_Key]):
    """Deadlines on event loops, checked by one task per loop every ``tick`` seconds while
    any are set: a deadline costs a dict entry, where a timer per request (``asyncio.timeout``,
    ``call_later``) costs more than a hot request's own work. Late by up to ``tick``."""

    def __init__(self, tick: float) -> None:
        self.tick = tick
        self._due: dict[asyncio.AbstractEventLoop, dict[_Key, _Due[_Key]]] = {}

    def add(self, key: _Key, timeout: float, expire: Callable[[_Key], object]) -> None:
        """Call ``expire(key)`` on the running loop once ``timeout`` seconds have passed,
        unless ``discard(key)`` comes first."""
        loop = asyncio.get_running_loop()
        due = self._due.get(loop)
        if due is None:
            due = self._due[loop] = {}
            loop.create_task(self._sweep(loop, due))
        due[key] = (time.monotonic() + timeout, expire)

    def discard(self, key: _Key) -> None:
        due = self._due.get(asyncio.get_running_loop())
        if due is not None:
            due.pop(key, None)

    async def _sweep(self, loop: asyncio.AbstractEventLoop, due: dict[_Key, _Due[_Key]]) -> None:
        try:
            while due:
                await asyncio.sleep(self.tick)
                now = time.monotonic()
                for key, (at, expire) in list(due.items()):
                    if at <= now and due.pop(key, None) is not None:
                        expire(key)
        finally:
            if self._due.get(loop) is due:
                del self._due[loop]
