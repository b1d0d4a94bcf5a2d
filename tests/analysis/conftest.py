"""Shared fixtures for the analysis tests: simulated recordings through the real pipeline."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from emgfeedback.acquisition.simulator import Simulator
from emgfeedback.dsp import PipelineConfig, process_offline


@functools.lru_cache(maxsize=16)
def _simulated(scenario: str, n_channels: int, fs_hz: float, seed: int, snr_db: float | None,
              seconds: float | None = None, **kwargs):
    """(simulator, raw µV, band-passed µV) for a scenario, cached across tests."""
    sim = Simulator(scenario, n_channels, fs_hz, seed=seed, board="uv", snr_db=snr_db,
                    **kwargs)
    n = sim.truth.duration_samples if seconds is None else int(seconds * fs_hz)
    raw = sim.generate_uv(n)
    filtered, _ = process_offline(raw, PipelineConfig(fs_hz=fs_hz))
    raw.setflags(write=False)
    filtered.setflags(write=False)
    return sim, raw, filtered


def _match_onsets(true_onsets, detected, fs_hz, tol_s=0.25):
    """One-to-one nearest matching; returns (errors_ms, n_unmatched_detections)."""
    tol = tol_s * fs_hz
    used = set()
    errors = []
    for t in true_onsets:
        cands = [(abs(int(d) - t), j) for j, d in enumerate(detected)
                 if j not in used and abs(int(d) - t) <= tol]
        if cands:
            _, j = min(cands)
            used.add(j)
            errors.append((int(detected[j]) - t) * 1000.0 / fs_hz)
    return np.array(errors), len(detected) - len(used)


@pytest.fixture
def simulated():
    """The cached :func:`_simulated` factory."""
    return _simulated


@pytest.fixture
def match_onsets():
    """The :func:`_match_onsets` helper."""
    return _match_onsets
