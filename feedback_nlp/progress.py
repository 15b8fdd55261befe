"""Progress of long work as plain log lines, so that cron and CI logs are not silent for minutes.

A :class:`Progress` logs (``feedback_nlp.progress``, INFO) a line every ``every_seconds`` while its work
runs: what, how much is done (when the work counts units) and for how long; then one line when it ends.
Lines, not a bar: they read the same on a terminal, in a pipe and in a log file, and the library never
prints (the CLI shows INFO on stderr).
"""

from __future__ import annotations

import logging
import threading
import time
from types import TracebackType

logger = logging.getLogger(__name__)

# A line every 15 s: a stage of a few seconds logs only its end, a 10-minute ingest about 40 lines.
EVERY_SECONDS = 15.0


class Progress:
    """A heartbeat line every ``every_seconds`` while the ``with`` block runs; :meth:`advance` counts.

    Args:
        what: the work, as the lines name it ("train: discover", "ingest").
        unit: what :meth:`advance` counts ("rows"); empty when the work counts nothing.
        every_seconds: seconds between lines.
    """

    def __init__(self, what: str, unit: str = "", every_seconds: float = EVERY_SECONDS) -> None:
        self.what = what
        self.unit = unit
        self.every_seconds = every_seconds
        self.done = 0
        self._started = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def advance(self, count: int = 1) -> None:
        self.done += count

    def _status(self) -> str:
        elapsed = time.monotonic() - self._started
        if not self.unit:
            return f"{elapsed:.0f} s"
        rate = self.done / elapsed if elapsed > 0 else 0.0
        return f"{self.done:,} {self.unit} in {elapsed:.0f} s ({rate:,.0f}/s)"

    def _beat(self) -> None:
        while not self._stop.wait(self.every_seconds):
            logger.info("%s: working, %s so far", self.what, self._status())

    def __enter__(self) -> Progress:
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._beat, name=f"progress {self.what}", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if exc_type is None:
            logger.info("%s: done, %s", self.what, self._status())
        else:
            logger.info("%s: stopped (%s) after %s", self.what, exc_type.__name__, self._status())
