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
fused Numba kernel (:mod:`emgfeedback.dsp.kernels_fast` for 1 to 32 channels,
:mod:`emgfeedback.dsp.kernels` otherwise and for chunks that contain NaN/inf). Outputs are new
arrays per call, or the caller's (``out=``, :meth:`Pipeline.buffers`,
:meth:`Pipeline.iter_chunks`; docs/dsp.md "Output memory").

The default chain notches the mains frequency and its harmonics up to the band-pass upper
corner (50-450 Hz: 9 notches at 50 Hz, 7 at 60 Hz); ``notch_max_hz`` changes that limit.

NaN/inf policy: a non-finite input sample gives NaN in both outputs for that sample and
channel, and that channel's filters (cascade, envelope low-pass or RMS window) restart from
rest (zero state) at its next finite sample, exactly as if a new recording started there.
Other channels are not affected.

Start: at rest (zero state, ``scipy.signal.sosfilt`` without ``zi``) by default; with
``PipelineConfig(start="steady")`` a ``raw``/``uv`` channel starts in the steady state of its
first sample's level, again after a non-finite sample and a reset, so a DC offset leaves no
start-up transient (:mod:`emgfeedback.dsp.steady`; every analysis path and the live engine).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from emgfeedback.dsp import kernels, kernels_fast
from emgfeedback.dsp.envelope import envelope_design
from emgfeedback.dsp.filters import cached_design, design_stages
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
    start : {"rest", "steady"}
        State of the cascade at the first sample (after construction or a reset): at rest
        (zero, ``sosfilt`` without ``zi``), or the steady state of that sample's level
        (:data:`STARTS`; see the module docstring).
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
    start: str = "rest"

    def __post_init__(self):
        if self.start not in STARTS:
            raise ConfigError(f"start must be one of {', '.join(STARTS)}, got {self.start!r}")
        design(self)  # raises ConfigError naming the bad parameter


#: How the cascade starts (:attr:`PipelineConfig.start`): ``rest`` (zero state) or
#: ``steady`` (the steady state of the first sample's level).
STARTS = ("rest", "steady")


class Design(NamedTuple):
    """Coefficients of a configured pipeline."""

    sos: np.ndarray  # (n_sections, 6): band-pass, high-pass, notches
    env_sos: np.ndarray  # (n_env_sections, 6): linear-envelope low-pass, empty for RMS
    window: int  # RMS window in samples, 0 for the linear envelope
    envelope_delay_ms: float


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
    return cached_design(_design, cfg, chain)


def _design(cfg: PipelineConfig, chain: str) -> Design:
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
#: Values (samples x channels) per chunk in :func:`process_offline` and
#: :meth:`Pipeline.iter_chunks`: input, filtered and envelope chunks (128 KiB each) stay in
#: the L2 cache, and the Python cost per chunk (~2 µs) is ~1-3 % of the kernel's.
CHUNK_VALUES = 16384
# Stands for "no buffers yet" in Pipeline._hot; never equal to an ``out`` a caller passes.
_NO_BUFFERS = object()


def chunk_rows(n_channels: int) -> int:
    """Rows per chunk of :data:`CHUNK_VALUES` values for ``n_channels`` (at least 256).

    Parameters
    ----------
    n_channels : int

    Returns
    -------
    int
    """
    return max(256, CHUNK_VALUES // max(1, int(n_channels)))


def check_out(out, shape: tuple[int, ...], x: np.ndarray | None = None):
    """Validate a caller's ``out=(filtered, envelope)`` pair for input of ``shape``.

    Parameters
    ----------
    out : pair of numpy.ndarray
        Writeable, C-contiguous float64 arrays of exactly ``shape``, not overlapping each
        other nor ``x`` (``numpy.memmap`` is fine).
    shape : tuple of int
        ``(n_samples, n_channels)`` of the input.
    x : numpy.ndarray, optional
        The input, checked for overlap.

    Returns
    -------
    tuple of numpy.ndarray
        ``(filtered, envelope)``.

    Raises
    ------
    ValueError
        Naming what is wrong.
    """
    try:
        y, e = out
    except (TypeError, ValueError):
        raise ValueError("out must be a pair (filtered, envelope) of arrays") from None
    for name, a in (("filtered", y), ("envelope", e)):
        if not (isinstance(a, np.ndarray) and a.dtype == _FLOAT64 and a.shape == shape
                and a.flags.c_contiguous and a.flags.writeable):
            got = (f"{a.dtype} {a.shape}" if isinstance(a, np.ndarray)
                   else type(a).__name__)
            raise ValueError(f"out {name}: expected a writeable C-contiguous float64 array "
                             f"of shape {shape}, got {got}")
    # For C-contiguous arrays overlapping bounds means shared elements, so the cheap test
    # is exact here.
    if np.may_share_memory(y, e) or (x is not None and (
            np.may_share_memory(x, y) or np.may_share_memory(x, e))):
        raise ValueError("out arrays must not overlap each other or the input")
    return y, e


def _no_kernel(*_args) -> bool:
    """Stands for the specialised kernel where there is none: the checked path runs."""
    return False


def _entry_point(dispatcher):
    """The compiled function behind a dispatcher with one explicit signature.

    Calling it skips Numba's per-call type dispatch (a few tenths of a microsecond), which
    matters for 16-sample blocks. It also skips Numba's type checks, so every array given
    to it has been checked here (dtype, C order, shape).
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
    The first Pipeline for 1 to 32 channels compiles (or loads from Numba's cache)
    the kernel specialised for that count; a cold compile takes about a second.

    Outputs: :meth:`process` returns new arrays on every call unless given ``out``, so
    callers may keep them (the engine hands them to the GUI and the recorder). A caller that
    copies or reduces what it keeps can pass :meth:`buffers` (or its own arrays) as ``out``
    and save the allocations (about a quarter of a 16-sample block's cost) and, on long
    inputs, the page faults of fresh memory.
    """

    def __new__(cls, cfg: PipelineConfig | None = None, n_channels: int = 1,
                chain: str = "raw"):
        # start="steady" on the raw chain is a SteadyPipeline (a rect/env channel's level is
        # its signal: nothing to remove there).
        if cls is Pipeline and getattr(cfg, "start", "rest") == "steady" and chain == "raw":
            from emgfeedback.dsp.steady import SteadyPipeline

            cls = SteadyPipeline
        return super().__new__(cls)

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
        # buffers(): n_samples -> (views given out, private arrays the kernel writes).
        self._buffers: dict[int, tuple[tuple, tuple]] = {}
        self._own = (_NO_BUFFERS, None)
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
        self._set_hot()

    def _set_hot(self) -> None:
        # Everything process() needs, fetched with one attribute lookup.
        fast = _no_kernel if self._fast is None else self._fast
        self._hot = (fast, self._state, self._rms, *self._own)

    def buffers(self, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
        """Output arrays for chunks of ``n_samples`` that this pipeline reuses.

        Pass the returned pair as ``out`` to :meth:`process`: the chunk is written into it
        with no allocation and no check beyond the input's. Every call with it overwrites
        the previous results, so copy what you keep. The same pair is returned for the
        same ``n_samples``.

        Parameters
        ----------
        n_samples : int
            Rows per chunk (the input must have exactly this many).

        Returns
        -------
        filtered_uv, envelope_uv : numpy.ndarray
            Float64 ``(n_samples, n_channels)`` (contents undefined until filled).
        """
        n = int(n_samples)
        if n < 0:
            raise ValueError(f"n_samples must be >= 0, got {n_samples}")
        entry = self._buffers.get(n)
        if entry is None:
            private = (_empty((n, self.n_channels)), _empty((n, self.n_channels)))
            # The caller gets views: reshaping them in place cannot change what the
            # kernel (which skips Numba's checks) writes into.
            entry = ((private[0][:], private[1][:]), private)
            self._buffers[n] = entry
        self._own = entry
        self._set_hot()
        return entry[0]

    def process(self, x_uv: np.ndarray, out: tuple[np.ndarray, np.ndarray] | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        """Filter the next chunk of the stream.

        Parameters
        ----------
        x_uv : array_like, shape (n_samples, n_channels)
            Raw signal in µV (1-D is accepted for a single channel).
        out : pair of numpy.ndarray, optional
            ``(filtered, envelope)`` to write into: :meth:`buffers` (fastest), or writeable
            C-contiguous float64 arrays of the input's 2-D shape, not overlapping each other
            or the input (checked; ValueError otherwise). Default: new arrays.

        Returns
        -------
        filtered_uv, envelope_uv : numpy.ndarray
            Float64 arrays of shape (n_samples, n_channels): ``out`` when given.
        """
        # A 16-sample block costs ~1 µs, so each lookup counts (~20-40 ns). Fast paths: a
        # float64 2-D array goes straight to the kernel, into the buffers or new arrays.
        # Python checks only the dtype (Numba's entry point checks the item size alone) and
        # the dimension count (it would misread others); the kernel checks shapes and C
        # order before touching anything (ValueError). On that, or on NaN/inf (False,
        # untouched), the checked path converts, says what is wrong or runs the generic one.
        fast, state, rms, own, own_arrays = self._hot
        if out is own:
            try:
                if x_uv.dtype is _FLOAT64 and x_uv.ndim == 2:
                    y, e = own_arrays
                    if fast(state, x_uv, y, e, rms):
                        return out
            except (AttributeError, TypeError, ValueError):
                pass  # not an array, or a layout the kernel refuses
        elif out is None:
            try:
                if x_uv.dtype is _FLOAT64 and x_uv.ndim == 2:
                    y = _empty(x_uv.shape)
                    e = _empty(x_uv.shape)
                    if fast(state, x_uv, y, e, rms):
                        return y, e
            except (AttributeError, TypeError, ValueError):
                pass
            x = self._as_samples(x_uv)
            y = _empty(x.shape)
            e = _empty(x.shape)
            self._run_kernel(x, y, e)
            return y, e
        x = self._as_samples(x_uv)
        y, e, out = self._out_arrays(out, x.shape, x)
        if not fast(state, x, y, e, rms):
            kernels.process_generic(state, x, y, e, rms)
        return out

    def _out_arrays(self, out, shape, x):
        """``(filtered, envelope, returned pair)`` for an ``out`` that is not the current
        :meth:`buffers` pair: another size's buffers, or the caller's arrays (checked)."""
        for views, private in self._buffers.values():
            if out is views:
                if private[0].shape != shape:
                    raise ValueError(f"out: buffers({private[0].shape[0]}) given for "
                                     f"{shape[0]} samples")
                return (*private, views)
        y, e = check_out(out, shape, x)
        return y, e, (y, e)

    def _run(self, x: np.ndarray, y: np.ndarray, e: np.ndarray) -> None:
        """Kernel call on checked arrays (C-contiguous float64 (n, C), y and e writeable)."""
        self._run_kernel(x, y, e)

    def _run_kernel(self, x: np.ndarray, y: np.ndarray, e: np.ndarray) -> None:
        # The kernels on checked arrays (a steady start's _run: without the input's level).
        fast = self._fast
        if fast is None or not fast(self._state, x, y, e, self._rms):
            kernels.process_generic(self._state, x, y, e, self._rms)

    def iter_chunks(self, x_uv: np.ndarray, chunk_samples: int | None = None):
        """Filter a long input chunk by chunk through reused buffers.

        For consumers that reduce or copy each chunk (statistics, a file, a plot): memory
        stays a few hundred KiB whatever the input's length, and nothing is allocated or
        page-faulted per chunk. The results are those of :meth:`process` on the whole
        input (the state carries over, as for any partition).

        Parameters
        ----------
        x_uv : array_like, shape (n_samples, n_channels)
            Signal in µV (converted once to C-contiguous float64 if needed).
        chunk_samples : int, optional
            Rows per chunk; default :func:`chunk_rows` (about 128 KiB per array).

        Yields
        ------
        first_row : int
            Index of the chunk's first row in ``x_uv``.
        filtered_uv, envelope_uv : numpy.ndarray
            The chunk's outputs, overwritten by the next chunk (the last chunk's may be a
            separate, shorter pair).
        """
        return _iter_chunks(self, x_uv, chunk_samples)

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


def _iter_chunks(pipe, x_uv, chunk_samples):
    """:meth:`Pipeline.iter_chunks` for a :class:`Pipeline` or :class:`KindPipeline`; bad
    input raises here, not at the first iteration."""
    x = pipe._as_samples(x_uv)
    rows = chunk_rows(pipe.n_channels) if chunk_samples is None else int(chunk_samples)
    if rows < 1:
        raise ValueError(f"chunk_samples must be >= 1, got {chunk_samples}")

    def chunks():
        n = x.shape[0]
        full = pipe.buffers(min(rows, n))
        for a in range(0, n, rows):
            b = min(a + rows, n)
            out = full if b - a == full[0].shape[0] else pipe.buffers(b - a)
            yield (a, *pipe.process(x[a:b], out=out))

    return chunks()


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
        self._buffers: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    @property
    def envelope_delay_ms(self) -> float:
        """Largest delay the envelope stage adds over the groups, ms."""
        return max(p.envelope_delay_ms for _, p in self._groups)

    def reset(self) -> None:
        """Clear every group's filter state."""
        for _, pipe in self._groups:
            pipe.reset()

    def buffers(self, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
        """Reused output arrays for chunks of ``n_samples``; see :meth:`Pipeline.buffers`."""
        if self._single is not None:
            return self._single.buffers(n_samples)
        n = int(n_samples)
        if n < 0:
            raise ValueError(f"n_samples must be >= 0, got {n_samples}")
        pair = self._buffers.get(n)
        if pair is None:
            pair = self._buffers[n] = (np.empty((n, self.n_channels)),
                                       np.empty((n, self.n_channels)))
        return pair

    def iter_chunks(self, x_uv: np.ndarray, chunk_samples: int | None = None):
        """Filter a long input chunk by chunk; see :meth:`Pipeline.iter_chunks`."""
        return _iter_chunks(self, x_uv, chunk_samples)

    def process(self, x_uv: np.ndarray, out: tuple[np.ndarray, np.ndarray] | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        """Filter the next chunk.

        Parameters
        ----------
        x_uv : array_like, shape (n_samples, n_channels)
            Calibrated signal in µV at the electrode (ARV µV for ``env`` channels).
        out : pair of numpy.ndarray, optional
            Where to write ``(filtered, envelope)``; see :meth:`Pipeline.process`.

        Returns
        -------
        filtered_uv, envelope_uv : numpy.ndarray
            Float64 ``(n_samples, n_channels)``; see the module docstring for what
            "filtered" is per kind.
        """
        if self._single is not None:
            return self._single.process(x_uv, out)
        x = self._as_samples(x_uv)
        if out is None:
            y, e = np.empty(x.shape), np.empty(x.shape)
        else:
            y, e = check_out(out, x.shape, x)
        self._run(x, y, e)
        return y, e

    def _run(self, x: np.ndarray, y: np.ndarray, e: np.ndarray) -> None:
        """Filter checked arrays (see :meth:`Pipeline._run`), group by group."""
        if self._single is not None:
            self._single._run(x, y, e)
            return
        for cols, pipe in self._groups:
            yg, eg = pipe.process(np.ascontiguousarray(x[:, cols]))
            y[:, cols] = yg
            e[:, cols] = eg

    def _as_samples(self, x_uv) -> np.ndarray:
        """C-contiguous float64 ``(n_samples, n_channels)`` (ValueError otherwise)."""
        x = np.ascontiguousarray(x_uv, dtype=np.float64)
        if x.ndim == 1 and self.n_channels == 1:
            x = x.reshape(-1, 1)
        if x.ndim != 2 or x.shape[1] != self.n_channels:
            raise ValueError(
                f"expected samples of shape (n_samples, {self.n_channels}), got {x.shape}")
        return x


def process_offline(x_uv: np.ndarray, cfg: PipelineConfig,
                    kinds: Sequence[str] | None = None,
                    out: tuple[np.ndarray, np.ndarray] | None = None,
                    chunk_samples: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Filter a whole recording; same result as streaming it through a fresh pipeline.

    The recording goes through the kernel in chunks of ``chunk_samples`` rows, written
    straight into the full-length outputs: a chunk with NaN/inf only sends that chunk to the
    generic kernel. Passing ``out`` (e.g. the same arrays for every file of a batch, or a
    ``numpy.memmap``) saves allocating, and page-faulting, fresh full-length memory, which
    on this project's test machine costs more than the filtering itself (docs/dsp.md).

    Parameters
    ----------
    x_uv : array_like, shape (n_samples, n_channels)
        Calibrated signal in µV (1-D for one channel).
    cfg : PipelineConfig
    kinds : sequence of str, optional
        Output kind per channel (:func:`chain_for`); all ``raw`` when not given.
    out : pair of numpy.ndarray, optional
        ``(filtered, envelope)``: writeable C-contiguous float64 arrays of shape
        ``(n_samples, n_channels)``, not overlapping each other or the input.
    chunk_samples : int, optional
        Rows per kernel call; default :func:`chunk_rows`.

    Returns
    -------
    filtered_uv, envelope_uv : numpy.ndarray
        ``(n_samples, n_channels)``; ``out`` when given.
    """
    x = np.asarray(x_uv)
    n_channels = 1 if x.ndim == 1 else x.shape[1]
    if kinds is None:
        pipe = Pipeline(cfg, n_channels)
    else:
        if len(kinds) != n_channels:
            raise ConfigError(f"{len(kinds)} output kinds for {n_channels} channels")
        pipe = KindPipeline(cfg, kinds)
    x = pipe._as_samples(x)
    rows = chunk_rows(n_channels) if chunk_samples is None else int(chunk_samples)
    if rows < 1:
        raise ValueError(f"chunk_samples must be >= 1, got {chunk_samples}")
    if out is None:
        y, e = np.empty(x.shape), np.empty(x.shape)
    else:
        y, e = check_out(out, x.shape, x)
    for a in range(0, x.shape[0], rows):
        pipe._run(x[a:a + rows], y[a:a + rows], e[a:a + rows])
    return y, e


__all__ = ["ARV_PER_RMS", "CHAINS", "CHUNK_VALUES", "Design", "KindPipeline", "Pipeline",
           "PipelineConfig", "RMS_PER_ARV", "STARTS", "chain_for", "check_out", "chunk_rows",
           "design", "design_stages", "process_offline"]
