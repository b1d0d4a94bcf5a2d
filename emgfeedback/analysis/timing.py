"""Activation timing across channels: repetitions, lags and firing order.

Onsets of all channels are grouped into repetitions: a repetition opens at the earliest
onset not yet used and takes, for each channel, its first onset within ``max_spread_s``.
Per repetition the lag of each channel relative to the reference channel is reported in
milliseconds (positive: after the reference), and whether the firing order matched the
expected one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from emgfeedback.analysis._docs import shared_params


@dataclass(frozen=True)
class Repetition:
    """One repetition.

    Attributes
    ----------
    onsets : dict
        Channel → onset sample index (channels that fired).
    lags_ms : dict
        Channel → lag relative to the reference's onset in ms (positive: later); empty
        when the reference did not fire.
    order : list of int
        Channels in firing order.
    order_matched : bool or None
        Whether the expected channels that fired did so in the expected order
        (None when fewer than two of them fired).
    """

    onsets: dict
    lags_ms: dict
    order: list
    order_matched: bool | None


@dataclass(frozen=True)
class TimingResult:
    """Repetitions and summary statistics.

    Attributes
    ----------
    reference : int
        Reference channel.
    expected_order : list of int
        Expected firing order.
    repetitions : list of Repetition
    summary : dict
        ``n_repetitions``, ``order_matched_pct`` and per channel (``lag_ms``) the mean,
        SD, median, min and max lag and the number of repetitions it fired in.
    """

    reference: int
    expected_order: list
    repetitions: list
    summary: dict = field(default_factory=dict)

    def to_dict(self, fs_hz: float, channel_names=None) -> dict:
        """A JSON-ready dictionary (times in seconds, names instead of numbers)."""
        def name(c):
            return channel_names[c] if channel_names else c

        return {
            "reference": name(self.reference),
            "expected_order": [name(c) for c in self.expected_order],
            "repetitions": [
                {
                    "onsets_s": {str(name(c)): i / fs_hz for c, i in r.onsets.items()},
                    "lags_ms": {str(name(c)): v for c, v in r.lags_ms.items()},
                    "order": [name(c) for c in r.order],
                    "order_matched": r.order_matched,
                }
                for r in self.repetitions
            ],
            "summary": {
                "n_repetitions": self.summary.get("n_repetitions", 0),
                "order_matched_pct": self.summary.get("order_matched_pct"),
                "lag_ms": {str(name(c)): v for c, v in self.summary.get("lag_ms", {}).items()},
            },
        }


@shared_params
def group_repetitions(onsets_per_channel, fs_hz: float, max_spread_s: float = 1.0):
    """Group onsets of several channels into repetitions.

    Parameters
    ----------
    onsets_per_channel : sequence of array_like
        Per channel, onset sample indices (any order).
    {fs_hz}
    max_spread_s : float
        Largest time between the first and any other onset of one repetition, seconds.

    Returns
    -------
    list of dict
        Per repetition, channel → onset index, in time order.
    """
    spread = int(round(max_spread_s * fs_hz))
    pending = sorted(
        (int(i), c) for c, ons in enumerate(onsets_per_channel) for i in np.asarray(ons).ravel()
    )
    used = [False] * len(pending)
    reps = []
    for k, (start, _) in enumerate(pending):
        if used[k]:
            continue
        rep: dict[int, int] = {}
        for j in range(k, len(pending)):
            idx, c = pending[j]
            if idx - start > spread:
                break
            if not used[j] and c not in rep:
                rep[c] = idx
                used[j] = True
        reps.append(rep)
    return reps


@shared_params
def analyse_timing(onsets_per_channel, fs_hz: float, reference: int = 0,
                   expected_order=None, max_spread_s: float = 1.0) -> TimingResult:
    """Lags and firing order per repetition, with summary statistics.

    Parameters
    ----------
    onsets_per_channel : sequence of array_like
        Per channel, onset sample indices.
    {fs_hz}
    reference : int
        Channel the lags are measured from (e.g. the target muscle).
    expected_order : sequence of int, optional
        Expected firing order; by default the reference first, then the others in
        channel order (only the reference's position matters then).
    max_spread_s : float
        See :func:`group_repetitions`.

    Returns
    -------
    TimingResult
    """
    n_ch = len(onsets_per_channel)
    default_order = expected_order is None
    expected = [reference] + [c for c in range(n_ch) if c != reference] if default_order \
        else [int(c) for c in expected_order]
    reps = []
    for rep in group_repetitions(onsets_per_channel, fs_hz, max_spread_s):
        order = sorted(rep, key=lambda c: (rep[c], c))
        lags = {}
        if reference in rep:
            lags = {c: (i - rep[reference]) * 1000.0 / fs_hz for c, i in rep.items()}
        if default_order:
            matched = None if reference not in rep or len(rep) < 2 else \
                all(rep[reference] <= i for i in rep.values())
        else:
            fired = [c for c in expected if c in rep]
            matched = None if len(fired) < 2 else \
                all(rep[a] <= rep[b] for a, b in zip(fired, fired[1:], strict=False))
        reps.append(Repetition(dict(rep), lags, order, matched))
    decided = [r.order_matched for r in reps if r.order_matched is not None]
    lag_stats = {}
    for c in range(n_ch):
        if c == reference:
            continue
        vals = np.array([r.lags_ms[c] for r in reps if c in r.lags_ms])
        if vals.size:
            lag_stats[c] = {
                "n": int(vals.size), "mean": float(vals.mean()),
                "sd": float(vals.std(ddof=1)) if vals.size > 1 else 0.0,
                "median": float(np.median(vals)), "min": float(vals.min()),
                "max": float(vals.max()),
            }
    summary = {
        "n_repetitions": len(reps),
        "order_matched_pct": 100.0 * sum(decided) / len(decided) if decided else math.nan,
        "lag_ms": lag_stats,
    }
    return TimingResult(reference, expected, reps, summary)
