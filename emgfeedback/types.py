"""The types every layer shares: chunks of samples, gaps, source info, events, calibration.

Acquisition produces them, the runtime and the DSP consume them, storage writes and reads
them, interop publishes them. They live here, below all of those packages, so that no layer
has to import another sideways to name them (storage used to import acquisition while
acquisition's playback imported storage). This module imports only NumPy and the standard
library. :mod:`emgfeedback.acquisition.source` and :mod:`emgfeedback.acquisition.boards`
re-export them, so existing imports keep working.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

__all__ = ["ALARM_KINDS", "GAP_CAUSES", "RMS_PER_ARV", "BrainFlowStats", "ChannelCalibration",
           "Chunk", "Gap", "LslStats", "SerialStats", "SourceEvent", "SourceInfo", "SourceStats"]

#: ARV → RMS factor √(π/2) for Gaussian EMG; the same value as
#: :data:`emgfeedback.dsp.pipeline.RMS_PER_ARV` (which the processing uses; a test checks
#: they agree), kept here so this module needs no DSP import.
RMS_PER_ARV = math.sqrt(math.pi / 2.0)
#: Causes a gap can have. Each is counted separately in a source's stats.
GAP_CAUSES = (
    "crc",  # a frame failed its check and was dropped
    "counter",  # a packet counter or sample index jumped
    "device_dropped",  # the device itself dropped frames (its TX buffer was full)
    "unplug",  # the device disappeared (and came back, or the session ended first)
    "overrun",  # a host-side buffer overflowed
    "timestamp",  # a jump in the timestamps of a timestamped stream (LSL)
    "format",  # bytes that could not be decoded
    "no_data",  # the device went silent and the session ended before samples came back
    "storage",  # samples that arrived but could not be stored (disk full, I/O error)
    "pause",  # a silence of a stream without counter, measured with host arrival times
    "rejected",  # bytes rejected as no valid frame stream (e.g. random bytes as byb)
)

#: Event kinds that are alarms: something a person must see, recorded with the session.
ALARM_KINDS = ("no_data", "unplug", "channel_mismatch", "rejected", "storage")


@dataclass(frozen=True)
class SourceEvent:
    """Something a source (or the recorder) wants a person, the log and the session to know.

    Attributes
    ----------
    time_s : float
        Host monotonic time (``time.monotonic()``) when it happened.
    kind : str
        Alarms (:data:`ALARM_KINDS`): ``no_data`` (silence), ``unplug`` (the port went
        away), ``channel_mismatch``, ``rejected`` (bytes that are no valid frame stream),
        ``storage`` (samples could not be stored). Others: ``data_resumed``,
        ``reconnected``, ``device_info``, ``device_status``, ``device_event``,
        ``device_text``.
    message : str
        Human-readable description.
    data : dict
        Details (the device message payload, the path reopened, ...).
    """

    time_s: float
    kind: str
    message: str
    data: dict = field(default_factory=dict)

    @property
    def is_alarm(self) -> bool:
        """True for the kinds in :data:`ALARM_KINDS`."""
        return self.kind in ALARM_KINDS


@dataclass(frozen=True)
class Gap:
    """Samples known to be missing from a stream.

    Attributes
    ----------
    start_index : int
        Absolute index of the first missing sample.
    n_samples : int
        How many samples are missing (> 0).
    cause : str
        One of :data:`GAP_CAUSES`.
    """

    start_index: int
    n_samples: int
    cause: str

    @property
    def end_index(self) -> int:
        """Absolute index one past the last missing sample."""
        return self.start_index + self.n_samples


@dataclass(frozen=True, eq=False)
class Chunk:
    """A block of consecutive samples from one source.

    Attributes
    ----------
    samples : numpy.ndarray
        Integer samples, shape ``(n_samples, n_channels)``, dtype ``int32``, in the
        source's counts (see the source's calibration).
    first_index : int
        Absolute index of ``samples[0]`` since the start of the stream.
    arrival_s : float
        Host ``time.monotonic()`` when the bytes holding the last sample arrived.
    gaps : tuple of Gap
        Samples missing just before this chunk (``gaps[-1].end_index == first_index``).
    """

    samples: np.ndarray
    first_index: int
    arrival_s: float
    gaps: tuple[Gap, ...] = ()

    @property
    def n_samples(self) -> int:
        """Number of samples (rows) in the chunk."""
        return int(self.samples.shape[0])

    @property
    def end_index(self) -> int:
        """Absolute index one past the last sample of the chunk."""
        return self.first_index + self.n_samples


@dataclass(frozen=True)
class SourceInfo:
    """What a source delivers.

    Attributes
    ----------
    url : str
        The URL the source was opened from.
    fs_hz : float
        Nominal sample rate in hertz.
    channel_names : tuple of str
        One name per channel.
    calibration : tuple of ChannelCalibration
        Per-channel conversion from counts to µV at the electrode.
    board : str
        Board descriptor name (see :mod:`emgfeedback.acquisition.boards`).
    framing : str
        Wire format (``emgf``, ``text``, ``p2``, ``byb``) or the source kind (``sim``, ...).
    extra : dict
        Anything else the source knows (firmware info, ground truth, ...).
    """

    url: str
    fs_hz: float
    channel_names: tuple[str, ...]
    calibration: tuple  # tuple[ChannelCalibration, ...]
    board: str = "generic"
    framing: str = ""
    extra: Mapping = field(default_factory=dict)

    @property
    def n_channels(self) -> int:
        """Number of channels."""
        return len(self.channel_names)


def quantisation_floor_uv(step_uv: float | None, sensor_noise_uv: float = 0.0,
                          band_fraction: float = 1.0) -> float:
    """The theoretical noise floor of one channel, µV RMS: the one formula for it.

    Quantisation noise of a uniform step ``q`` has RMS ``q/√12`` spread evenly up to
    Nyquist, so a band covering ``band_fraction`` of it keeps ``√band_fraction`` of that;
    the front end's own noise adds in quadrature.

    Parameters
    ----------
    step_uv : float or None
        The quantisation step in µV at the electrode (None or not > 0: no quantisation part).
    sensor_noise_uv : float
        Input-referred RMS noise of the front end, µV (0 if unknown).
    band_fraction : float
        The part of 0..Nyquist the measurement band covers (1 for the whole band).

    Returns
    -------
    float
        The floor, µV RMS.
    """
    q_rms = 0.0
    if step_uv is not None and math.isfinite(step_uv) and step_uv > 0:
        q_rms = step_uv / math.sqrt(12.0) * math.sqrt(max(band_fraction, 0.0))
    return math.hypot(q_rms, sensor_noise_uv)


@dataclass(frozen=True)
class ChannelCalibration:
    """Conversion of one channel's counts to µV at the electrode.

    Attributes
    ----------
    uv_per_count : float
        µV at the electrode per ADC count (the quantisation step).
    offset_counts : float
        Counts that correspond to 0 V at the electrode (mid-rail or REF for RAW, 0 for
        RECT/ENV).
    output : str
        One of :data:`emgfeedback.acquisition.boards.OUTPUT_KINDS`.
    sensor_noise_uv : float
        Input-referred RMS noise of the front end in µV, where the data sheet gives it
        (0 if unknown).
    adc_min : int
        Lowest count the ADC can produce (for clipping detection).
    adc_max : int
        Highest count the ADC can produce.
    """

    uv_per_count: float
    offset_counts: float = 0.0
    output: str = "raw"
    sensor_noise_uv: float = 0.0
    adc_min: int = 0
    adc_max: int = 1023

    @property
    def quantisation_uv(self) -> float:
        """The quantisation step in µV at the electrode."""
        return self.uv_per_count

    @property
    def wideband_floor_uv(self) -> float:
        """Theoretical RMS floor in µV over the whole band up to Nyquist.

        :func:`quantisation_floor_uv` with no band limit: what a board can resolve at all
        (board tables, simulator scenarios, ``capture``). The floor that tones are compared
        with is the in-band one, :func:`emgfeedback.analysis.quantities.noise_floor_uv`,
        which is the same formula restricted to the analysis band.

        In the units the channel is reported in: for ENV channels the quantisation part is
        scaled from ARV to RMS-equivalent µV (× √(π/2), see
        :data:`emgfeedback.dsp.pipeline.RMS_PER_ARV`), like the envelope itself.
        """
        step = self.uv_per_count * (RMS_PER_ARV if self.output == "env" else 1.0)
        return quantisation_floor_uv(step, self.sensor_noise_uv)

    def to_uv(self, counts: np.ndarray) -> np.ndarray:
        """Convert counts to µV at the electrode (float64)."""
        return (np.asarray(counts, dtype=np.float64) - self.offset_counts) * self.uv_per_count

    def to_counts(self, uv: np.ndarray) -> np.ndarray:
        """Convert µV at the electrode to counts, rounded and clipped to the ADC range."""
        counts = np.rint(np.asarray(uv, dtype=np.float64) / self.uv_per_count + self.offset_counts)
        return np.clip(counts, self.adc_min, self.adc_max).astype(np.int32)


# --------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class SerialStats:
    """What only a serial source counts (:attr:`SourceStats.serial`).

    Attributes
    ----------
    frames : int
        Frames (or lines) the decoders accepted.
    index_restarts : int
        Device indices that went backwards inside one connection.
    channel_mismatch_samples : int
        Samples dropped because the device sent another channel count than the session's.
    device_tx_dropped, device_overruns : int or None
        The device's own counters from its last status message (emgf), None before one.
    """

    frames: int = 0
    index_restarts: int = 0
    channel_mismatch_samples: int = 0
    device_tx_dropped: int | None = None
    device_overruns: int | None = None


@dataclass(frozen=True)
class LslStats:
    """What only an ``lsl://`` inlet counts (:attr:`SourceStats.lsl`).

    Attributes
    ----------
    timestamp_backsteps : int
        Consecutive timestamps that went backwards.
    clock_jumps : int
        Returns of the stream with a clock more than a second off (the unplug gap was then
        measured with the host clock).
    nan_values : int
        Non-finite values (stored as 0).
    stream : str or None
        Name of the connected LSL stream.
    """

    timestamp_backsteps: int = 0
    clock_jumps: int = 0
    nan_values: int = 0
    stream: str | None = None


@dataclass(frozen=True)
class BrainFlowStats:
    """What only a ``brainflow://`` source counts (:attr:`SourceStats.brainflow`).

    Attributes
    ----------
    counter_repeats : int
        Package-counter values seen twice in a row (they say nothing about losses).
    """

    counter_repeats: int = 0


@dataclass(frozen=True)
class SourceStats:
    """A source's counters at one moment: the same fields for every kind of source.

    Counters a kind of source cannot have are 0 (a simulator skips no bytes); ``None``
    means "not measured" (``fs_hz_measured`` before half a second of samples). What only
    one kind of source knows sits in its own typed part (``serial``, ``lsl``,
    ``brainflow``), None for the other kinds.

    Attributes
    ----------
    samples : int
        Samples delivered in chunks.
    lost_by_cause, gaps_by_cause : dict
        Samples lost and gaps, per :data:`GAP_CAUSES` entry; only causes that occurred.
    state : str
        The source's state (``Source.state``) when the statistics were taken.
    chunks : int
        Chunks delivered.
    no_data_s : float
        Seconds spent without data (silent or unplugged) since opening, rounded to ms.
    no_data_events : int
        Times the source went silent while streaming.
    unplugs, reconnects : int
        Times the device or stream went away, and came back.
    crc_errors, format_errors : int
        Frames dropped by their check, and undecodable frames or lines (byte sources).
    bytes_skipped : int
        Bytes skipped while looking for frames (byte sources).
    bytes_rejected : int
        Bytes rejected as no valid frame stream (part of ``bytes_skipped``).
    clipped_values : int
        Values outside the integer range after quantising (µV sources).
    fs_hz_measured : float or None
        Session indices per second over the last seconds (losses included).
    framing : str
        Wire format as detected (serial) or the source kind; "" while unknown.
    serial, lsl, brainflow : SerialStats, LslStats, BrainFlowStats or None
        The part only that kind of source has.
    """

    samples: int = 0
    lost_by_cause: Mapping[str, int] = field(default_factory=dict)
    gaps_by_cause: Mapping[str, int] = field(default_factory=dict)
    state: str = "closed"
    chunks: int = 0
    no_data_s: float = 0.0
    no_data_events: int = 0
    unplugs: int = 0
    reconnects: int = 0
    crc_errors: int = 0
    format_errors: int = 0
    bytes_skipped: int = 0
    bytes_rejected: int = 0
    clipped_values: int = 0
    fs_hz_measured: float | None = None
    framing: str = ""
    serial: SerialStats | None = None
    lsl: LslStats | None = None
    brainflow: BrainFlowStats | None = None

    @property
    def lost_samples(self) -> int:
        """Samples known missing, all causes together."""
        return int(sum(self.lost_by_cause.values()))

    def as_dict(self) -> dict:
        """Plain JSON-ready dict: every field, ``lost_samples``, and the kind's part
        flattened in (``frames``, ``clock_jumps``, ...)."""
        out = {"samples": self.samples, "lost_samples": self.lost_samples}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name in ("serial", "lsl", "brainflow"):
                if value is not None:
                    out.update({k: getattr(value, k) for k in value.__dataclass_fields__})
            elif isinstance(value, Mapping):
                out[name] = dict(value)
            else:
                out[name] = value
        return out
