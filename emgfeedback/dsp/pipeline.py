"""The streaming EMG pipeline: band-pass → high-pass → notches → rectification → envelope.

What a channel goes through depends on its *output kind* (the sensor output wired to the
ADC, :data:`emgfeedback.acquisition.boards.OUTPUT_KINDS`), see :func:`chain_for`:

``raw`` and ``uv``
    Bipolar EMG: the whole chain (band-pass, high-pass, notches, envelope).
``rect``
    Already rectified by the sensor: no band-pass (it would turn the rectified signal's
    mean, which *is* the EMG amplitude, into zero); only the envelope stage. Its moving
    RMS equals the moving RMS of the bipolar signal it was rectified from.
``env``
    Already an envelope (the MyoWare ENV pin: rectify + low-pass, an average rectified
    value, ARV). No band-pass; the calibrated ARV in µV is scaled by :data:`RMS_PER_ARV`
    to RMS-equivalent µV (ARV = √(2/π)·RMS for Gaussian EMG), then smoothed by the
    configured envelope stage. The "filtered" output is that RMS-equivalent envelope, so
    everything computed as a windowed RMS of "filtered" (tone, SNR, onsets) reads the same
    µV on every kind.

:class:`KindPipeline` runs channels of different kinds side by side (one
:class:`Pipeline` per kind, columns reassembled); with one kind it is exactly the
:class:`Pipeline` of that kind.

:class:`Pipeline` keeps the filter state between chunks; feeding a stream in any block sizes
gives bit-identical output to one call. Python work per chunk is constant: one call into a
fused Numba kernel (:mod:`emgfeedback.dsp.kernels_fast` for 1, 2, 4, 6, 8 or 16 channels,
:mod:`emgfeedback.dsp.kernels` otherwise and for chunks that contain NaN/inf).

The default chain notches the mains frequency and its harmonics up to the band-pass upper
corner (50-450 Hz: 9 notches at 50 Hz, 7 at 60 Hz); ``notch_max_hz`` changes that limit.

NaN/inf policy: a non-finite input sample gives NaN in both outputs for that sample and
channel, and that channel's filters (cascade, envelope low-pass or RMS window) restart from
rest (zero state) at its next finite sample, exactly as if a new recording started there.
Other channels are not affected.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from emgfeedback.dsp import kernels, kernels_fast
from emgfeedback.dsp.envelope import envelope_design
from emgfeedback.dsp.filters import bandpass_sos, check_notch_max, highpass_sos, notch_sos
from emgfeedback.errors import ConfigError

#: The chains that exist; :func:`chain_for` maps an output kind to one of them.
CHAINS = ("raw", "rect", "env")
#: Output kind -> chain. ``uv`` streams (LSL, BrainFlow) carry bipolar EMG in µV.
_CHAIN_OF_KIND = {"raw": "raw", "uv": "raw", "rect": "rect", "env": "env"}
#: Average rectified value of zero-mean Gaussian noise per unit RMS: √(2/π) ≈ 0.7979.
ARV_PER_RMS = math.sqrt(2.0 / math.pi)
#: Factor from an ARV envelope (MyoWare ENV) to RMS-equivalent µV: √(π/2) ≈ 1.2533.
RMS_PER_ARV = 1.0 / ARV_PER_RMS


def chain_for(kind: str) -> str:
    """The processing chain of an output kind.

    Parameters
    ----------
    kind : str
        ``raw``, ``uv``, ``rect`` or ``env``.

    Returns
    -------
    str
        ``raw`` (band-pass ... envelope), ``rect`` (envelope stage only) or ``env``
        (ARV → RMS-equivalent scaling, then the envelope stage).

    Raises
    ------
    ConfigError
        For an unknown kind.
    """
    try:
        return _CHAIN_OF_KIND[str(kind).lower()]
    except KeyError:
        raise ConfigError(f"output kind {kind!r}: expected one of "
                          f"{', '.join(_CHAIN_OF_KIND)}") from None


@dataclass(frozen=True)
class PipelineConfig:
    """Parameters of the pipeline; validated on creation (raises ConfigError).

    Attributes
    ----------
    fs_hz : float
        Sampling rate, Hz.
    band_hz : tuple of float
        Band-pass corners (low, high), Hz; ``0 < low < high < fs_hz / 2``.
    band_order : int
        Butterworth order of the band-pass (per edge, as in ``scipy.signal.butter``).
    highpass_hz : float or None
        Extra high-pass corner, Hz (e.g. 30 against ECG near the heart), or None.
    notch_hz : float or None
        Mains frequency to notch (50 or 60 Hz), or None for no notch.
    notch_harmonics : bool
        Also notch the harmonics of ``notch_hz`` up to ``notch_max_hz``.
    notch_q : float
        Notch quality factor (> 0).
    envelope : {"rms", "linear"}
        Moving RMS of the filtered signal over ``window_s``, or linear envelope (low-pass at
        ``cutoff_hz`` of the rectified signal).
    window_s : float
        Moving-RMS window, seconds.
    cutoff_hz : float
        Linear-envelope low-pass corner, Hz.
    envelope_order : int
        Linear-envelope Butterworth order.
    highpass_order : int
        Butterworth order of the extra high-pass.
    notch_max_hz : float or None
        Highest harmonic that gets a notch, Hz. None (default): the band-pass upper corner
        ``band_hz[1]``, i.e. only the harmonics inside the EMG band (50-450 Hz: 9 notches at
        50 Hz, 7 at 60 Hz). Harmonics above the band are already attenuated by the band-pass
        roll-off; use ``float("inf")`` to notch every harmonic below 98 % of Nyquist.
    """

    fs_hz: float = 2000.0
    band_hz: tuple[float, float] = (20.0, 450.0)
    band_order: int = 4
    highpass_hz: float | None = None
    notch_hz: float | None = 50.0
    notch_harmonics: bool = True
    notch_q: float = 30.0
    envelope: str = "rms"
    window_s: float = 0.1
    cutoff_hz: float = 6.0
    envelope_order: int = 2
    highpass_order: int = 4
    notch_max_hz: float | None = None

    def __post_init__(self):
        design(self)  # raises ConfigError naming the bad parameter


class Design(NamedTuple):
    """Coefficients of a configured pipeline."""

    sos: np.ndarray  # (n_sections, 6): band-pass, high-pass, notches
    env_sos: np.ndarray  # (n_env_sections, 6): linear-envelope low-pass, empty for RMS
    window: int  # RMS window in samples, 0 for the linear envelope
    envelope_delay_ms: float


def design_stages(cfg: PipelineConfig) -> list[tuple[str, np.ndarray]]:
    """The filter stages before the envelope, in order, as ``(name, sos)`` pairs.

    :func:`design` stacks them into one cascade; the SciPy reference chain of the benchmark
    runs them as separate ``sosfilt`` calls.

    Parameters
    ----------
    cfg : PipelineConfig

    Returns
    -------
    list of (str, numpy.ndarray)
        Names "bandpass", "highpass" (optional), "notch" (optional).
    """
    band = cfg.band_hz
    if not isinstance(band, (tuple, list)) or len(band) != 2:
        raise ConfigError(f"band_hz must be a pair (low, high) in Hz, got {band!r}")
    stages = [("bandpass", bandpass_sos(cfg.fs_hz, band[0], band[1], cfg.band_order))]
    if cfg.highpass_hz is not None:
        stages.append(("highpass", highpass_sos(cfg.fs_hz, cfg.highpass_hz, cfg.highpass_order)))
    if cfg.notch_max_hz is not None:
        check_notch_max(cfg.notch_max_hz)
    if cfg.notch_hz is not None:
        top = band[1] if cfg.notch_max_hz is None else cfg.notch_max_hz
        notches = notch_sos(cfg.fs_hz, cfg.notch_hz, cfg.notch_q, bool(cfg.notch_harmonics), top)
        stages.append(("notch", notches))
    return stages


def design(cfg: PipelineConfig, chain: str = "raw") -> Design:
    """Design all filters of a configuration.

    Parameters
    ----------
    cfg : PipelineConfig
    chain : {"raw", "rect", "env"}
        Which chain (:func:`chain_for`). ``rect`` and ``env`` replace the cascade by one
        pass-through section (gain 1 for ``rect``, :data:`RMS_PER_ARV` for ``env``), so
        the envelope stage and the NaN policy are the same code as for ``raw``.

    Returns
    -------
    Design
    """
    if chain not in CHAINS:
        raise ConfigError(f"chain {chain!r}: expected one of {', '.join(CHAINS)}")
    parts = [sos for _, sos in design_stages(cfg)]
    if chain != "raw":
        gain = RMS_PER_ARV if chain == "env" else 1.0
        # b = (gain, 0, 0), a = (1, 0, 0): y = gain·x exactly, no state.
        parts = [np.array([[gain, 0.0, 0.0, 1.0, 0.0, 0.0]])]
    env_sos, window, delay_ms = envelope_design(
        cfg.envelope, cfg.fs_hz, cfg.window_s, cfg.cutoff_hz, cfg.envelope_order
    )
    sos = np.ascontiguousarray(np.vstack(parts), dtype=np.float64)
    return Design(sos, np.ascontiguousarray(env_sos, dtype=np.float64), window, delay_ms)


_FLOAT64 = np.dtype(np.float64)
_empty = np.empty


def _entry_point(dispatcher):
    """The compiled function behind a dispatcher with one explicit signature.

    Calling it skips Numba's per-call type dispatch (a few tenths of a microsecond), which
    matters for 16-sample blocks.
    """
    try:
        return dispatcher.overloads[dispatcher.signatures[0]].entry_point
    except (AttributeError, IndexError, KeyError):  # other Numba versions: use the dispatcher
        return dispatcher


class Pipeline:
    """Streaming pipeline for ``n_channels`` channels.

    Parameters
    ----------
    cfg : PipelineConfig
        Filter parameters.
    n_channels : int
        Number of channels, >= 1.
    chain : {"raw", "rect", "env"}
        Processing chain of every channel (:func:`chain_for`); :class:`KindPipeline`
        mixes chains.

    Notes
    -----
    The first Pipeline for 1, 2, 4, 6, 8 or 16 channels compiles (or loads from Numba's cache)
    the kernel specialised for that count; a cold compile takes several seconds.
    """

    def __init__(self, cfg: PipelineConfig, n_channels: int, chain: str = "raw"):
        if isinstance(n_channels, bool) or not isinstance(n_channels, (int, np.integer)):
            raise ConfigError(f"n_channels must be an integer >= 1, got {n_channels!r}")
        if n_channels < 1:
            raise ConfigError(f"n_channels must be >= 1, got {n_channels}")
        self.config = cfg
        self.n_channels = int(n_channels)
        self.chain = chain
        d = design(cfg, chain)
        self._sos, self._env_sos, self._window = d.sos, d.env_sos, d.window
        self._delay_ms = d.envelope_delay_ms
        self._rms = cfg.envelope == "rms"
        fast = kernels_fast.get_kernel(self.n_channels)
        self._fast = None if fast is None else _entry_point(fast)
        self.reset()

    @property
    def envelope_delay_ms(self) -> float:
        """Delay the envelope adds, in ms (RMS: (W-1)/2 samples; linear: low-pass group delay)."""
        return self._delay_ms

    @property
    def n_sections(self) -> int:
        """Number of second-order sections in the cascade before the envelope."""
        return int(self._sos.shape[0])

    def reset(self) -> None:
        """Clear all filter state (as if no sample had been processed)."""
        self._state = kernels.pack_state(self._sos, self._env_sos, self._window, self.n_channels)
        # Everything process() needs, fetched with one attribute lookup.
        c_strides = (8 * self.n_channels, 8)
        self._hot = (self._fast, self._state, self._rms, c_strides, self.n_channels)

    def process(self, x_uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Filter the next chunk of the stream.

        Parameters
        ----------
        x_uv : array_like, shape (n_samples, n_channels)
            Raw signal in µV (1-D is accepted for a single channel).

        Returns
        -------
        filtered_uv, envelope_uv : numpy.ndarray
            Float64 arrays of shape (n_samples, n_channels).
        """
        # Fast path for what streaming sends (a 16-sample block costs ~1.5 µs in all, so each
        # attribute lookup counts): a C-ordered float64 (n, C) array goes straight to the
        # kernel. Strides (8 C, 8) with C columns mean C-contiguous 2-D.
        fast, state, rms, c_strides, n_channels = self._hot
        x = x_uv
        try:
            shape = x.shape
            ok = x.dtype is _FLOAT64 and x.strides == c_strides and shape[1] == n_channels
        except (AttributeError, IndexError, TypeError):
            ok = False
        if not ok:
            x = self._as_samples(x_uv)
            shape = x.shape
        y = _empty(shape)
        e = _empty(shape)
        if fast is None or not fast(state, x, y, e, rms):
            kernels.process_generic(state, x, y, e, rms)
        return y, e

    def _as_samples(self, x_uv) -> np.ndarray:
        """Convert and check any other input (copies when needed)."""
        x = np.ascontiguousarray(x_uv, dtype=np.float64)
        if x.ndim == 1 and self.n_channels == 1:
            x = x.reshape(-1, 1)
        if x.ndim != 2 or x.shape[1] != self.n_channels:
            raise ValueError(
                f"expected samples of shape (n_samples, {self.n_channels}), got {x.shape}"
            )
        return x


class KindPipeline:
    """Streaming pipeline for channels of possibly different output kinds.

    Channels are grouped by chain (:func:`chain_for`); each group runs through its own
    :class:`Pipeline` and the columns are put back in their order. With a single chain
    the call goes straight to that one :class:`Pipeline` (no copies; results are those of
    ``Pipeline(cfg, n, chain)``, so the RAW path stays bit-identical to SciPy).

    Parameters
    ----------
    cfg : PipelineConfig
        Filter parameters (the band-pass and notches apply to ``raw``/``uv`` channels only).
    kinds : sequence of str
        Output kind per channel (``raw``, ``uv``, ``rect``, ``env``).
    """

    def __init__(self, cfg: PipelineConfig, kinds: Sequence[str]):
        kinds = tuple(str(k).lower() for k in kinds)
        if not kinds:
            raise ConfigError("n_channels must be >= 1, got 0 output kinds")
        chains = [chain_for(k) for k in kinds]
        self.config = cfg
        self.kinds = kinds
        self.chains = tuple(chains)
        self.n_channels = len(kinds)
        groups: dict[str, list[int]] = {}
        for c, chain in enumerate(chains):
            groups.setdefault(chain, []).append(c)
        self._groups = [(np.asarray(cols, dtype=np.intp), Pipeline(cfg, len(cols), chain))
                        for chain, cols in groups.items()]
        self._single = self._groups[0][1] if len(self._groups) == 1 else None

    @property
    def envelope_delay_ms(self) -> float:
        """Largest delay the envelope stage adds over the groups, ms."""
        return max(p.envelope_delay_ms for _, p in self._groups)

    def reset(self) -> None:
        """Clear every group's filter state."""
        for _, pipe in self._groups:
            pipe.reset()

    def process(self, x_uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Filter the next chunk.

        Parameters
        ----------
        x_uv : array_like, shape (n_samples, n_channels)
            Calibrated signal in µV at the electrode (ARV µV for ``env`` channels).

        Returns
        -------
        filtered_uv, envelope_uv : numpy.ndarray
            Float64 ``(n_samples, n_channels)``; see the module docstring for what
            "filtered" is per kind.
        """
        if self._single is not None:
            return self._single.process(x_uv)
        x = np.asarray(x_uv, dtype=np.float64)
        if x.ndim == 1 and self.n_channels == 1:
            x = x.reshape(-1, 1)
        if x.ndim != 2 or x.shape[1] != self.n_channels:
            raise ValueError(
                f"expected samples of shape (n_samples, {self.n_channels}), got {x.shape}")
        y = np.empty(x.shape)
        e = np.empty(x.shape)
        for cols, pipe in self._groups:
            yg, eg = pipe.process(np.ascontiguousarray(x[:, cols]))
            y[:, cols] = yg
            e[:, cols] = eg
        return y, e


def process_offline(x_uv: np.ndarray, cfg: PipelineConfig,
                    kinds: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Filter a whole recording; same result as streaming it through a fresh pipeline.

    Parameters
    ----------
    x_uv : array_like, shape (n_samples, n_channels)
        Calibrated signal in µV.
    cfg : PipelineConfig
    kinds : sequence of str, optional
        Output kind per channel (:func:`chain_for`); all ``raw`` when not given.

    Returns
    -------
    filtered_uv, envelope_uv : numpy.ndarray
    """
    x = np.asarray(x_uv)
    n_channels = 1 if x.ndim == 1 else x.shape[1]
    if kinds is None:
        return Pipeline(cfg, n_channels).process(x)
    if len(kinds) != n_channels:
        raise ConfigError(f"{len(kinds)} output kinds for {n_channels} channels")
    return KindPipeline(cfg, kinds).process(x)


__all__ = ["ARV_PER_RMS", "CHAINS", "Design", "KindPipeline", "Pipeline", "PipelineConfig",
           "RMS_PER_ARV", "chain_for", "design", "design_stages", "process_offline"]
