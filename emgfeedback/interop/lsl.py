"""Lab Streaming Layer: publish what emgfeedback measures, and read any LSL EMG stream.

Outlet (:class:`LslOutlet`, ``--lsl``): three streams per session (raw µV, envelopes,
markers) stamped on the sample clock; it lives in :mod:`emgfeedback.interop.lsl_outlet` and
stays importable from here.

Inlet (``lsl://``, :class:`LslSource`): any numeric LSL stream with a nominal rate becomes a
source. Values are taken as µV (or scaled from the unit in the stream's description: volts,
millivolts, microvolts, nanovolts) and quantised to ``step_uv`` (0.01 µV by default, far below
any EMG amplifier's noise) so recordings stay integer and exact. Samples are counted; a jump
of more than ``gap_periods`` sample periods between consecutive timestamps becomes a
``Gap(cause="timestamp")`` of ``round(jump · fs) − 1`` samples. When the outlet disappears
the source goes to ``reconnecting``, re-resolves the stream (by ``source_id`` when the stream
has one, else by the URL's query plus the channel count) and, when it is back, records the
time it was away as a ``Gap(cause="unplug")``.
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np

from emgfeedback.acquisition.boards import uv_calibration
from emgfeedback.acquisition.source import (
    Chunk,
    Gap,
    SourceInfo,
    SourceUrl,
    boolean,
    positive,
    take_options,
)
from emgfeedback.acquisition.threaded import ThreadedSource
from emgfeedback.errors import ConfigError, SourceError
from emgfeedback.interop.lsl_outlet import (  # the outlet, importable from here too
    ENVELOPE_TYPE,
    MARKER_TYPE,
    RAW_TYPE,
    LslOutlet,
    _pylsl,
    cue_marker,
    default_source_id,
    onset_marker,
)
from emgfeedback.types import LslStats, SourceStats

__all__ = ["DEFAULT_STEP_UV", "ENVELOPE_TYPE", "LSL_OPTIONS", "MARKER_TYPE", "RAW_TYPE",
           "UNIT_TO_UV", "LslOutlet", "LslSource", "cue_marker", "default_source_id",
           "onset_marker", "source_from_url", "stream_query"]

log = logging.getLogger(__name__)

#: Default quantisation step of ``lsl://`` sources, µV per count.
DEFAULT_STEP_UV = 0.01

#: Unit names (lower case) in an LSL stream description -> factor to µV.
UNIT_TO_UV = {
    "microvolts": 1.0, "microvolt": 1.0, "uv": 1.0, "µv": 1.0, "μv": 1.0,
    "millivolts": 1e3, "millivolt": 1e3, "mv": 1e3,
    "volts": 1e6, "volt": 1e6, "v": 1e6,
    "nanovolts": 1e-3, "nanovolt": 1e-3, "nv": 1e-3,
}

_INT32_MAX = 2**31 - 1


def _xpath_literal(value: str) -> str:
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise ConfigError(f"LSL query value {value!r} cannot contain both ' and \"")


def stream_query(name: str | None = None, type: str | None = None,
                 source_id: str | None = None) -> str:
    """The XPath predicate liblsl resolves streams with (default: ``type='EMG'``)."""
    parts = []
    for key, value in (("name", name), ("type", type), ("source_id", source_id)):
        if value:
            parts.append(f"{key}={_xpath_literal(value)}")
    return " and ".join(parts) or f"type='{RAW_TYPE}'"


def _channel_desc(full_info, n_channels: int) -> tuple[list[str], list[str]]:
    """Channel labels and units from ``desc/channels/channel`` (empty strings if absent)."""
    labels, units = [""] * n_channels, [""] * n_channels
    ch = full_info.desc().child("channels").child("channel")
    i = 0
    while not ch.empty() and i < n_channels:
        labels[i] = ch.child_value("label").strip()
        units[i] = ch.child_value("unit").strip()
        ch = ch.next_sibling("channel")
        i += 1
    return labels, units


class LslSource(ThreadedSource):
    """Samples from an LSL stream (a reader thread pulls from the inlet, see
    :class:`~emgfeedback.acquisition.threaded.ThreadedSource`).

    Parameters
    ----------
    name, type, source_id : str, optional
        What to resolve (any combination; default ``type=EMG``).
    timeout_s : float
        How long ``open()`` waits for the stream to appear, seconds.
    step_uv : float
        Quantisation step, µV per count.
    gap_periods : float
        A timestamp jump longer than this many sample periods is a gap.
    no_data_s : float
        Silence after which the state becomes ``no_data``.
    reconnect : bool
        Re-resolve the stream when it is lost (else the source finishes).
    url : str, optional
        The URL (for ``info.url``).
    """

    def __init__(self, name: str | None = None, type: str | None = None,
                 source_id: str | None = None, *, timeout_s: float = 5.0,
                 step_uv: float = DEFAULT_STEP_UV, gap_periods: float = 1.5,
                 no_data_s: float = 1.0, reconnect: bool = True, url: str | None = None) -> None:
        if gap_periods <= 1.0:
            raise ConfigError("gap_periods must be more than 1 sample period")
        query = stream_query(name, type, source_id)
        super().__init__(url or f"lsl://?{query}")
        self.query = query
        self.timeout_s = float(timeout_s)
        self.step_uv = float(step_uv)
        self.gap_periods = float(gap_periods)
        self.no_data_s = float(no_data_s)
        self.reconnect_enabled = bool(reconnect)
        self._info: SourceInfo | None = None
        self._stream = None  # pylsl.StreamInfo of the connected outlet (full description)
        self._inlet = None
        self._scale = np.ones(0)
        self._buffer = np.zeros((0, 0))
        self._recovery_query = self.query
        self._started = False
        # index bookkeeping: next absolute index and the last sample's (corrected) timestamp
        self._next_index = 0
        self._last_stamp: float | None = None
        self._correction = 0.0
        self._pending_unplug = False
        self._last_data_s = time.monotonic()
        self._last_arrival_s = self._last_data_s  # host arrival of the newest sample
        self._last_check_s = 0.0
        # stats (samples and gaps: self._loss_counts)
        self._reconnects = 0
        self._losses = 0
        self._no_data_events = 0
        self._backsteps = 0
        self._clipped = 0
        self._nan = 0
        self._clock_jumps = 0

    # ------------------------------------------------------------------ Source API

    @property
    def info(self) -> SourceInfo:
        if self._info is None:
            raise SourceError(f"{self._url}: the source is not open yet")
        return self._info

    def open(self) -> None:
        """Resolve the stream and read its full description (``start()`` subscribes).

        Raises
        ------
        SourceError
            If no stream matches within ``timeout_s`` (the message lists the streams seen),
            or the stream is irregular or carries strings.
        """
        if self._inlet is not None or self._thread is not None:
            return
        pylsl = _pylsl()
        found = pylsl.resolve_bypred(self.query, 1, self.timeout_s)
        if not found:
            seen = pylsl.resolve_streams(0.5)
            listing = ", ".join(f"name={s.name()!r} type={s.type()!r} source_id="
                                f"{s.source_id()!r}" for s in seen) or "none"
            raise SourceError(f"{self._url}: no LSL stream matches {self.query} within "
                              f"{self.timeout_s:g} s; streams seen: {listing}")
        if len(found) > 1:
            log.warning("%s: %d LSL streams match %s; using %s (%s). Add source_id=... to "
                        "choose.", self._url, len(found), self.query, found[0].name(),
                        found[0].source_id())
        first = found[0]
        if first.nominal_srate() <= 0:
            raise SourceError(f"{self._url}: stream {first.name()!r} has an irregular rate "
                              "(a marker stream?); a source needs a nominal sample rate")
        if first.channel_format() == pylsl.cf_string:
            raise SourceError(f"{self._url}: stream {first.name()!r} carries strings, "
                              "not samples")
        self._connect(first, timeout_s=self.timeout_s, subscribe=False)
        self._info = self._build_info(len(found))
        # After a loss, find the same outlet again: by its source_id when it has one.
        sid = first.source_id()
        self._recovery_query = (stream_query(source_id=sid) if sid else
                                f"{self.query} and channel_count={first.channel_count()}")
        self._set_state("open")

    def start(self) -> None:
        """Subscribe to the stream's samples (those pushed from now on) and deliver them."""
        if self._inlet is None and self._thread is None:
            self.open()
        with self._lock:
            self._started = True
            self._last_data_s = time.monotonic()
        if self._thread is None:
            try:
                self._inlet.open_stream(self.timeout_s)
            except Exception as exc:
                raise SourceError(f"{self._url}: cannot subscribe to the LSL stream: {exc}") \
                    from exc
            self._start_reader(f"lsl:{self._stream.name()}")
        if self.state in ("open", "stopped"):
            self._set_state("streaming")

    def stop(self) -> None:
        """Stop delivering chunks; samples arriving meanwhile are dropped and counted as a
        timestamp gap when streaming resumes."""
        with self._lock:
            self._started = False
        if self.state not in ("closed", "finished"):
            self._set_state("stopped")

    def close(self) -> None:
        self._stop_reader(timeout_s=3.0)
        self._drop_inlet()
        self._set_state("closed")

    def stats(self) -> SourceStats:
        """Samples, gaps, losses of the stream (``unplugs``) and returns (``reconnects``)."""
        with self._lock:
            return self._loss_counts.snapshot(
                state=self._state, no_data_s=self._no_data_s(),
                no_data_events=self._no_data_events, unplugs=self._losses,
                reconnects=self._reconnects, clipped_values=self._clipped,
                framing="lsl",
                lsl=LslStats(timestamp_backsteps=self._backsteps,
                             clock_jumps=self._clock_jumps, nan_values=self._nan,
                             stream=None if self._stream is None else self._stream.name()))

    # ------------------------------------------------------------------ connection

    def _connect(self, stream, timeout_s: float, subscribe: bool) -> None:
        pylsl = _pylsl()
        # recover=False: losses surface as LostError and are handled here (state, gap).
        inlet = pylsl.StreamInlet(stream, max_buflen=360, recover=False)
        try:
            full = inlet.info(timeout_s)
            if subscribe:
                inlet.open_stream(timeout_s)
            correction = inlet.time_correction(timeout_s)
        except Exception as exc:
            del inlet
            raise SourceError(f"{self._url}: cannot open LSL stream {stream.name()!r}: {exc}") \
                from exc
        n = full.channel_count()
        if self._info is not None and n != self._info.n_channels:
            del inlet
            raise SourceError(f"{self._url}: the stream came back with {n} channels instead "
                              f"of {self._info.n_channels}")
        self._inlet = inlet
        self._stream = full
        self._correction = float(correction)
        labels, units = _channel_desc(full, n)
        scale = [UNIT_TO_UV.get(unit.lower(), 1.0) for unit in units]
        self._labels = [lab or f"ch{i + 1}" for i, lab in enumerate(labels)]
        self._units = units
        self._scale = np.asarray(scale, dtype=np.float64)
        self._max_samples = max(64, int(full.nominal_srate() * 0.25))
        self._buffer = np.zeros((self._max_samples, n), dtype=self._np_dtype(full))

    @staticmethod
    def _np_dtype(full):
        pylsl = _pylsl()
        return {pylsl.cf_float32: np.float32, pylsl.cf_double64: np.float64,
                pylsl.cf_int32: np.int32, pylsl.cf_int16: np.int16,
                pylsl.cf_int8: np.int8, pylsl.cf_int64: np.int64}[full.channel_format()]

    def _drop_inlet(self) -> None:
        inlet, self._inlet = self._inlet, None
        if inlet is not None:
            try:
                inlet.close_stream()
            except Exception:  # noqa: BLE001 - the stream may already be gone
                pass
            del inlet

    def _build_info(self, n_matches: int) -> SourceInfo:
        full = self._stream
        n = full.channel_count()
        unknown = [u for u in self._units if u and u.lower() not in UNIT_TO_UV]
        return SourceInfo(
            url=self._url, fs_hz=float(full.nominal_srate()),
            channel_names=tuple(self._labels),
            calibration=uv_calibration(n, self.step_uv), board="uv", framing="lsl",
            extra={"lsl_name": full.name(), "lsl_type": full.type(),
                   "lsl_source_id": full.source_id(), "lsl_hostname": full.hostname(),
                   "lsl_uid": full.uid(), "lsl_channel_format": full.channel_format(),
                   "units": list(self._units), "unit_to_uv": self._scale.tolist(),
                   "units_unknown_taken_as_uv": unknown, "step_uv": self.step_uv,
                   "matches": n_matches, "query": self.query},
        )

    # ------------------------------------------------------------------ reader thread

    def _reader_loop(self) -> None:
        pylsl = _pylsl()
        lost_error = getattr(pylsl, "LostError", None) or pylsl.util.LostError
        while not self._quit.is_set():
            if self._inlet is None:
                if not self._try_reconnect(pylsl):
                    self._quit.wait(0.2)
                continue
            try:
                _, stamps = self._inlet.pull_chunk(timeout=0.05, max_samples=self._max_samples,
                                                   dest_obj=self._buffer)
            except lost_error:
                self._lost()
                continue
            except Exception as exc:  # noqa: BLE001 - a broken inlet is a lost stream
                log.warning("%s: LSL pull failed: %s", self._url, exc)
                self._lost()
                continue
            now = time.monotonic()
            if len(stamps):
                self._take(self._buffer[:len(stamps)], np.asarray(stamps, np.float64), now)
            else:
                self._silence(now, pylsl)

    def _lost(self) -> None:
        log.warning("%s: LSL stream lost", self._url)
        self._drop_inlet()
        with self._lock:
            self._losses += 1
            self._pending_unplug = True
        if self.reconnect_enabled:
            self._set_state("reconnecting")
        else:
            self._set_state("finished")
            self._quit.set()
        self._wake_readers()

    def _try_reconnect(self, pylsl) -> bool:
        found = pylsl.resolve_bypred(self._recovery_query, 1, 0.5)
        if not found:
            return False
        try:
            self._connect(found[0], timeout_s=2.0, subscribe=True)
        except SourceError as exc:
            log.warning("%s", exc)
            return False
        with self._lock:
            self._reconnects += 1
            self._last_data_s = time.monotonic()
        log.info("%s: reconnected to %s", self._url, found[0].name())
        self._set_state("streaming" if self._started else "open")
        return True

    def _silence(self, now: float, pylsl) -> None:
        if not self._started or now - self._last_data_s < self.no_data_s:
            return
        if self.state == "streaming":
            with self._lock:
                self._no_data_events += 1
            self._set_state("no_data")
        # A silent outlet may have died without closing its connection (a crash, a cable):
        # check now and then whether it is still announced, and switch if it was replaced.
        if now - self._last_check_s < 2.0:
            return
        self._last_check_s = now
        found = pylsl.resolve_bypred(self._recovery_query, 1, 0.3)
        uid = self._stream.uid() if self._stream is not None else None
        if found and all(s.uid() != uid for s in found):
            self._lost()

    def _take(self, values: np.ndarray, stamps: np.ndarray, now: float) -> None:
        fs = self._info.fs_hz if self._info is not None else self._stream.nominal_srate()
        period = 1.0 / fs
        stamps = stamps + self._correction
        uv = values.astype(np.float64) * self._scale
        nan = ~np.isfinite(uv)
        counts = np.rint(np.where(nan, 0.0, uv) / self.step_uv)
        clipped = np.abs(counts) > _INT32_MAX
        counts = np.clip(counts, -_INT32_MAX, _INT32_MAX).astype(np.int32)
        # Split where consecutive timestamps jump by more than gap_periods periods.
        prev = np.concatenate([[np.nan if self._last_stamp is None else self._last_stamp],
                               stamps[:-1]])
        steps = stamps - prev
        cuts = np.flatnonzero(steps > self.gap_periods * period)
        backsteps = int(np.count_nonzero(steps < 0))
        chunks: list[Chunk] = []
        with self._lock:
            self._nan += int(nan.sum())
            self._clipped += int(clipped.sum())
            self._backsteps += backsteps
            self._last_data_s = now
            if not self._started:
                # Dropped while stopped: the jump in timestamps records them as a gap.
                return
            if self.state in ("no_data", "reconnecting", "open"):
                self._set_state("streaming")
            cut_set = set(cuts.tolist())
            if self._pending_unplug:
                cut_set.add(0)
            bounds = [0, *sorted(cut_set - {0}), len(stamps)]
            for a, b in zip(bounds[:-1], bounds[1:], strict=True):
                gaps: tuple[Gap, ...] = ()
                if a in cut_set:
                    if a == 0 and self._pending_unplug:
                        cause, missing = "unplug", self._unplug_missing(steps[0], fs, now,
                                                                        len(stamps))
                    else:
                        cause, missing = "timestamp", max(0, int(round(steps[a] * fs)) - 1)
                    if missing:
                        gaps = (Gap(self._next_index, missing, cause),)
                        self._next_index += missing
                self._pending_unplug = False
                block = counts[a:b]
                chunks.append(Chunk(samples=block, first_index=self._next_index, arrival_s=now,
                                    gaps=gaps))
                self._next_index += b - a
            self._last_stamp = float(stamps[-1])
            self._last_arrival_s = now
        self._deliver(chunks)

    def _unplug_missing(self, step_s: float, fs: float, now: float, n_new: int) -> int:
        """Samples missed while the outlet was away.

        From the timestamps when they are comparable; from the host clock when they are not
        (the outlet came back with a clock more than a second off: another computer, a
        replay that starts its stamps at zero), which is then counted in ``clock_jumps``.
        """
        by_host = int(round((now - self._last_arrival_s) * fs)) - n_new
        by_stamps = int(round(step_s * fs)) - 1 if math.isfinite(step_s) else None
        if by_stamps is None or by_stamps < 0 or abs(by_stamps - by_host) > fs:
            self._clock_jumps += 1
            return max(0, by_host)
        return by_stamps


# =========================================================================== URL

#: Options of ``lsl://``: name -> (converter, default).
LSL_OPTIONS = {
    "name": (str, None),
    "type": (str, None),
    "source_id": (str, None),
    "timeout": (positive(float), 5.0),
    "step_uv": (positive(float), DEFAULT_STEP_UV),
    "gap_periods": (positive(float), 1.5),
    "no_data": (positive(float), 1.0),
    "reconnect": (boolean, True),
}


def source_from_url(parsed: SourceUrl) -> LslSource:
    """Create an :class:`LslSource` from ``lsl://?name=...&type=EMG&source_id=...&timeout=5``.

    Other options: ``step_uv`` (quantisation step, µV, default 0.01), ``gap_periods``
    (timestamp jump that counts as a gap, in sample periods, default 1.5), ``no_data``
    (seconds of silence before the ``no_data`` state), ``reconnect`` (true/false).

    Raises
    ------
    ConfigError
        For a path, an unknown option or a bad value.
    """
    if parsed.path not in ("", "/"):
        raise ConfigError(f"source {parsed.url!r}: lsl:// takes no path, only options, e.g. "
                          "lsl://?type=EMG or lsl://?name=MyStream")
    opts = take_options(parsed, LSL_OPTIONS)
    if not math.isfinite(opts["gap_periods"]) or opts["gap_periods"] <= 1.0:
        raise ConfigError(f"source {parsed.url!r}: option gap_periods must be more than 1")
    return LslSource(opts["name"], opts["type"], opts["source_id"], timeout_s=opts["timeout"],
                     step_uv=opts["step_uv"], gap_periods=opts["gap_periods"],
                     no_data_s=opts["no_data"], reconnect=opts["reconnect"], url=parsed.url)
