"""Low-SNR onset detection from the statistics of the problem: a change in variance.

A muscle switching on adds a band-limited random signal to the background noise: the
band-passed signal's *variance* changes. This detector treats it as exactly that:

1. **Whitening.** An autoregressive model (order ``ar_order``) of the resting band-passed
   signal is fitted (Levinson-Durbin on its autocorrelation); its prediction error ``e`` is
   white at rest with variance ``σ0²``. Coloured background (pink, brown, the band-pass
   itself) stops looking like activity. ``y = e²/σ0²`` is 1 on average at rest.
2. **Live event: a CUSUM (Page's test) of the log-likelihood ratio** of "variance
   ``design_ratio`` x rest" against "rest", summed in blocks of ``block_s``:
   ``g ← max(0, g + ½(1 − 1/k)·Σy − ½·D·ln k)``. An alarm when ``g`` exceeds ``h_on``;
   the alarm is confirmed when the mean power over the next ``confirm_s`` stays above
   ``confirm_ratio`` x rest (so a QRS complex or a spike is not a burst); with
   ``confirm_from_change`` the ``confirm_s`` count from the CUSUM's change point, so a
   slow rise, already under way for that long at the alarm, is confirmed sooner. The false-alarm
   rate at rest falls exponentially with ``h_on`` (≈ one per exp(h_on) blocks for
   independent blocks); the delay grows linearly with it and shrinks as the SNR grows.
3. **Backdating: maximum-likelihood change point of a variance ramp** (AGLR-style,
   :mod:`.onset_refine`). Over the blocks before the confirmation, every start ``τ``, rise
   shape (``ramp_shapes``: linear, raised-cosine, exponential in amplitude), rise length
   ``R`` (``ramps_ms``, 0-300 ms) and plateau level is scored by the exact log-likelihood
   ratio of the power profile it implies against rest; shape, length and level are summed
   out and the onset is the posterior median over ``τ``. Every sample is used, and a slow
   rise is not mistaken for a late step. When alarms were rejected just before the
   confirmed one, the window reaches back from the first of them (``backdate_chain_s``);
   it also reaches back as far as the blocks before the alarm still read as burst
   (``reach_back_s``: a weak burst's alarm comes long after its start).
   Offline (:func:`detect_glr`) each onset is fitted again with ``offline_extra_s`` more
   data after its confirmation.
4. **Offset: the reverse CUSUM**, "rest" against "the burst's level" (an exponentially
   weighted mean of the burst's power), placed at the CUSUM's last zero.
5. **Mid-contraction starts.** With a baseline given beforehand (:meth:`set_rest_power`),
   a stream whose first block is already far above it is reported active at once with an
   onset flagged ``unknown``. Without one, the detector learns its baseline from the first
   second; if a later half second is much quieter than that (``quiet_ratio``), the start
   was activity: it emits an ``unknown`` onset at the stream's first sample and an offset
   where the quiet began, re-scales its rest level and goes on normally.
6. **Rest floor.** With the channel's quantisation step known
   (:meth:`GlrOnsetDetector.set_quantisation_step`), the rest model's powers are at least
   those of the loudest flicker of a rest below one ADC step through its whitening
   (:func:`~emgfeedback.analysis.quantities.onset_floor_signal`): a rest that records as
   one code with a drifting flicker to the next is not taken for near-zero power.

Block boundaries fall on absolute sample indices (multiples of the block length), and all
state lives in arrays: feeding a stream in any partition gives exactly the same events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from emgfeedback.analysis._docs import shared_params
from emgfeedback.analysis.onset import OnsetEvent, detector_block
from emgfeedback.analysis.onset_glr_kernels import (
    _P_BACK,
    _P_CONF,
    _P_D,
    _P_HB,
    _P_LEARN,
    _P_P,
    _P_Q,
    _S_NF,
    _S_NU,
    _S_RAWP,
    _S_SIG2,
    _T_ACTIVE,
    _T_FIRSTB,
    _T_LASTOFF,
    _T_NI,
    _T_QUIETB,
    _T_READY,
    _T_REJB,
    _T_START,
    _fit_rest,
    _glr_kernel,
)
from emgfeedback.analysis.onset_refine import refine_onsets_offline, shape_codes
from emgfeedback.errors import ConfigError


@dataclass(frozen=True)
class GlrConfig:
    """Parameters of the variance-change detector (tuned on one synthetic family only).

    Attributes
    ----------
    block_s : float
        Block length for the statistics, seconds (default 0.004).
    ar_order : int
        Order of the whitening model (default 8).
    design_ratio : float
        Power ratio (burst / rest, whitened) the CUSUM is designed for: about the smallest
        burst to find quickly (default 2.0, i.e. 0 dB).
    h_on : float
        Onset CUSUM threshold, nats (default 14).
    h_off : float
        Offset CUSUM threshold, nats (default 20).
    confirm_s : float
        Seconds after the alarm over which the burst must hold (default 0.06).
    confirm_ratio : float
        Mean whitened power over ``confirm_s`` needed to confirm, x rest (default 1.4).
    clip : float
        Each sample's contribution to the CUSUMs is clipped at this many x rest power, so
        one spike cannot raise an alarm alone (default 16).
    level_tau_s : float
        Time constant of the burst-level estimate used by the offset test (default 0.3).
    max_backdate_s : float
        The onset is never placed more than this before the alarm (default 0.6).
    ramps_ms : tuple of float
        Rise lengths scored when backdating (0 = a step).
    ramp_shapes : tuple of str
        Rise shapes scored when backdating (:data:`.onset_refine.SHAPES`; default linear,
        raised-cosine and exponential rises in amplitude, summed out like the lengths).
    backdate_chain_s : float
        When alarms were rejected just before the one that is confirmed (each within
        ``max_backdate_s`` of the next), the backdating window reaches back
        ``max_backdate_s`` from the first of them, up to this many seconds before the
        alarm (default 1.0; 0: off). A weak or slow burst often dips under
        ``confirm_ratio`` once or twice before it is confirmed, and its onset is then
        further back than ``max_backdate_s``.
    reach_back_s, reach_h : float
        The backdating window also reaches back to where the blocks before the alarm stop
        reading as burst, plus the longest rise (``ramps_ms``) and ``confirm_s`` before
        that, at most ``reach_back_s`` before the alarm (default 2.0; 0: off) and never
        into the ``min_rest_s`` after the previous offset: the onset CUSUM's own evidence
        summed backwards from the alarm, sign turned, until ``reach_h`` nats of rest have
        been seen (default 10). A weak burst (0 dB at 500 Hz) makes the CUSUM climb
        slowly, so its alarm can come 1-2 s after the onset without any rejected alarm
        for ``backdate_chain_s`` to start from; a strong burst's evidence stops at its
        rise, so the window is then the usual one.
    confirm_halves : bool
        The confirmation also needs ``confirm_ratio`` x rest over the second half of the
        ``confirm_s`` window, not only over all of it (default True; the short paths
        ``confirm_fast_*`` and ``confirm_from_change`` keep their own test): a QRS complex or a
        spike raises the alarm and has mostly died out by then, a burst has not. On a
        rest with a heartbeat of 20-40 µV (made for the purpose, not a benchmark family)
        it cut false alarms at 1-2 kHz from 1.4-6 to 0.2-2.4 per minute; on the tuning
        family it costs 0-8 ms of live delay at 3 dB.
    offline_extra_s : float
        Offline only (:func:`detect_glr`): seconds of data after each confirmation that
        the onset is refined with again (default 0.15; 0: the live onsets unchanged).
    baseline_s, settle_s : float
        Rest learned from ``baseline_s`` seconds after ``settle_s`` seconds of filter
        settling, unless given with :meth:`GlrOnsetDetector.set_rest_power`.
    quiet_ratio : float
        A later half second this much quieter than the learned rest means the stream began
        mid-contraction (default 0.3).
    confirm_off_s : float
        Seconds after an offset alarm over which the power must stay nearer rest than the
        burst (default 0.2).
    min_rest_s : float
        After an offset, no new onset is sought for this long (the burst's falling tail and
        the filters' ringing are not a new burst; default 0.15).
    confirm_fast_s, confirm_fast_ratio : float
        Two-stage confirmation: an alarm whose mean whitened power over the first
        ``confirm_fast_s`` is at least ``confirm_fast_ratio`` x rest is confirmed then,
        without waiting ``confirm_s``. Off by default (``inf``): 0.016 s and 4.0 (chosen
        on the tuning family) cut the live delay at >= 10 dB by 35-45 ms, but on held-out
        families let more false alarms through at 3-6 dB (docs/analysis.md). Both short
        paths apply only while the power since the alarm is at least the power between
        the CUSUM's change point and the alarm (a QRS or a spike is dying out by then).
    confirm_from_change : bool
        Count the ``confirm_s`` of persistence from the CUSUM's change point (its last
        zero before the alarm) instead of from the alarm, with at least
        ``confirm_fast_s`` after the alarm, when the power since the alarm is at least
        ``design_ratio`` x rest. A slow rise has lasted that long when the alarm comes;
        a transient raises the alarm within a few blocks of its start and still waits
        about ``confirm_s``. Off by default: on the tuning family it cuts the median
        live delay at >= 10 dB by 10-40 ms at no cost; on the held-out families by
        6-36 ms, but there it raised false alarms at 3-6 dB (``ar_real`` 6 dB 0 -> 1.5
        per minute; docs/analysis.md).
    """

    block_s: float = 0.004
    ar_order: int = 8
    design_ratio: float = 2.0
    h_on: float = 14.0
    h_off: float = 20.0
    confirm_s: float = 0.06
    confirm_ratio: float = 1.4
    clip: float = 16.0
    level_tau_s: float = 0.3
    max_backdate_s: float = 0.6
    ramps_ms: tuple = (0.0, 50.0, 100.0, 150.0, 200.0, 250.0, 300.0)
    ramp_shapes: tuple = ("linear", "cosine", "exponential")
    offline_extra_s: float = 0.15
    backdate_chain_s: float = 1.0
    reach_back_s: float = 2.0
    reach_h: float = 10.0
    confirm_halves: bool = True
    baseline_s: float = 1.0
    settle_s: float = 0.25
    quiet_ratio: float = 0.3
    confirm_off_s: float = 0.2
    min_rest_s: float = 0.15
    confirm_fast_s: float = 0.016
    confirm_fast_ratio: float = math.inf
    confirm_from_change: bool = False

    def __post_init__(self):
        for name in ("block_s", "design_ratio", "h_on", "h_off", "confirm_s", "clip",
                     "level_tau_s", "max_backdate_s", "baseline_s"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ConfigError(f"onset {name} = {v!r}: expected a finite number > 0")
        if not (math.isfinite(self.confirm_fast_s) and self.confirm_fast_s > 0
                and self.confirm_fast_ratio > 1.0):
            raise ConfigError("onset confirm_fast_s must be > 0 and confirm_fast_ratio > 1")
        if self.design_ratio <= 1.0:
            raise ConfigError("onset design_ratio must be > 1 (a rise in power)")
        if not 0 <= int(self.ar_order) <= 32:
            raise ConfigError("onset ar_order must be 0-32 (0: no whitening)")
        if not (math.isfinite(self.backdate_chain_s) and self.backdate_chain_s >= 0):
            raise ConfigError("onset backdate_chain_s must be a finite number >= 0")
        if not (math.isfinite(self.reach_back_s) and self.reach_back_s >= 0
                and math.isfinite(self.reach_h) and self.reach_h > 0):
            raise ConfigError("onset reach_back_s must be a finite number >= 0 and reach_h "
                              "a finite number > 0")
        if not (math.isfinite(self.offline_extra_s) and self.offline_extra_s >= 0):
            raise ConfigError("onset offline_extra_s must be a finite number >= 0")
        shape_codes(self.ramp_shapes)
        if not 0 < self.quiet_ratio < 1:
            raise ConfigError("onset quiet_ratio must be between 0 and 1")


@shared_params
class GlrOnsetDetector:
    """Streaming variance-change onset/offset detector for several channels.

    Parameters
    ----------
    config : GlrConfig, optional
        Detector parameters.
    n_channels : int
        Number of channels.
    {fs_hz}

    Examples
    --------
    >>> det = GlrOnsetDetector(GlrConfig(), n_channels=2, fs_hz=2000.0)
    >>> events = det.process(filtered_uv, first_index=0)  # doctest: +SKIP
    """

    def __init__(self, config: GlrConfig | None, n_channels: int, fs_hz: float):
        self.config = cfg = config or GlrConfig()
        if n_channels < 1:
            raise ConfigError("onset detector needs at least one channel")
        if not fs_hz > 0:
            raise ConfigError(f"sample rate {fs_hz!r} Hz: expected > 0")
        self.n_channels = int(n_channels)
        self.fs_hz = float(fs_hz)
        # Decimate so that the rate is about twice the band's top (450 Hz), no more.
        q = max(1, int(fs_hz // 900.0))
        fsd = fs_hz / q
        d = max(int(round(cfg.block_s * fsd)), 1)
        blk_s = d / fsd
        back = max(int(round(cfg.max_backdate_s / blk_s)), 1)
        conf = max(int(round(cfg.confirm_s / blk_s)), 1)
        chain = int(round(cfg.backdate_chain_s / blk_s))
        reach = int(round(cfg.reach_back_s / blk_s))
        rise = int(round(max(cfg.ramps_ms) / 1000.0 / blk_s)) + conf
        self._ip = np.array([d, int(cfg.ar_order), max(int(round(cfg.baseline_s * fsd)),
                                                       4 * int(cfg.ar_order) + 8 * d),
                             int(round(cfg.settle_s * fs_hz)), conf, back,
                             max(back + conf + chain, reach + conf) + 2,
                             max(int(round(0.5 / blk_s)), 1),
                             int(round(cfg.min_rest_s / blk_s)),
                             max(int(round(cfg.confirm_off_s / blk_s)), 1), q,
                             min(max(int(round(cfg.confirm_fast_s / blk_s)), 1), conf),
                             int(bool(cfg.confirm_from_change)), chain,
                             int(bool(cfg.confirm_halves)), reach, rise],
                            dtype=np.int64)
        k = cfg.design_ratio
        self._fp = np.array([0.5 * (1.0 - 1.0 / k), 0.5 * d * math.log(k), cfg.h_on,
                             cfg.h_off, cfg.confirm_ratio, cfg.clip,
                             1.0 - math.exp(-blk_s / cfg.level_tau_s), cfg.quiet_ratio,
                             cfg.confirm_fast_ratio, cfg.reach_h],
                            dtype=np.float64)
        self._ramps = np.array(sorted({int(round(r / 1000.0 / blk_s)) for r in cfg.ramps_ms}),
                               dtype=np.int64)
        self._shapes = shape_codes(cfg.ramp_shapes)
        # The rest floor per channel (decimated flicker, µV; its raw power): none by default.
        self._floor = np.zeros((self.n_channels, 0))
        self._floor_p = np.zeros(self.n_channels)
        self.reset()

    def set_quantisation_step(self, step_uv, pipeline, output_kinds=None) -> None:
        """Tell the detector each channel's quantisation step: its rest floor.

        Parameters
        ----------
        step_uv : float or sequence of float or None
            Per channel (or one for all), the step in µV at the electrode; None or NaN:
            unknown (no floor).
        pipeline : PipelineConfig or None
            The processing the detector's input went through.
        output_kinds : sequence of str, optional
            Output kind per channel (default ``raw``).

        Notes
        -----
        Applies to rest models fitted afterwards (call it before :meth:`learn_rest` or the
        first sample).
        """
        from emgfeedback.analysis.quantities import onset_floor_signal, per_channel_steps
        from emgfeedback.dsp import chain_for

        n = self.n_channels
        steps, kinds = per_channel_steps(step_uv, output_kinds, n)
        q = int(self._ip[_P_Q])
        rows = []
        for st, kind in zip(steps, kinds, strict=True):
            ok = st is not None and pipeline is not None and math.isfinite(float(st)) \
                and float(st) > 0
            if not ok:
                rows.append(None)
                continue
            y = onset_floor_signal(pipeline, chain_for(kind))[:, 0]
            # decimated as the kernel does (means of q-tuples)
            rows.append(y[: y.size // q * q].reshape(-1, q).mean(axis=1) * float(st))
        m = max((r.size for r in rows if r is not None), default=0)
        self._floor = np.zeros((n, m))
        for c, r in enumerate(rows):
            if r is not None:
                self._floor[c, : r.size] = r
        self._floor_p = np.mean(self._floor ** 2, axis=1) if m else np.zeros(n)

    def refine_offline(self, filtered_uv, events) -> list[OnsetEvent]:
        """Onsets of ``events`` re-placed with the data after their confirmation.

        Parameters
        ----------
        filtered_uv : array_like
            ``(n_samples, n_channels)`` band-passed µV the events came from, fed from
            sample 0 with this detector's rest model.
        events : list of OnsetEvent
            What :meth:`process` returned for it.

        Returns
        -------
        list of OnsetEvent
            The same events; every known onset refined with ``offline_extra_s`` more
            seconds of data (:func:`.onset_refine.refine_onsets_offline`).
        """
        cfg = self.config
        x, _ = detector_block(filtered_uv, self.n_channels, 0, None)
        d, q = int(self._ip[_P_D]), int(self._ip[_P_Q])
        extra = int(round(cfg.offline_extra_s * self.fs_hz / (d * q)))
        if extra <= 0:
            return list(events)
        return refine_onsets_offline(x, events, self._ar, self._fs[:, _S_SIG2], q, d,
                                     int(self._ip[_P_CONF]), int(self._ip[_P_BACK]), extra,
                                     self._shapes, self._ramps)

    def _fit(self, c: int, rest: np.ndarray) -> None:
        """Fit channel ``c``'s rest model to band-passed rest samples (input rate)."""
        q = int(self._ip[_P_Q])
        rest = np.ascontiguousarray(rest[: rest.size // q * q].reshape(-1, q).mean(axis=1))
        res = np.empty(3)
        _fit_rest(rest, rest.size, int(self._ip[_P_P]), self._ar[c], int(self._ip[_P_D]), res,
                  self._floor[c])
        self._fs[c, _S_SIG2], self._fs[c, _S_NU], self._fs[c, _S_RAWP] = res

    @property
    def block_samples(self) -> int:
        """Input samples per statistics block."""
        return int(self._ip[_P_D] * self._ip[_P_Q])

    def reset(self) -> None:
        """Forget all state, including the learned rest."""
        ch, p = self.n_channels, int(self._ip[_P_P])
        self._ar = np.zeros((ch, p))
        self._xh = np.zeros((ch, max(p, 1)))
        self._learn = np.zeros((ch, int(self._ip[_P_LEARN])))
        self._hist = np.zeros((ch, int(self._ip[_P_HB])))
        self._fs = np.zeros((ch, _S_NF))
        self._ts = np.zeros((ch, _T_NI), dtype=np.int64)
        self._ts[:, _T_START] = -1
        self._ts[:, _T_LASTOFF] = -1
        self._ts[:, _T_REJB] = -1
        self._next_index: int | None = None

    @property
    def ready(self) -> np.ndarray:
        """Per channel: the rest model is known."""
        return self._ts[:, _T_READY].astype(bool)

    @property
    def active(self) -> np.ndarray:
        """Per channel: currently in a burst."""
        return self._ts[:, _T_ACTIVE].astype(bool)

    def learn_rest(self, rest_filtered_uv) -> None:
        """Fit the rest model (whitening and rest power) from band-passed rest samples.

        Parameters
        ----------
        rest_filtered_uv : array_like
            ``(n_samples, n_channels)`` band-passed rest, µV (at least ``4·ar_order``).
        """
        x = np.asarray(rest_filtered_uv, dtype=np.float64)
        if x.ndim == 1:
            x = x[:, None]
        if x.shape[1] != self.n_channels or x.shape[0] < 4 * self._ip[_P_P] + 1:
            raise ConfigError("rest recording too short (or wrong channel count) for a "
                              "baseline")
        for c in range(self.n_channels):
            col = np.ascontiguousarray(x[np.isfinite(x[:, c]), c])
            self._fit(c, col)
        self._ts[:, _T_READY] = 1
        self._ts[:, _T_LASTOFF] = np.maximum(self._ts[:, _T_LASTOFF], -2)

    def process(self, filtered_uv, first_index: int | None = None) -> list[OnsetEvent]:
        """Feed band-passed samples; return the events confirmed in this block.

        Parameters
        ----------
        filtered_uv : array_like
            ``(n_samples, n_channels)`` band-passed µV; non-finite samples count as zero.
        first_index : int, optional
            Absolute index of the first sample; defaults to continuing the stream.

        Returns
        -------
        list of OnsetEvent
            In order of confirmation; an onset whose true time is unknown (the stream
            began mid-contraction) has ``unknown=True`` and the stream's first index.
        """
        x, first_index = detector_block(filtered_uv, self.n_channels, first_index,
                                        self._next_index)
        n = x.shape[0]
        self._next_index = first_index + n
        if n == 0:
            return []
        cap = self.n_channels * (2 * (n // self.block_samples) + 4)
        ev = [np.empty(cap, dtype=np.int64) for _ in range(5)]
        k = _glr_kernel(x, np.int64(first_index), self._ip, self._fp, self._ramps,
                        self._shapes, self._floor, self._floor_p, self._ar,
                        self._xh, self._learn, self._hist, self._fs, self._ts, *ev)
        ch, kind, idx, det, unk = (a[:k] for a in ev)
        order = np.lexsort((ch, det))
        ms = 1000.0 / self.fs_hz
        return [OnsetEvent(int(ch[j]), "on" if kind[j] else "off", int(idx[j]), int(det[j]),
                           float((det[j] - idx[j]) * ms), bool(unk[j])) for j in order]


def detect_glr(filtered_uv, fs_hz: float, rest=None, floor=None,
               **params) -> list[np.ndarray]:
    """Offline use of :class:`GlrOnsetDetector`: bursts per channel.

    Parameters
    ----------
    filtered_uv : array_like
        ``(n_samples, n_channels)`` band-passed µV.
    fs_hz : float
        Sample rate.
    rest : array_like of bool, optional
        Rest mask ``(n_samples, n_channels)``; its samples (per channel) give the rest
        model. Without it the detector learns from the first second.
    floor : tuple, optional
        ``(step_uv, pipeline, output_kinds)`` for :meth:`GlrOnsetDetector.set_quantisation_step`.
    **params
        :class:`GlrConfig` fields.

    Returns
    -------
    list of numpy.ndarray
        Per channel, ``(k, 2)`` int64 ``(onset, offset)`` sample indices.
    """
    from emgfeedback.analysis.offline import events_to_bursts

    x = np.asarray(filtered_uv, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    det = GlrOnsetDetector(GlrConfig(**params), x.shape[1], fs_hz)
    if floor is not None and floor[0] is not None:
        det.set_quantisation_step(*floor)
    if rest is not None:
        mask = np.asarray(rest, dtype=bool)
        if mask.ndim == 1:
            mask = np.repeat(mask[:, None], x.shape[1], axis=1)
        settle = int(round(det.config.settle_s * fs_hz))
        mask = mask.copy()
        mask[:settle] = False
        p = int(det._ip[_P_P])
        for c in range(x.shape[1]):
            col = np.ascontiguousarray(x[mask[:, c], c])
            if col.size < 4 * p + 1:
                raise ConfigError("rest mask too short for a baseline")
            det._fit(c, col)
        det._ts[:, _T_READY] = 1
        det._ts[:, _T_LASTOFF] = -2
        det._ts[:, _T_START] = 0
        det._ts[:, _T_FIRSTB] = settle // det.block_samples + 1
        det._ts[:, _T_QUIETB] = det._ts[:, _T_FIRSTB]
    events = det.refine_offline(x, det.process(x, 0))
    return events_to_bursts(events, x.shape[1], x.shape[0])
