"""Envelope stage: moving RMS or linear envelope, and the delay each one adds."""

from __future__ import annotations

import math

import numpy as np

from emgfeedback.dsp.filters import check_fs, group_delay_ms, lowpass_sos
from emgfeedback.errors import ConfigError

ENVELOPE_KINDS = ("rms", "linear")

# The linear envelope's delay is the low-pass group delay for slow envelope changes; 0.1 Hz
# stands in for DC (group_delay is singular exactly at 0 for some designs).
_DELAY_REFERENCE_HZ = 0.1


def rms_window_samples(window_s: float, fs_hz: float) -> int:
    """Moving-RMS window length in samples (``round(window_s * fs_hz)``, at least 1).

    Parameters
    ----------
    window_s : float
        Window length in seconds, > 0 and at most 10 s.
    fs_hz : float
        Sampling rate in Hz.

    Returns
    -------
    int
    """
    fs = check_fs(fs_hz)
    try:
        w = float(window_s)
    except (TypeError, ValueError):
        raise ConfigError(f"window_s must be a number in (0, 10] s, got {window_s!r}") from None
    if not math.isfinite(w) or w <= 0 or w > 10:
        raise ConfigError(f"window_s must be in (0, 10] s, got {window_s!r}")
    return max(1, round(w * fs))


def envelope_design(kind: str, fs_hz: float, window_s: float, cutoff_hz: float, order: int):
    """Design the envelope stage.

    Parameters
    ----------
    kind : {"rms", "linear"}
        Moving RMS of the filtered signal, or low-pass of the rectified signal.
    fs_hz : float
        Sampling rate in Hz.
    window_s : float
        RMS window in seconds (used for "rms").
    cutoff_hz : float
        Low-pass corner in Hz (used for "linear").
    order : int
        Low-pass Butterworth order (used for "linear").

    Returns
    -------
    tuple
        ``(env_sos, window, delay_ms)``: the low-pass SOS (empty ``(0, 6)`` for RMS), the
        RMS window in samples (0 for linear) and the delay the envelope adds, in ms.
    """
    if kind == "rms":
        window = rms_window_samples(window_s, fs_hz)
        # A causal box of W samples is centred (W - 1) / 2 samples in the past.
        return np.zeros((0, 6)), window, 1000.0 * (window - 1) / 2.0 / fs_hz
    if kind == "linear":
        sos = lowpass_sos(fs_hz, cutoff_hz, order)
        return sos, 0, group_delay_ms(sos, fs_hz, min(_DELAY_REFERENCE_HZ, cutoff_hz / 10))
    raise ConfigError(f"envelope must be one of {ENVELOPE_KINDS}, got {kind!r}")
