"""The engine: one processing thread between a source and its consumers.

Data flow (one direction)::

    Source.read() ──Chunk──▶ Processor.process() ──▶ DisplayRing + Snapshot  (may skip, counted)
                                                 └──▶ recorder writer          (lossless)
                                                 └──▶ outlets (LSL, ...)

The display path never slows acquisition: displays read the ring when they can and count
what they missed. Alarms (:class:`~emgfeedback.acquisition.source.SourceEvent`: a silent
board, an unplug, a storage failure) flow the same way: the source's events and the
writer's alarms are taken on the engine thread, kept in :meth:`Engine.events_since`, handed
to event listeners and recorded as markers (``alarm:<kind>``, ``event:<kind>``).

A timed run (``stop_after_s``) whose source stays silent for ``give_up_s`` ends early with
what it has: :attr:`Engine.end_reason` says why (``no_data``, ``unplug``) and the samples
that never came are recorded as one gap with that cause. A finite source (playback, a
simulator with ``seconds``) that ends first gives ``source_ended`` and no gap.

The recorder path gets every chunk, in order, through the storage writer's own queue. An
exception in the thread is kept, logged, and re-raised in the caller by
:meth:`Engine.raise_if_failed`, :meth:`Engine.wait` and :meth:`Engine.stop`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from emgfeedback.acquisition.source import Chunk, Gap, Source, SourceEvent
from emgfeedback.errors import EmgFeedbackError
from emgfeedback.runtime.display import DisplayBlock, DisplayRing
from emgfeedback.runtime.health import Health
from emgfeedback.runtime.processor import Processed, Processor

log = logging.getLogger(__name__)

#: Seconds between refreshes of the health summary published in snapshots.
HEALTH_REFRESH_S = 0.25

#: Default for ``give_up_s``: a timed run ends early after this long without samples while
#: its source reports a silent state (``no_data`` or ``reconnecting``), in seconds.
GIVE_UP_S = 10.0

#: Event kinds recorded as session markers (device messages are only logged).
RECORDED_EVENTS = ("no_data", "unplug", "channel_mismatch", "rejected", "storage",
                   "data_resumed", "reconnected")

#: Why a timed run ended before it held what was asked (see :attr:`Engine.end_reason`).
END_REASONS = ("no_data", "unplug", "source_ended")


@dataclass(frozen=True)
class Snapshot:
    """The latest state for displays; small, immutable, replaced after every chunk.

    Traces are not in the snapshot: read them from :meth:`Engine.read_display`.

    Attributes
    ----------
    seq : int
        Increases with every processed chunk.
    end_index : int
        Absolute index one past the newest processed sample.
    time_s : float
        ``end_index / fs_hz``: stream time in seconds.
    envelope_uv : numpy.ndarray
        Newest envelope value per channel, µV.
    onsets : tuple
        The most recent onset/offset events (newest last).
    cues : tuple
        The most recent protocol cues (newest last).
    protocol : dict or None
        Runner progress (phase, remaining, results so far) when a protocol runs.
    quality : list or None
        Latest per-channel quality assessment.
    source_state : str
        The source's state (streaming, no_data, reconnecting, ...).
    health : dict
        :meth:`Health.as_dict` plus ``envelope_delay_ms``.
    recording : bool
        True while a recorder is attached and healthy.
    recorder_error : str or None
        The recorder's last error, if any (the session keeps running).
    newest_arrival_s : float
        Host monotonic arrival time of the newest processed sample.
    """

    seq: int
    end_index: int
    time_s: float
    envelope_uv: np.ndarray
    onsets: tuple = ()
    cues: tuple = ()
    protocol: dict | None = None
    quality: list | None = None
    source_state: str = "closed"
    health: dict = field(default_factory=dict)
    recording: bool = False
    recorder_error: str | None = None
    newest_arrival_s: float = 0.0


class EngineError(RuntimeError):
    """Raised in the caller when the engine's thread failed; ``__cause__`` is the original."""


class Engine:
    """Run a source through a :class:`Processor` on a thread and publish the results.

    Parameters
    ----------
    source : Source
        Opened or not; the engine opens and starts it, and stops and closes it.
    processor : Processor, optional
        Built from the source's info after opening when not given (use ``processor_factory``
        to customise it).
    processor_factory : callable, optional
        ``f(info) -> Processor``, called after the source is open.
    writer : object, optional
        A storage writer (``add_chunk``, ``add_marker``, ``add_result``, ``error``).
    outlets : sequence, optional
        Objects with ``push(processed)`` (e.g. the LSL outlet), called on the engine thread,
        and closed (``close()``) by :meth:`stop`.
    display_window_s : float
        Seconds of processed signal kept for displays.
    read_timeout_s : float
        How long one ``source.read`` may wait.
    stop_after_s : float, optional
        End after exactly this much stream time (the last chunk is cut to fit).
    give_up_s : float, optional
        With ``stop_after_s`` or a protocol runner: end early once the source has been
        silent (state ``no_data`` or ``reconnecting``, timed from its last sample) this
        long, in seconds. None waits for ever (a live view).
    """

    def __init__(self, source: Source, processor: Processor | None = None, *,
                 processor_factory=None, writer=None, outlets=(),
                 display_window_s: float = 30.0, read_timeout_s: float = 0.02,
                 stop_after_s: float | None = None,
                 give_up_s: float | None = GIVE_UP_S) -> None:
        self.source = source
        self.stop_after_s = stop_after_s
        self.give_up_s = give_up_s
        #: Why a timed run ended short (one of :data:`END_REASONS`), None otherwise.
        self.end_reason: str | None = None
        #: Samples a timed run asked for and never got (recorded as a trailing gap).
        self.missing_samples = 0
        self.alarm_counts: dict[str, int] = {}
        self._events: deque = deque(maxlen=256)  # (seq, SourceEvent)
        self._event_seq = 0
        self._event_lock = threading.Lock()
        self._pending_events: deque = deque()  # reported from other threads (writer)
        self._event_listeners: list = []
        self._end_index = 0
        self.processor = processor
        self._processor_factory = processor_factory or (lambda info: Processor(info))
        self.writer = writer
        self.outlets = list(outlets)
        self.display_window_s = display_window_s
        self.read_timeout_s = read_timeout_s
        self.health = Health()
        self.display: DisplayRing | None = None
        self._snapshot: Snapshot | None = None
        self._recent_onsets: deque = deque(maxlen=64)
        self._recent_cues: deque = deque(maxlen=64)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._done = threading.Event()
        self._error: BaseException | None = None
        self._seq = 0
        self.results: dict | None = None
        self._listeners: list = []
        self._health_cache: dict | None = None
        self._health_time = 0.0
        if writer is not None and hasattr(writer, "on_alarm") and writer.on_alarm is None:
            writer.on_alarm = self.storage_alarm

    # ------------------------------------------------------------------ life cycle
    def open(self) -> None:
        """Open the source and build the processor (idempotent)."""
        if self.source.state == "closed":
            self.source.open()
        if self.processor is None:
            self.processor = self._processor_factory(self.source.info)
        if self.display is None:
            capacity = int(self.display_window_s * self.source.info.fs_hz)
            self.display = DisplayRing(self.source.info.n_channels, max(capacity, 16))

    def start(self) -> None:
        """Open the source if needed, start it, and start the processing thread."""
        self.open()
        self.source.start()
        self._thread = threading.Thread(target=self._run, name="emgfeedback-engine", daemon=True)
        self._thread.start()

    def add_outlet(self, outlet) -> None:
        """Publish to ``outlet`` from the next chunk on (safe while running)."""
        # Copy on write: the engine thread iterates whichever list it last read.
        self.outlets = [*self.outlets, outlet]

    def remove_outlet(self, outlet) -> None:
        """Stop publishing to ``outlet`` and close it (safe while running)."""
        self.outlets = [o for o in self.outlets if o is not outlet]
        close = getattr(outlet, "close", None)
        if close is not None:
            close()

    def add_listener(self, callback) -> None:
        """Call ``callback(processed)`` on the engine thread after each chunk (keep it short)."""
        self._listeners.append(callback)

    def add_event_listener(self, callback) -> None:
        """Call ``callback(event, index)`` on the engine thread for each source event or
        alarm (``index``: the stream index it happened at); keep it short."""
        self._event_listeners.append(callback)

    def report(self, event: SourceEvent) -> None:
        """Hand the engine an event from another thread (the storage writer's alarms); it is
        published and recorded like a source's event. Thread-safe."""
        self._pending_events.append(event)

    def storage_alarm(self, message: str) -> None:
        """``on_alarm`` hook for a storage writer: a ``storage`` alarm event."""
        self.report(SourceEvent(time.monotonic(), "storage", message))

    def events_since(self, seq: int = 0) -> tuple[list[SourceEvent], int]:
        """Events with a sequence number above ``seq`` (the last 256 at most).

        Returns
        -------
        (list of SourceEvent, int)
            The events, oldest first, and the sequence number to pass next time.
        """
        with self._event_lock:
            new = [ev for n, ev in self._events if n > seq]
            return new, self._event_seq

    @property
    def alarms(self) -> list[SourceEvent]:
        """The recent alarms (events whose kind is an alarm), oldest first."""
        with self._event_lock:
            return [ev for _, ev in self._events if ev.is_alarm]

    def _drain_events(self) -> None:
        # Engine thread only (and the caller's thread once the engine thread has ended).
        events = list(self.source.pop_events())
        while self._pending_events:
            events.append(self._pending_events.popleft())
        if events:
            self._on_events(events)

    def _on_events(self, events: list[SourceEvent]) -> None:
        index = self._end_index
        for event in events:
            with self._event_lock:
                self._event_seq += 1
                self._events.append((self._event_seq, event))
                if event.is_alarm:
                    self.alarm_counts[event.kind] = self.alarm_counts.get(event.kind, 0) + 1
            if event.is_alarm:
                log.info("%s: %s", event.kind, event.message)
            if self.writer is not None and event.kind in RECORDED_EVENTS:
                self.writer.add_marker(index, marker_kind(event), event.message,
                                       event_marker_data(event))
            for callback in self._event_listeners:
                callback(event, index)

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # noqa: BLE001 - kept and re-raised in the caller
            log.exception("engine thread failed")
            self._error = exc
        finally:
            self._done.set()  # after the error is kept, so wait() sees it

    def run_to_end(self) -> None:
        """Process on the calling thread until the source finishes, the protocol ends or
        ``stop_after_s`` of stream have been processed.

        For fast, deterministic runs (``--fast`` with a simulator or playback source).
        """
        self.open()
        self.source.start()
        try:
            self._loop()
        finally:
            self._done.set()

    def _loop(self) -> None:
        fs_hz = self.source.info.fs_hz
        limit = None if self.stop_after_s is None else int(round(self.stop_after_s * fs_hz))
        try:
            while not self._stop.is_set():
                chunks = self.source.read(self.read_timeout_s)
                if chunks or self.source.state != "streaming" or self._pending_events:
                    self._drain_events()
                for chunk in chunks:
                    if limit is not None and self.health.samples_in + chunk.n_samples > limit:
                        # Cut the last chunk so a timed session holds exactly what was asked.
                        keep = max(0, limit - self.health.samples_in)
                        chunk = Chunk(chunk.samples[:keep], chunk.first_index,
                                      chunk.arrival_s, chunk.gaps)
                    if chunk.n_samples or chunk.gaps:
                        self.process_chunk(chunk)
                if limit is not None and self.health.samples_in >= limit:
                    break
                runner = self.processor.runner
                if runner is not None and runner.finished:
                    break
                if not chunks and self.source.finished:
                    if limit is not None and self.health.samples_in < limit:
                        self._end_short(limit, self._silence_cause() or "source_ended")
                    break
                timed = limit is not None or self.processor.runner is not None
                if (timed and self.give_up_s is not None and not chunks
                        and self.source.silent_for_s() >= self.give_up_s):
                    self._end_short(limit, self._silence_cause() or "no_data")
                    break
        finally:
            self._drain_events()
            self._finish_protocol()

    def _silence_cause(self) -> str | None:
        """``unplug`` or ``no_data``: the source's state, else its latest silence alarm."""
        if self.source.state == "reconnecting":
            return "unplug"
        if self.source.state == "no_data":
            return "no_data"
        with self._event_lock:
            kinds = [ev.kind for _, ev in self._events if ev.kind in ("unplug", "no_data")]
        return kinds[-1] if kinds else None

    def _end_short(self, limit: int | None, reason: str) -> None:
        """A timed run ends before it holds ``limit`` samples: record the rest as a gap."""
        self.end_reason = reason
        self.missing_samples = 0 if limit is None else max(0, limit - self.health.samples_in)
        if not self.missing_samples or reason == "source_ended":
            return  # a finite source (playback, simulator) that ended misses nothing
        cause = "unplug" if reason == "unplug" else "no_data"
        gap = Gap(self._end_index, self.missing_samples, cause)
        self.health.lost_by_cause[cause] += gap.n_samples
        silent_s = self.source.silent_for_s()
        message = (f"the source gave nothing for {silent_s:.1f} s ({reason}); the session "
                   f"ends {self.missing_samples / self.source.info.fs_hz:.1f} s short")
        log.info("%s", message)
        if self.writer is not None:
            self.writer.add_gap(gap)
            self.writer.add_marker(self._end_index, f"end:{reason}", message,
                                   {"missing_samples": self.missing_samples,
                                    "silent_s": round(silent_s, 3)})

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait until the thread has finished (source ended or protocol done).

        Returns
        -------
        bool
            True if finished; re-raises a thread failure as :class:`EngineError`.
        """
        finished = self._done.wait(timeout_s)
        self.raise_if_failed()
        return finished

    def stop(self) -> None:
        """Stop the thread, then the source; re-raise a thread failure (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10.0)
        try:
            self.source.stop()
        finally:
            self.source.close()
            self._close_outlets()
        self.raise_if_failed()

    def _close_outlets(self) -> None:
        # Withdraw published streams now rather than when the objects are collected.
        while self.outlets:
            outlet = self.outlets.pop()
            close = getattr(outlet, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # noqa: BLE001 - closing must not hide the session's result
                    log.exception("closing outlet %r failed", outlet)

    def raise_if_failed(self) -> None:
        """Re-raise, in the caller, an exception that ended the engine thread."""
        if self._error is None:
            return
        if isinstance(self._error, EmgFeedbackError):
            raise self._error
        raise EngineError(f"engine thread failed: {self._error!r}") from self._error

    @property
    def finished(self) -> bool:
        """True once processing has ended."""
        return self._done.is_set()

    # ------------------------------------------------------------------ processing
    def process_chunk(self, chunk) -> Processed:
        """Process one chunk and publish it to every consumer (engine thread)."""
        t0 = time.perf_counter()
        processed = self.processor.process(chunk)
        if self.writer is not None:
            self._record(processed)
        self.display.write(chunk.first_index, processed.filtered_uv, processed.envelope_uv,
                           chunk.arrival_s)
        for outlet in self.outlets:
            outlet.push(processed)
        for callback in self._listeners:
            callback(processed)
        self._end_index = chunk.end_index
        self._recent_onsets.extend(processed.onsets)
        self._recent_cues.extend(processed.cues)
        elapsed_ms = (time.perf_counter() - t0) * 1000.0
        age_ms = (time.monotonic() - chunk.arrival_s) * 1000.0
        self.health.add_chunk(chunk, elapsed_ms, age_ms)
        self._publish(processed)
        return processed

    def _record(self, processed: Processed) -> None:
        writer = self.writer
        writer.add_chunk(processed.chunk)
        names = self.source.info.channel_names
        for event in processed.onsets:
            writer.add_marker(int(event.index), event.kind, names[event.channel],
                              {"channel": int(event.channel),
                               "detected_index": int(event.detected_index),
                               "delay_ms": float(event.delay_ms)})
        for cue in processed.cues:
            writer.add_marker(int(cue.index), f"cue:{cue.kind}", getattr(cue, "text", ""),
                              cue.as_dict())
        depth = getattr(writer, "queue_depth", None)
        self.health.recorder_queue_depth = int(depth() if callable(depth) else depth or 0)

    def _finish_protocol(self) -> None:
        runner = self.processor.runner if self.processor is not None else None
        if runner is None or self.results is not None:
            return
        self.results = runner.results()
        if self.writer is not None:
            self.writer.add_result("protocol", self.results)

    def _publish(self, processed: Processed) -> None:
        self._seq += 1
        runner = self.processor.runner
        health = self._health_summary()
        writer_error = getattr(self.writer, "error", None) if self.writer is not None else None
        envelope = processed.envelope_uv[-1].copy() if len(processed.envelope_uv) else \
            np.full(self.source.info.n_channels, np.nan)
        self._snapshot = Snapshot(
            seq=self._seq,
            end_index=processed.chunk.end_index,
            time_s=processed.chunk.end_index / self.source.info.fs_hz,
            envelope_uv=envelope,
            onsets=tuple(self._recent_onsets),
            cues=tuple(self._recent_cues),
            protocol=protocol_progress(runner, self.source.info.fs_hz),
            quality=self.processor.latest_quality,
            source_state=self.source.state,
            health=health,
            recording=self.writer is not None and writer_error is None,
            recorder_error=str(writer_error) if writer_error else None,
            newest_arrival_s=processed.chunk.arrival_s,
        )

    def _health_summary(self) -> dict:
        # Percentiles cost more than processing a chunk; displays redraw at most ~60 Hz and
        # health moves slowly, so the summary is refreshed every HEALTH_REFRESH_S.
        now = time.monotonic()
        if self._health_cache is None or now - self._health_time >= HEALTH_REFRESH_S:
            self._health_cache = self.health.as_dict()
            self._health_cache["envelope_delay_ms"] = self.processor.envelope_delay_ms
            self._health_time = now
        return self._health_cache

    # ------------------------------------------------------------------ consumers
    def snapshot(self) -> Snapshot | None:
        """The latest snapshot (None before the first chunk). Safe from any thread."""
        return self._snapshot

    def read_display(self, since_index: int | None, max_samples: int | None = None) \
            -> DisplayBlock:
        """New processed samples for a display; samples it missed are counted as overruns."""
        block = self.display.read_since(since_index, max_samples)
        self.health.display_overruns += block.skipped
        return block


def marker_kind(event: SourceEvent) -> str:
    """The marker kind an event is recorded as: ``alarm:<kind>`` or ``event:<kind>``."""
    return f"{'alarm' if event.is_alarm else 'event'}:{event.kind}"


def event_marker_data(event: SourceEvent) -> dict:
    """The JSON data stored with an event's marker (host monotonic times are dropped: they
    mean nothing later)."""
    return _plain(event.data)


def _plain(data) -> dict:
    return {str(k): v for k, v in (data or {}).items()
            if isinstance(v, (str, int, float, bool)) and not str(k).endswith("_s")}


def protocol_progress(runner, fs_hz: float) -> dict | None:
    """Where a protocol run stands, for displays (None when no protocol runs)."""
    if runner is None:
        return None
    phases = runner.protocol.phases
    current = runner.current_phase
    done, total = runner.phase_progress()
    index = len(phases) - 1 if current is None else current
    phase = phases[index]
    return {
        "name": runner.protocol.name,
        "title": runner.protocol.title,
        "phase": index,
        "n_phases": len(phases),
        "phase_name": phase.name,
        "phase_kind": phase.kind,
        "cue": phase.cue,
        "phase_done_s": done / fs_hz,
        "phase_total_s": total / fs_hz,
        "remaining_s": max(0.0, (total - done) / fs_hz),
        "finished": bool(runner.finished),
    }
