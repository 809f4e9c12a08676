"""The job consumer and scheduler as threads of the web worker (``JOBS_IN_WEB``).

``serve`` with one web worker runs no consumer process of its own: the granian worker
starts Huey's consumer threads when it loads the app, with the same settings as
``simple-analytics worker --scheduler`` (thread workers, periodic jobs, stale locks
cleared). Huey's signal handlers are not installed (granian owns the process's signals);
at exit the consumer stops gracefully, within ``shutdown_timeout``. A job cut short by a
kill is harmless: every job recomputes and replaces what it writes, and the periodic ones
run again.
"""

from __future__ import annotations

import atexit
import logging
import threading

from django.conf import settings
from huey.consumer import Consumer
from huey.contrib.djhuey import HUEY

log = logging.getLogger(__name__)
_started = threading.Lock()
_consumer: Consumer | None = None


class _ThreadConsumer(Consumer):
    def _set_signal_handlers(self) -> None:
        pass  # the web server's process: its signals are granian's


def start() -> Consumer | None:
    """Start the consumer threads once per process; returns the consumer."""
    global _consumer
    with _started:
        if _consumer is not None:
            return _consumer
        options = dict(settings.HUEY.get("consumer", {}))
        options.update(
            workers=settings.WORKER_CONCURRENCY,
            worker_type="thread",
            periodic=True,
            flush_locks=True,
        )
        _consumer = _ThreadConsumer(HUEY, **options)
        _consumer.start()
        atexit.register(_consumer.stop, graceful=True)
        log.info("job consumer running in the web worker (%d threads)", options["workers"])
        return _consumer
