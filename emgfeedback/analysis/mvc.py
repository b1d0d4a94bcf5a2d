"""Maximum voluntary contraction (MVC) capture and %MVC normalisation.

The MVC of a channel is the highest mean envelope over any ``window_s`` window of an MVC
trial (0.5 s by default, so a single spike does not set the reference). Amplitudes are
then shown as a percentage of it.
"""

from __future__ import annotations

import numpy as np

from emgfeedback.analysis._docs import shared_params
from emgfeedback.errors import ConfigError


@shared_params
def capture_mvc(envelope_uv, fs_hz: float, window_s: float = 0.5) -> np.ndarray:
    """MVC per channel: the maximum of the ``window_s`` moving mean of the envelope.

    Parameters
    ----------
    envelope_uv : array_like
        Envelope (e.g. the pipeline's moving RMS) in µV, ``(n_samples, n_channels)``.
    {fs_hz}
    window_s : float
        Averaging window in seconds (default 0.5).

    Returns
    -------
    numpy.ndarray
        MVC per channel in µV.

    Raises
    ------
    ConfigError
        When the trial is shorter than one window.
    """
    env = np.asarray(envelope_uv, dtype=np.float64)
    if env.ndim == 1:
        env = env[:, None]
    w = max(int(round(window_s * fs_hz)), 1)
    if env.shape[0] < w:
        raise ConfigError(
            f"MVC trial of {env.shape[0] / fs_hz:.2f} s is shorter than the {window_s} s window"
        )
    env = np.nan_to_num(env)
    c = np.cumsum(np.vstack([np.zeros((1, env.shape[1])), env]), axis=0)
    means = (c[w:] - c[:-w]) / w
    return means.max(axis=0)


def percent_mvc(envelope_uv, mvc_uv) -> np.ndarray:
    """Express an envelope as % of the MVC (NaN for channels without a positive MVC).

    Parameters
    ----------
    envelope_uv : array_like
        Envelope in µV, ``(n_samples, n_channels)`` or one value per channel.
    mvc_uv : array_like
        MVC per channel in µV.

    Returns
    -------
    numpy.ndarray
        Same shape as ``envelope_uv``, in percent.
    """
    env = np.asarray(envelope_uv, dtype=np.float64)
    mvc = np.asarray(mvc_uv, dtype=np.float64)
    safe = np.where(mvc > 0, mvc, np.nan)
    return 100.0 * env / safe
