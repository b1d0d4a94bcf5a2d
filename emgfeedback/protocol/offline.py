"""Helpers to feed recorded arrays to the runner (replay, tests, offline analysis)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from emgfeedback.protocol.runner import Features


def features_from_arrays(envelope_uv: np.ndarray, onsets: Sequence[Any] = (),
                         first_index: int = 0) -> Features:
    """Wrap a whole recording as one :class:`Features` block.

    Parameters
    ----------
    envelope_uv : ndarray
        Envelope in µV, ``(n_samples, n_channels)`` (1-D is taken as one channel).
    onsets : sequence
        Onset events (``channel``, ``kind``, ``index``, optional ``detected_index``), e.g.
        :class:`emgfeedback.analysis.onset.OnsetEvent`.
    first_index : int
        Absolute index of the first sample.

    Returns
    -------
    Features
    """
    env = np.asarray(envelope_uv, dtype=np.float64)
    if env.ndim == 1:
        env = env[:, None]
    if env.ndim != 2:
        raise ValueError(f"envelope_uv must be (n_samples, n_channels), got {env.shape}")
    return Features(int(first_index), env, tuple(onsets))


def split_features(features: Features, block_sizes: int | Sequence[int]) -> Iterator[Features]:
    """Cut one Features block into consecutive blocks, as a live stream would deliver them.

    Each onset event goes with the block containing its ``detected_index`` (its ``index`` if
    it has none), which is when a streaming detector reports it.

    Parameters
    ----------
    features : Features
        The whole recording.
    block_sizes : int or sequence of int
        A fixed block size, or sizes used in turn (cycled).

    Yields
    ------
    Features
    """
    sizes = [block_sizes] if isinstance(block_sizes, (int, np.integer)) else list(block_sizes)
    if not sizes or any(int(s) < 1 for s in sizes):
        raise ValueError("block sizes must be positive integers")
    env = features.envelope_uv
    n = len(env)
    first = features.first_index

    def when(ev) -> int:
        det = getattr(ev, "detected_index", None)
        return int(ev.index if det is None else det)

    events = sorted(features.onsets, key=when)
    times = np.array([when(ev) for ev in events], dtype=np.int64)
    start = 0
    i = 0
    while start < n:
        stop = min(n, start + int(sizes[i % len(sizes)]))
        i += 1
        lo = 0 if start == 0 else np.searchsorted(times, first + start)
        hi = len(times) if stop == n else np.searchsorted(times, first + stop)
        yield Features(first + start, env[start:stop], tuple(events[lo:hi]))
        start = stop
