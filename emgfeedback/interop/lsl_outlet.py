"""Lab Streaming Layer outlet: publish what emgfeedback measures (``--lsl``).

Three streams per session:

========================  ===============  ==========================================
name                      type             content
========================  ===============  ==========================================
``NAME``                  ``EMG``          calibrated signal, µV at the electrode
``NAME-envelope``         ``EMGEnvelope``  the envelopes the display shows, µV
``NAME-markers``          ``Markers``      onsets, protocol cues, user marks (strings)
========================  ===============  ==========================================

``NAME`` defaults to ``emgfeedback``. The two signal streams are ``float32`` at the source's
nominal rate, with per-channel ``label``, ``unit`` (``microvolts``) and ``type`` (``EMG``) in
``desc/channels/channel`` (and ``placement``/``side`` when known). The envelope stream has a
distinct type so that ``lsl://?type=EMG`` and LabRecorder users never pick it up by mistake.

Timestamps follow the sample clock: sample ``i`` is stamped ``t0 + i / fs`` where ``t0`` is
chosen once, from the LSL clock at the host arrival of the first pushed chunk. Gaps therefore
keep their place in time, and markers (stamped the same way from their sample index) line up
with the samples exactly. The price is that a board whose crystal runs fast or slow drifts
against other LSL streams; :attr:`LslOutlet.clock_drift_s` reports how far.

The ``lsl://`` inlet is :class:`emgfeedback.interop.lsl.LslSource`; everything here stays
importable from :mod:`emgfeedback.interop.lsl`.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time

import numpy as np

from emgfeedback.acquisition.source import SourceInfo
from emgfeedback.errors import ConfigError, require

__all__ = ["ENVELOPE_TYPE", "MARKER_TYPE", "RAW_TYPE", "LslOutlet", "cue_marker",
           "default_source_id", "onset_marker"]

#: Stream types of the outlet's three streams.
RAW_TYPE = "EMG"
ENVELOPE_TYPE = "EMGEnvelope"
MARKER_TYPE = "Markers"


def _pylsl():
    return require("pylsl", "lsl")


def default_source_id(info: SourceInfo) -> str:
    """A source id that is stable for the same source URL on the same host.

    Stable ids let LSL inlets (LabRecorder, ``lsl://``) recover when emgfeedback restarts.
    """
    digest = hashlib.sha1(f"{socket.gethostname()}|{info.url}".encode()).hexdigest()[:12]
    return f"emgfeedback-{digest}"


def onset_marker(kind: str, channel_name: str) -> str:
    """Marker text of an onset (``kind="on"``) or offset (``"off"``) on a channel."""
    return f"{'onset' if kind == 'on' else 'offset'}:{channel_name}"


def cue_marker(cue) -> str:
    """Marker text of a protocol cue: ``cue:<kind>:<phase name>``."""
    return f"cue:{cue.kind}:{getattr(cue, 'phase_name', '')}"


# =========================================================================== outlet


class LslOutlet:
    """Publish a session on Lab Streaming Layer (raw µV, envelopes, markers).

    LSL streams are visible to anyone on the local network, without authentication: create
    an outlet only when the user asked for it (``--lsl``, the GUI switch).

    Parameters
    ----------
    info : SourceInfo
        The source being published (rate, channel names, board).
    name : str, optional
        Base stream name (default ``emgfeedback``).
    source_id : str, optional
        Base source id (default: derived from the host name and the source URL, see
        :func:`default_source_id`); the streams append ``:raw``, ``:envelope``, ``:markers``.
    channel_names : sequence of str, optional
        Labels to publish instead of ``info.channel_names`` (e.g. ``--names``).
    placements, sides : sequence of str, optional
        Electrode placement and body side per channel, published in the description
        (default: ``info.extra["placements"]``/``["sides"]`` when present).
    """

    def __init__(self, info: SourceInfo, name: str | None = None, source_id: str | None = None,
                 *, channel_names=None, placements=None, sides=None) -> None:
        pylsl = _pylsl()
        self.info = info
        self.fs_hz = float(info.fs_hz)
        self.name = name or "emgfeedback"
        self.source_id = source_id or default_source_id(info)
        names = list(channel_names or info.channel_names)
        if len(names) != info.n_channels:
            raise ConfigError(f"LSL outlet: {len(names)} channel names for {info.n_channels} "
                              "channels")
        self.channel_names = names
        extra = dict(info.extra or {})
        placements = list(placements if placements is not None else
                          extra.get("placements") or [""] * len(names))
        sides = list(sides if sides is not None else extra.get("sides") or [""] * len(names))

        raw_info = pylsl.StreamInfo(self.name, RAW_TYPE, info.n_channels, self.fs_hz,
                                    pylsl.cf_float32, f"{self.source_id}:raw")
        self._describe(raw_info, names, placements, sides, content="raw")
        env_info = pylsl.StreamInfo(f"{self.name}-envelope", ENVELOPE_TYPE, info.n_channels,
                                    self.fs_hz, pylsl.cf_float32, f"{self.source_id}:envelope")
        self._describe(env_info, names, placements, sides, content="envelope")
        marker_info = pylsl.StreamInfo(f"{self.name}-markers", MARKER_TYPE, 1,
                                       pylsl.IRREGULAR_RATE, pylsl.cf_string,
                                       f"{self.source_id}:markers")
        marker_info.desc().append_child_value("content", "onsets, protocol cues, user marks")
        marker_info.desc().append_child_value("clock", "same as the EMG stream's samples")

        self._lock = threading.Lock()
        self._raw = pylsl.StreamOutlet(raw_info)
        self._env = pylsl.StreamOutlet(env_info)
        self._markers = pylsl.StreamOutlet(marker_info)
        self._local_clock = pylsl.local_clock
        self._t0: float | None = None
        self.samples_pushed = 0
        self.markers_pushed = 0
        self.clock_drift_s = 0.0
        self._closed = False

    def _describe(self, stream_info, names, placements, sides, content: str) -> None:
        desc = stream_info.desc()
        desc.append_child_value("content", content)
        channels = desc.append_child("channels")
        for i, label in enumerate(names):
            ch = channels.append_child("channel")
            ch.append_child_value("label", label)
            ch.append_child_value("unit", "microvolts")
            ch.append_child_value("type", "EMG")
            if placements[i]:
                ch.append_child_value("placement", placements[i])
            if sides[i]:
                ch.append_child_value("side", sides[i])
            cal = self.info.calibration[i] if i < len(self.info.calibration) else None
            if cal is not None:
                ch.append_child_value("quantisation_uv", repr(float(cal.uv_per_count)))
        acq = desc.append_child("acquisition")
        acq.append_child_value("manufacturer", "emgfeedback")
        acq.append_child_value("model", self.info.board)
        acq.append_child_value("source", self.info.framing or "")
        desc.append_child_value("timestamps", "t0 + sample_index / nominal_srate")

    # ------------------------------------------------------------------ timestamps

    def _ensure_t0(self, index: int, arrival_s: float | None = None) -> float:
        """Fix ``t0`` from the LSL clock at the arrival of sample ``index`` (once)."""
        if self._t0 is None:
            now_lsl = self._local_clock()
            at = now_lsl if arrival_s is None else now_lsl - (time.monotonic() - arrival_s)
            self._t0 = at - index / self.fs_hz
        return self._t0

    def timestamp(self, index: int) -> float:
        """The LSL timestamp of absolute sample ``index`` (fixes ``t0`` if not yet fixed)."""
        with self._lock:
            return self._ensure_t0(index) + index / self.fs_hz

    @property
    def t0(self) -> float | None:
        """LSL time of sample index 0 (None before the first push)."""
        return self._t0

    # ------------------------------------------------------------------ pushing

    def push(self, processed) -> None:
        """Publish one processed chunk: samples, envelopes, onsets and cues.

        Parameters
        ----------
        processed : emgfeedback.runtime.Processed
            Needs ``.chunk``, ``.uv``, ``.envelope_uv``, ``.onsets``, ``.cues``.
        """
        chunk = processed.chunk
        n = chunk.n_samples
        with self._lock:
            if self._closed:
                return
            if n:
                last = chunk.end_index - 1
                t0 = self._ensure_t0(last, chunk.arrival_s)
                stamp_last = t0 + last / self.fs_hz
                # Host arrival of the newest sample minus its sample-clock time: latency plus
                # the drift of the board's clock against the host's (grows if it drifts).
                arrival_lsl = self._local_clock() - (time.monotonic() - chunk.arrival_s)
                self.clock_drift_s = arrival_lsl - stamp_last
                # One timestamp per chunk: liblsl stamps the first sample explicitly and
                # deduces the rest from the nominal rate, so a gap before the chunk stays.
                self._raw.push_chunk(np.ascontiguousarray(processed.uv, np.float32),
                                     stamp_last)
                self._env.push_chunk(np.ascontiguousarray(processed.envelope_uv, np.float32),
                                     stamp_last)
                self.samples_pushed += n
        for event in processed.onsets:
            self.push_marker(int(event.index),
                             onset_marker(event.kind, self.channel_names[event.channel]))
        for cue in processed.cues:
            self.push_marker(int(cue.index), cue_marker(cue))

    def push_marker(self, index: int, text: str) -> None:
        """Publish a marker stamped at absolute sample ``index``.

        Parameters
        ----------
        index : int
            Absolute sample index the marker belongs to.
        text : str
            Marker text as it will appear in the XDF file (user marks: ``mark:<text>``).
        """
        with self._lock:
            if self._closed:
                return
            stamp = self._ensure_t0(index) + index / self.fs_hz
            self._markers.push_sample([str(text)], stamp)
            self.markers_pushed += 1

    def have_consumers(self) -> bool:
        """True when at least one inlet (e.g. LabRecorder) reads the EMG stream."""
        with self._lock:
            return not self._closed and bool(self._raw.have_consumers())

    def close(self) -> None:
        """Withdraw the three streams from the network. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            # pylsl destroys an outlet when its last reference goes.
            self._raw = self._env = self._markers = None

    def __enter__(self) -> LslOutlet:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# =========================================================================== inlet
