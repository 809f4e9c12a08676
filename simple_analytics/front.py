"""The front of ``serve``: every request is read whole, within a deadline, before a thread runs it.

Over granian's WSGI interface a request takes a thread as soon as its headers arrive, and
that thread then waits for the body without a time limit: a few dozen clients that send
headers and stall hold every thread. granian serves this RSGI application instead, on its
event loop, where a request that waits costs a coroutine, not a thread:

- one client address (``core.net.client_ip``: the peer, or what a trusted proxy says; an
  IPv6 client: its /64) has at most ``MAX_REQUESTS_PER_CLIENT`` requests in progress, and
  more are answered 429 at once;
- a body larger than ``REQUEST_MAX_BODY_BYTES`` is answered 413 without being read;
- the body must have arrived ``REQUEST_BODY_TIMEOUT_SECONDS`` after the headers, or the
  request is answered 408 and its connection closed;
- ``POST /api/event`` (or the endpoint ``tracking.paths`` configures) is then answered on
  the loop (``wsgi.ingest_async``): the event is handed to the group commit and its 202
  awaited, with no thread of its own; only what would wait (a cache miss) goes to a thread;
- any other complete request is queued for one of ``WEB_THREADS`` threads, which runs the
  WSGI application (``simple_analytics.wsgi``: Django) and hands the answer back to the
  loop to send.

The headers' own deadline is granian's (``serve`` passes ``REQUEST_HEADER_TIMEOUT_SECONDS``).
docs/decisions.md ("Slow clients") has the measurements behind this design.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import ipaddress
import json
import logging
import queue
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import unquote_to_bytes

from django.conf import settings

# granian.rsgi re-exports these under other names, which mypy does not see as exported.
from granian._granian import RSGIHTTPProtocol as HTTPProtocol
from granian._granian import RSGIHTTPStreamTransport as StreamTransport
from granian._granian import RSGIProtocolClosed as ProtocolClosed
from granian._granian import RSGIProtocolError as ProtocolError
from granian.rsgi import Scope

from core.blocking import Deadlines
from core.net import Network, client_ip
from simple_analytics.wsgi import application as wsgi_application
from simple_analytics.wsgi import ingest_async
from tracking import paths
from tracking.collect import Answer, InThread

log = logging.getLogger("simple_analytics.front")

Environ = dict[str, Any]
WSGIApp = Callable[[Environ, Callable[..., Any]], Iterable[bytes]]
# Answers /api/event on the event loop, given the client's address; what would wait goes
# to the threads it is given.
Ingest = Callable[[Environ, str, InThread], Awaitable[Answer]]
Reply = tuple[int, list[tuple[str, str]], bytes]
_T = TypeVar("_T")

# A response body larger than this goes out as a stream, in parts of about this size.
STREAM_BUDGET_BYTES = 1024 * 1024
_NOT_A_HEADER = ""  # a header name the environ does not take


@functools.lru_cache(maxsize=512)
def _environ_key(name: str) -> str:
    if name in ("content-type", "content-length"):
        return name.upper().replace("-", "_")
    if "_" in name:
        # X_Forwarded_For would pass for X-Forwarded-For in the environ.
        return _NOT_A_HEADER
    return "HTTP_" + name.upper().replace("-", "_")


_NO_BODY = frozenset({"GET", "HEAD", "OPTIONS"})


class BodyTooLarge(Exception):
    pass


@dataclass(slots=True)
class Job:
    """A complete request waiting for a thread; ``answered`` is set on the event loop, with
    the answer the loop sends (None: the thread streamed it)."""

    proto: HTTPProtocol
    environ: Environ
    loop: asyncio.AbstractEventLoop
    answered: asyncio.Future[Reply | None]


class Start:
    """``start_response``: what the application answered."""

    __slots__ = ("chunks", "headers", "status")

    def __init__(self) -> None:
        self.status = 500
        self.headers: list[tuple[str, str]] = []
        self.chunks: list[bytes] = []  # from the legacy write() callable

    def __call__(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        self.status = int(status.split(" ", 1)[0])
        self.headers = headers
        return self.chunks.append


@functools.lru_cache(maxsize=8192)
def client_bucket(ip: str) -> str:
    """What one client is counted by: its address, or an IPv6 address's /64."""
    if ":" not in ip:
        return ip
    try:
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False).network_address)
    except ValueError:
        return ip


def _host_port(address: str) -> tuple[str, str]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), port


def _refuse(proto: HTTPProtocol, status: int, error: str, *extra: tuple[str, str]) -> None:
    # Closing the connection also discards whatever rest of a body the client still sends.
    headers = [("content-type", "application/json"), ("connection", "close"), *extra]
    proto.response_bytes(status, headers, json.dumps({"error": error}).encode())


async def _send(transport: StreamTransport, data: bytes) -> None:
    await transport.send_bytes(data)


def _set_result(future: asyncio.Future[_T], result: _T) -> None:
    if not future.done():  # cancelled when the worker stops
        future.set_result(result)


def _post(loop: asyncio.AbstractEventLoop, future: asyncio.Future[_T], result: _T) -> None:
    """Resolve ``future`` from a thread, on its loop."""
    with contextlib.suppress(RuntimeError):  # the loop is gone: shutting down
        loop.call_soon_threadsafe(_set_result, future, result)


class Front:
    """The RSGI application granian serves (``simple_analytics.front:app``)."""

    def __init__(
        self,
        app: WSGIApp,
        *,
        threads: int,
        body_timeout: float,
        max_body_bytes: int,
        max_per_client: int,
        trusted_proxies: Sequence[Network],
        ingest: Ingest | None = None,
    ) -> None:
        self.app = app
        self.ingest = ingest
        self.body_timeout = body_timeout
        self.max_body_bytes = max_body_bytes
        self.max_per_client = max_per_client
        self.trusted_proxies = trusted_proxies
        # (REMOTE_ADDR, X-Forwarded-For) -> (client address, what it is counted by): parsing
        # addresses costs more than a cached ingest request's own work, and visitors repeat.
        self.client_of = functools.lru_cache(maxsize=16384)(self._client_of)
        self.body_deadlines: Deadlines[asyncio.Task[Any]] = Deadlines(tick=0.1)
        self.timed_out: set[asyncio.Task[Any]] = set()  # reads their deadline cancelled
        self.jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self.workers = [
            threading.Thread(target=self.work, name=f"web-{n}", daemon=True) for n in range(threads)
        ]
        self.started = False
        # Only the event loop's thread touches it: no lock.
        self.in_progress: dict[str, int] = {}
        self.base: Environ = {
            "SCRIPT_NAME": "",
            "SERVER_SOFTWARE": "granian",
            "wsgi.version": (1, 0),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "wsgi.input_terminated": True,
        }

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        """granian's worker stops: let the threads finish what they hold."""
        for _ in self.workers:
            self.jobs.put(None)
        deadline = time.monotonic() + 30
        for worker in self.workers if self.started else []:
            worker.join(timeout=max(0.0, deadline - time.monotonic()))

    async def __rsgi__(self, scope: Scope, proto: HTTPProtocol) -> None:
        if not self.started:
            self.started = True
            for worker in self.workers:
                worker.start()
        environ = self.environ(scope)
        ip, client = self.client_of(environ["REMOTE_ADDR"], environ.get("HTTP_X_FORWARDED_FOR", ""))
        count = self.in_progress.get(client, 0)
        if self.max_per_client and count >= self.max_per_client:
            _refuse(proto, 429, "too many requests in progress", ("retry-after", "1"))
            return
        self.in_progress[client] = count + 1
        try:
            if not await self.read(proto, environ):
                return
            if environ["PATH_INFO"] in paths.current().endpoints and self.ingest is not None:
                answer = await self.ingest(environ, ip, self.in_thread)
                proto.response_bytes(answer.status, answer.headers, answer.body)
                return
            # granian answers 500 for a request whose coroutine ends unanswered: wait.
            loop = asyncio.get_running_loop()
            answered: asyncio.Future[Reply | None] = loop.create_future()
            self.jobs.put(functools.partial(self.run, Job(proto, environ, loop, answered)))
            reply = await answered
            if reply is not None:
                # Sent from the loop, so this request's count drops before the client's
                # next request on the connection is read.
                proto.response_bytes(*reply)
        finally:
            count = self.in_progress[client] - 1
            if count:
                self.in_progress[client] = count
            else:
                del self.in_progress[client]

    def _client_of(self, remote_addr: str, forwarded_for: str) -> tuple[str, str]:
        ip = client_ip(remote_addr, forwarded_for, self.trusted_proxies)
        return ip, client_bucket(ip)

    def environ(self, scope: Scope) -> Environ:
        environ = self.base.copy()
        path = scope.path
        if "%" in path:
            # WSGI's PATH_INFO: the decoded bytes, one character per byte.
            path = unquote_to_bytes(path).decode("latin-1")
        server, server_port = _host_port(scope.server)
        environ.update(
            REQUEST_METHOD=scope.method,
            PATH_INFO=path,
            QUERY_STRING=scope.query_string,
            SERVER_PROTOCOL=f"HTTP/{scope.http_version}",
            SERVER_NAME=server,
            SERVER_PORT=server_port,
            REMOTE_ADDR=_host_port(scope.client)[0],
        )
        environ["wsgi.url_scheme"] = scope.scheme
        for name, value in scope.headers.items():
            key = _environ_key(name)
            if not key:
                continue
            if key in environ:
                value = environ[key] + ("; " if key == "HTTP_COOKIE" else ",") + value
            environ[key] = value
        return environ

    async def read(self, proto: HTTPProtocol, environ: Environ) -> bool:
        """Read the body into the environ; False when the request was answered instead."""
        body = b""
        length = environ.get("CONTENT_LENGTH", "")
        declared = int(length) if length.isascii() and length.isdigit() else None
        if declared is None:
            # Chunked, or HTTP/2 without Content-Length: the body says where it ends.
            has_body = (
                "HTTP_TRANSFER_ENCODING" in environ or environ["REQUEST_METHOD"] not in _NO_BODY
            )
        else:
            has_body = declared > 0
        if has_body:
            if declared is not None and declared > self.max_body_bytes:
                _refuse(proto, 413, f"body larger than {self.max_body_bytes} bytes")
                return False
            task = asyncio.current_task()
            assert task is not None
            self.body_deadlines.add(task, self.body_timeout, self._expire_read)
            try:
                body = await self.read_body(proto, declared)
            except asyncio.CancelledError:
                if task not in self.timed_out:
                    raise  # cancelled by granian, not by the deadline
                self.timed_out.discard(task)
                task.uncancel()
                _refuse(proto, 408, "the request body did not arrive in time")
                return False
            except BodyTooLarge:
                _refuse(proto, 413, f"body larger than {self.max_body_bytes} bytes")
                return False
            except (ProtocolClosed, ProtocolError):
                return False  # the client went away: nobody to answer
            finally:
                self.body_deadlines.discard(task)
            if declared is None:
                environ["CONTENT_LENGTH"] = str(len(body))  # Django reads that many bytes
        environ["wsgi.input"] = io.BytesIO(body)
        return True

    def _expire_read(self, task: asyncio.Task[Any]) -> None:
        self.timed_out.add(task)
        task.cancel()

    async def read_body(self, proto: HTTPProtocol, declared: int | None) -> bytes:
        if declared is not None:
            return await proto()  # granian stops at Content-Length
        parts: list[bytes] = []
        size = 0
        async for chunk in proto:
            size += len(chunk)
            if size > self.max_body_bytes:
                raise BodyTooLarge
            parts.append(chunk)
        return b"".join(parts)

    def work(self) -> None:
        while (run := self.jobs.get()) is not None:
            run()

    def run(self, job: Job) -> None:
        reply: Reply | None = None
        try:
            reply = self.answer(job)
        except Exception:
            log.exception("the application failed")
            # Ignored by granian if an answer was already given.
            reply = (500, [("content-type", "text/plain")], b"Server Error")
        finally:
            _post(job.loop, job.answered, reply)

    async def in_thread(self, call: Callable[[], Answer]) -> Answer:
        """``call()`` in one of the threads, awaited (``call`` handles its own failures)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Answer] = loop.create_future()

        self.jobs.put(lambda: _post(loop, done, call()))
        return await done

    def answer(self, job: Job) -> Reply | None:
        """Run the application: its answer, or None when it was streamed from here."""
        start = Start()
        result = self.app(job.environ, start)
        try:
            chunks = start.chunks
            size = 0
            parts = iter(result)
            for chunk in parts:
                chunks.append(chunk)
                size += len(chunk)
                if size >= STREAM_BUDGET_BYTES:
                    try:
                        self.stream(job, start, parts)
                    except (ProtocolClosed, ProtocolError):
                        pass  # the client went away mid-way
                    return None
            return start.status, start.headers, b"".join(chunks)
        finally:
            # Django hands the request's database connection back here (request_finished).
            closer = getattr(result, "close", None)
            if closer is not None:
                closer()

    def stream(self, job: Job, start: Start, parts: Iterable[bytes]) -> None:
        transport = job.proto.response_stream(start.status, start.headers)

        def send(data: bytes) -> None:
            asyncio.run_coroutine_threadsafe(_send(transport, data), job.loop).result()

        send(b"".join(start.chunks))
        buffered: list[bytes] = []
        size = 0
        for chunk in parts:
            buffered.append(chunk)
            size += len(chunk)
            if size >= STREAM_BUDGET_BYTES:
                send(b"".join(buffered))
                buffered, size = [], 0
        if buffered:
            send(b"".join(buffered))


app = Front(
    wsgi_application,
    threads=settings.WEB_THREADS,
    body_timeout=settings.REQUEST_BODY_TIMEOUT_SECONDS,
    max_body_bytes=settings.REQUEST_MAX_BODY_BYTES,
    max_per_client=settings.MAX_REQUESTS_PER_CLIENT,
    trusted_proxies=settings.TRUSTED_PROXIES,
    ingest=ingest_async,
)
