"""LSL outlet and inlet on loopback, with the real liblsl (see conftest.py for the scope)."""

from __future__ import annotations

import time
import uuid

import numpy as np
import pytest

pylsl = pytest.importorskip("pylsl", reason="pylsl is missing: pip install 'emgfeedback[lsl]'")

from emgfeedback.acquisition import open_source  # noqa: E402
from emgfeedback.acquisition.source import Gap  # noqa: E402
from emgfeedback.errors import ConfigError, SourceError  # noqa: E402
from emgfeedback.interop.lsl import (  # noqa: E402
    ENVELOPE_TYPE,
    MARKER_TYPE,
    RAW_TYPE,
    LslOutlet,
    cue_marker,
    onset_marker,
)
from emgfeedback.protocol import ProtocolRunner, load_protocol  # noqa: E402
from emgfeedback.runtime import Engine, Processor  # noqa: E402

FS = 1000.0
#: How long a test waits for something that should happen, before it fails. Only a failing
#: test ever waits this long: every wait below ends as soon as its condition holds.
DEADLINE_S = 60.0


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_for(condition, timeout_s: float = DEADLINE_S) -> None:
    """Poll ``condition`` until it is true; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"still false after {timeout_s} s"
        time.sleep(0.01)


def inlet_for(source_id: str, timeout_s: float = DEADLINE_S):
    found = pylsl.resolve_byprop("source_id", source_id, 1, timeout_s)
    assert found, f"stream {source_id} not resolved on loopback"
    inlet = pylsl.StreamInlet(found[0], max_buflen=60, recover=False)
    inlet.open_stream(timeout_s)
    return inlet


def pull_all(inlet, n_expected: int, timeout_s: float = DEADLINE_S, strings: bool = False):
    values, stamps = [], []
    deadline = time.monotonic() + timeout_s
    while len(stamps) < n_expected and time.monotonic() < deadline:
        data, ts = inlet.pull_chunk(timeout=0.1, max_samples=4096)
        values.extend(data)
        stamps.extend(ts)
    if strings:
        return [v[0] for v in values], np.asarray(stamps)
    return np.asarray(values, dtype=np.float64), np.asarray(stamps)


def labels_of(full_info) -> list[tuple[str, str, str]]:
    out = []
    ch = full_info.desc().child("channels").child("channel")
    while not ch.empty():
        out.append((ch.child_value("label"), ch.child_value("unit"), ch.child_value("type")))
        ch = ch.next_sibling("channel")
    return out


def test_outlet_publishes_every_sample_envelope_and_marker():
    """A session from the simulator, through the Engine, reaches three plain LSL inlets."""
    source = open_source("sim://?channels=2&fs=1000&pace=fast&seconds=6&seed=3")
    source.open()
    sid = unique("emgf-test")
    outlet = LslOutlet(source.info, name=unique("emgf"), source_id=sid,
                       placements=["hip", "thigh"])
    raw_in, env_in, mark_in = (inlet_for(f"{sid}:{part}")
                               for part in ("raw", "envelope", "markers"))
    assert outlet.have_consumers()
    proto = load_protocol("demo")
    engine = Engine(source, processor_factory=lambda info: Processor(
        info, runner=ProtocolRunner(proto, info.fs_hz, info.channel_names)),
        outlets=[outlet])
    seen = []
    engine.add_listener(seen.append)
    engine.run_to_end()
    outlet.push_marker(1234, "mark:user note")

    uv = np.concatenate([p.uv for p in seen])
    env = np.concatenate([p.envelope_uv for p in seen])
    expected_markers = [(int(e.index), onset_marker(e.kind, source.info.channel_names[e.channel]))
                        for p in seen for e in p.onsets]
    expected_markers += [(int(c.index), cue_marker(c)) for p in seen for c in p.cues]
    expected_markers.append((1234, "mark:user note"))
    assert any(text.startswith("onset:") for _, text in expected_markers)
    assert any(text.startswith("cue:phase_start") for _, text in expected_markers)

    raw, raw_ts = pull_all(raw_in, len(uv))
    envelope, env_ts = pull_all(env_in, len(env))
    texts, mark_ts = pull_all(mark_in, len(expected_markers), strings=True)

    assert raw.shape == uv.shape == (6000, 2)
    np.testing.assert_array_equal(raw, uv.astype(np.float32))
    np.testing.assert_array_equal(envelope, env.astype(np.float32))
    # Timestamps follow the sample index exactly: t = t0 + index / fs.
    np.testing.assert_allclose(np.diff(raw_ts), 1.0 / FS, atol=1e-9)
    np.testing.assert_allclose(env_ts, raw_ts, atol=1e-9)
    assert raw_ts[0] == pytest.approx(outlet.t0, abs=1e-9)
    # Every marker, stamped at its sample's time.
    got = sorted((int(round((t - raw_ts[0]) * FS)), text) for t, text in zip(mark_ts, texts,
                                                                           strict=True))
    assert got == sorted(expected_markers)
    offsets = (mark_ts - raw_ts[0]) * FS
    np.testing.assert_allclose(offsets, np.round(offsets), atol=1e-6)

    full = raw_in.info(5.0)
    assert full.type() == RAW_TYPE and full.nominal_srate() == FS
    assert labels_of(full) == [(n, "microvolts", "EMG") for n in source.info.channel_names]
    assert full.desc().child("channels").child("channel").child_value("placement") == "hip"
    assert env_in.info(5.0).type() == ENVELOPE_TYPE
    assert mark_in.info(5.0).type() == MARKER_TYPE
    outlet.close()


def test_lsl_source_reads_our_outlet_within_one_quantisation_step():
    """emgfeedback -> LSL -> emgfeedback: every sample, consecutive indices, exact to 0.01 µV."""
    source = open_source("sim://?channels=3&fs=1000&pace=fast&seconds=2&seed=5")
    source.open()
    sid = unique("emgf-loop")
    outlet = LslOutlet(source.info, source_id=sid, name=unique("emgf"))
    lsl = open_source(f"lsl://?source_id={sid}:raw&timeout=5")
    lsl.open()
    lsl.start()
    assert lsl.info.channel_names == source.info.channel_names
    assert lsl.info.fs_hz == FS and lsl.info.framing == "lsl"
    pushed = []
    engine = Engine(source, outlets=[outlet])
    engine.add_listener(lambda p: pushed.append(p.uv.astype(np.float32)))
    engine.run_to_end()
    sent = np.concatenate(pushed).astype(np.float64)

    chunks = read_until(lsl, len(sent))
    lsl.close()
    outlet.close()
    starts = [c.first_index for c in chunks]
    assert starts[0] == 0
    assert all(c.gaps == () for c in chunks)
    assert starts == list(np.cumsum([0] + [c.n_samples for c in chunks[:-1]]))
    got = np.concatenate([c.samples for c in chunks])
    assert got.dtype == np.int32 and got.shape == sent.shape
    uv = got * lsl.info.calibration[0].uv_per_count
    assert np.max(np.abs(uv - sent)) <= 0.005 + 1e-9
    assert lsl.stats().lost_samples == 0


def make_outlet(n_channels=2, fs=FS, source_id=None, name=None, unit="microvolts"):
    info = pylsl.StreamInfo(name or unique("pusher"), "EMG", n_channels, fs, pylsl.cf_float32,
                            source_id or "")
    channels = info.desc().append_child("channels")
    for i in range(n_channels):
        ch = channels.append_child("channel")
        ch.append_child_value("label", f"m{i}")
        ch.append_child_value("unit", unit)
    return pylsl.StreamOutlet(info), info.name()


def read_until(src, n: int, timeout_s: float = DEADLINE_S):
    chunks = []
    deadline = time.monotonic() + timeout_s
    while sum(c.n_samples for c in chunks) < n and time.monotonic() < deadline:
        chunks.extend(src.read(0.1))
    return chunks


def test_timestamp_jumps_become_gaps_with_their_size():
    sid = unique("gappy")
    outlet, _ = make_outlet(source_id=sid, unit="millivolts")
    src = open_source(f"lsl://?source_id={sid}&timeout=5")
    src.open()
    src.start()
    assert outlet.wait_for_consumers(DEADLINE_S)
    assert src.info.channel_names == ("m0", "m1")
    t0 = pylsl.local_clock()
    values = (np.arange(400, dtype=np.float32).reshape(200, 2) - 200.0) / 1000.0  # mV
    index = np.arange(200)
    index[60:] += 30  # the pusher skipped 30 samples after sample 59 ...
    index[150:] += 7  # ... and 7 more inside the next chunk
    jitter = np.zeros(200)
    jitter[100] = 0.4 / FS  # 1.4 periods between 99 and 100: jitter, not a gap
    stamps = t0 + index / FS + jitter
    outlet.push_chunk(values[:60], list(stamps[:60]))
    outlet.push_chunk(values[60:], list(stamps[60:]))
    chunks = read_until(src, 200)
    src.close()

    gaps = [g for c in chunks for g in c.gaps]
    assert gaps == [Gap(60, 30, "timestamp"), Gap(180, 7, "timestamp")]
    indices = np.concatenate([np.arange(c.first_index, c.end_index) for c in chunks])
    np.testing.assert_array_equal(indices, index)
    got_uv = np.concatenate([c.samples for c in chunks]) * 0.01
    np.testing.assert_allclose(got_uv, values.astype(np.float64) * 1000.0, atol=0.005 + 1e-6)
    stats = src.stats()
    assert stats.lost_samples == 37 and stats.gaps_by_cause == {"timestamp": 2}


@pytest.mark.parametrize("by, clock", [("source_id", "same"), ("name", "same"),
                                       ("source_id", "restarted")])
def test_source_recovers_when_the_outlet_comes_back(by, clock):
    # 100 Hz: one period (10 ms) is far above the error of LSL's clock-offset estimate, which
    # is measured again on each connection (and moves by a fraction of a millisecond on a
    # loaded machine), so the gap is the same whatever the load.
    fs = 100.0
    sid = unique("flaky")
    name = unique("flaky-name")
    outlet, _ = make_outlet(source_id=sid if by == "source_id" else "", name=name, fs=fs)
    query = f"source_id={sid}" if by == "source_id" else f"name={name}"
    src = open_source(f"lsl://?{query}&timeout=5&no_data=0.3")
    src.open()
    src.start()
    assert outlet.wait_for_consumers(DEADLINE_S)
    block = np.random.default_rng(1).normal(0, 50, (100, 2)).astype(np.float32)
    first_last = pylsl.local_clock()
    outlet.push_chunk(block, first_last)
    first = read_until(src, 100)
    del outlet  # the outlet goes away ...
    wait_for(lambda: src.state == "reconnecting")
    outlet, _ = make_outlet(source_id=sid if by == "source_id" else "", name=name, fs=fs)
    wait_for(lambda: src.stats().reconnects >= 1)  # ... and comes back
    assert src.stats().reconnects == 1
    time.sleep(0.2)  # (only makes the gap longer; nothing below depends on its length)
    # Stamps on the sample grid of the first block: the gap is a whole number of periods.
    away = round((pylsl.local_clock() - first_last) * fs)
    second_last = first_last + away / fs
    if clock == "same":  # a restarted program on this computer: the same LSL clock
        outlet.push_chunk(block, second_last)
    else:  # a sender whose stamps start again near zero (another clock, a replay)
        outlet.push_chunk(block, 1.0 + 99 / fs)  # (a first stamp of 0.0 means "now")
    second = read_until(src, 100)
    wait_for(lambda: src.state == "streaming")
    src.close()

    assert [c.first_index for c in first][0] == 0
    assert sum(c.n_samples for c in first) == 100
    (gap,) = second[0].gaps
    assert gap.start_index == 100 and gap.cause == "unplug"
    assert second[0].first_index == gap.end_index
    if clock == "same":  # the timestamps say exactly how long the outlet was away
        assert gap.n_samples == away - 100
        assert src.stats().lsl.clock_jumps == 0
    else:  # the host clock does: the time between the two arrivals, less what arrived
        arrived = sum(c.n_samples for c in second if c.arrival_s == second[0].arrival_s)
        by_host = round((second[0].arrival_s - first[-1].arrival_s) * fs) - arrived
        assert gap.n_samples == by_host > 0
        assert src.stats().lsl.clock_jumps == 1
    got = np.concatenate([c.samples for c in second]) * 0.01
    np.testing.assert_allclose(got, block, atol=0.005 + 1e-4)
    assert src.stats().lost_by_cause == {"unplug": gap.n_samples}


def test_silence_sets_no_data_and_data_clears_it():
    sid = unique("quiet")
    outlet, _ = make_outlet(source_id=sid)
    src = open_source(f"lsl://?source_id={sid}&no_data=0.2")
    src.open()
    src.start()
    assert outlet.wait_for_consumers(DEADLINE_S)
    wait_for(lambda: src.state == "no_data")
    # Push until samples arrive: on a loaded machine liblsl may drop the connection of a
    # silent stream and the source reconnect, and what is pushed meanwhile is lost (a gap).
    chunks, deadline = [], time.monotonic() + DEADLINE_S
    while sum(c.n_samples for c in chunks) < 10:
        assert time.monotonic() < deadline, src.stats()
        outlet.push_chunk(np.zeros((10, 2), np.float32))
        chunks += src.read(0.2)
    assert sum(c.n_samples for c in chunks) % 10 == 0
    wait_for(lambda: src.state == "streaming")
    src.close()


def test_missing_stream_is_a_clear_error():
    src = open_source(f"lsl://?name={unique('nobody')}&timeout=0.3")
    with pytest.raises(SourceError, match="no LSL stream matches name="):
        src.open()


@pytest.mark.parametrize("url, message", [
    ("lsl://?kind=EMG", "unknown option"),
    ("lsl://somewhere?type=EMG", "takes no path"),
    ("lsl://?type=EMG&timeout=-1", "timeout"),
    ("lsl://?type=EMG&gap_periods=0.5", "gap_periods"),
])
def test_bad_urls_are_rejected(url, message):
    with pytest.raises(ConfigError, match=message):
        open_source(url)


def test_record_command_stores_what_an_lsl_outlet_pushed(tmp_path):
    """``emgfeedback record --source lsl://...`` in a subprocess, fed by a plain pylsl outlet.

    The recorder starts taking samples at a moment the test cannot know (after it opened
    the store), and drops what comes before. So the outlet pushes until the recorder is
    done, with a 50-sample jump in its timestamps every 400 samples, and the test checks
    that what was stored is a stretch of what was pushed, sample for sample, with each
    jump inside it stored as a gap of exactly 50 samples at its place.
    """
    import os
    import subprocess
    import sys

    from emgfeedback.storage import SessionStore

    fs, block, every, skip = 500.0, 25, 400, 50
    sid = unique("rec")
    outlet, _ = make_outlet(n_channels=2, fs=fs, source_id=sid)
    db = tmp_path / "sessions.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-m", "emgfeedback", "record", "--source",
         f"lsl://?source_id={sid}&timeout={DEADLINE_S:g}", "--seconds", "2", "--db", str(db),
         "--subject", "lsl-test"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    rng = np.random.default_rng(7)
    pushed, stamp_index = [], []
    try:
        wait_for(lambda: outlet.have_consumers() or proc.poll() is not None)
        t0, n, deadline = pylsl.local_clock(), 0, time.monotonic() + DEADLINE_S
        while proc.poll() is None:  # until the recorder has what it wanted
            assert time.monotonic() < deadline, "the recorder never finished"
            values = rng.normal(0, 80, (block, 2)).astype(np.float32)
            index = np.arange(n, n + block)
            index += (index // every) * skip  # the pusher skips 50 samples' worth of stamps
            outlet.push_chunk(values, list(t0 + index / fs))
            pushed.append(values)
            stamp_index.append(index)
            n += block
            time.sleep(block / fs / 4)  # faster than real time: stamps, not pace, matter
        out, err = proc.communicate(timeout=DEADLINE_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    session_id = int(out.strip().splitlines()[-1])
    store = SessionStore(db)
    meta = store.session(session_id)
    assert meta.fs_hz == fs and list(meta.channel_names) == ["m0", "m1"]
    indices, counts = store.read_samples(session_id)
    uv = counts * meta.calibration[0].uv_per_count
    sent = np.concatenate(pushed).astype(np.float64)
    sent_index = np.concatenate(stamp_index)
    # Where the stored stretch starts among the pushed samples (random values: one place).
    matches = np.flatnonzero(np.all(np.abs(sent - uv[0]) <= 0.005 + 1e-6, axis=1))
    assert len(matches) == 1
    k = int(matches[0])
    stretch = slice(k, k + len(uv))
    assert sent[stretch].shape == uv.shape
    assert np.max(np.abs(uv - sent[stretch])) <= 0.005 + 1e-6
    # Session indices follow the pushed timestamps from the first stored sample on (a gap
    # at index 0 if the recorder started just across a jump).
    np.testing.assert_array_equal(indices - indices[0], sent_index[stretch] - sent_index[k])
    jumps = [int(sent_index[j - 1]) + 1 for j in range(k + 1, k + len(uv))
             if sent_index[j] - sent_index[j - 1] > 1]
    expected = [Gap(j - int(sent_index[k]) + int(indices[0]), skip, "timestamp")
                for j in jumps]
    if indices[0] > 0:
        expected.insert(0, Gap(0, int(indices[0]), "timestamp"))
    assert jumps and store.gaps(session_id) == expected


def test_record_with_lsl_flag_publishes_the_recorded_samples(tmp_path):
    """``record --lsl``: what an LSL inlet receives is what the session stored, µV for µV."""
    import os
    import subprocess
    import sys

    from emgfeedback.acquisition.source import SourceInfo
    from emgfeedback.interop.lsl import default_source_id
    from emgfeedback.storage import SessionStore

    url = "sim://?channels=2&fs=1000&pace=realtime&seed=11&seconds=30&board=uno-myoware2"
    url += f"&variation=1.{uuid.uuid4().int % 1000:03d}"  # a URL (so a source_id) of its own
    sid = default_source_id(SourceInfo(url=url, fs_hz=1000.0, channel_names=(), calibration=()))
    db = tmp_path / "sessions.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-m", "emgfeedback", "record", "--source", url, "--seconds", "3",
         "--db", str(db), "--lsl"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        inlet = inlet_for(f"{sid}:raw", timeout_s=60)
        values, stamps = [], []
        lost = getattr(pylsl, "LostError", None) or pylsl.util.LostError
        while True:  # until the recorder withdraws its outlet
            try:
                data, ts = inlet.pull_chunk(timeout=0.1, max_samples=4096)
            except lost:
                break
            values.extend(data)
            stamps.extend(ts)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    store = SessionStore(db)
    session_id = int(out.strip().splitlines()[-1])
    meta = store.session(session_id)
    _, counts = store.read_samples(session_id)
    cal = meta.calibration[0]
    stored_uv = (counts - cal.offset_counts) * cal.uv_per_count
    received = np.asarray(values, np.float64)
    assert len(received) > 500
    np.testing.assert_allclose(np.diff(stamps), 1e-3, atol=1e-9)
    # The inlet joined late (and liblsl drops what is in flight when an outlet goes): what
    # it got is a stretch of the stored session, sample for sample, placed by its timestamps.
    stored = stored_uv.astype(np.float32)
    head = received[:200].astype(np.float32)
    windows = np.lib.stride_tricks.sliding_window_view(stored, head.shape, axis=(0, 1))[:, 0]
    first = np.flatnonzero((windows == head).all(axis=(1, 2)))
    assert len(first) == 1
    start = int(first[0])
    np.testing.assert_array_equal(received.astype(np.float32),
                                  stored[start:start + len(received)])
    assert len(received) + start <= len(stored)


def test_outlet_keeps_a_gap_in_place_in_time():
    """Chunks after a gap are stamped from their own indices, so the hole stays in time."""
    from emgfeedback.acquisition.boards import uv_calibration
    from emgfeedback.acquisition.source import Chunk, SourceInfo
    from emgfeedback.runtime import Processed

    info = SourceInfo(url=f"test://{unique('gap')}", fs_hz=FS, channel_names=("a",),
                      calibration=uv_calibration(1, 0.5))
    sid = unique("gapout")
    outlet = LslOutlet(info, source_id=sid, name=unique("gapout"))
    inlet = inlet_for(f"{sid}:raw")

    def processed(first, n, gaps=()):
        counts = np.arange(first, first + n, dtype=np.int32)[:, None]
        chunk = Chunk(counts, first, time.monotonic(), gaps)
        uv = counts * 0.5
        return Processed(chunk, uv, uv, uv)

    outlet.push(processed(100, 20))
    outlet.push(processed(150, 20, (Gap(120, 30, "crc"),)))
    values, stamps = pull_all(inlet, 40)
    outlet.close()
    assert values[:, 0].tolist() == [i * 0.5 for i in [*range(100, 120), *range(150, 170)]]
    index = np.round((stamps - outlet.t0) * FS)
    np.testing.assert_array_equal(index, [*range(100, 120), *range(150, 170)])
    assert outlet.timestamp(135) == pytest.approx(outlet.t0 + 0.135, abs=1e-9)


def test_a_marker_stream_is_not_a_sample_source():
    sid = unique("marks")
    info = pylsl.StreamInfo(unique("marks"), "Markers", 1, pylsl.IRREGULAR_RATE,
                            pylsl.cf_string, sid)
    outlet = pylsl.StreamOutlet(info)
    src = open_source(f"lsl://?source_id={sid}")
    with pytest.raises(SourceError, match="irregular rate"):
        src.open()
    del outlet


def test_without_pylsl_the_error_says_how_to_install(monkeypatch):
    import sys

    from emgfeedback.errors import OptionalDependencyError

    monkeypatch.setitem(sys.modules, "pylsl", None)  # as if it were not installed
    src = open_source("lsl://?type=EMG")
    with pytest.raises(OptionalDependencyError, match=r"pip install 'emgfeedback\[lsl\]'"):
        src.open()
