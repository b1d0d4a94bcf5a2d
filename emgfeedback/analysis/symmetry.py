"""Left/right symmetry: amplitude index and onset-lag difference, per repetition and overall.

Symmetry compares *the same placement* on the left and the right side
(:func:`symmetry_pairs`): ``glute med L`` with ``glute med R``, never ``glute med R`` with
``TFL R``. Without such a pair there is no symmetry figure.

Amplitude index: ``(R − L) / mean(R, L) · 100`` in percent (0 = symmetric, positive = the
right side is stronger), from the RMS of each side's burst. Onset lag: right onset minus
left onset in ms (positive: the right side fires later).
"""

from __future__ import annotations

import math
import re

import numpy as np

from emgfeedback.analysis._docs import shared_params
from emgfeedback.analysis.timing import group_repetitions

_SIDE_WORDS = {"l": "left", "left": "left", "lt": "left", "links": "left",
               "r": "right", "right": "right", "rt": "right", "rechts": "right"}
_TOKEN = re.compile(r"[A-Za-z0-9µ]+")


def channel_side_and_site(name: str, placement: str = "", side: str = "") -> tuple[str, str]:
    """``(side, site)`` of a channel: ``left``/``right``/``""`` and a normalised placement.

    The side is the explicit ``side`` if given, else a side word at the start or end of the
    name (``L``, ``R``, ``left``, ``right``, e.g. ``glute med R``, ``L_trap``,
    ``biceps (left)``). The site is the explicit ``placement`` if given, else the name
    without its side word; both are lower-cased with punctuation and spacing unified.

    Examples
    --------
    >>> channel_side_and_site("glute med R")
    ('right', 'glute med')
    >>> channel_side_and_site("ch1", placement="Upper trapezius", side="left")
    ('left', 'upper trapezius')
    """
    tokens = _TOKEN.findall(str(name).lower())
    found = ""
    if len(tokens) > 1 and tokens[-1] in _SIDE_WORDS:
        found, tokens = _SIDE_WORDS[tokens[-1]], tokens[:-1]
    elif len(tokens) > 1 and tokens[0] in _SIDE_WORDS:
        found, tokens = _SIDE_WORDS[tokens[0]], tokens[1:]
    side = _SIDE_WORDS.get(str(side or "").strip().lower(), "") or found
    site = " ".join(_TOKEN.findall(str(placement or "").lower())) or " ".join(tokens)
    return side, site


def symmetry_pairs(channels, placements=None, sides=None) -> list[tuple[int, int, str]]:
    """Left/right pairs of the same placement: ``(left_index, right_index, site)``.

    Parameters
    ----------
    channels : sequence of str
        Channel names.
    placements, sides : sequence of str, optional
        Per channel, as the user set them (empty strings: taken from the name).

    Returns
    -------
    list of tuple
        In the order of the left channels. A channel is used in at most one pair; channels
        without a side, or whose placement has no counterpart on the other side, are in
        none (so two muscles of the same side are never compared).

    Examples
    --------
    >>> symmetry_pairs(["glute med R", "TFL R"])
    []
    >>> symmetry_pairs(["glute med L", "TFL R", "glute med R"])
    [(0, 2, 'glute med')]
    """
    names = list(channels)
    n = len(names)
    pl = list(placements) if placements else [""] * n
    sd = list(sides) if sides else [""] * n
    info = [channel_side_and_site(names[i], pl[i] if i < len(pl) else "",
                                  sd[i] if i < len(sd) else "") for i in range(n)]
    pairs, used = [], set()
    for i, (si, pi) in enumerate(info):
        if si != "left" or not pi:
            continue
        for j, (sj, pj) in enumerate(info):
            if j not in used and sj == "right" and pj == pi:
                pairs.append((i, j, pi))
                used.add(j)
                break
    return pairs


def amplitude_index(right_uv, left_uv):
    """``(R − L) / ((R + L) / 2) · 100`` in percent (NaN when both are 0)."""
    r = np.asarray(right_uv, dtype=np.float64)
    l_ = np.asarray(left_uv, dtype=np.float64)
    mean = (r + l_) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(mean > 0, (r - l_) / mean * 100.0, np.nan)
    return float(out) if out.ndim == 0 else out


@shared_params
def pair_symmetry(filtered_uv, fs_hz: float, bursts, left: int, right: int,
                  max_spread_s: float = 1.0, burst_rms=None) -> dict:
    """Symmetry of one left/right pair over its repetitions.

    Parameters
    ----------
    {filtered_uv}
    {fs_hz}
    bursts : sequence of array_like
        Per channel, ``(k, 2)`` ``(onset, offset)`` sample indices.
    left, right : int
        Channel numbers of the pair.
    max_spread_s : float
        Largest onset difference of one repetition, seconds.
    burst_rms : dict, optional
        ``{channel: {onset_index: rms_uv}}``: each burst's RMS already measured (a
        recording read in blocks); ``filtered_uv`` is then not used (may be None).

    Returns
    -------
    dict
        ``left``, ``right``, ``repetitions`` (per repetition where both sides fired:
        ``left_uv``, ``right_uv``, ``amplitude_index_pct``, ``lag_ms``),
        ``amplitude_index_pct`` (from the mean amplitudes), ``amplitude_index_sd``,
        ``lag_ms_mean``, ``lag_ms_sd`` and ``n_repetitions``.
    """
    x = None
    if burst_rms is None:
        x = np.asarray(filtered_uv, dtype=np.float64)
        if x.ndim == 1:
            x = x[:, None]
    b_l = np.asarray(bursts[left]).reshape(-1, 2)
    b_r = np.asarray(bursts[right]).reshape(-1, 2)
    off_of = {0: dict(b_l.tolist()), 1: dict(b_r.tolist())}
    reps = []
    for rep in group_repetitions([b_l[:, 0], b_r[:, 0]], fs_hz, max_spread_s):
        if 0 not in rep or 1 not in rep:
            continue
        amps = []
        for side, ch in ((0, left), (1, right)):
            on = rep[side]
            if burst_rms is not None:
                amps.append(float(burst_rms[ch].get(int(on), math.nan)))
                continue
            seg = x[on: off_of[side][on], ch]
            amps.append(float(np.sqrt(np.mean(seg * seg))) if seg.size else math.nan)
        reps.append({
            "left_onset": rep[0], "right_onset": rep[1],
            "left_uv": amps[0], "right_uv": amps[1],
            "amplitude_index_pct": amplitude_index(amps[1], amps[0]),
            "lag_ms": (rep[1] - rep[0]) * 1000.0 / fs_hz,
        })
    idx = np.array([r["amplitude_index_pct"] for r in reps], dtype=np.float64)
    lags = np.array([r["lag_ms"] for r in reps], dtype=np.float64)
    mean_l = np.mean([r["left_uv"] for r in reps]) if reps else math.nan
    mean_r = np.mean([r["right_uv"] for r in reps]) if reps else math.nan
    return {
        "left": left,
        "right": right,
        "n_repetitions": len(reps),
        "repetitions": reps,
        "amplitude_index_pct": amplitude_index(mean_r, mean_l) if reps else math.nan,
        "amplitude_index_sd": float(idx.std(ddof=1)) if idx.size > 1 else math.nan,
        "lag_ms_mean": float(lags.mean()) if lags.size else math.nan,
        "lag_ms_sd": float(lags.std(ddof=1)) if lags.size > 1 else math.nan,
    }
