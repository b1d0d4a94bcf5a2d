"""The recorder: what the engine stores, through one object the CLI and the GUI share.

:class:`Recorder` wraps a storage writer (``add_chunk``, ``add_marker``, ``add_gap``,
``add_result``, ``close``; see :class:`~emgfeedback.storage.writer.SessionWriter`) and
can be switched on and off while the engine runs: the GUI's record button starts and
stops it, a headless command starts it before the engine and stops it after. The engine
calls it on its own thread for every chunk (samples, onset and cue markers), for every
source event worth keeping (``alarm:<kind>``, ``event:<kind>`` markers) and for protocol
results; a switched-off recorder ignores all of it.

Onset markers carry the channel names the user set up (``--names``, the set-up dialog),
not the source's own names, so a session reads the same in every export.
"""

from __future__ import annotations

import threading

#: Event kinds recorded as session markers (device messages are only logged).
RECORDED_EVENTS = ("no_data", "unplug", "channel_mismatch", "rejected", "storage",
                   "data_resumed", "reconnected")


def marker_kind(event) -> str:
    """The marker kind an event is recorded as: ``alarm:<kind>`` or ``event:<kind>``."""
    return f"{'alarm' if event.is_alarm else 'event'}:{event.kind}"


def event_marker_data(event) -> dict:
    """The JSON data stored with an event's marker (host monotonic times are dropped: they
    mean nothing later)."""
    return {str(k): v for k, v in (event.data or {}).items()
            if isinstance(v, (str, int, float, bool)) and not str(k).endswith("_s")}


class Recorder:
    """Record while switched on: chunks, onsets, cues, events and results to a writer.

    Thread-safe: the engine thread records while another thread (the GUI, a command)
    switches it on or off; a chunk is recorded whole or not at all.

    Parameters
    ----------
    writer : SessionWriter, optional
        Start recording into it at once (a headless command).
    channel_names : sequence of str, optional
        Names for onset markers, one per channel; the engine fills in the source's names
        when none are given.
    session_id : int, optional
        The session ``writer`` writes (reported back by :meth:`stop` callers).
    """

    def __init__(self, writer=None, *, channel_names=None, session_id: int | None = None) \
            -> None:
        self._lock = threading.Lock()
        self._writer = None
        self.session_id: int | None = None
        self.channel_names: tuple[str, ...] | None = \
            tuple(channel_names) if channel_names is not None else None
        self._on_alarm = None
        #: The last writer's error text, its final status and reason (after :meth:`stop`).
        self.last_error: str | None = None
        self.last_status: str | None = None
        self.last_reason: str | None = None
        if writer is not None:
            self.start(writer, session_id)

    # ------------------------------------------------------------------ switch
    @property
    def recording(self) -> bool:
        """True while a writer is attached."""
        return self._writer is not None

    @property
    def writer(self):
        """The attached writer (None when switched off)."""
        return self._writer

    @property
    def error(self) -> str | None:
        """The writer's error (the session keeps running), else the last one seen."""
        writer = self._writer
        err = getattr(writer, "error", None) if writer is not None else None
        return str(err) if err else self.last_error

    @property
    def storage_failing(self) -> bool:
        """True while the writer cannot store (disk full, I/O error); samples wait in memory
        or, beyond its backlog, become a ``storage`` gap."""
        writer = self._writer
        return bool(getattr(writer, "failing", False)) if writer is not None else False

    def bind_alarms(self, callback) -> None:
        """Give writers without an ``on_alarm`` hook this one (the engine's storage alarm)."""
        self._on_alarm = callback
        writer = self._writer
        if writer is not None:
            self._hook(writer)

    def _hook(self, writer) -> None:
        if self._on_alarm is not None and getattr(writer, "on_alarm", False) is None:
            writer.on_alarm = self._on_alarm

    def start(self, writer, session_id: int | None = None) -> None:
        """Record into ``writer`` from the next chunk on (replaces nothing: stop first)."""
        self._hook(writer)
        with self._lock:
            self._writer = writer
            self.session_id = session_id

    def stop(self, status: str = "complete", reason: str | None = None) -> bool | None:
        """Detach and close the writer.

        The writer turns ``complete`` into ``incomplete`` (reason ``storage``) when samples
        could not be stored; :attr:`last_status` and :attr:`last_reason` say what was kept.
        :attr:`session_id` keeps the session's id.

        Returns
        -------
        bool or None
            What the writer's ``close`` returned (True when every sample was stored), None
            when nothing was recording.
        """
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is None:
            return None
        # Closed outside the lock: the final commit may take a while, and the engine
        # thread must not wait for it.
        stored_all = writer.close(status=status, reason=reason)
        self.last_status = getattr(writer, "final_status", None)
        self.last_reason = getattr(writer, "end_reason", None)
        if getattr(writer, "error", None) is not None:
            self.last_error = str(writer.error)
        return stored_all

    # ------------------------------------------------------------------ engine thread
    def record(self, processed) -> int:
        """Record one processed chunk: its samples, onset markers and cue markers.

        Returns
        -------
        int
            The writer's queue depth (0 when not recording).
        """
        with self._lock:
            writer = self._writer
            if writer is None:
                return 0
            writer.add_chunk(processed.chunk)
            names = self.channel_names
            for ev in processed.onsets:
                c = int(ev.channel)
                writer.add_marker(int(ev.index), ev.kind,
                                  names[c] if names and c < len(names) else f"ch{c + 1}",
                                  {"channel": c, "detected_index": int(ev.detected_index),
                                   "delay_ms": float(ev.delay_ms),
                                   # began mid-contraction: its true onset is unknown
                                   "unknown": bool(getattr(ev, "unknown", False))})
            for cue in processed.cues:
                writer.add_marker(int(cue.index), f"cue:{cue.kind}", getattr(cue, "text", ""),
                                  cue.as_dict())
            depth = getattr(writer, "queue_depth", None)
        return int(depth() if callable(depth) else depth or 0)

    def record_event(self, event, index: int) -> bool:
        """Record a source event or alarm of :data:`RECORDED_EVENTS` as a marker."""
        if event.kind not in RECORDED_EVENTS:
            return False
        return self.add_marker(index, marker_kind(event), event.message,
                               event_marker_data(event))

    def add_marker(self, index: int, kind: str, text: str, data: dict | None = None) -> bool:
        """Record a marker; False when not recording."""
        with self._lock:
            if self._writer is None:
                return False
            self._writer.add_marker(int(index), kind, text, data)
            return True

    def add_gap(self, gap) -> bool:
        """Record a gap (samples that never came); False when not recording."""
        with self._lock:
            if self._writer is None:
                return False
            self._writer.add_gap(gap)
            return True

    def add_result(self, kind: str, data: dict, channel: str | None = None) -> bool:
        """Record a result (protocol results, a baseline, goals); False when not recording."""
        with self._lock:
            if self._writer is None:
                return False
            self._writer.add_result(kind, data, channel=channel)
            return True
