"""Sound through a real audio path: PulseAudio's null sink, recorded from its monitor.

A private PulseAudio server (its own runtime folder and socket, nothing shared with a
desktop session) gets one null sink as its default output. `emgfeedback live --sound tone`
plays into it through PortAudio (ALSA's pulse plugin), `parec` records the sink's monitor,
and the test reads back what was played: cue sounds at the protocol's cue times, and a tone
that is higher while the simulated muscle works than while it rests.

The timeline is the audio's own (samples recorded), not the wall clock: gaps and load only
add silence, which the analysis tolerates.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from emgfeedback.sound import null_sink
from emgfeedback.sound.synth import CUES, HIGH_HZ, LOW_HZ

FS_HZ = 44100


def _wait_for(predicate, deadline_s: float, what: str) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {deadline_s} s waiting for {what}")


@pytest.fixture
def pulse(tmp_path):
    """A private PulseAudio server whose default sink is a null sink."""
    missing = null_sink.missing_tools()
    if missing:
        msg = f"missing {', '.join(missing)}: {null_sink.INSTALL_HINT}"
        if os.environ.get("CI"):
            pytest.fail(msg)  # CI installs them: their absence is a broken CI, not a skip
        pytest.skip(msg)
    with null_sink.private_null_sink(tmp_path) as env:
        yield env


def _frames(x: np.ndarray, hop_s: float = 0.02, win_s: float = 0.05):
    """Per frame: time, dominant pitch below 1 kHz, its level, and per-cue band levels."""
    hop, n = int(hop_s * FS_HZ), int(win_s * FS_HZ)
    win = np.hanning(n)
    freqs = np.fft.rfftfreq(n, 1 / FS_HZ)
    rows = []
    for i in range(0, len(x) - n, hop):
        spec = np.abs(np.fft.rfft(x[i:i + n] * win))
        tone = (freqs > 150) & (freqs < 1000)
        k = np.argmax(spec[tone])
        cues = {name: spec[np.abs(freqs - hz) < 40].max() for name, (hz, _d, _p) in CUES.items()}
        rows.append((i / FS_HZ, freqs[tone][k], spec[tone][k], cues))
    return rows


def _cue_times(rows, name: str, min_gap_s: float = 1.0) -> list[float]:
    """Onsets of one cue sound (each has its own band, apart from the tone's and the others')."""
    level = np.array([r[3][name] for r in rows])
    loud = level > 0.25 * level.max()
    times = []
    for r, on in zip(rows, loud, strict=True):
        if on and (not times or r[0] - times[-1] > min_gap_s):
            times.append(r[0])
    return times


def test_the_tone_follows_activation_and_cue_sounds_come_at_the_cue_times(pulse, tmp_path):
    wav = Path(os.environ.get("EMGF_KEEP_AUDIO", tmp_path / "played.raw"))
    rec = null_sink.record_monitor(pulse, wav, FS_HZ)
    try:
        _wait_for(lambda: wav.stat().st_size > 0, 60.0, "the recorder to start")
        env = dict(pulse, QT_QPA_PLATFORM="offscreen")
        # The demo protocol on the drill it is timed to: 4 s baseline, then work 3.5 s /
        # rest 3.5 s; the simulated glute med contracts in every work period.
        live = subprocess.run(
            [sys.executable, "-m", "emgfeedback", "live",
             "--source", "sim://?scenario=drill&channels=2&seed=1", "--protocol", "demo",
             "--sound", "tone", "--seconds", "19", "--json"],
            env=env, capture_output=True, text=True, timeout=300)
    finally:
        rec.terminate()
        rec.wait(timeout=30)
    assert live.returncode == 0, live.stderr[-2000:]
    result = json.loads(live.stdout.strip().splitlines()[-1])
    assert result["sound"]["problem"] is None
    assert {"start", "rest"} <= set(result["sound"]["cues_played"])

    x = np.fromfile(wav, dtype="<i2").astype(float) / 32768.0
    assert len(x) > 10 * FS_HZ, "less than 10 s of audio was recorded"
    rows = _frames(x)

    starts = _cue_times(rows, "start")
    rests = _cue_times(rows, "rest")
    assert len(starts) >= 2 and len(rests) >= 2, (starts, rests)
    # Cue times follow the protocol: work 3.5 s then rest, a new repetition every 7 s.
    assert np.diff(starts[:2])[0] == pytest.approx(7.0, abs=0.5)
    first_rest = next(t for t in rests if t > starts[0])
    assert first_rest - starts[0] == pytest.approx(3.5, abs=0.5)

    # The tone: pitch within its range, higher while working than while resting.
    def mean_pitch(t0: float, t1: float) -> float:
        sel = [r[1] for r in rows if t0 <= r[0] < t1 and r[2] > 1.0
               and max(r[3].values()) < r[2]]
        assert sel, f"no tone between {t0:.1f} and {t1:.1f} s"
        return float(np.median(sel))

    work, rest = [], []
    for s in starts[:2]:
        work.append(mean_pitch(s + 1.0, s + 3.3))      # after the rise, before the rest cue
        rest.append(mean_pitch(s + 4.8, s + 6.8))      # after the release
    for w, r in zip(work, rest, strict=True):
        assert LOW_HZ * 0.9 <= r < w <= HIGH_HZ * 1.05, (work, rest)
        assert w / r > 1.25, (work, rest)  # at least a clear third up while working


def test_without_a_sound_server_the_session_goes_on_and_says_what_is_missing(tmp_path):
    # ALSA's default device is PulseAudio's plugin; pointed at no server, there is no output.
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen",
               PULSE_SERVER=f"unix:{tmp_path / 'no-server'}", XDG_RUNTIME_DIR=str(tmp_path))
    live = subprocess.run(
        [sys.executable, "-m", "emgfeedback", "live", "--source",
         "sim://?scenario=drill&channels=2&seed=1", "--sound", "tone", "--seconds", "2",
         "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert live.returncode == 0, live.stderr[-2000:]
    result = json.loads(live.stdout.strip().splitlines()[-1])
    assert result["frames"] > 0
    problem = result["sound"]["problem"]
    assert problem and problem.startswith("sound unavailable")
    lines = [ln for ln in live.stderr.splitlines() if ln.startswith("sound unavailable")]
    assert len(lines) == 1
