"""Finding rest in a recording: windows whose RMS sits near the quietest level.

Offline detectors and the resting-tone estimate both need "rest". When the user does not
say where it is, the recording is cut into windows and those whose RMS is within
``tolerance`` of a low percentile of all window RMS values count as rest. Taking every
window near the quiet level (rather than only the single quietest one) avoids the
downward bias of a minimum.
"""

from __future__ import annotations

import warnings

import numpy as np

from emgfeedback.analysis._docs import shared_params
from emgfeedback.errors import ConfigError


@shared_params
def windowed_rms(x_uv, fs_hz: float, window_s: float = 0.5) -> np.ndarray:
    """RMS of consecutive non-overlapping windows.

    Parameters
    ----------
    x_uv : array_like
        Signal in µV, ``(n_samples, n_channels)`` (or 1-D).
    {fs_hz}
    window_s : float
        Window length in seconds.

    Returns
    -------
    numpy.ndarray
        ``(n_windows, n_channels)`` RMS in µV; NaN samples are ignored.
    """
    x = _as_2d(x_uv)
    w = max(int(round(window_s * fs_hz)), 1)
    n_win = x.shape[0] // w
    if n_win == 0:
        return np.empty((0, x.shape[1]))
    blocks = x[: n_win * w].reshape(n_win, w, x.shape[1])
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows stay NaN
        ms = np.nanmean(blocks * blocks, axis=1) if np.isnan(blocks).any() else \
            np.mean(blocks * blocks, axis=1)
    return np.sqrt(ms)


@shared_params
def rest_mask(x_uv, fs_hz: float, window_s: float = 0.5, percentile: float = 10.0,
              tolerance: float = 1.3) -> np.ndarray:
    """Per-sample mask of rest, per channel.

    Parameters
    ----------
    x_uv : array_like
        Band-passed signal in µV, ``(n_samples, n_channels)``.
    {fs_hz}
    window_s : float
        Window length in seconds (default 0.5).
    percentile : float
        Percentile of window RMS taken as the quiet level (default 10).
    tolerance : float
        Windows with RMS at most ``tolerance`` × the quiet level are rest (default 1.3).

    Returns
    -------
    numpy.ndarray
        Boolean ``(n_samples, n_channels)``; samples after the last full window are not rest.
    """
    x = _as_2d(x_uv)
    w = max(int(round(window_s * fs_hz)), 1)
    rms = windowed_rms(x, fs_hz, window_s)
    mask = np.zeros(x.shape, dtype=bool)
    if rms.shape[0] == 0:
        raise ConfigError(
            f"recording of {x.shape[0] / fs_hz:.2f} s is shorter than one rest window "
            f"({window_s} s)"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a channel with no window at all
        quiet = np.nanpercentile(rms, percentile, axis=0)
    with np.errstate(invalid="ignore"):
        rest_win = rms <= tolerance * quiet[None, :]
    mask[: rms.shape[0] * w] = np.repeat(rest_win, w, axis=0)
    return mask


def rest_from_spans(n_samples: int, n_channels: int, spans) -> np.ndarray:
    """Per-sample rest mask from explicit ``(start, stop)`` sample spans (all channels)."""
    mask = np.zeros((n_samples, n_channels), dtype=bool)
    for start, stop in spans:
        mask[max(int(start), 0): max(int(stop), 0)] = True
    return mask


def _as_2d(x_uv) -> np.ndarray:
    x = np.asarray(x_uv, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ConfigError(f"expected (n_samples, n_channels) samples, got shape {x.shape}")
    return x
