"""A live session: source, engine, recorder and event queues, for a window or a test.

Nothing here imports Qt, so the same controller drives the GUI window
(:mod:`emgfeedback.gui.main_window`), the benchmarks and tests. The GUI thread only calls
the ``poll``/``read_*`` methods and the user actions. What must be seen whole (cue and
onset events, chunk arrivals, a finished protocol's results) is handed over from the
engine thread through thread-safe deques filled by engine listeners; the latest state
(protocol progress, quality, health) is read from the engine's snapshot; recording is the
engine's own :class:`~emgfeedback.runtime.recording.Recorder`, switched on and off here.
So a stalled window never stalls acquisition or recording.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from emgfeedback.runtime.recording import Recorder


@dataclass
class ChannelSetup:
    """What the therapist entered for one channel.

    Attributes
    ----------
    name : str
        Display name, e.g. ``"glute med R"``.
    placement : str
        Muscle / electrode placement.
    side : str
        ``"left"``, ``"right"`` or ``""``.
    """

    name: str
    placement: str = ""
    side: str = ""


@dataclass
class Goals:
    """Per-channel reference levels that feedback without a protocol uses.

    Attributes
    ----------
    baseline_uv, mvc_uv : list of float
        Captured resting baseline (mean envelope) and MVC per channel, µV (NaN if unknown).
    up_factor : float
        Uptraining goal as a multiple of the baseline (when no MVC is known).
    up_mvc_pct : float
        Uptraining goal as % MVC (used when the MVC is known).
    down_factor : float
        Downtraining goal as a multiple of the baseline.
    """

    baseline_uv: list = field(default_factory=list)
    mvc_uv: list = field(default_factory=list)
    up_factor: float = 3.0
    up_mvc_pct: float = 40.0
    down_factor: float = 1.2

    def up_goal_uv(self, channel: int) -> float:
        """The uptraining goal of a channel in µV (NaN when nothing was captured)."""
        mvc = _at(self.mvc_uv, channel)
        if np.isfinite(mvc) and mvc > 0:
            return self.up_mvc_pct / 100.0 * mvc
        return self.up_factor * _at(self.baseline_uv, channel)

    def down_goal_uv(self, channel: int) -> float:
        """The downtraining goal of a channel in µV (NaN without a baseline)."""
        return self.down_factor * _at(self.baseline_uv, channel)


def _at(values, i: int) -> float:
    try:
        v = values[i]
    except (IndexError, TypeError):
        return float("nan")
    return float("nan") if v is None else float(v)


@dataclass(frozen=True)
class Events:
    """What happened on the engine thread since the last poll.

    Attributes
    ----------
    cues, onsets : list
        Every protocol cue and onset event, in stream order (none is dropped).
    arrivals : list of (int, float)
        ``(end_index, host arrival time)`` of every processed chunk, for latency.
    protocol_results : list of dict
        The results of each protocol that finished (once per protocol; its cues, up to its
        ``protocol_end``, are in ``cues`` of the same poll or an earlier one).
    """

    cues: list
    onsets: list
    arrivals: list
    protocol_results: list = field(default_factory=list)


class LiveSession:
    """A running source, engine and recorder for one window.

    Parameters
    ----------
    url : str
        Source URL (``sim://``, ``serial://``, ``file://``...).
    channels : list of ChannelSetup, optional
        Names, placements and sides (default: the source's channel names).
    mains_hz : float
        Mains frequency to notch.
    stop_when_protocol_done : bool
        End the engine when a protocol finishes (fast replays); otherwise a protocol's end
        is an event and acquisition goes on.
    display_window_s : float
        Seconds kept for the traces (the longest window the GUI offers).
    """

    def __init__(self, url: str, channels=None, *, mains_hz: float = 50.0,
                 stop_when_protocol_done: bool = False, display_window_s: float = 30.0,
                 subject: str = "") -> None:
        from emgfeedback.acquisition import open_source
        from emgfeedback.runtime import Engine, Processor, default_pipeline_config

        self.url = url
        self.subject = subject
        self.mains_hz = mains_hz
        self.source = open_source(url)
        self.source.open()
        info = self.source.info
        self.info = info
        self.fs_hz = float(info.fs_hz)
        self.n_channels = info.n_channels
        # Set-ups for more channels than the source has are cut; missing ones take the
        # source's names.
        given = list(channels or [])[:info.n_channels]
        self.channels = given + [ChannelSetup(n) for n in info.channel_names[len(given):]]
        self.goals = Goals([float("nan")] * self.n_channels, [float("nan")] * self.n_channels)
        #: The engine's recorder: the record button switches it on and off.
        self.recorder = Recorder(channel_names=self.channel_names)
        self._cues: deque = deque()
        self._onsets: deque = deque()
        self._arrivals: deque = deque(maxlen=20000)
        self._finished_protocols: deque = deque()
        self.engine = Engine(
            self.source,
            processor_factory=lambda i: Processor(
                i, default_pipeline_config(i.fs_hz, mains_hz), mains_hz=mains_hz),
            recorder=self.recorder, display_window_s=display_window_s,
            give_up_s=None,  # live: wait for the board
            stop_when_protocol_done=stop_when_protocol_done)
        self.engine.add_listener(self._on_processed)
        self.engine.add_protocol_listener(self._on_protocol_done)
        self.lsl_outlet = None
        self.protocol_results: list[dict] = []
        self.protocol_cols: dict = {}
        self.protocol = None
        self.db_path = None
        self._closed = False
        #: Why the session is being ended early (e.g. ``stopped by SIGTERM``); when set,
        #: :meth:`close` keeps the recording as ``incomplete`` with this reason, like
        #: ``record`` does for a stop signal.
        self.stop_reason: str | None = None
        self.started_s: float | None = None

    # ------------------------------------------------------------------ life cycle
    @property
    def channel_names(self) -> list[str]:
        return [c.name for c in self.channels]

    def start(self) -> None:
        """Start acquisition and processing."""
        self.engine.start()
        self.started_s = time.monotonic()

    def close(self) -> None:
        """End the session cleanly: stop the engine, record partial results, close the writer."""
        if self._closed:
            return
        self._closed = True
        try:
            # The engine records an unfinished protocol's partial results when it ends.
            self.engine.stop()
        finally:
            if self.engine.runner is not None:  # never processed: still in the engine
                self.engine.cancel_protocol()
            if self.stop_reason:
                self.recorder.stop(status="incomplete", reason=self.stop_reason)
            else:
                self.recorder.stop(status="complete")

    def _on_processed(self, processed) -> None:
        # Engine thread: hand over what the GUI must not miss. deque.append is thread-safe.
        chunk = processed.chunk
        self._arrivals.append((chunk.end_index, chunk.arrival_s))
        if processed.cues:
            self._cues.extend(processed.cues)
        if processed.onsets:
            self._onsets.extend(processed.onsets)

    def _on_protocol_done(self, runner, results: dict) -> None:
        # Engine thread, after the chunk's listeners (so the protocol_end cue is queued
        # first); the engine has recorded the results.
        self.protocol_results.append(results)
        self._finished_protocols.append(results)

    # ------------------------------------------------------------------ GUI thread
    def poll_events(self) -> Events:
        """Everything that happened since the last call (cues, onsets, protocol results:
        lossless)."""
        cues, onsets, arrivals, finished = [], [], [], []
        # Finished protocols first: their cues were queued before them, so a poll that
        # sees a protocol's results sees its protocol_end cue too.
        for queue, out in ((self._finished_protocols, finished), (self._cues, cues),
                           (self._onsets, onsets), (self._arrivals, arrivals)):
            while queue:
                out.append(queue.popleft())
        return Events(cues, onsets, arrivals, finished)

    def snapshot(self):
        return self.engine.snapshot()

    def read_display(self, since_index, max_samples):
        return self.engine.read_display(since_index, max_samples)

    @property
    def source_state(self) -> str:
        return self.source.state

    def alarms_since(self, seq: int = 0):
        """New source and storage events, ``(events, next_seq)`` (see
        :meth:`Engine.events_since`)."""
        return self.engine.events_since(seq)

    @property
    def envelope_delay_ms(self) -> float:
        proc = self.engine.processor
        return proc.envelope_delay_ms if proc is not None else float("nan")

    @property
    def end_index(self) -> int:
        snap = self.engine.snapshot()
        return snap.end_index if snap is not None else 0

    # ------------------------------------------------------------------ actions
    def start_protocol(self, name_or_path: str) -> None:
        """Load a protocol and run it from the next chunk, with the captured goals."""
        from emgfeedback.protocol import ProtocolRunner, load_protocol

        proto = load_protocol(name_or_path)
        base = [None if not np.isfinite(v) else v for v in self.goals.baseline_uv]
        mvc = [None if not np.isfinite(v) else v for v in self.goals.mvc_uv]
        runner = ProtocolRunner(proto, self.fs_hz, self.channel_names,
                                baseline_uv=base if any(v is not None for v in base) else None,
                                mvc_uv=mvc if any(v is not None for v in mvc) else None)
        mapping = runner.results()["channels"]  # protocol id -> stream channel name
        names = self.channel_names
        self.protocol_cols = {cid: names.index(n) for cid, n in mapping.items() if n in names}
        self.protocol = proto
        self.engine.start_protocol(runner)

    @property
    def protocol_running(self) -> bool:
        """True while a protocol runs (started and neither finished nor stopped)."""
        runner = self.engine.runner
        return runner is not None and not runner.finished

    def stop_protocol(self) -> dict | None:
        """Stop the protocol in progress; its partial results are recorded and returned."""
        return self.engine.cancel_protocol()

    def start_recording(self, db_path=None, note: str = "") -> int:
        """Create a session in the store and record from the next chunk on."""
        from emgfeedback.storage import SessionMeta, SessionStore, default_db_path

        if self.recorder.recording:
            return self.recorder.session_id
        store = SessionStore(db_path or default_db_path())
        info = self.info
        runner = self.engine.runner
        meta = SessionMeta(
            fs_hz=self.fs_hz, channel_names=tuple(self.channel_names),
            calibration=tuple(info.calibration), subject=self.subject or None, note=note,
            board=info.board, source_url=info.url,
            placements=tuple(c.placement for c in self.channels),
            sides=tuple(c.side for c in self.channels),
            protocol=runner.protocol.name if runner is not None else None)
        sid = store.create_session(meta)
        self.recorder.channel_names = tuple(self.channel_names)
        self.recorder.start(store.open_writer(sid, on_alarm=self.engine.storage_alarm), sid)
        self.db_path = db_path or default_db_path()
        return sid

    def stop_recording(self) -> int | None:
        """Stop recording (the session is closed as ``complete``); returns its id."""
        self.recorder.stop(status="complete")
        return self.recorder.session_id

    def add_marker(self, text: str = "marker") -> int:
        """Mark the newest sample (shown on the traces; stored when recording; on LSL)."""
        # end_index is one past the newest sample: a marker there could fall after the
        # last recorded sample (e.g. once the stream has ended).
        index = max(0, self.end_index - 1)
        self.recorder.add_marker(index, "marker", text)
        outlet = self.lsl_outlet
        if outlet is not None:
            outlet.push_marker(index, f"mark:{text}")
        return index

    def set_lsl(self, on: bool) -> bool:
        """Publish (or stop publishing) on Lab Streaming Layer; returns the new state.

        LSL publishes on the local network without authentication, so it is off until a
        user turns it on.
        """
        if on and self.lsl_outlet is None:
            from emgfeedback.interop.lsl import LslOutlet

            self.lsl_outlet = LslOutlet(
                self.info, channel_names=self.channel_names,
                placements=[c.placement for c in self.channels],
                sides=[c.side for c in self.channels])
            self.engine.add_outlet(self.lsl_outlet)
        elif not on and self.lsl_outlet is not None:
            outlet, self.lsl_outlet = self.lsl_outlet, None
            self.engine.remove_outlet(outlet)
        return self.lsl_outlet is not None

    def capture(self, seconds: float):
        """The last ``seconds`` of envelope from the display ring, ``(n, ch)`` µV."""
        n = int(round(seconds * self.fs_hz))
        block = self.engine.display.read_since(None, n)
        return block.envelope_uv

    def set_baseline_from(self, envelope_uv) -> list[float]:
        """Resting baseline = ``baseline_mean_uv``, the mean envelope per channel (as a
        protocol's baseline phase and ``emgfeedback baseline`` measure it)."""
        from emgfeedback.protocol.metrics import baseline_level

        values = []
        for c in range(envelope_uv.shape[1]):
            mean = baseline_level(envelope_uv[:, c])
            values.append(float("nan") if mean is None else mean)
        self.goals.baseline_uv = values
        return values

    def set_mvc_from(self, envelope_uv) -> list[float]:
        """MVC per channel from a trial's envelope (highest 0.5 s mean)."""
        from emgfeedback.analysis.mvc import capture_mvc

        self.goals.mvc_uv = [float(v) for v in capture_mvc(envelope_uv, self.fs_hz)]
        return self.goals.mvc_uv
