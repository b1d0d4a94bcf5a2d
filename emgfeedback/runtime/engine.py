"""The engine: one processing thread between a source and its consumers.

Data flow (one direction)::

    Source.read() ──Chunk──▶ Processor.process() ──▶ Recorder (switchable)   (lossless)
                                                 ├──▶ DisplayRing + Snapshot (may skip, counted)
                                                 ├──▶ outlets (LSL, ...)
                                                 ├──▶ chunk listeners        (every chunk)
                                                 └──▶ protocol listeners     (once per protocol)

The command line and the GUI consume the engine the same way: one
:class:`~emgfeedback.runtime.recording.Recorder` stores chunks, onset and cue markers,
event markers and protocol results (a headless command starts it before the engine, the
GUI's record button switches it on and off while running); what must not be missed
(cues, onsets, a protocol's results) reaches consumers through listeners on the engine
thread; the latest state (envelope, protocol progress, quality, health) through
:meth:`Engine.snapshot`.

A protocol is swappable while running (:meth:`Engine.start_protocol`,
:meth:`Engine.cancel_protocol`). Its end is an event: the results are recorded and handed
to protocol listeners once, and the engine goes on acquiring, unless it was built with
``stop_when_protocol_done=True`` (a headless ``run``), which ends it there.

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
from emgfeedback.runtime.recording import (  # noqa: F401 - RECORDED_EVENTS and the
    RECORDED_EVENTS,  # marker helpers were defined here first; importable from here still
    Recorder,
    event_marker_data,
    marker_kind,
)
from emgfeedback.runtime.warmup import warm_up

log = logging.getLogger(__name__)

#: Seconds between refreshes of the health summary published in snapshots.
HEALTH_REFRESH_S = 0.25

#: Default for ``give_up_s``: a timed run ends early after this long without samples while
#: its source reports a silent state (``no_data`` or ``reconnecting``), in seconds.
GIVE_UP_S = 10.0

#: Why a timed run ended before it held what was asked (see :attr:`Engine.end_reason`).
END_REASONS = ("no_data", "unplug", "source_ended")


@dataclass(frozen=True)
class Snapshot:
    """The latest state for displays; small, immutable, replaced after every chunk.

    Traces are not in the snapshot: read them from :meth:`Engine.read_display`. Neither are
    events that must not be missed (onsets, cues, a protocol's results): take them with
    :meth:`Engine.add_listener` and :meth:`Engine.add_protocol_listener`; the recorder's
    state is the :class:`~emgfeedback.runtime.recording.Recorder`'s own.

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
    protocol : dict or None
        Runner progress (phase, remaining, results so far) while a protocol runs.
    quality : list or None
        Latest per-channel quality assessment.
    source_state : str
        The source's state (streaming, no_data, reconnecting, ...).
    health : dict
        :meth:`Health.as_dict` plus ``envelope_delay_ms`` (refreshed every
        :data:`HEALTH_REFRESH_S`).
    newest_arrival_s : float
        Host monotonic arrival time of the newest processed sample.
    """

    seq: int
    end_index: int
    time_s: float
    envelope_uv: np.ndarray
    protocol: dict | None = None
    quality: list | None = None
    source_state: str = "closed"
    health: dict = field(default_factory=dict)
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
    recorder : Recorder, optional
        What stores the session (switchable while running); a switched-off one by default.
    writer : object, optional
        Shorthand for ``recorder=Recorder(writer)``: a storage writer (``add_chunk``,
        ``add_marker``, ``add_gap``, ``add_result``, ``close``).
    outlets : sequence, optional
        Objects with ``push(processed)`` (e.g. the LSL outlet), called on the engine thread,
        and closed (``close()``) by :meth:`stop`.
    display_window_s : float
        Seconds of processed signal kept for displays.
    read_timeout_s : float
        How long one ``source.read`` may wait.
    stop_after_s : float, optional
        End once ``round(stop_after_s * fs_hz)`` samples have been received (the last chunk
        is cut to fit): this much signal. Lost samples are gaps that do not count, so on a
        lossy link the run spans longer (received + lost samples; ``record`` prints both,
        and a silence that ends never shortens the recording).
    give_up_s : float, optional
        With ``stop_after_s`` or ``stop_when_protocol_done``: end early once the source has
        been silent (state ``no_data`` or ``reconnecting``, timed from its last sample) this
        long, in seconds. None waits for ever (a live view).
    stop_when_protocol_done : bool
        End processing when a protocol finishes (a headless run). Otherwise a protocol's
        end is only an event and the engine keeps acquiring (a live session).
    """

    def __init__(self, source: Source, processor: Processor | None = None, *,
                 processor_factory=None, recorder: Recorder | None = None, writer=None,
                 outlets=(), display_window_s: float = 30.0, read_timeout_s: float = 0.02,
                 stop_after_s: float | None = None,
                 give_up_s: float | None = GIVE_UP_S,
                 stop_when_protocol_done: bool = False) -> None:
        self.source = source
        self.stop_after_s = stop_after_s
        self.give_up_s = give_up_s
        self.stop_when_protocol_done = stop_when_protocol_done
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
        if recorder is None:
            recorder = Recorder(writer)
        elif writer is not None:
            raise ValueError("give a recorder or a writer, not both")
        #: The one recorder (chunks, markers, results); switch it on and off while running.
        self.recorder = recorder
        recorder.bind_alarms(self.storage_alarm)
        self.outlets = list(outlets)
        self.display_window_s = display_window_s
        self.read_timeout_s = read_timeout_s
        self.health = Health()
        self.display: DisplayRing | None = None
        self._snapshot: Snapshot | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._done = threading.Event()
        self._error: BaseException | None = None
        self._seq = 0
        #: Results of the latest protocol that finished or was ended (None before).
        self.results: dict | None = None
        #: True once a protocol has finished (ran to its end) on this engine.
        self.protocol_finished = False
        # Serialises runner swaps (any thread) with the processing of a chunk (engine
        # thread), so a protocol is never cancelled half-way through a step.
        self._runner_lock = threading.Lock()
        self._pending_runner = None  # started before the processor exists
        self._warmed_for = None  # the processor warm_up last ran for
        #: Seconds :func:`~emgfeedback.runtime.warmup.warm_up` took in :meth:`open`.
        self.warm_up_s = 0.0
        self._listeners: list = []
        self._protocol_listeners: list = []
        self._health_cache: dict | None = None
        self._health_time = 0.0

    @property
    def writer(self):
        """The recorder's current storage writer (None when not recording)."""
        return self.recorder.writer

    # ------------------------------------------------------------------ life cycle
    def open(self) -> None:
        """Open the source and build the processor (idempotent)."""
        if self.source.state == "closed":
            self.source.open()
        if self.processor is None:
            self.processor = self._processor_factory(self.source.info)
        if self._warmed_for is not self.processor:
            # Load kernels and first-use imports now, not in the first chunk or at the
            # first phase end (a stall of the engine thread): runtime/warmup.py.
            self.warm_up_s = warm_up(self.processor)
            self._warmed_for = self.processor
        with self._runner_lock:
            if self._pending_runner is not None:
                self.processor.runner, self._pending_runner = self._pending_runner, None
        if self.recorder.channel_names is None:
            self.recorder.channel_names = tuple(self.source.info.channel_names)
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

    def add_protocol_listener(self, callback) -> None:
        """Call ``callback(runner, results)`` on the engine thread once, when a protocol
        finishes (after its results are recorded and the chunk's listeners, which see its
        ``protocol_end`` cue, were called); keep it short."""
        self._protocol_listeners.append(callback)

    # ------------------------------------------------------------------ protocols
    @property
    def runner(self):
        """The protocol runner in progress (None when none runs; a finished one is gone)."""
        processor = self.processor
        return processor.runner if processor is not None else self._pending_runner

    def start_protocol(self, runner) -> None:
        """Run ``runner`` from the next chunk on (replacing one in progress, unrecorded:
        cancel it first to keep its partial results). Safe while running."""
        with self._runner_lock:
            if self.processor is None:
                self._pending_runner = runner
            else:
                self.processor.runner = runner

    def cancel_protocol(self) -> dict | None:
        """Stop the protocol in progress; its partial results are recorded and returned
        (None when none was running). Safe while running."""
        with self._runner_lock:
            runner = self._detach_runner()
            results = runner.results() if runner is not None else None
        if results is not None:
            self.results = results
            self.recorder.add_result("protocol", results)
        return results

    def _detach_runner(self):
        # With the runner lock held.
        runner, self._pending_runner = self._pending_runner, None
        if self.processor is not None:
            runner, self.processor.runner = self.processor.runner, None
        return runner

    def _take_finished_runner(self):
        """The runner that finished in the chunk just processed, detached, with its results
        (runner lock held)."""
        runner = self.processor.runner
        if runner is None or not runner.finished:
            return None
        self.processor.runner = None
        return runner, runner.results()

    def _protocol_done(self, runner, results: dict) -> None:
        # A protocol's end is an event: recorded and handed to listeners once.
        self.results = results
        self.protocol_finished = True
        self.recorder.add_result("protocol", results)
        for callback in self._protocol_listeners:
            callback(runner, results)

    def _end_protocol(self) -> None:
        """Processing ends with a protocol still in progress: keep its partial results."""
        if self.processor is not None:
            self.cancel_protocol()

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
            self.recorder.record_event(event, index)
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
        """Process on the calling thread until the source finishes, ``stop_after_s`` of
        stream have been processed or (with ``stop_when_protocol_done``) the protocol ends.

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
                if self.stop_when_protocol_done and self.protocol_finished:
                    break
                if not chunks and self.source.finished:
                    if limit is not None and self.health.samples_in < limit:
                        self._end_short(limit, self._silence_cause() or "source_ended")
                    break
                timed = limit is not None or (self.stop_when_protocol_done
                                              and self.processor.runner is not None)
                if (timed and self.give_up_s is not None and not chunks
                        and self.source.silent_for_s() >= self.give_up_s):
                    self._end_short(limit, self._silence_cause() or "no_data")
                    break
        finally:
            self._drain_events()
            self._end_protocol()

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
        if self.recorder.add_gap(gap):
            self.recorder.add_marker(self._end_index, f"end:{reason}", message,
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
        with self._runner_lock:
            processed = self.processor.process(chunk)
            finished = self._take_finished_runner()
        self.health.recorder_queue_depth = self.recorder.record(processed)
        self.display.write(chunk.first_index, processed.filtered_uv, processed.envelope_uv,
                           chunk.arrival_s)
        for outlet in self.outlets:
            outlet.push(processed)
        for callback in self._listeners:
            callback(processed)
        if finished is not None:  # after the chunk's listeners have seen its protocol_end
            self._protocol_done(*finished)
        self._end_index = chunk.end_index
        elapsed_ms = (time.perf_counter() - t0) * 1000.0
        age_ms = (time.monotonic() - chunk.arrival_s) * 1000.0
        self.health.add_chunk(chunk, elapsed_ms, age_ms)
        self._publish(processed)
        return processed

    def _publish(self, processed: Processed) -> None:
        self._seq += 1
        runner = self.processor.runner
        health = self._health_summary()
        envelope = processed.envelope_uv[-1].copy() if len(processed.envelope_uv) else \
            np.full(self.source.info.n_channels, np.nan)
        self._snapshot = Snapshot(
            seq=self._seq,
            end_index=processed.chunk.end_index,
            time_s=processed.chunk.end_index / self.source.info.fs_hz,
            envelope_uv=envelope,
            protocol=protocol_progress(runner, self.source.info.fs_hz),
            quality=self.processor.latest_quality,
            source_state=self.source.state,
            health=health,
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
