"""Filter design for the EMG pipeline, as second-order sections (SOS).

Every design function validates its parameters and raises :class:`~emgfeedback.errors.ConfigError`
naming the parameter and its valid range. The coefficients are those of :mod:`scipy.signal`
(``butter``, ``iirnotch``, ``group_delay``), computed without importing it by
:mod:`emgfeedback.dsp.iir_design`; the streaming kernels in :mod:`emgfeedback.dsp.kernels`
and :mod:`emgfeedback.dsp.kernels_fast` evaluate them with exactly the arithmetic of
:func:`scipy.signal.sosfilt`.
"""

from __future__ import annotations

import math

import numpy as np

from emgfeedback.dsp.iir_design import butter_sos, group_delay_samples, iirnotch_ba
from emgfeedback.errors import ConfigError

# Harmonic notches closer than this fraction of Nyquist are not designed: iirnotch needs
# 0 < w0 < 1 and a notch whose width reaches Nyquist is no longer a narrow notch.
_NOTCH_MAX_FRACTION_OF_NYQUIST = 0.98


def check_fs(fs_hz: float) -> float:
    """Return ``fs_hz`` as float or raise ConfigError if it is not a finite positive number."""
    try:
        fs = float(fs_hz)
    except (TypeError, ValueError):
        raise ConfigError(f"fs_hz must be a number > 0 Hz, got {fs_hz!r}") from None
    if not math.isfinite(fs) or fs <= 0:
        raise ConfigError(f"fs_hz must be > 0 Hz (finite), got {fs_hz!r}")
    return fs


def check_order(name: str, order: int) -> int:
    """Return ``order`` as int or raise ConfigError unless it is an integer in 1..20."""
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)):
        raise ConfigError(f"{name} must be an integer in 1..20, got {order!r}")
    if not 1 <= int(order) <= 20:
        raise ConfigError(f"{name} must be an integer in 1..20, got {order}")
    return int(order)


def check_corner(name: str, value_hz: float, fs_hz: float) -> float:
    """Return a corner frequency or raise ConfigError unless 0 < value < fs/2."""
    nyquist = fs_hz / 2.0
    try:
        f = float(value_hz)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{name} must be a frequency in (0, {nyquist:g}) Hz (0 < f < fs/2), got {value_hz!r}"
        ) from None
    if not math.isfinite(f) or f <= 0 or f >= nyquist:
        raise ConfigError(
            f"{name} must be in (0, {nyquist:g}) Hz (0 < f < fs/2 for fs_hz={fs_hz:g}), got {f:g}"
        )
    return f


def bandpass_sos(fs_hz: float, low_hz: float, high_hz: float, order: int = 4) -> np.ndarray:
    """Design a Butterworth band-pass.

    Parameters
    ----------
    fs_hz : float
        Sampling rate in Hz, > 0.
    low_hz, high_hz : float
        Corner frequencies in Hz, ``0 < low_hz < high_hz < fs_hz / 2``.
    order : int
        Butterworth order per edge (as in :func:`scipy.signal.butter`), 1..20.

    Returns
    -------
    numpy.ndarray
        SOS array of shape ``(order, 6)``.
    """
    fs = check_fs(fs_hz)
    order = check_order("band_order", order)
    low = check_corner("band_hz[0] (low corner)", low_hz, fs)
    high = check_corner("band_hz[1] (high corner)", high_hz, fs)
    if low >= high:
        raise ConfigError(
            f"band_hz must be (low, high) with low < high, got ({low:g}, {high:g}) Hz"
        )
    return butter_sos(order, [low, high], "bandpass", fs)


def highpass_sos(fs_hz: float, cutoff_hz: float, order: int = 4) -> np.ndarray:
    """Design a Butterworth high-pass (e.g. 30 Hz against ECG on trunk muscles).

    Parameters
    ----------
    fs_hz : float
        Sampling rate in Hz, > 0.
    cutoff_hz : float
        Corner in Hz, ``0 < cutoff_hz < fs_hz / 2``.
    order : int
        Butterworth order, 1..20.

    Returns
    -------
    numpy.ndarray
        SOS array of shape ``(ceil(order / 2), 6)``.
    """
    return _single_corner_sos("highpass", fs_hz, cutoff_hz, order, "highpass_hz",
                              "highpass_order")


def lowpass_sos(fs_hz: float, cutoff_hz: float, order: int = 2) -> np.ndarray:
    """Design a Butterworth low-pass (the linear envelope).

    Parameters
    ----------
    fs_hz : float
        Sampling rate in Hz, > 0.
    cutoff_hz : float
        Corner in Hz, ``0 < cutoff_hz < fs_hz / 2``.
    order : int
        Butterworth order, 1..20.

    Returns
    -------
    numpy.ndarray
        SOS array of shape ``(ceil(order / 2), 6)``.
    """
    return _single_corner_sos("lowpass", fs_hz, cutoff_hz, order, "cutoff_hz", "envelope_order")


def _single_corner_sos(btype: str, fs_hz: float, cutoff_hz: float, order: int,
                       corner_name: str, order_name: str) -> np.ndarray:
    # Errors name the PipelineConfig field the value came from.
    fs = check_fs(fs_hz)
    order = check_order(order_name, order)
    fc = check_corner(corner_name, cutoff_hz, fs)
    return butter_sos(order, fc, btype, fs)


def notch_frequencies(
    fs_hz: float, notch_hz: float, harmonics: bool, max_hz: float | None = None
) -> list[float]:
    """Frequencies that get a notch: the mains frequency and, optionally, its harmonics.

    Harmonics are included up to ``max_hz`` (inclusive) and always stay below 98 % of Nyquist.

    Parameters
    ----------
    fs_hz : float
        Sampling rate in Hz.
    notch_hz : float
        Mains frequency in Hz, ``0 < notch_hz < fs_hz / 2`` (usually 50 or 60).
    harmonics : bool
        Add 2, 3, ... times ``notch_hz``.
    max_hz : float, optional
        Highest harmonic to notch, Hz (> 0). None: every harmonic below 98 % of Nyquist.
        The pipeline passes the band-pass upper corner (see ``PipelineConfig.notch_max_hz``).
        The fundamental is always notched.

    Returns
    -------
    list of float
    """
    fs = check_fs(fs_hz)
    f0 = check_corner("notch_hz", notch_hz, fs)
    freqs = [f0]
    if harmonics:
        limit = _NOTCH_MAX_FRACTION_OF_NYQUIST * fs / 2.0
        top = limit if max_hz is None else check_notch_max(max_hz)
        k = 2
        while k * f0 < limit and k * f0 <= top:
            freqs.append(k * f0)
            k += 1
    return freqs


def check_notch_max(max_hz: float) -> float:
    """Return ``max_hz`` as float or raise ConfigError unless it is a number > 0 Hz."""
    try:
        top = float(max_hz)
    except (TypeError, ValueError):
        raise ConfigError(
            f"notch_max_hz must be a frequency > 0 Hz (or None), got {max_hz!r}"
        ) from None
    if math.isnan(top) or top <= 0:
        raise ConfigError(f"notch_max_hz must be > 0 Hz (or None), got {max_hz!r}")
    return top


def notch_sos(
    fs_hz: float,
    notch_hz: float,
    q: float = 30.0,
    harmonics: bool = True,
    max_hz: float | None = None,
) -> np.ndarray:
    """Design mains notches (:func:`scipy.signal.iirnotch`), one section per frequency.

    Parameters
    ----------
    fs_hz : float
        Sampling rate in Hz, > 0.
    notch_hz : float
        Mains frequency in Hz, ``0 < notch_hz < fs_hz / 2``.
    q : float
        Quality factor (centre frequency / -3 dB width), > 0.
    harmonics : bool
        Also notch the harmonics (see :func:`notch_frequencies`).
    max_hz : float, optional
        Highest harmonic to notch, Hz; None: all below 98 % of Nyquist.

    Returns
    -------
    numpy.ndarray
        SOS array of shape ``(n_notches, 6)``.
    """
    try:
        qf = float(q)
    except (TypeError, ValueError):
        raise ConfigError(f"notch_q must be a number > 0, got {q!r}") from None
    if not math.isfinite(qf) or qf <= 0:
        raise ConfigError(f"notch_q must be > 0 (finite), got {q!r}")
    fs = check_fs(fs_hz)
    sections = []
    for f in notch_frequencies(fs, notch_hz, harmonics, max_hz):
        b, a = iirnotch_ba(f, qf, fs)
        # A notch is one biquad already (a[0] == 1): its coefficients are the section.
        # tf2sos would round-trip them through roots (~0.7 ms per notch, last-bit changes).
        sections.append(np.concatenate([b / a[0], a / a[0]]))
    return np.vstack(sections)


def group_delay_ms(sos: np.ndarray, fs_hz: float, freq_hz: float) -> float:
    """Group delay of an SOS filter at one frequency, in milliseconds.

    Parameters
    ----------
    sos : numpy.ndarray
        Second-order sections, shape ``(n, 6)``.
    fs_hz : float
        Sampling rate in Hz.
    freq_hz : float
        Frequency at which to evaluate, Hz (``0 <= freq_hz < fs_hz / 2``).

    Returns
    -------
    float
    """
    total = 0.0
    for section in np.atleast_2d(sos):
        b, a = section[:3], section[3:]
        # Evaluate each section separately: the product polynomial of a long cascade is
        # numerically poor, while the group delay of a cascade is the sum of its sections'.
        total += group_delay_samples(b, a, freq_hz, fs_hz)
    return 1000.0 * total / fs_hz


# Designs of recent configurations. A Pipeline, a KindPipeline's groups and PipelineConfig's
# own validation design the same filters, ~0.4 ms each (mostly the notches), which on a
# two-minute recording at 8 channels was ~8 % of the filtering time.
_CACHE: dict = {}
_CACHE_MAX = 64


def cached_design(func, *args):
    """``func(*args)`` remembered by its (hashable) arguments, e.g. a frozen config.

    The result is returned with fresh copies of its arrays, so callers may write to them
    (SciPy's ``sosfilt`` wants writeable coefficients). Unhashable arguments are not
    remembered.

    Parameters
    ----------
    func : callable
        A pure design function.
    *args
        Its arguments.

    Returns
    -------
    object
        ``func(*args)``, arrays inside tuples and named tuples copied.
    """
    try:
        key = (func, *args)
        hit = _CACHE.get(key)
    except TypeError:
        return func(*args)
    if hit is None:
        hit = func(*args)
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        _CACHE[key] = hit
    return _copy_arrays(hit)


def _copy_arrays(value):
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, tuple):
        items = [_copy_arrays(v) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    return value


def design_stages(cfg) -> list[tuple[str, np.ndarray]]:
    """The filter stages before the envelope, in order, as ``(name, sos)`` pairs.

    :func:`design` stacks them into one cascade; the SciPy reference chain of the benchmark
    runs them as separate ``sosfilt`` calls.

    Parameters
    ----------
    cfg : emgfeedback.dsp.PipelineConfig

    Returns
    -------
    list of (str, numpy.ndarray)
        Names "bandpass", "highpass" (optional), "notch" (optional).
    """
    return list(cached_design(_design_stages, cfg))


def _design_stages(cfg) -> tuple[tuple[str, np.ndarray], ...]:
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
    return tuple(stages)
