"""Each quality flag triggered by a signal built to trigger it, and not by a clean one."""

from __future__ import annotations

import numpy as np
import pytest

from emgfeedback.acquisition.boards import counts_to_uv
from emgfeedback.acquisition.simulator import Simulator
from emgfeedback.analysis.quality import ECG_ADVICE, assess_quality
from emgfeedback.dsp import PipelineConfig, process_offline

FS = 2000.0
N = int(30 * FS)


def _uv(**kwargs):
    sim = Simulator("drill", 2, FS, seed=21, board="uv", snr_db=15.0, **kwargs)
    return sim.generate_uv(N)


def _quality(x, **kwargs):
    filtered, _ = process_offline(x, PipelineConfig(fs_hz=FS, notch_hz=kwargs.get(
        "mains_hz") or 50.0))
    return assess_quality(x, FS, filtered_uv=filtered, **kwargs)


def test_clean_signal_raises_no_flag():
    for q in _quality(_uv(mains_hz=0.0)):
        assert q["flags"] == [], q
        assert q["snr_db"] > 10.0


def test_mains_hum_is_flagged_with_its_frequency():
    for mains in (50.0, 60.0):
        q = _quality(_uv(mains_hz=mains, hum_uv=60.0))
        for ch in q:
            assert "mains" in ch["flags"]
            assert ch["mains_hz"] == mains
            assert ch["mains_ratio"] > 0.1


def test_clipping_is_flagged_from_adc_rails():
    sim = Simulator("drill", 2, FS, seed=21, board="uno-myoware2", mains_hz=0.0)
    cal = sim.calibration
    counts = sim.next_counts(N)
    # Drive the ADC into its rails: amplify around mid-scale and clip like the board.
    loud = np.clip((counts - 512) * 300 + 512, cal[0].adc_min, cal[0].adc_max)
    q = assess_quality(counts_to_uv(loud, cal), FS, counts=loud, calibration=cal)
    for ch in q:
        assert "clipping" in ch["flags"]
        assert ch["clipped_pct"] > 1.0
    clean = assess_quality(counts_to_uv(counts, cal), FS, counts=counts, calibration=cal)
    assert all("clipping" not in ch["flags"] for ch in clean)


def test_electrode_off_at_rail_and_flat():
    sim = Simulator("drill", 2, FS, seed=21, board="uno-myoware2", mains_hz=50.0,
                    artefacts="off")
    art = sim.truth.artefacts[0]
    counts = sim.next_counts(art["end_index"] + int(FS))
    q = assess_quality(counts_to_uv(counts, sim.calibration), FS, counts=counts,
                       calibration=sim.calibration)
    assert q[1]["electrode_off"] and "rail" in q[1]["electrode_off_reason"]
    assert not q[0]["electrode_off"]
    flat = np.zeros((N, 1))
    assert assess_quality(flat, FS)[0]["electrode_off"]


def test_ecg_is_flagged_with_advice():
    q = _quality(_uv(mains_hz=0.0, artefacts="ecg"))
    assert "ecg" in q[0]["flags"]
    assert ECG_ADVICE in q[0]["advice"]
    assert q[0]["ecg_rate_bpm"] == pytest.approx(72.0, abs=6.0)  # the simulator's 1.2 Hz


def test_lost_samples_percentage():
    x = _uv(mains_hz=0.0)
    x[1000:1100, 0] = np.nan
    q = assess_quality(x, FS, lost_samples=[0, 300])
    assert q[0]["lost_pct"] == pytest.approx(100 * 100 / N)
    assert q[1]["lost_pct"] == pytest.approx(100 * 300 / (N + 300))
    assert "lost" in q[1]["flags"]
