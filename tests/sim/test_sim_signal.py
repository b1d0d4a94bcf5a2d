"""The simulator's signal: spectrum, activations at the truth indices, tone, hum, ADC."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import signal

from emgfeedback.acquisition.boards import get_board
from emgfeedback.acquisition.sim_scenarios import ASYM_RATIOS, DRILL_LAGS_MS
from emgfeedback.acquisition.simulator import BLOCK, SCENARIOS, Simulator
from emgfeedback.errors import ConfigError

QUIET = dict(mains_hz=0.0, wander_uv=0.0, board="uv")


def _psd(x: np.ndarray, fs: float):
    return signal.welch(x, fs=fs, nperseg=4096, axis=0)


def test_spectrum_is_emg_shaped_not_white():
    fs = 2000.0
    sim = Simulator("rest", 1, fs, seed=3, noise_uv=0.0, **QUIET)
    f, p = _psd(sim.generate_uv(int(60 * fs))[:, 0], fs)
    peak = f[np.argmax(p)]
    assert 50.0 <= peak <= 150.0
    band = (f >= 50) & (f <= 150)
    assert p[band].sum() / p.sum() > 0.5
    # White noise would put as much power in 500-1000 Hz as in 0-500 Hz.
    assert p[f >= 500].sum() < 0.05 * p.sum()


def test_rest_tone_rms_matches_truth():
    fs = 1000.0
    sim = Simulator("rest", 4, fs, seed=5, noise_uv=0.0, **QUIET)
    x = sim.generate_uv(int(60 * fs))
    rms = np.sqrt(np.mean(x**2, axis=0))
    np.testing.assert_allclose(rms, sim.truth.tone_uv, rtol=0.03)
    assert sim.truth.activations == ((),) * 4


def test_background_includes_amplifier_noise():
    fs = 1000.0
    sim = Simulator("rest", 2, fs, seed=5, noise_uv=2.0, **QUIET)
    x = sim.generate_uv(int(60 * fs))
    np.testing.assert_allclose(np.sqrt(np.mean(x**2, axis=0)), sim.truth.background_uv,
                               rtol=0.03)


@pytest.mark.parametrize("scenario,channels", [("drill", 4), ("asymmetry", 4), ("tension", 2)])
def test_activation_is_nonzero_exactly_on_truth_spans(scenario, channels):
    # Same seed, two SNRs: the noise is identical, only the activation amplitude differs,
    # so the two streams differ exactly where the activation is > 0.
    fs = 500.0
    a = Simulator(scenario, channels, fs, seed=7, snr_db=10.0, **QUIET)
    b = Simulator(scenario, channels, fs, seed=7, snr_db=20.0, **QUIET)
    first_offset = min(spans[0][1] for spans in a.truth.activations if spans)
    n = a.truth.duration_samples + first_offset + 100  # into the second cycle
    differs = a.generate_uv(n) != b.generate_uv(n)
    np.testing.assert_array_equal(differs, a.truth.activation_mask(0, n))
    assert a.truth.activations == b.truth.activations
    second = a.truth.activations_between(a.truth.duration_samples, n)
    assert second and all(on >= a.truth.duration_samples for _, on, _ in second)


def test_envelope_rises_at_onset_and_reaches_truth_amplitude():
    fs = 2000.0
    sim = Simulator("drill", 2, fs, seed=11, variation=0.0, noise_uv=1.0, **QUIET)
    x = sim.generate_uv(sim.truth.duration_samples)
    bg = np.asarray(sim.truth.background_uv)
    win = int(0.2 * fs)
    for ch in range(2):
        for (on, off), amp, (ramp_on, ramp_off) in zip(sim.truth.activations[ch],
                                                      sim.truth.amplitudes_uv[ch],
                                                      sim.truth.ramps[ch], strict=True):
            before = np.sqrt(np.mean(x[on - win:on, ch] ** 2))
            plateau = x[on + ramp_on:off - ramp_off, ch]
            during = np.sqrt(np.mean(plateau**2))
            assert before == pytest.approx(bg[ch], rel=0.35)
            assert during == pytest.approx(np.hypot(amp, bg[ch]), rel=0.1)
            assert during / before > 5.0


def test_snr_option_sets_activation_to_background_ratio():
    fs = 1000.0
    for snr in (3.0, 12.0):
        sim = Simulator("drill", 2, fs, seed=2, snr_db=snr, variation=0.0, **QUIET)
        x = sim.generate_uv(sim.truth.duration_samples)
        mask = sim.truth.activation_mask(0, x.shape[0])
        for ch in range(2):
            amps = np.array(sim.truth.amplitudes_uv[ch])
            bg = sim.truth.background_uv[ch]
            # Nominal (not per-rep) amplitude sits at the requested SNR; reps scatter around it.
            assert 20 * np.log10(np.median(amps) / bg) == pytest.approx(snr, abs=3.0)
            act_ms = np.mean(x[mask[:, ch], ch] ** 2)
            rest_ms = np.mean(x[~mask[:, ch], ch] ** 2)
            assert rest_ms == pytest.approx(bg**2, rel=0.1)
            assert act_ms > rest_ms


def test_snr_scales_amplitudes_exactly_and_keeps_ratios():
    low = Simulator("asymmetry", 4, 1000.0, seed=2, snr_db=3.0, **QUIET).truth
    high = Simulator("asymmetry", 4, 1000.0, seed=2, snr_db=12.0, **QUIET).truth
    for ch in range(4):
        np.testing.assert_allclose(np.array(high.amplitudes_uv[ch]) / low.amplitudes_uv[ch],
                                   10 ** (9.0 / 20.0))
    for rep in high.repetitions:
        left, right = rep["pair"]
        assert rep["amplitude_uv"][right] / rep["amplitude_uv"][left] == pytest.approx(
            rep["amplitude_ratio"])


def test_repetitions_repeat_every_cycle():
    truth = Simulator("drill", 2, 500.0, seed=1, **QUIET).truth
    dur = truth.duration_samples
    second = truth.repetitions_between(dur, 2 * dur)
    assert len(second) == len(truth.repetitions)
    for first, again in zip(truth.repetitions, second, strict=True):
        assert again["cycle"] == 1
        assert again["onset_index"] == {c: i + dur for c, i in first["onset_index"].items()}
        assert again["lag_ms"] == first["lag_ms"]


def test_drill_truth_order_and_lags():
    fs = 2000.0
    sim = Simulator("drill", 4, fs, seed=1, **QUIET)
    reps = sim.truth.repetitions
    assert len(reps) == len(DRILL_LAGS_MS[1])
    for k, rep in enumerate(reps):
        on = rep["onset_index"]
        assert rep["lag_ms"] == pytest.approx(DRILL_LAGS_MS[1][k], abs=1000.0 / fs)
        assert rep["lag_ms"] == pytest.approx((on[1] - on[0]) * 1000.0 / fs)
        assert rep["order"] == sorted(on, key=lambda c: (on[c], c))
        assert rep["target_first"] == (on[0] < on[1])
        for ch, onset in on.items():
            assert (onset, rep["offset_index"][ch]) in sim.truth.activations[ch]
    assert [r["target_first"] for r in reps].count(False) == 2


def test_asymmetry_ratio_and_lag_are_measurable():
    fs = 1000.0
    sim = Simulator("asymmetry", 2, fs, seed=4, noise_uv=0.5, **QUIET)
    x = sim.generate_uv(sim.truth.duration_samples)
    ratios, lags = [], []
    for rep in sim.truth.repetitions:
        left, right = rep["pair"]
        assert rep["amplitude_uv"][right] / rep["amplitude_uv"][left] == pytest.approx(
            ASYM_RATIOS[0])
        seg = [x[rep["onset_index"][c] + 100:rep["offset_index"][c] - 100, c]
               for c in (left, right)]
        ratios.append(np.sqrt(np.mean(seg[1] ** 2) / np.mean(seg[0] ** 2)))
        lags.append(rep["lag_ms"])
    assert np.median(ratios) == pytest.approx(ASYM_RATIOS[0], rel=0.1)
    assert np.mean(lags) == pytest.approx(sim.truth.extra["pairs"][0]["lag_ms_mean"], abs=15)


def test_tension_tone_follows_truth_over_time():
    fs = 500.0
    sim = Simulator("tension", 2, fs, seed=9, noise_uv=0.0, **QUIET)
    x = sim.generate_uv(sim.truth.duration_samples)
    mask = sim.truth.activation_mask(0, x.shape[0]).any(axis=1)
    win = int(2 * fs)
    for start in range(0, x.shape[0] - win, win):
        if mask[start:start + win].any():
            continue
        seg = x[start:start + win]
        expected = np.sqrt(np.mean(sim.truth.tone_uv_at(np.arange(start, start + win)) ** 2,
                                   axis=0))
        np.testing.assert_allclose(np.sqrt(np.mean(seg**2, axis=0)), expected, rtol=0.12)
    first = sim.truth.tone_uv_at([0])[0]
    last = sim.truth.tone_uv_at([x.shape[0] - 1])[0]
    assert (first > 3 * last).all()
    np.testing.assert_allclose(first, sim.truth.extra["elevated_uv"][:2])


@pytest.mark.parametrize("mains", [50.0, 60.0])
def test_mains_hum_at_the_chosen_frequency(mains):
    fs = 1000.0
    sim = Simulator("rest", 1, fs, seed=1, mains_hz=mains, wander_uv=0.0, board="uv")
    f, p = _psd(sim.generate_uv(int(30 * fs))[:, 0], fs)

    def power_at(hz):
        return p[np.argmin(np.abs(f - hz))]

    other = 60.0 if mains == 50.0 else 50.0
    assert power_at(mains) > 100 * power_at(other)
    assert power_at(3 * mains) > 10 * power_at(3 * other)
    silent = Simulator("rest", 1, fs, seed=1, mains_hz=0.0, wander_uv=0.0, board="uv")
    f0, p0 = _psd(silent.generate_uv(int(30 * fs))[:, 0], fs)
    assert p0[np.argmin(np.abs(f0 - mains))] < power_at(mains) / 100


@pytest.mark.parametrize("board", ["uno-myoware2", "uno-myoware2-env", "esp32-myoware2",
                                   "olimex-ekg-emg", "byb-muscle"])
def test_counts_are_the_boards_quantisation(board):
    kw = dict(seed=8, artefacts="all")
    a = Simulator("drill", 2, 1000.0, board=board, **kw)
    b = Simulator("drill", 2, 1000.0, board=board, **kw)
    counts = a.next_counts(20000)
    uv = b.generate_uv(20000)
    cal = a.calibration
    assert counts.dtype == np.int32
    for c in range(2):
        np.testing.assert_array_equal(counts[:, c], cal[c].to_counts(uv[:, c]))
        inside = (counts[:, c] > cal[c].adc_min) & (counts[:, c] < cal[c].adc_max)
        err = cal[c].to_uv(counts[inside, c]) - uv[inside, c]
        assert np.abs(err).max() <= cal[c].uv_per_count / 2 + 1e-9
    assert counts.min() >= cal[0].adc_min and counts.max() <= cal[0].adc_max


def test_clipping_at_the_rails():
    sim = Simulator("rest", 1, 1000.0, seed=1, board="uno-myoware2", hum_uv=50_000.0)
    counts = sim.next_counts(2000)
    assert counts.min() == 0 and counts.max() == 1023
    assert (counts == 1023).mean() > 0.1
    mv = Simulator("rest", 1, 1000.0, seed=1, board="uno-myoware2",
                   hum_uv=50_000.0).next_adc_mv(2000)
    assert mv.min() == 0.0 and mv.max() == 5000.0


def test_adc_millivolts_are_gain_plus_offset():
    a = Simulator("drill", 2, 1000.0, seed=3, board="uno-myoware2")
    b = Simulator("drill", 2, 1000.0, seed=3, board="uno-myoware2")
    mv = a.next_adc_mv(5000)
    uv = b.generate_uv(5000)
    np.testing.assert_allclose(mv, uv * 200.0 / 1000.0 + 2500.0)
    env = Simulator("drill", 2, 500.0, seed=3, board="uno-myoware2-env").next_adc_mv(2000)
    assert env.min() >= 0.0
    with pytest.raises(ConfigError):
        Simulator("rest", 1, 250.0, board="uv").next_adc_mv(10)


def test_artefacts_appear_where_the_truth_says():
    fs = 1000.0
    sim = Simulator("rest", 2, fs, seed=6, board="uno-myoware2", artefacts="all",
                    wander_uv=0.0, mains_hz=0.0)
    counts = sim.next_counts(sim.truth.duration_samples)
    uv = np.asarray(sim.calibration[0].to_uv(counts))
    kinds = {a["kind"]: a for a in sim.truth.artefacts}
    assert set(kinds) == {"motion", "ecg", "off"}
    off = kinds["off"]
    ch = off["channels"][0]
    assert (counts[off["start_index"]:off["end_index"], ch] == 1023).all()
    assert not (counts[:off["start_index"], ch] == 1023).any()
    for a in sim.truth.artefacts:
        if a["kind"] == "motion":
            seg = uv[a["start_index"]:a["end_index"], 0]
            assert np.abs(seg).max() > 100.0
    peaks = np.array(kinds["ecg"]["r_peak_indices"])
    assert 0.9 * 60 * 1.2 <= peaks.size <= 1.1 * 60 * 1.2
    r_amp = kinds["ecg"]["amplitude_uv"][0]
    assert np.median(uv[peaks, 0]) > 0.5 * r_amp


def test_partition_invariance():
    kw = dict(scenario="tension", n_channels=3, fs_hz=500.0, seed=12, artefacts="all",
              board="uno-myoware2-env")
    whole = Simulator(**kw).generate_uv(3 * BLOCK + 517)
    rng = np.random.default_rng(0)
    for _ in range(3):
        sim = Simulator(**kw)
        parts, left = [], whole.shape[0]
        while left:
            n = int(min(left, rng.integers(0, 2 * BLOCK)))
            parts.append(sim.generate_uv(n))
            left -= n
        np.testing.assert_array_equal(np.concatenate(parts), whole)
    sim = Simulator(**kw)
    sim.generate_uv(100)
    sim.reset()
    np.testing.assert_array_equal(sim.generate_uv(whole.shape[0]), whole)


def test_no_transient_at_internal_block_boundaries():
    # The shaping filter carries its state across blocks: the samples right after a block
    # boundary are as strong as any others (a restarted filter would ramp up from zero).
    sim = Simulator("rest", 1, 2000.0, seed=4, noise_uv=0.0, **QUIET)
    x = sim.generate_uv(300 * BLOCK)[:, 0]
    heads = x.reshape(300, BLOCK)[:, :4]
    assert np.sqrt(np.mean(heads**2)) == pytest.approx(np.sqrt(np.mean(x**2)), rel=0.15)


def test_seeds_reproduce_and_differ():
    a = Simulator("drill", 2, 1000.0, seed=1).generate_uv(5000)
    b = Simulator("drill", 2, 1000.0, seed=1).generate_uv(5000)
    c = Simulator("drill", 2, 1000.0, seed=2).generate_uv(5000)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    t1 = Simulator("drill", 2, 1000.0, seed=1).truth
    t2 = Simulator("drill", 2, 1000.0, seed=2).truth
    assert t1.activations != t2.activations  # per-rep jitter depends on the seed
    assert [r["lag_ms"] for r in t1.repetitions] == [r["lag_ms"] for r in t2.repetitions]


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_truth_serialises_to_json(scenario):
    truth = Simulator(scenario, 4, 500.0, seed=1, artefacts="all").truth
    data = json.loads(json.dumps(truth.to_dict()))
    assert data["scenario"] == scenario
    assert [tuple(span) for span in data["activations"][0]] == list(truth.activations[0])
    assert len(data["repetitions"]) == len(truth.repetitions)


def test_scenarios_and_config_errors():
    assert {"rest", "drill", "asymmetry", "tension"} <= set(SCENARIOS)
    with pytest.raises(ConfigError, match="known scenarios"):
        Simulator("nope")
    with pytest.raises(ConfigError, match="at least 2 channels"):
        Simulator("asymmetry", 1)
    with pytest.raises(ConfigError, match="takes 1 to"):
        Simulator("rest", get_board("uno-myoware2").max_channels + 1)
    with pytest.raises(ConfigError, match="unknown artefact"):
        Simulator("rest", 1, artefacts="ecg,sparks")
    with pytest.raises(ConfigError, match="unknown board"):
        Simulator("rest", 1, board="teensy")
