"""The onset benchmark's false-alarm measurement: long rests and the Poisson bound.

``benchmarks/bench_onsets.py`` is a script, not a package module: it is imported from its
folder, as it imports ``onset_signals`` itself. Signals stay small (minutes at 500 Hz or
1 kHz) so the file runs in about a second once the detectors' kernels are cached.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import signal, stats

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import bench_onsets as bench  # noqa: E402
import onset_signals  # noqa: E402

OURS = ("glr", "glr_offline", "streaming")


@pytest.mark.parametrize("k", [0, 1, 2, 5, 20, 300])
def test_poisson_upper_bound_is_the_chi_square_quantile(k):
    # Garwood: the one-sided upper bound is half the chi-square quantile with 2k+2 dof,
    # and it is the mean at which k or fewer events have probability 5 %.
    upper = bench.poisson_upper(k)
    assert upper == pytest.approx(stats.chi2.ppf(0.95, 2 * k + 2) / 2.0, rel=1e-9)
    assert stats.poisson.cdf(k, upper) == pytest.approx(0.05, rel=1e-7)
    assert bench.poisson_upper(k, 0.975) == pytest.approx(
        stats.chi2.ppf(0.975, 2 * k + 2) / 2.0, rel=1e-9)


def test_poisson_upper_bound_known_values_and_bad_input():
    assert bench.poisson_upper(0) == pytest.approx(-math.log(0.05), rel=1e-12)  # 2.996
    assert bench.poisson_upper(1) == pytest.approx(4.743865, rel=1e-6)
    # none in 30 minutes: at most 1.0 per 10 minutes, what the target needs
    assert 10.0 * bench.poisson_upper(0) / 30.0 == pytest.approx(0.9986, abs=1e-4)
    with pytest.raises(ValueError):
        bench.poisson_upper(-1)
    with pytest.raises(ValueError):
        bench.poisson_upper(0, 1.0)


def test_white_rest_through_glr_meets_its_design_and_bursts_are_counted():
    fs = 1000.0
    rng = np.random.default_rng(11)
    rest = 5.0 * rng.standard_normal(int(180 * fs))
    found = bench.rest_detections(rest, fs, OURS)
    # The design (h = 14 nats, 60 ms confirmation): <= 0.1 per minute; at that rate two or
    # more alarms in 3 minutes have a probability under 4 %.
    assert found["glr"] <= 1 and found["glr_offline"] <= 1
    # The same path counts what is there: three loud half-second bursts in the rest.
    loud = rest.copy()
    for t_s in (40.0, 90.0, 140.0):
        i = int(t_s * fs)
        loud[i:i + int(0.5 * fs)] *= 20.0
    found_loud = bench.rest_detections(loud, fs, OURS)
    for name in OURS:
        assert found_loud[name] == found[name] + 3, name


def test_a_failing_reference_is_not_a_quiet_rest():
    def broken(x, fs, rest):
        raise RuntimeError("no")

    x = 5.0 * np.random.default_rng(1).standard_normal(int(10 * 500.0))
    assert bench.rest_detections(x, 500.0, ["glr", "broken"], {"broken": broken}) == {
        "glr": 0, "broken": None}


def test_long_rest_rows_count_minutes_after_each_stretchs_learning_window():
    # 5.5 minutes: one 5-minute stretch and one of 30 s, each learning its rest on 3 s
    rows, missing, cpu_s = bench.run_rest(["shwedyk"], [500.0], minutes=5.5,
                                          references=False, ours=OURS)
    assert missing == ["(not requested)"] and cpu_s >= 0.0
    assert [r["detector"] for r in rows] == list(OURS)
    for r in rows:
        assert r["family"] == "shwedyk" and r["fs_hz"] == 500.0
        assert r["minutes"] == pytest.approx(5.5 - 2 * 3.0 / 60.0)
        assert r["per_10min"] == pytest.approx(10.0 * r["false_alarms"] / r["minutes"])
        assert r["per_10min_upper95"] == pytest.approx(
            10.0 * stats.chi2.ppf(0.95, 2 * r["false_alarms"] + 2) / 2.0 / r["minutes"])
    miss = bench.rest_targets([bench.rest_row("x", 500.0, "glr", 2, 10.0),
                               bench.rest_row("y", 500.0, "glr", 0, 10.0),
                               bench.rest_row("z", 500.0, "glr", 0, 60.0)])
    assert [m.split(":")[0] for m in miss] == ["missed", "not resolved"]
    assert miss[0].startswith("missed: x") and miss[1].startswith("not resolved: y")


def test_rest_of_a_family_is_its_background_and_converter():
    fs = 1000.0
    x = onset_signals.make_rest("ar_real", fs, 20.0, 3)
    assert x.shape == (int(20 * fs),)
    step = onset_signals.BG_RMS_UV * 0.5  # its 10-bit converter
    assert np.allclose(x / step, np.round(x / step))
    lo, hi = onset_signals.band_of(fs)
    sos = signal.butter(4, [lo, hi], btype="bandpass", fs=fs, output="sos")
    band_rms = np.sqrt(np.mean(signal.sosfiltfilt(sos, x)[int(fs):-int(fs)] ** 2))
    # the background is 5 µV in band; wander is below the band, the steps add ~1 %
    assert band_rms == pytest.approx(onset_signals.BG_RMS_UV, rel=0.05)
    assert np.array_equal(x, onset_signals.make_rest("ar_real", fs, 20.0, 3))
    assert not np.array_equal(x, onset_signals.make_rest("ar_real", fs, 20.0, 4))


def test_cells_carry_their_rest_minutes_and_bound(capsys):
    names, cells, _ = bench.run(["shwedyk"], [500.0], [20.0], range(1), references=False,
                                ours=("glr",))
    rec = onset_signals.make("shwedyk", 500.0, 20.0, 0)
    c = cells[("shwedyk", 500.0, 20.0, "glr")]
    assert c["rest_min"] == pytest.approx(rec.rest_s / 60.0)
    assert c["false_alarms"] == round(c["false_alarms_per_min"] * c["rest_min"])
    assert c["false_alarms_in_rest"] == c["false_alarm_kinds"]["rest"]
    assert c["false_alarms_per_min_upper95"] == pytest.approx(
        stats.chi2.ppf(0.95, 2 * c["false_alarms"] + 2) / 2.0 / c["rest_min"])
    assert set(c["false_alarm_kinds"]) == set(bench.FALSE_ALARM_KINDS)


def test_rest_only_cli_prints_the_long_rest_as_json(capsys):
    rc = bench.main(["--rest-only", "--rest-minutes", "0.25", "--families", "steps",
                     "--rates", "500", "--no-reference", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    rest = out["long_rest"]
    assert rest["minutes"] == 0.25 and "cells" not in out
    assert [r["detector"] for r in rest["rows"]] == list(OURS)
    assert all(r["minutes"] == pytest.approx(0.2) for r in rest["rows"])
    # 12 s of rest cannot resolve 1 per 10 minutes: every row of ours says so
    assert len(rest["glr_misses"]) == 1 and len(rest["glr_offline_misses"]) == 1
    with pytest.raises(SystemExit):
        bench.main(["--rest-only", "--rest-minutes", "0"])
