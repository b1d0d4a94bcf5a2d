"""``sim://`` through open_source: options, pacing, chunks, finished state."""

from __future__ import annotations

import time

import numpy as np
import pytest

from emgfeedback.acquisition.simulator import GroundTruth, Simulator
from emgfeedback.acquisition.source import open_source
from emgfeedback.errors import ConfigError


def _drain(src, limit_s: float = 60.0):
    chunks = []
    deadline = time.monotonic() + limit_s
    while not src.finished and time.monotonic() < deadline:
        chunks.extend(src.read(timeout_s=0.05))
    return chunks


def test_fast_stream_matches_the_simulator_and_finishes():
    url = "sim://?channels=3&fs=1000&scenario=asymmetry&seed=4&pace=fast&seconds=2.5&chunk=64"
    with open_source(url) as src:
        assert src.state == "open"
        src.start()
        chunks = _drain(src)
        assert src.state == "finished" and src.finished
        assert src.read(0.01) == []
        stats = src.stats()
    assert [c.n_samples for c in chunks[:-1]] == [64] * (len(chunks) - 1)
    assert chunks[-1].n_samples == 2500 - 64 * (len(chunks) - 1)
    starts = [c.first_index for c in chunks]
    assert starts == list(range(0, 2500, 64))
    samples = np.concatenate([c.samples for c in chunks])
    expected = Simulator("asymmetry", 3, 1000.0, seed=4).next_counts(2500)
    np.testing.assert_array_equal(samples, expected)
    assert all(c.gaps == () for c in chunks)
    assert stats.samples == 2500 and stats.lost_samples == 0
    assert stats.gaps_by_cause == {} and stats.lost_by_cause == {}  # no gap of any cause
    assert src.state == "closed"


@pytest.mark.parametrize("speed, seconds", [(1.0, 0.4), (4.0, 0.8)])
def test_paced_and_fast_give_identical_samples_and_pacing_holds(speed, seconds):
    # speed=S: the signal is due at S times real time (speed=4: 0.8 s over 0.2 s). Chunks
    # never arrive before they are due (a lower bound only: a busy machine makes them
    # later, never earlier).
    base = f"sim://?channels=2&fs=2000&scenario=drill&seed=9&seconds={seconds}"
    paced_url = base + "&pace=realtime" + (f"&speed={speed:g}" if speed != 1.0 else "")
    with open_source(paced_url) as paced:
        assert paced.info.extra["speed"] == speed
        t0 = time.monotonic()  # before start(): the source's own clock starts after it
        paced.start()
        rt = _drain(paced)
        elapsed = time.monotonic() - t0
    with open_source(base + "&pace=fast") as fast:
        fast.start()
        ft = _drain(fast)
    np.testing.assert_array_equal(np.concatenate([c.samples for c in rt]),
                                  np.concatenate([c.samples for c in ft]))
    assert [c.first_index for c in rt] == [c.first_index for c in ft]
    assert rt[0].n_samples == 20  # default chunk: fs / 100
    assert elapsed >= 0.975 * seconds / speed
    for c in rt:
        assert c.arrival_s >= t0 + c.end_index / (speed * 2000.0) - 0.005
    arrivals = [c.arrival_s for c in rt]
    assert arrivals == sorted(arrivals)


def test_stop_and_start_resume_without_gaps():
    with open_source("sim://?channels=1&fs=1000&scenario=rest&pace=fast&chunk=100") as src:
        src.start()
        first = src.read()
        src.stop()
        assert src.state == "stopped"
        assert src.read(0.01) == []
        src.start()
        more = src.read()
    indices = [c.first_index for c in first + more]
    assert indices == list(range(0, 100 * len(indices), 100))


def test_info_carries_truth_and_calibration():
    src = open_source("sim://?channels=4&fs=2000&scenario=drill&seed=1&board=esp32-myoware2"
                      "&mains=60&snr=12&artefacts=ecg,off")
    info = src.info
    assert info.fs_hz == 2000.0 and info.n_channels == 4
    assert info.board == "esp32-myoware2" and info.framing == "sim"
    assert info.channel_names[:2] == ("glute_med", "tfl")
    truth = info.extra["truth"]
    assert isinstance(truth, GroundTruth)
    assert truth.mains_hz == 60.0 and truth.snr_db == 12.0
    assert {a["kind"] for a in truth.artefacts} == {"ecg", "off"}
    assert info.calibration[0].uv_per_count == pytest.approx(3300e3 / 4096 / 200)


@pytest.mark.parametrize("url,needle", [
    ("sim://?colour=red", "unknown option(s) colour"),
    ("sim://?mains=55", "expected 50, 60 or 0"),
    ("sim://?pace=slow", "expected one of realtime, fast"),
    ("sim://?scenario=yoga", "expected one of rest, drill"),
    ("sim://?board=teensy", "expected one of byb-muscle"),
    ("sim://?channels=0", "channels='0': expected a positive"),
    ("sim://?channels=two", "channels='two'"),
    ("sim://?fs=-5", "fs='-5': expected a positive"),
    ("sim://?seconds=0", "seconds='0': expected a positive"),
    ("sim://?snr=nan", "finite"),
    ("sim://?seed=-3", "seed='-3'"),
    ("sim://?hum=-1", "expected 0 or more"),
    ("sim://?artefacts=sparks", "unknown artefact 'sparks'"),
    ("sim://?scenario=asymmetry&channels=1", "at least 2 channels"),
    ("sim://?channels=9&board=uno-myoware2", "takes 1 to 8 channels"),
    ("sim://somewhere?fs=100", "takes no path"),
    ("sim://?speed=0", "speed='0': expected a positive"),
    ("sim://?pace=fast&speed=4", "pace=fast has no pace to scale"),
])
def test_url_errors_name_the_problem(url, needle):
    with pytest.raises(ConfigError) as info:
        open_source(url)
    assert needle in str(info.value)
    assert url in str(info.value)


def test_unknown_option_lists_accepted_options():
    with pytest.raises(ConfigError) as info:
        open_source("sim://?warp=2")
    for name in ("channels", "fs", "scenario", "seed", "board", "mains", "pace", "seconds",
                 "chunk", "snr", "artefacts"):
        assert name in str(info.value)
