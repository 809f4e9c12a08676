"""The group commit: live events from many request threads, written in few transactions.

Each event is handed to ``GroupCommitter.submit()``, which blocks the request until the
event is durably committed. Writer threads (one per process by default) take every event
that arrived while the previous commit was running and write them together with
``writer.write_events``: a few queries per batch instead of several per event, and no
added latency when traffic is light (a lone event is written at once). This module also
decides what a failure means for each waiting request (stored, dropped, or 503).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import datetime as dt
import logging
import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Protocol

from django.db import DatabaseError, InterfaceError, OperationalError, connection

from core.blocking import Deadlines
from tracking.models import DropReason
from tracking.pipeline import IncomingEvent
from tracking.writer import DropKey, write_events
from websites.models import Website

log = logging.getLogger(__name__)

# What runs after each commit, with the ids of the websites that got events.
CommitHook = Callable[[set[int]], object]


class IngestUnavailable(Exception):
    """The event could not be committed; the client is told to retry (503)."""


# The database cannot be reached (stopped, restarting, no pooled connection in time), as
# opposed to one bad row: retrying a batch's events one by one would only wait again.
_UNREACHABLE = (OperationalError, InterfaceError)
_RECONNECT_PAUSE_S = 0.25  # between a writer's connection attempts while the database is down
# A request past its deadline waits on while the writers are committing, only late (see
# ``submit``); busy machines stall commits briefly, so a short stall alone is not a hang.
_HUNG_S = 2.0
_OVERLOAD_PATIENCE_S = 10.0


def _close_quietly() -> None:
    try:
        connection.close()
    except Exception:  # a connection that broke: the pool discards it anyway
        connection.connection = None


def _website_exists(website_id: int) -> bool:
    try:
        return Website.objects.filter(pk=website_id).exists()
    except Exception:
        connection.close()
        return True  # cannot tell: report the original failure


class _Done:
    """A one-shot signal from the writer thread to its request thread: a lock held from
    creation and released once. ``threading.Event`` waits and notifies through a Python
    ``Condition``, costly with many waiting request threads (docs/PERFORMANCE.md); a lock
    waits in C. Only one thread calls ``set`` (the writer that took the event)."""

    __slots__ = ("_lock", "_set")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()
        self._set = False

    def set(self) -> None:
        if not self._set:
            self._set = True
            self._lock.release()

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: float | None = None) -> bool:
        if self._set:
            return True
        if self._lock.acquire(timeout=-1 if timeout is None else timeout):
            self._lock.release()
            return True
        return False


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():  # already woken by its deadline
        future.set_result(None)


def _resolve_all(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        _resolve(future)


def _wake(done: _LoopDone) -> None:
    _resolve(done.future)


# Every request waiting on a loop has a deadline; checked together, not a timer each.
_DEADLINES: Deadlines[_LoopDone] = Deadlines(tick=0.05)


class _LoopDone:
    """The same signal for a request waiting on an event loop (``submit_async``): the
    writer thread wakes the loop, which resolves the future."""

    __slots__ = ("future", "_loop", "_set")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        self._set = False

    def set(self) -> None:
        if not self._set:
            self._set = True
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                self._loop.call_soon_threadsafe(_resolve, self.future)

    def claim(self) -> asyncio.Future[None] | None:
        """``set`` without the wake-up, which the caller sends for many at once: the future
        to resolve on ``loop``, None when already set."""
        if self._set:
            return None
        self._set = True
        return self.future

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_set(self) -> bool:
        return self._set

    async def wait(self, timeout: float) -> bool:
        if self._set:
            return True
        if self.future.done():  # an earlier wait ended at its deadline: wait anew
            self.future = self._loop.create_future()
            if self._set:  # set while the old future was swapped out
                return True
        _DEADLINES.add(self, timeout, _wake)
        try:
            await self.future
        finally:
            _DEADLINES.discard(self)
        return self._set


class _Signal(Protocol):
    def set(self) -> None: ...

    def is_set(self) -> bool: ...


class _Pending:
    __slots__ = ("event", "done", "stored", "error", "state", "lock")

    def __init__(self, event: IncomingEvent, done: _Signal) -> None:
        self.event = event
        self.done = done
        self.stored = False
        self.error: BaseException | None = None
        self.state = "queued"  # -> "taken" by a writer, or "cancelled" by a timed-out request
        self.lock = threading.Lock()

    def take(self) -> bool:
        """Claim for a batch; False when its request gave up (it was answered 503)."""
        with self.lock:
            if self.state == "cancelled":
                return False
            self.state = "taken"
            return True

    def cancel(self) -> bool:
        """Give up before a writer took it: then it is never stored and a retry is safe."""
        with self.lock:
            if self.state == "taken":
                return False
            self.state = "cancelled"
            return True


def _settle(batch: list[_Pending]) -> None:
    """Signal every request of ``batch``: one wake-up per event loop, not one per request
    (each crosses threads and costs the loop a callback)."""
    woken: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
    for pending in batch:
        done = pending.done
        if isinstance(done, _LoopDone):
            future = done.claim()
            if future is not None:
                woken.setdefault(done.loop, []).append(future)
        else:
            done.set()
    for loop, futures in woken.items():
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
            loop.call_soon_threadsafe(_resolve_all, futures)


class GroupCommitter:
    """Writer threads per process; requests wait on their own event until committed.

    Faults: a writer makes sure it has a working connection *before* it takes events from
    the queue, so while the database is unreachable events stay untaken and their requests
    are answered 503 at their deadline (``submit``'s timeout), with nothing stored. A batch
    that fails because the connection broke fails as a whole (503, retried by the client)
    instead of being retried event by event. A writer thread never dies of an error: it
    logs, drops its connection and reconnects through the pool.

    ``on_commit(website_ids)`` runs after each commit that stored events; its failures are
    logged, never raised (the events are stored whatever it does).
    """

    def __init__(
        self,
        *,
        max_batch: int,
        on_commit: CommitHook | None = None,
        inline: bool = False,
        writers: int = 1,
    ) -> None:
        self.writers = writers
        self.inline = inline
        self._queue: queue.Queue[_Pending] = queue.Queue()
        self._max_batch = max_batch
        self.on_commit = on_commit
        self._drops: Counter[DropKey] = Counter()
        self._drops_lock = threading.Lock()
        self._pid = 0
        self._start_lock = threading.Lock()
        self._unreachable_since = 0.0  # monotonic; 0 while the database answers
        self._last_commit_at = 0.0  # monotonic, of the last successful commit
        # A writer idle this long hands its connection back (tests hold it longer).
        self.idle_close_s = 1.0

    def submit(self, event: IncomingEvent, *, timeout: float = 30.0) -> bool:
        """Block until ``event`` is committed; True if stored, False if dropped.

        Raises ``IngestUnavailable`` when it could not be stored: its commit failed, or no
        writer took it within ``timeout`` seconds while the database is unreachable (a
        writer's last connection attempt or commit failed) or hangs (nothing committed for
        ``_HUNG_S``); a database that is only slow is waited for, up to
        ``_OVERLOAD_PATIENCE_S``. Either way nothing of it is stored and the client may
        retry; only a connection lost during COMMIT leaves the outcome unknown, and then the
        event's client id makes the retry a counted duplicate instead of a second copy."""
        if self.inline:
            drops = self._take_drops()
            try:
                result = write_events([event], drops=drops)
            except DatabaseError as exc:
                # Rolled back: nothing of it is stored, so the client may retry (503).
                if not connection.in_atomic_block:
                    connection.close()
                with self._drops_lock:
                    self._drops.update(drops)
                if not isinstance(exc, _UNREACHABLE) and not _website_exists(event.website_id):
                    return False
                raise IngestUnavailable(str(exc)) from exc
            self._notify(result.website_ids)
            return result.stored_flags[0]
        self._ensure_thread()
        # Hand a borrowed connection (a cache miss) back before waiting: waiting requests
        # could otherwise hold the whole pool while the writer waits for one (a deadlock).
        if connection.connection is not None and not connection.in_atomic_block:
            connection.close()
        done = _Done()
        pending = _Pending(event, done)
        queued_at = time.monotonic()
        self._queue.put(pending)
        if not done.wait(timeout):
            while not done.wait(0.05):
                if self._worth_waiting(queued_at):
                    continue  # slow, not gone: it is about to be stored
                if pending.cancel():
                    raise IngestUnavailable("timed out waiting for the database")
                # Already in a transaction: its outcome decides the answer, so a 503 always
                # means "not stored" and the client's retry cannot store it twice.
                done.wait()
        return self._outcome(pending)

    async def submit_async(self, event: IncomingEvent, *, timeout: float = 30.0) -> bool:
        """``submit`` for a request on an event loop: the same answers, awaited."""
        if self.inline:
            raise RuntimeError("an inline committer writes in the caller's thread: use submit")
        self._ensure_thread()
        done = _LoopDone(asyncio.get_running_loop())
        pending = _Pending(event, done)
        queued_at = time.monotonic()
        self._queue.put(pending)
        if not await done.wait(timeout):
            while not await done.wait(0.05):
                if self._worth_waiting(queued_at):
                    continue
                if pending.cancel():
                    raise IngestUnavailable("timed out waiting for the database")
                while not await done.wait(0.05):
                    pass
        return self._outcome(pending)

    def _worth_waiting(self, queued_at: float) -> bool:
        """Past its deadline, a request waits on only while the database is slow, not gone:
        reachable, committing within ``_HUNG_S``, and for ``_OVERLOAD_PATIENCE_S`` at most."""
        now = time.monotonic()
        return (
            not self._unreachable_since
            and now - max(self._last_commit_at, queued_at) < _HUNG_S
            and now < queued_at + _OVERLOAD_PATIENCE_S
        )

    @staticmethod
    def _outcome(pending: _Pending) -> bool:
        if pending.error is not None:
            raise IngestUnavailable(str(pending.error)) from pending.error
        return pending.stored

    def count_drop(self, website_id: int, day: dt.date, reason: DropReason) -> None:
        """Count an event dropped before the writer; flushed with the next commit."""
        with self._drops_lock:
            self._drops[(website_id, day, reason)] += 1
        if self.inline:
            write_events([], drops=self._take_drops())
        else:
            self._ensure_thread()

    def _ensure_thread(self) -> None:
        # Workers may fork after import: each process needs its own writer thread.
        if self._pid == os.getpid():
            return
        with self._start_lock:
            if self._pid != os.getpid():
                self._queue = queue.Queue()
                # Several writers keep commits in flight while one waits for the disk; the
                # per-visitor locks keep them correct (statements' lock_visitors).
                for n in range(self.writers):
                    threading.Thread(
                        target=self._run, name=f"ingest-writer-{n}", daemon=True
                    ).start()
                atexit.register(self._flush_drops_at_exit)
                self._pid = os.getpid()

    def _flush_drops_at_exit(self) -> None:
        # Counted drops normally go out with the next commit (at most a second later);
        # a process stopping in between writes them here rather than losing them.
        drops = self._take_drops()
        if drops:
            try:
                write_events([], drops=drops)
            except Exception:
                log.exception("could not write %d drop counts at exit", sum(drops.values()))

    def _take_drops(self) -> Counter[DropKey]:
        with self._drops_lock:
            drops, self._drops = self._drops, Counter()
        return drops

    def _run(self) -> None:
        waiting: list[_Pending] = []
        while True:
            taken: list[_Pending] = []
            try:
                waiting = self._cycle(waiting, taken)
            except Exception as exc:
                # Never let the thread die: its events would wait forever.
                log.exception("ingest writer failed; going on")
                for pending in taken:
                    if not pending.done.is_set():
                        pending.error = exc
                        pending.done.set()
                waiting = []
                _close_quietly()
                time.sleep(_RECONNECT_PAUSE_S)

    def _cycle(self, waiting: list[_Pending], taken: list[_Pending]) -> list[_Pending]:
        """One batch: gather, connect, take, commit. Returns the events gathered but not
        taken because the database is unreachable (tried again next cycle, unless their
        requests gave up meanwhile). ``taken`` receives the events this cycle took."""
        q = self._queue
        batch = waiting
        if not batch:
            try:
                batch = [q.get(timeout=self.idle_close_s)]
            except queue.Empty:
                # Idle: hand the connection back (to the pool on PostgreSQL) rather than
                # holding it between bursts.
                _close_quietly()
        while len(batch) < self._max_batch:
            try:
                batch.append(q.get_nowait())
            except queue.Empty:
                break
        if not batch and not self._drops:
            return []
        if not self._connected():
            return [p for p in batch if p.state != "cancelled"]
        taken += [p for p in batch if p.take()]
        drops = self._take_drops()
        if taken or drops:
            self._commit(taken, drops)
        return []

    def _connected(self) -> bool:
        """A working connection before events are taken: an event taken by a writer is
        answered by that writer's outcome, one still queued is answered 503 at its
        request's deadline (and the client's retry is then safe)."""
        try:
            connection.ensure_connection()
        except Exception as exc:
            _close_quietly()
            if not self._unreachable_since:
                self._unreachable_since = time.monotonic()
                log.error("database unreachable, events are answered 503 until it returns: %s", exc)
            time.sleep(_RECONNECT_PAUSE_S)
            return False
        if self._unreachable_since:
            down_s = time.monotonic() - self._unreachable_since
            log.warning("database reachable again after %.1f s", down_s)
            self._unreachable_since = 0.0
        return True

    def _commit(self, batch: list[_Pending], drops: Counter[DropKey]) -> None:
        try:
            result = write_events([p.event for p in batch], drops=drops)
        except Exception as exc:
            _close_quietly()
            with self._drops_lock:
                self._drops.update(drops)  # counted with the next commit instead
            if isinstance(exc, _UNREACHABLE):
                # The connection broke (the database stopped or restarted): all rolled back,
                # so the batch is answered 503 now, requests still queued at their deadline.
                log.error("group commit of %d events failed: %s", len(batch), exc)
                if not self._unreachable_since:
                    self._unreachable_since = time.monotonic()
                self._fail(batch, exc)
                return
            log.exception("group commit of %d events failed; writing them one by one", len(batch))
            result = None
        if result is None:
            # One bad row must not fail its neighbours: retry each alone.
            site_ids: set[int] = set()
            for i, pending in enumerate(batch):
                try:
                    one = write_events([pending.event])
                    pending.stored = one.stored_flags[0]
                    site_ids |= one.website_ids
                except _UNREACHABLE as exc:
                    _close_quietly()
                    self._fail(batch[i:], exc)
                    break
                except Exception as exc:
                    _close_quietly()
                    if not _website_exists(pending.event.website_id):
                        # Deleted after this process cached its id: nothing left to count.
                        pending.stored = False
                    else:
                        log.exception("event could not be written")
                        pending.error = exc
                pending.done.set()
            self._notify(site_ids)
            return
        self._last_commit_at = time.monotonic()
        self._unreachable_since = 0.0
        for pending, stored in zip(batch, result.stored_flags, strict=True):
            pending.stored = stored
        _settle(batch)
        self._notify(result.website_ids)

    @staticmethod
    def _fail(batch: list[_Pending], exc: BaseException) -> None:
        for pending in batch:
            pending.error = exc
        _settle(batch)

    def _notify(self, website_ids: set[int]) -> None:
        if self.on_commit and website_ids:
            try:
                self.on_commit(website_ids)
            except Exception:
                log.exception("post-commit hook failed")
