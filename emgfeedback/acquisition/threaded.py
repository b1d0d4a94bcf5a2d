"""The base of every source whose samples come from a reader thread (:class:`ThreadedSource`).

A serial port, an LSL inlet and a stored session all deliver samples the same way: one
background thread produces :class:`~emgfeedback.types.Chunk` objects and the consumer takes
them with ``read(timeout_s)``. This module holds that part once:

- the reader thread's start, stop and join (:meth:`ThreadedSource._start_reader`,
  :meth:`ThreadedSource._stop_reader`), with a quit flag the thread's loop watches;
- the bounded hand-off queue (:meth:`ThreadedSource._deliver`). A live source cannot make
  its device wait, so when the consumer falls behind by more than ``max_queued_samples``
  the oldest chunks are dropped and recorded as a ``Gap(cause="overrun")`` before the next
  one; a stored session can wait, so its thread blocks until there is room
  (``overflow="wait"``);
- ``read(timeout_s)``, which also re-raises, in the consumer's thread, an exception that
  ended the reader thread (as :class:`~emgfeedback.errors.SourceError`), and turns the
  state to ``finished`` once a finite stream has been read to its end;
- the event queue (alarms, device messages) behind ``pop_events()``;
- the loss counters (:class:`~emgfeedback.acquisition.source.LossCounts`) every chunk
  handed over is counted in.

The simulator (``sim://``) and BrainFlow do not use it: the simulator computes samples on
demand in ``read()`` (paced by the clock, or as fast as read), and BrainFlow already runs
its own acquisition thread and ring buffer inside the library, which ``read()`` drains. A
second thread would only copy the samples once more. They share the typed statistics and
the loss counters with the threaded sources.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import abstractmethod
from collections import deque

from emgfeedback.acquisition.source import LossCounts, Source
from emgfeedback.errors import SourceError
from emgfeedback.types import Chunk, Gap, SourceEvent

__all__ = ["LIVE_QUEUE_SAMPLES", "ThreadedSource"]

log = logging.getLogger(__name__)

#: Samples a live source holds for a consumer that does not read (then drops the oldest as
#: an ``overrun`` gap): minutes of any board's rate, at most ~32 MB at 8 channels.
LIVE_QUEUE_SAMPLES = 1_000_000

#: Longest wait of a producer for room in the queue before it looks at the quit flag (s).
_ROOM_POLL_S = 0.05


class ThreadedSource(Source):
    """A source fed by one reader thread (see the module docstring).

    Subclasses implement :meth:`_reader_loop` (run until ``self._quit`` is set, handing
    chunks to :meth:`_deliver`) and the :class:`Source` methods; they call
    :meth:`_start_reader` and :meth:`_stop_reader` from ``open``/``start``/``stop``/``close``.

    Parameters
    ----------
    url : str
        The source's URL (named in the errors ``read`` raises).
    max_queued_samples : int or None
        Most samples held for the consumer; None for no bound.
    overflow : str
        ``"drop"`` (live: drop the oldest chunks as an ``overrun`` gap) or ``"wait"`` (the
        reader thread waits for room).
    """

    def __init__(self, url: str, *, max_queued_samples: int | None = LIVE_QUEUE_SAMPLES,
                 overflow: str = "drop") -> None:
        super().__init__()
        if overflow not in ("drop", "wait"):
            raise ValueError(f"overflow={overflow!r}: expected drop or wait")
        self._url = url
        self._max_queued_samples = max_queued_samples
        self._overflow = overflow
        # One lock guards the queue, the events and every counter the reader thread keeps.
        self._lock = threading.Lock()
        self._chunk_ready = threading.Condition(self._lock)
        self._chunks: deque[Chunk] = deque()
        self._queued_samples = 0
        self._events: deque[SourceEvent] = deque(maxlen=1000)
        self._loss_counts = LossCounts()
        self._quit = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._end_of_stream = False

    # ------------------------------------------------------------------ thread

    @abstractmethod
    def _reader_loop(self) -> None:
        """The reader thread's work: produce chunks until ``self._quit`` is set."""

    @property
    def _reader_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _start_reader(self, name: str) -> None:
        """Start the reader thread (a no-op while one runs)."""
        if self._reader_running:
            return
        self._quit.clear()
        with self._lock:
            self._end_of_stream = False
        self._thread = threading.Thread(target=self._reader_main, name=name, daemon=True)
        self._thread.start()

    def _stop_reader(self, timeout_s: float | None = 3.0) -> None:
        """Ask the reader thread to quit and wait for it (at most ``timeout_s``; None: until
        it has ended)."""
        self._quit.set()
        self._wake_readers()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=timeout_s)
        self._thread = None

    def _reader_main(self) -> None:
        try:
            self._reader_loop()
        except BaseException as exc:  # reaches the consumer through read()
            log.warning("%s: reader thread failed: %r", self._url, exc)
            with self._chunk_ready:
                self._error = exc
                self._end_of_stream = True
                self._chunk_ready.notify_all()

    def _wake_readers(self) -> None:
        """Wake a ``read()`` (and a producer waiting for room) to look at the state again."""
        with self._chunk_ready:
            self._chunk_ready.notify_all()

    def _end_stream(self) -> None:
        """The stream has no more samples: ``read()`` finishes the source once drained."""
        with self._chunk_ready:
            self._end_of_stream = True
            self._chunk_ready.notify_all()

    # ------------------------------------------------------------------ hand-off

    def _deliver(self, chunks: list[Chunk]) -> bool:
        """Queue chunks for ``read()`` (reader thread), counting their samples and gaps.

        Returns
        -------
        bool
            False when the source was asked to quit while waiting for room (``wait``);
            the chunks not queued then are not counted.
        """
        limit = self._max_queued_samples
        with self._chunk_ready:
            for chunk in chunks:
                if self._overflow == "wait" and limit is not None:
                    while self._chunks and self._queued_samples + chunk.n_samples > limit:
                        if self._quit.is_set():
                            return False
                        self._chunk_ready.wait(_ROOM_POLL_S)
                    if self._quit.is_set():
                        return False
                self._chunks.append(self._loss_counts.count(chunk))
                self._queued_samples += chunk.n_samples
                if self._overflow == "drop" and limit is not None:
                    while self._queued_samples > limit and len(self._chunks) > 1:
                        self._drop_oldest()
            self._chunk_ready.notify_all()
        return True

    def _drop_oldest(self) -> None:
        # Called with the lock held: the consumer is too slow; the oldest chunk becomes an
        # overrun gap in front of the next one (its own gaps kept), so indices stay exact.
        old = self._chunks.popleft()
        self._queued_samples -= old.n_samples
        self._loss_counts.overrun(old)
        lost = (Gap(old.first_index, old.n_samples, "overrun"),) if old.n_samples else ()
        nxt = self._chunks[0]
        self._chunks[0] = Chunk(nxt.samples, nxt.first_index, nxt.arrival_s,
                                old.gaps + lost + nxt.gaps)

    def read(self, timeout_s: float = 0.1) -> list[Chunk]:
        """Chunks queued since the last call, oldest first.

        Parameters
        ----------
        timeout_s : float
            Longest wait for at least one chunk, in seconds.

        Returns
        -------
        list of Chunk
            Empty on timeout, once the source is closed, or at the end of the stream.

        Raises
        ------
        SourceError
            Once, if an exception ended the reader thread.
        """
        deadline = time.monotonic() + timeout_s
        with self._chunk_ready:
            while True:
                if self._error is not None:
                    error, self._error = self._error, None
                    raise self._reader_error(error) from error
                if self._chunks:
                    taken = list(self._chunks)
                    self._chunks.clear()
                    self._queued_samples = 0
                    self._chunk_ready.notify_all()  # room for a waiting producer
                    return taken
                if self._end_of_stream or self._state in ("closed", "finished"):
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self._chunk_ready.wait(remaining)
        if self._end_of_stream and self._state not in ("closed", "finished"):
            self._set_state("finished")
        return []

    def _reader_error(self, error: BaseException) -> SourceError:
        """The error ``read()`` raises for an exception that ended the reader thread."""
        return SourceError(f"{self._url}: {error}")

    # ------------------------------------------------------------------ events

    def _event(self, now: float, kind: str, message: str, data: dict | None = None) -> None:
        """Queue an event for :meth:`pop_events` (any thread)."""
        with self._lock:
            self._events.append(SourceEvent(now, kind, message, data or {}))

    def pop_events(self) -> list[SourceEvent]:
        """Events (alarms, device messages, reconnects) since the last call."""
        with self._lock:
            events = list(self._events)
            self._events.clear()
        return events
