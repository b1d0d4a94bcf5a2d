"""Output kinds (RAW, RECT, ENV) from the simulator through the processor, quality and analysis.

Issue #12.1: on ``sim://?board=uno-myoware2-env`` the ENV pin was band-passed like RAW, so
the live bars read 0 µV and ``analyze`` a 1.2 µV peak. Each test here failed on b47e085.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from emgfeedback.acquisition import open_source
from emgfeedback.acquisition.boards import RMS_PER_ARV, counts_to_uv, get_board
from emgfeedback.acquisition.simulator import Simulator
from emgfeedback.acquisition.source import Chunk, SourceInfo
from emgfeedback.analysis.quality import assess_quality
from emgfeedback.analysis.summary import analyse
from emgfeedback.errors import ConfigError
from emgfeedback.runtime import Processor


def _levels(envelope, truth, channel, fs_hz):
    """Mean envelope over each plateau of ``channel`` and RMS over its rest (> 1 s away)."""
    n = envelope.shape[0]
    plateaus, rest = [], np.ones(n, dtype=bool)
    rest[: int(fs_hz)] = False
    for k, (on, off) in enumerate(truth.activations[channel]):
        if off > n:
            continue
        rise, fall = truth.ramps[channel][k]
        plateaus.append(float(np.mean(envelope[on + rise + int(0.3 * fs_hz):off - fall,
                                               channel])))
        rest[max(on - int(fs_hz), 0):off + int(fs_hz)] = False
    return plateaus, math.sqrt(float(np.mean(envelope[rest, channel] ** 2)))


def test_sim_source_runs_at_the_boards_nominal_rate_and_output():
    env = open_source("sim://?board=uno-myoware2-env&pace=fast")
    assert env.info.fs_hz == get_board("uno-myoware2-env").fs_hz == 500.0
    assert [c.output for c in env.info.calibration] == ["env", "env"]
    assert open_source("sim://?board=esp32-myoware2-env&pace=fast").info.fs_hz == 250.0
    assert open_source("sim://?board=byb-muscle&channels=2&pace=fast").info.fs_hz == 5000.0
    assert open_source("sim://?pace=fast").info.fs_hz == 2000.0
    assert open_source("sim://?board=uno-myoware2-env&fs=1000&pace=fast").info.fs_hz == 1000.0
    rect = open_source("sim://?board=uno-myoware2&output=rect&pace=fast")
    assert [c.output for c in rect.info.calibration] == ["rect", "rect"]
    with pytest.raises(ConfigError, match="has no ENV output; it has RAW"):
        open_source("sim://?board=olimex-ekg-emg&output=env")
    with pytest.raises(ConfigError, match="output='envelope'"):
        open_source("sim://?output=envelope")


def test_simulated_env_pin_is_the_gained_arv_of_the_sensor_band():
    # Large wander, no hum: the sensor's AC coupling must keep the wander out of the
    # rectifier (rectified, 200 µV of wander would read ~130 µV ARV at rest).
    sim = Simulator("rest", 1, seed=2, board="uno-myoware2-env", mains_hz=0.0,
                    wander_uv=200.0)
    fs = sim.fs_hz
    counts = sim.next_counts(int(30 * fs))
    cal = sim.calibration[0]
    assert cal.output == "env" and cal.offset_counts == 0
    # Counts are volts at the pin: ARV at the electrode × 10,200 on a 5 V 10-bit ADC.
    volts = counts[int(2 * fs):, 0] * 5.0 / 1024
    arv_uv = volts / 10_200 * 1e6
    background = sim.truth.background_uv[0]
    assert np.mean(arv_uv) == pytest.approx(math.sqrt(2 / math.pi) * background, rel=0.1)
    assert sim.truth.rest_level_uv(0) == pytest.approx(background)


def test_truth_levels_per_output_kind():
    raw = Simulator("drill", 2, seed=1, board="uno-myoware2").truth
    rect = Simulator("drill", 2, seed=1, board="uno-myoware2", outputs=("rect", "rect")).truth
    env = Simulator("drill", 2, seed=1, board="uno-myoware2", outputs=("env", "env")).truth
    assert env.outputs == ("env", "env") and raw.outputs == ("raw", "raw")
    rng = np.random.default_rng(0)
    for c in range(2):
        # RAW: the notches remove the hum. RECT keeps it, and rectifying keeps the RMS.
        assert raw.rest_level_uv(c) == pytest.approx(raw.background_uv[c])
        assert rect.rest_level_uv(c) == pytest.approx(
            math.hypot(rect.background_uv[c], rect.hum_rms_uv[c]))
        assert env.hum_rms_uv[c] > 0
        # ENV: √(π/2) × E|hum + Gaussian EMG|, checked here by Monte Carlo.
        for amplitude in (0.0, 90.0):
            sigma = math.hypot(amplitude, env.background_uv[c])
            t = rng.uniform(0.0, 1.0, 400_000)
            hum = sum(a * np.sin(2 * math.pi * f * t + ph) for f, a, ph in env.hum_terms[c])
            x = hum + sigma * rng.standard_normal(t.size)
            expected = float(np.mean(np.abs(x))) * math.sqrt(math.pi / 2)
            assert env.level_uv(c, amplitude) == pytest.approx(expected, rel=0.01)
        assert env.rest_level_uv(c) == env.level_uv(c, 0.0)
        assert env.active_level_uv(c, 90.0) == pytest.approx(
            math.hypot(90.0, env.background_uv[c]), rel=0.01)
    assert env.to_dict()["outputs"] == ["env", "env"]


def test_processor_runs_raw_rect_and_env_channels_of_one_source_by_kind():
    board = get_board("uno-myoware2")
    kinds = ("raw", "rect", "env")
    fs = 2000.0
    sim = Simulator("drill", 3, fs, seed=6, board=board, outputs=kinds, variation=0.0)
    info = SourceInfo(url="test://mixed", fs_hz=fs, channel_names=sim.channel_names,
                      calibration=sim.calibration, board=board.name)
    proc = Processor(info)
    assert proc.output_kinds == kinds
    n = int(15 * fs)
    counts = sim.next_counts(n)
    outs = [proc.process(Chunk(counts[a:a + 160], a, 0.0)) for a in range(0, n, 160)]
    envelope = np.vstack([o.envelope_uv for o in outs])
    truth = sim.truth
    for c in range(3):
        plateaus, _rest = _levels(envelope, truth, c, fs)
        expected = truth.active_level_uv(c, truth.amplitudes_uv[c][0])
        assert plateaus, f"channel {c} has a plateau in 15 s"
        # Every kind reads the contraction in µV RMS at the electrode (RAW loses a few %
        # to its notches; before, the ENV column read ~0).
        assert np.mean(plateaus) == pytest.approx(expected, rel=0.15), kinds[c]
    quality = proc.latest_quality
    assert [q["output"] for q in quality] == list(kinds)
    assert "mains" in quality[0]["checks"]
    assert "mains" not in quality[1]["checks"] and "mains" not in quality[2]["checks"]
    assert math.isnan(quality[2]["mains_ratio"])
    for q in quality:
        assert not {"clipping", "electrode_off"} & set(q["flags"]), q


def test_quality_of_rect_and_env_at_rest_is_not_a_rail_and_has_no_mains_ratio():
    # On an Uno, RECT rests at 0 counts most of the time: that is not the lower rail.
    sim = Simulator("rest", 2, seed=3, board="uno-myoware2", outputs=("rect", "env"))
    counts = sim.next_counts(int(10 * sim.fs_hz))
    assert np.mean(counts[:, 0] == 0) > 0.5
    uv = counts_to_uv(counts, sim.calibration)
    quality = assess_quality(uv, sim.fs_hz, calibration=sim.calibration)
    for q in quality:
        assert q["clipped_pct"] == 0.0 and not q["electrode_off"], q
        assert "mains" not in q["flags"]
    assert "ecg" in quality[0]["checks"] and "ecg" not in quality[1]["checks"]


def test_quality_still_flags_a_clipped_or_flat_envelope():
    cal = get_board("uno-myoware2-env").calibration(1)[0]
    fs = 500.0
    top = np.full(int(4 * fs), (cal.adc_max - cal.offset_counts) * cal.uv_per_count)
    clipped = assess_quality(top[:, None], fs, calibration=[cal])[0]
    assert "clipping" in clipped["flags"] and clipped["electrode_off"]
    flat = assess_quality(np.zeros((int(8 * fs), 1)), fs, calibration=[cal])[0]
    assert flat["electrode_off"] and "flat" in flat["electrode_off_reason"]
    assert "clipping" not in flat["flags"]


def test_analyse_measures_tone_and_bursts_on_env_channels():
    sim = Simulator("drill", 2, seed=1, board="uno-myoware2-env", variation=0.0)
    truth = sim.truth
    uv = counts_to_uv(sim.next_counts(int(30 * sim.fs_hz)), sim.calibration)
    result = analyse(uv, sim.fs_hz, list(sim.channel_names), output_kinds=["env", "env"])
    for c, ch in enumerate(result["channels"]):
        assert ch["output"] == "env"
        assert ch["tone_valid"], ch["tone_note"]
        # Before: 0.07 µV (the band-pass took the envelope away).
        assert ch["resting_tone_uv"] == pytest.approx(truth.rest_level_uv(c), rel=0.15)
        n_true = sum(off <= uv.shape[0] for _, off in truth.activations[c])
        assert len(ch["onsets_s"]) >= n_true
        assert ch["peak_envelope_uv"] > 0.9 * truth.amplitudes_uv[c][0]
        assert ch["quality"]["mains_ratio"] is None or math.isnan(ch["quality"]["mains_ratio"])
    # The floor is in the same RMS-equivalent units as the level.
    cal = sim.calibration[0]
    assert cal.wideband_floor_uv == pytest.approx(cal.uv_per_count / math.sqrt(12) * RMS_PER_ARV)


def test_virtual_env_board_on_a_pty_streams_env_counts_at_its_nominal_rate(tmp_path):
    """simulate-device with an ENV board: 500 Hz, ENV counts; recorded and analysed as ENV."""
    import json
    import subprocess
    import sys

    from emgfeedback.acquisition.virtual_device import VirtualDevice
    from emgfeedback.storage import SessionStore

    device = VirtualDevice(framing="emgf", channels=2, board="uno-myoware2-env",
                           scenario="drill", seed=3, reset_on_open=False).start()
    try:
        assert device.fs_hz == 500.0  # was 2000 Hz whatever the board
        assert device.info_payload()["in"] == ["A0:env", "A1:env"]
        db = tmp_path / "s.sqlite"
        done = subprocess.run(
            [sys.executable, "-m", "emgfeedback", "record", "--source",
             f"serial://{device.path}?framing=emgf&reset_wait=0.2", "--seconds", "3",
             "--db", str(db)], capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        session = int(done.stdout.strip().splitlines()[-1])
    finally:
        device.stop()
    with SessionStore(db) as store:
        meta = store.session(session)
        indices, samples = store.read_samples(session)
    assert meta.fs_hz == 500.0
    assert [c.output for c in meta.calibration] == ["env", "env"]
    sim = Simulator("drill", 2, 500.0, seed=3, board="uno-myoware2-env")
    np.testing.assert_array_equal(samples, sim.next_counts(int(indices[-1]) + 1)[indices])
    done = subprocess.run([sys.executable, "-m", "emgfeedback", "analyze", str(db),
                           "--session", str(session), "--json"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    channels = json.loads(done.stdout)["channels"]
    assert [c["output"] for c in channels] == ["env", "env"]
    first = int(indices[0])
    truth = sim.truth
    for c, ch in enumerate(channels):
        # The stream starts wherever the running board was; whatever it covers, the level
        # analyze reports at rest is the ENV rest level, not a band-passed ~0.
        assert ch["static_level_p10_uv"] == pytest.approx(truth.rest_level_uv(c), rel=0.25), \
            (first, ch)


def test_analyze_text_says_each_channels_output_kind(tmp_path, capsys):
    from emgfeedback.cli import main

    db = tmp_path / "s.sqlite"
    assert main(["record", "--source", "sim://?board=uno-myoware2-env&scenario=drill&pace=fast",
                 "--seconds", "6", "--db", str(db)]) == 0
    session = capsys.readouterr().out.strip().splitlines()[-1]
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "emgfeedback", "analyze", str(db),
                           "--session", session], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "no band-pass or notch (ENV outputs)" in text
    assert text.count("output ENV; quality: mains n/a on ENV") == 2
