"""Streaming muscle onset/offset detection (double threshold with hysteresis).

The detector works on the band-passed signal in µV, channel by channel:

1. *Conditioning*: the square of each sample (``"rms"``) or the magnitude of the
   Teager-Kaiser energy operator ``x[n-1]² − x[n]·x[n-2]`` (``"tkeo"``, which sharpens
   motor-unit spikes against broadband noise).
2. *Detection envelope*: the causal moving mean of the conditioned signal over
   ``window_s`` (its square root is a moving RMS in µV).
3. *Baseline*: mean and SD of that envelope at rest, learned from the first
   ``baseline_s`` seconds or given with :meth:`OnsetDetector.set_baseline`.
4. *Double threshold with hysteresis* (Hodges & Bui 1996, Bonato 1998 family): an onset
   is confirmed when the envelope stays above ``mean + on_sd·SD`` for ``min_on_s``; an
   offset when it stays below the off threshold for ``min_off_s``. The off threshold
   adapts to the burst: ``mean + max(off_sd·SD, off_fraction·(level − mean))`` where
   ``level`` is the burst's mean envelope, so strong bursts end cleanly.
5. *Backdating*: confirmation comes late by design. The event's ``index`` estimates the
   true onset. First the most likely change point, within a bounded history of the
   conditioned signal, from rest power to the power of the confirming run (summed
   log-likelihood ratio of a variance change); then, ``refine_s`` later, the start of
   the raised-cosine amplitude rise (``ramps_ms``) fitted to the log of the smoothed
   power around it: every (length, start) pair is scored by least squares, the lengths
   are summed out of the resulting posterior and the onset is its median over the start
   (``rise_temperature``). Both steps use every sample and adapt to the SNR.
   Offsets are the change point from the burst's power back to rest. ``delay_ms`` is the
   time from the estimate to the moment the event is emitted.
6. *Mid-contraction start*: a stream that begins during a contraction gets an onset
   flagged ``unknown`` at its first sample, then the offset and later onsets as usual.
   With a baseline set before the first sample, the envelope is above the onset threshold
   from the first sample compared; with a learned one, the learning window's power steps
   down far below its start, or (until the first event) a long stretch far quieter than
   the learned baseline follows, which then becomes the baseline (``quiet_ratio``,
   ``quiet_s``).
7. *Rest floor*: the rest is never taken to be quieter than the channel's floor
   (:func:`~emgfeedback.analysis.quantities.onset_rest_floor`): with the channel's
   quantisation step known (:meth:`OnsetDetector.set_quantisation_step`), the statistic of
   the loudest flicker between two ADC codes (a rest below one step records anything from
   one code to that as its level drifts), else a numerical zero.

The numba kernel (:mod:`.onset_kernels`) keeps every piece of state in arrays, so feeding
a stream in any partition into blocks gives exactly the same events as one call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from emgfeedback.analysis._docs import shared_params
from emgfeedback.analysis.onset_kernels import (
    _F_MU,
    _F_NF,
    _F_P0,
    _F_SD,
    _I_ACTIVE,
    _I_GIVEN,
    _I_NI,
    _I_PROV,
    _I_READY,
    _I_SEEN,
    _P_HLEN,
    _P_LEARN,
    _P_SMOOTH,
    _onset_kernel,
    rise_profiles,
)
from emgfeedback.errors import ConfigError

CONDITIONINGS = ("rms", "tkeo")


@dataclass(frozen=True)
class OnsetConfig:
    """Parameters of the streaming onset detector (defaults work at 1-2 kHz untuned).

    Attributes
    ----------
    window_s : float
        Length of the moving detection window in seconds (default 0.2). Long windows
        detect weak bursts reliably; the backdating keeps the onset time accurate.
    conditioning : str
        ``"rms"`` (square of the band-passed signal) or ``"tkeo"`` (Teager-Kaiser energy);
        default ``"rms"``.
    on_sd : float
        Onset threshold in baseline SDs above the baseline mean (default 4.0).
    off_sd : float
        Offset threshold in baseline SDs above the baseline mean (default 2.0).
    off_fraction : float
        The offset threshold is at least this fraction of the way from the baseline to the
        burst's mean level (0-1, default 0.1): the SNR-adaptive part of the hysteresis.
    min_on_s : float
        The envelope must stay above the onset threshold this long, in seconds (default 0.08).
    min_off_s : float
        The envelope must stay below the offset threshold this long, in seconds
        (default 0.15).
    baseline_s : float
        Seconds of rest, after the first window has filled, from which the baseline is
        learned when :meth:`OnsetDetector.set_baseline` was not called (default 1.0).
    max_backdate_s : float
        An event is never placed more than this many seconds before its confirmation; also
        the length of the history kept per channel (default 0.75).
    ramps_ms : tuple of float
        Rise/fall durations in ms tried when refining an event: the onset is the start of
        the most likely raised-cosine amplitude ramp (0 = a step). Empty: the step change
        point is used (default 0, 10, 20, 40, 60, 90, 130, 180).
    refine_s : float
        An onset event is held until this many seconds after the change point, so that
        the fitted rise sees the burst's level; it is sent earlier if the burst ends
        first (default 0.25). Only with ``ramps_ms``.
    settle_s : float
        Seconds at the start of the stream that are ignored while the upstream filters
        settle (default 0.25).
    min_sd_ratio : float
        The baseline SD used for thresholds is at least this fraction of the baseline
        mean, so a quantised, almost flat rest does not make every count an onset
        (default 0.05).
    rise_smooth_s : float
        Length in seconds of the centred moving mean applied to the power before its
        logarithm is fitted by the rise model (default 0.02). Must be > 0.
    rise_temperature : float
        How sharply the rise fit's squared log-power error is turned into a likelihood,
        per sample of ``rise_smooth_s`` (dimensionless, default 1.0): the onset is the
        posterior median over the rise start with the rise length summed out. 0 gives the
        single best-fitting (start, length) pair instead.
    quiet_ratio : float
        Start mid-contraction, for a learned baseline: the learning window's power falling
        below this fraction of its start, or, until the first event, the power staying
        below this fraction of the learned baseline power for ``quiet_s``, means the stream
        began during a contraction (0-1, default 0.3).
    quiet_s : float
        How long the quieter stretch must last, in seconds (default 0.5).
    """

    window_s: float = 0.2
    conditioning: str = "rms"
    on_sd: float = 4.0
    off_sd: float = 2.0
    off_fraction: float = 0.1
    min_on_s: float = 0.08
    min_off_s: float = 0.15
    baseline_s: float = 1.0
    max_backdate_s: float = 0.75
    refine_s: float = 0.25
    ramps_ms: tuple = (0.0, 10.0, 20.0, 40.0, 60.0, 90.0, 130.0, 180.0)
    settle_s: float = 0.25
    min_sd_ratio: float = 0.05
    rise_smooth_s: float = 0.02
    rise_temperature: float = 1.0
    quiet_ratio: float = 0.3
    quiet_s: float = 0.5

    def __post_init__(self):
        if self.conditioning not in CONDITIONINGS:
            raise ConfigError(
                f"onset conditioning {self.conditioning!r}: expected one of "
                f"{', '.join(CONDITIONINGS)}"
            )
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("conditioning", "ramps_ms"):
                continue
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"onset {f.name} = {value!r}: expected a number >= 0")
        for name in ("window_s", "baseline_s", "rise_smooth_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"onset {name} must be > 0 seconds")
        if self.off_sd > self.on_sd:
            raise ConfigError(
                f"onset off_sd ({self.off_sd}) must not exceed on_sd ({self.on_sd}): the "
                "hysteresis needs the offset threshold below the onset threshold"
            )
        if any(not (math.isfinite(r) and r >= 0) for r in self.ramps_ms):
            raise ConfigError(f"onset ramps_ms {self.ramps_ms!r}: expected durations >= 0 ms")
        if self.off_fraction >= 1.0:
            raise ConfigError("onset off_fraction must be below 1")
        if not 0.0 < self.quiet_ratio < 1.0:
            raise ConfigError(f"onset quiet_ratio = {self.quiet_ratio!r}: expected 0-1")


@dataclass(frozen=True)
class OnsetEvent:
    """A detected onset or offset.

    Attributes
    ----------
    channel : int
        Channel number (0-based).
    kind : str
        ``"on"`` or ``"off"``.
    index : int
        Absolute sample index of the estimated true onset/offset (backdated).
    detected_index : int
        Absolute sample index at which the event was confirmed.
    delay_ms : float
        ``(detected_index − index) / fs`` in milliseconds.
    unknown : bool
        True for an onset whose time is not known: the stream began during the
        contraction, and ``index`` is the stream's first sample.
    """

    channel: int
    kind: str
    index: int
    detected_index: int
    delay_ms: float
    unknown: bool = False


def detector_block(filtered_uv, n_channels: int, first_index: int | None,
                   next_index: int | None) -> tuple[np.ndarray, int]:
    """A detector's input block as contiguous float64 ``(n, n_channels)``, and its first index.

    Non-finite samples (lost data) become zero; without ``first_index`` the block continues
    the stream at ``next_index`` (0 at the start). Shared by the onset detectors.
    """
    x = np.asarray(filtered_uv, dtype=np.float64)
    if x.ndim == 1 and n_channels == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] != n_channels:
        raise ConfigError(f"onset detector expects (n_samples, {n_channels}) samples, "
                          f"got {x.shape}")
    if not np.all(np.isfinite(x)):
        x = np.where(np.isfinite(x), x, 0.0)
    first = int(first_index) if first_index is not None else int(next_index or 0)
    return np.ascontiguousarray(x), first


@shared_params
class OnsetDetector:
    """Streaming onset/offset detector for several channels.

    Parameters
    ----------
    config : OnsetConfig
        Detector parameters.
    n_channels : int
        Number of channels.
    {fs_hz}

    Examples
    --------
    >>> det = OnsetDetector(OnsetConfig(), n_channels=2, fs_hz=2000.0)
    >>> events = det.process(filtered_uv, first_index=0)  # doctest: +SKIP
    """

    def __init__(self, config: OnsetConfig | None, n_channels: int, fs_hz: float):
        self.config = config or OnsetConfig()
        if n_channels < 1:
            raise ConfigError("onset detector needs at least one channel")
        if not fs_hz > 0:
            raise ConfigError(f"sample rate {fs_hz!r} Hz: expected > 0")
        self.n_channels = int(n_channels)
        self.fs_hz = float(fs_hz)
        cfg = self.config
        self._w = max(int(round(cfg.window_s * fs_hz)), 1)
        min_on = max(int(round(cfg.min_on_s * fs_hz)), 1)
        min_off = max(int(round(cfg.min_off_s * fs_hz)), 1)
        max_back = max(int(round(cfg.max_backdate_s * fs_hz)), 1)
        self._iparams = np.array(
            [self._w, min_on, min_off, max(int(round(cfg.baseline_s * fs_hz)), 2), max_back,
             int(cfg.conditioning == "tkeo"),
             max(max_back, min_on, 2 * self._w) + int(round(cfg.refine_s * fs_hz)) + 1,
             int(round(cfg.settle_s * fs_hz)), max(int(round(cfg.rise_smooth_s * fs_hz)), 1),
             max(int(round(0.05 * fs_hz)), 1), int(round(cfg.refine_s * fs_hz)),
             max(int(round(cfg.quiet_s * fs_hz)), self._w + 2)],
            dtype=np.int64,
        )
        self._fparams = np.array(
            [cfg.on_sd, cfg.off_sd, cfg.off_fraction, cfg.min_sd_ratio, cfg.rise_temperature,
             cfg.quiet_ratio],
            dtype=np.float64,
        )
        ramps = sorted({int(round(r * fs_hz / 1000.0)) for r in cfg.ramps_ms})
        self._ramps = np.array(ramps, dtype=np.int64)
        if self._ramps.size and self._ramps[-1] >= max_back:
            raise ConfigError("onset ramps_ms must be shorter than max_backdate_s")
        # The rise fit's smoothed rise shapes: the same for every onset.
        self._smtab = rise_profiles(self._ramps, int(self._iparams[_P_SMOOTH]))
        self._min_gap = min(min_on, min_off)
        # Per channel: the rest floor (envelope mean and SD, µV; power, µV²); a property
        # of the input (its quantisation), so reset() keeps it.
        self._floor = np.empty((self.n_channels, 3), dtype=np.float64)
        self.set_quantisation_step(None, None)
        self.reset()

    def reset(self) -> None:
        """Forget all state, including the learned baseline."""
        ch = self.n_channels
        self._fstate = np.zeros((ch, _F_NF), dtype=np.float64)
        self._istate = np.zeros((ch, _I_NI), dtype=np.int64)
        self._ring = np.zeros((ch, self._w), dtype=np.float64)
        self._hist = np.zeros((ch, int(self._iparams[_P_HLEN])), dtype=np.float64)
        self._learnbuf = np.zeros((ch, int(self._iparams[_P_LEARN])), dtype=np.float64)
        self._next_index: int | None = None

    @property
    def baseline_ready(self) -> np.ndarray:
        """Per channel, whether the baseline is known (learned or set)."""
        return self._istate[:, _I_READY].astype(bool)

    @property
    def baseline(self) -> tuple[np.ndarray, np.ndarray]:
        """Baseline mean and SD of the detection envelope in µV (NaN until known)."""
        ready = self.baseline_ready
        mu = np.where(ready, self._fstate[:, _F_MU], np.nan)
        sd = np.where(ready, self._fstate[:, _F_SD], np.nan)
        return mu, sd

    @property
    def rest_floor(self) -> tuple[np.ndarray, np.ndarray]:
        """Per channel, the floor of the baseline's mean and SD in µV
        (:meth:`set_quantisation_step`): the thresholds use at least these."""
        return self._floor[:, 0].copy(), self._floor[:, 1].copy()

    def set_quantisation_step(self, step_uv, pipeline, output_kinds=None) -> None:
        """Tell the detector each channel's quantisation step: its rest floor.

        A rest quieter than one ADC step records as one code with a flicker to the next whose
        power drifts from 0 to ``step²/4``; the detector's rest (learned or set) is taken to
        be at least that flicker's statistic after ``pipeline``
        (:func:`~emgfeedback.analysis.quantities.onset_rest_floor`), so a louder stretch of
        flicker is not a burst. Where the step is far below the rest noise nothing changes.

        Parameters
        ----------
        step_uv : float or sequence of float or None
            Per channel (or one for all), the step in µV at the electrode (ARV µV for ENV
            channels, as :attr:`~emgfeedback.types.ChannelCalibration.uv_per_count`); None
            or NaN: unknown (a numerical zero only).
        pipeline : PipelineConfig or None
            The processing the detector's input went through (needed with a step).
        output_kinds : sequence of str, optional
            Output kind per channel (``raw``, ``uv``, ``rect``, ``env``; default ``raw``).
        """
        from emgfeedback.analysis.quantities import onset_rest_floor, per_channel_steps
        from emgfeedback.dsp import chain_for

        steps, kinds = per_channel_steps(step_uv, output_kinds, self.n_channels)
        for c, (q, kind) in enumerate(zip(steps, kinds, strict=True)):
            known = q is not None and pipeline is not None
            self._floor[c] = onset_rest_floor(float(q) if known else None, pipeline,
                                              chain_for(kind), self.config)

    @property
    def active(self) -> np.ndarray:
        """Per channel, whether a burst is in progress."""
        return self._istate[:, _I_ACTIVE].astype(bool)

    def set_baseline(self, mean_uv, sd_uv) -> None:
        """Set the resting baseline instead of learning it.

        Parameters
        ----------
        mean_uv : array_like
            Per channel, mean of the detection envelope at rest in µV. With the default
            ``"rms"`` conditioning this is the resting RMS of the band-passed signal.
        sd_uv : array_like
            Per channel, SD of the detection envelope at rest in µV
            (:func:`baseline_from_rest` computes both from a rest recording).
        """
        mu = np.broadcast_to(np.asarray(mean_uv, dtype=np.float64), (self.n_channels,))
        sd = np.broadcast_to(np.asarray(sd_uv, dtype=np.float64), (self.n_channels,))
        if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(sd))) or np.any(mu < 0) \
                or np.any(sd < 0):
            raise ConfigError("baseline mean and SD must be finite and >= 0 µV")
        self._fstate[:, _F_MU] = mu
        self._fstate[:, _F_SD] = sd
        self._fstate[:, _F_P0] = mu * mu + sd * sd
        self._istate[:, _I_READY] = 1
        # Known before the first sample: a stream that starts above it started active.
        self._istate[:, _I_GIVEN] = (self._istate[:, _I_SEEN] == 0).astype(np.int64)
        self._istate[:, _I_PROV] = 0

    def process(self, filtered_uv, first_index: int | None = None,
                column0: int | None = None) -> list[OnsetEvent]:
        """Feed band-passed samples; return the events confirmed in this block.

        Parameters
        ----------
        filtered_uv : array_like
            Band-passed signal in µV, shape ``(n_samples, n_channels)``. Non-finite
            samples (lost data) count as zero.
        first_index : int, optional
            Absolute index of the first sample; defaults to continuing the stream.
        column0 : int, optional
            When given, ``filtered_uv`` may be a wider block: the detector's channels are
            its columns ``column0 … column0 + n_channels − 1``, read in place (no copy of
            the columns).

        Returns
        -------
        list of OnsetEvent
            In order of confirmation (then channel).
        """
        # The kernel reads the columns in place and counts non-finite samples as zero, so a
        # contiguous float64 block is passed as it is (detector_block's check and copies
        # cost about as much as the detector's steady state on a long recording).
        x = np.asarray(filtered_uv, dtype=np.float64)
        if column0 is None:
            column0 = 0
            if x.ndim == 1 and self.n_channels == 1:
                x = x[:, None]
            if x.ndim != 2 or x.shape[1] != self.n_channels:
                raise ConfigError(f"onset detector expects (n_samples, {self.n_channels}) "
                                  f"samples, got {x.shape}")
        elif int(column0) < 0 or x.ndim != 2 or x.shape[1] < column0 + self.n_channels:
            raise ConfigError(f"onset detector: columns {column0}..{column0 + self.n_channels - 1}"
                              f" of a block of shape {x.shape}")
        first_index = int(first_index) if first_index is not None else int(
            self._next_index or 0)
        n = x.shape[0]
        self._next_index = first_index + n
        if n == 0:
            return []
        x = np.ascontiguousarray(x)
        # At most one event per min_on/min_off run, plus a held onset and its offset.
        cap = self.n_channels * (n // max(self._min_gap, 1) + 4)
        ev_ch = np.empty(cap, dtype=np.int64)
        ev_kind = np.empty(cap, dtype=np.int64)
        ev_idx = np.empty(cap, dtype=np.int64)
        ev_det = np.empty(cap, dtype=np.int64)
        ev_unk = np.empty(cap, dtype=np.int64)
        k = _onset_kernel(x, np.int64(column0), np.int64(first_index), self._iparams,
                          self._fparams, self._floor, self._ramps, self._smtab, self._fstate,
                          self._istate, self._ring, self._hist, self._learnbuf, ev_ch, ev_kind,
                          ev_idx, ev_det, ev_unk)
        order = np.lexsort((ev_ch[:k], ev_det[:k]))
        ms_per_sample = 1000.0 / self.fs_hz
        return [
            OnsetEvent(int(ev_ch[j]), "on" if ev_kind[j] else "off", int(ev_idx[j]),
                       int(ev_det[j]), float((ev_det[j] - ev_idx[j]) * ms_per_sample),
                       bool(ev_unk[j]))
            for j in order
        ]


@shared_params
def baseline_from_rest(filtered_uv, fs_hz: float, config: OnsetConfig | None = None):
    """Baseline mean and SD of the detection envelope over a rest recording.

    Parameters
    ----------
    filtered_uv : array_like
        Band-passed rest signal in µV, ``(n_samples, n_channels)``.
    {fs_hz}
    config : OnsetConfig, optional
        Detector parameters (window and conditioning matter).

    Returns
    -------
    tuple of numpy.ndarray
        ``(mean_uv, sd_uv)`` per channel, for :meth:`OnsetDetector.set_baseline`.
    """
    cfg = config or OnsetConfig()
    env = detection_envelope(filtered_uv, fs_hz, cfg)
    w = max(int(round(cfg.window_s * fs_hz)), 1)
    env = env[w:] if env.shape[0] > 2 * w else env
    if env.shape[0] < 2:
        raise ConfigError("rest recording too short for a baseline")
    return env.mean(axis=0), env.std(axis=0, ddof=1)


@shared_params
def detection_envelope(filtered_uv, fs_hz: float, config: OnsetConfig | None = None):
    """The detector's envelope (moving RMS or TKEO energy, in µV), computed offline.

    Parameters
    ----------
    {filtered_uv}
    {fs_hz}
    config : OnsetConfig, optional
        Detector parameters.

    Returns
    -------
    numpy.ndarray
        Causal envelope, same shape, the same values the streaming kernel compares.
    """
    cfg = config or OnsetConfig()
    x = np.asarray(filtered_uv, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    x = np.where(np.isfinite(x), x, 0.0)
    if cfg.conditioning == "tkeo":
        prev1 = np.vstack([np.zeros((1, x.shape[1])), x[:-1]])
        prev2 = np.vstack([np.zeros((2, x.shape[1])), x[:-2]])[: x.shape[0]]
        cond = np.abs(prev1 * prev1 - x * prev2)
    else:
        cond = x * x
    w = max(int(round(cfg.window_s * fs_hz)), 1)
    csum = np.cumsum(np.vstack([np.zeros((1, x.shape[1])), cond]), axis=0)
    lagged = np.vstack([np.zeros((w, x.shape[1])), csum[:-w]])[: x.shape[0] + 1]
    p = (csum - lagged)[1:] / w
    return np.sqrt(np.maximum(p, 0.0))
