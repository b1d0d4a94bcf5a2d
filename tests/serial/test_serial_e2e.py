"""End to end: virtual device -> real pty -> pyserial -> SerialSource, every framing."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from emgfeedback.acquisition.serial_source import SerialSource
from emgfeedback.acquisition.simulator import Simulator
from emgfeedback.acquisition.source import open_source
from emgfeedback.acquisition.virtual_device import Faults
from emgfeedback.errors import ConfigError, SourceError

#: How long a test waits for a condition before it fails. The virtual devices and the
#: sources run on the host clock, so on a loaded machine everything may take longer: no
#: test ends a wait at a fixed time, each waits for what it needs (a number of samples, a
#: state, an event) and only a failing test ever waits this long.
DEADLINE_S = 60.0


def collect(source, until, timeout_s: float = DEADLINE_S) -> list:
    """Read chunks until ``until(chunks)`` is true; fail after ``timeout_s``."""
    chunks = []
    deadline = time.monotonic() + timeout_s
    while not until(chunks):
        assert time.monotonic() < deadline, f"condition not met after {timeout_s} s"
        chunks.extend(source.read(0.05))
    return chunks


def n_samples(chunks) -> int:
    """Samples delivered in ``chunks``."""
    return sum(c.n_samples for c in chunks)


def at_least(n: int):
    """A ``collect`` condition: ``n`` samples or more delivered."""
    return lambda chunks: n_samples(chunks) >= n


def wait_for(condition, timeout_s: float = DEADLINE_S) -> None:
    """Poll ``condition`` until it is true; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"condition not met after {timeout_s} s"
        time.sleep(0.01)


def assert_consistent(chunks) -> None:
    """Indices never overlap and every jump is explained by the next chunk's gaps."""
    for a, b in zip(chunks, chunks[1:], strict=False):
        missing = sum(g.n_samples for g in b.gaps)
        assert a.end_index + missing == b.first_index, (a.end_index, b.gaps, b.first_index)
        if b.gaps:
            assert b.gaps[0].start_index == a.end_index
            assert b.gaps[-1].end_index == b.first_index


def stitched(chunks) -> tuple[np.ndarray, np.ndarray]:
    """Session indices and samples of all chunks."""
    index = np.concatenate([np.arange(c.first_index, c.end_index) for c in chunks])
    samples = np.concatenate([c.samples for c in chunks])
    return index, samples


DAMAGE = ("bit_flip", "byte_drop", "truncate")


def expected_counts(device, n: int) -> np.ndarray:
    """What the device's simulator produces for samples 0..n-1 of a stream."""
    sim = Simulator(scenario=device.scenario, n_channels=device.channels, fs_hz=device.fs_hz,
                    seed=device.seed, board=device.board, mains_hz=device.mains_hz)
    return sim.next_counts(n)


@pytest.mark.parametrize("framing,channels", [("emgf", 2), ("text", 3), ("p2", 2), ("byb", 2)])
def test_every_framing_streams_the_simulators_samples(make_device, sources, framing, channels):
    device = make_device(framing=framing, channels=channels)
    url = f"serial://{device.path}?framing={framing}"
    if framing in ("text", "byb"):
        url += f"&channels={channels}"
    if framing == "text":
        # The rate is given: estimating it from arrival times (test_text_rate_is_estimated...)
        # depends on the host clock, and this test is about every sample arriving intact.
        url += f"&fs={device.fs_hz:g}"
    source = open_source(url)
    sources.append(source)
    source.open()
    source.start()
    # 2 s of samples: the rate meter's estimate is then good to 10 % even if the host
    # clock sees arrivals a tenth of a second late or early at either end.
    chunks = collect(source, at_least(int(2 * device.fs_hz)))
    stats = source.stats()
    assert stats.samples >= 2 * device.fs_hz
    assert stats.lost_samples == 0 and stats.crc_errors == 0
    assert stats.bytes_skipped == 0
    assert stats.framing == framing and source.state == "streaming"
    assert_consistent(chunks)
    index, samples = stitched(chunks)
    assert index[0] == 0 and np.array_equal(index, np.arange(index.size))
    expected = expected_counts(device, index.size)
    assert np.array_equal(samples[:, :channels], expected)
    if framing == "p2":  # the unused P2 channels read mid-scale
        assert samples.shape[1] == 6 and np.all(samples[:, channels:] == 512)
    assert source.info.fs_hz == pytest.approx(device.fs_hz)
    assert stats.fs_hz_measured == pytest.approx(device.fs_hz, rel=0.1)


def test_emgf_info_names_channels_and_calibration(make_device, sources):
    device = make_device(framing="emgf", channels=4)
    source = SerialSource(device.path, framing="emgf")
    sources.append(source)
    source.open()
    assert source.info.channel_names == ("A0", "A1", "A2", "A3")
    assert source.info.extra["device_info"]["ch"] == 4
    assert source.info.calibration[0].uv_per_count == pytest.approx(5000e3 / 1024 / 200)
    assert device.log.commands == []  # nothing sent before start()
    source.start()
    wait_for(lambda: device.log.commands)
    assert device.log.commands == ["b"]


def test_text_rate_is_estimated_when_not_given(make_device, sources):
    device = make_device(framing="text", channels=1, fs_hz=1000.0, text_style="plotter",
                         scenario="rest")
    source = SerialSource(device.path, framing="text")
    sources.append(source)
    source.open()
    assert source.info.fs_hz == 1000.0
    assert source.info.extra["fs_hz_estimated"] == 1000.0
    assert source.info.channel_names == ("A0",)  # from the plotter labels


@pytest.mark.parametrize("framing", ["emgf", "text", "p2", "byb"])
def test_framing_auto_detects_every_format(make_device, sources, framing):
    device = make_device(framing=framing, channels=2)
    source = SerialSource(device.path, framing="auto")
    sources.append(source)
    source.open()
    detected = source.info.extra["framing_detected"]
    assert detected["framing"] == framing, detected
    assert detected["reason"]
    assert source.info.framing == framing
    source.start()
    chunks = collect(source, at_least(1))
    assert source.stats().lost_samples == 0
    index, samples = stitched(chunks)
    assert np.array_equal(samples[:, :2], expected_counts(device, index[-1] + 1)[index])


def test_emgf_faults_lost_samples_equal_destroyed_frames(make_device, sources):
    faults = Faults(bit_flip_rate=0.002, byte_drop_rate=0.001, truncate_rate=0.02,
                    garbage_rate_hz=10.0, garbage_size=40, pauses=((0.8, 0.3),))
    device = make_device(framing="emgf", channels=2, faults=faults)
    source = SerialSource(device.path, framing="emgf")
    sources.append(source)
    source.open()
    source.start()
    # Until the device's clock is past the pause (0.8 s + 0.3 s): its index says so.
    chunks = collect(source, lambda c: bool(c) and c[-1].end_index >= 1.5 * device.fs_hz)
    stats = source.stats()
    assert_consistent(chunks)
    end = chunks[-1].end_index
    # the session index is the device index here (one stream, started at 0)
    destroyed = device.lost_samples(kinds=DAMAGE, before_index=end)
    paused = device.lost_samples(kinds=("pause",), before_index=end)
    assert destroyed > 0 and paused > 0
    assert stats.lost_samples == destroyed + paused
    assert stats.crc_errors > 0 and stats.bytes_skipped > 0
    assert stats.gaps_by_cause.get("crc", 0) > 0
    # every sample delivered is the right one
    index, samples = stitched(chunks)
    assert np.array_equal(samples, expected_counts(device, end)[index])


def test_p2_counter_turns_dropped_packets_into_losses(make_device, sources):
    device = make_device(framing="p2", channels=2, faults=Faults(truncate_rate=0.05))
    source = SerialSource(device.path, framing="p2")
    sources.append(source)
    source.open()
    source.start()
    chunks = collect(source, lambda c: bool(c) and c[-1].end_index >= 1.5 * device.fs_hz)
    end = chunks[-1].end_index
    assert_consistent(chunks)
    destroyed = device.lost_samples(kinds=DAMAGE, before_index=end)
    assert destroyed > 0
    lost = source.stats().lost_samples
    # P2 has no checksum: the decoder confirms a packet by the sync of the next one, so a
    # packet just before a badly cut one can be lost too; never fewer than destroyed.
    assert destroyed <= lost <= 2 * destroyed
    index, samples = stitched(chunks)
    assert np.array_equal(samples[:, :2], expected_counts(device, end)[index])


def test_unplug_and_replug_resumes_the_session_with_an_exact_gap(make_device, sources,
                                                                  tmp_path):
    # A board that keeps running (no reset on open): its index tells exactly what was missed.
    link = str(tmp_path / "emg-by-id")
    faults = Faults(unplug_after_s=0.7, replug_after_s=0.4)
    device = make_device(framing="emgf", channels=2, faults=faults, link=link,
                         reset_on_open=False)
    source = SerialSource(link, framing="emgf", reset_wait_s=0.2)
    sources.append(source)
    source.open()
    source.start()

    def resumed(chunks):
        return any(g.cause == "unplug" for c in chunks for g in c.gaps) and \
            chunks[-1].end_index > chunks[0].first_index + 3000

    chunks = collect(source, resumed)
    stats = source.stats()
    assert stats.reconnects == 1 and stats.unplugs == 1
    assert source.state == "streaming"
    gaps = [g for c in chunks for g in c.gaps]
    assert [g.cause for g in gaps] == ["unplug"]
    gap = gaps[0]
    # What the board never sent (unplugged, then nobody listening) is one stretch, and the
    # gap ends exactly where the board's index says it resumed ...
    lost = [r for r in device.fault_log if r.kind in ("unplug", "not_listening")
            and r.first_index < gap.end_index]
    unsent_from = min(r.first_index for r in lost)
    assert gap.end_index == max(r.first_index + r.n_samples for r in lost)
    assert sum(r.n_samples for r in lost) == gap.end_index - unsent_from > 0.3 * device.fs_hz
    # ... and starts after the last sample received: the board's index also counts the
    # frames it had sent that the pty dropped when the cable went (on a loaded machine the
    # host may not have read them yet), whole frames of k samples.
    assert gap.start_index <= unsent_from
    assert (unsent_from - gap.start_index) % device.k == 0
    assert_consistent(chunks)
    index, samples = stitched(chunks)
    assert np.array_equal(samples, expected_counts(device, index[-1] + 1)[index])
    kinds = [e.kind for e in source.pop_events()]
    assert "unplug" in kinds and "reconnected" in kinds


def test_unplug_of_a_resetting_board_estimates_the_gap_from_time(make_device, sources,
                                                                 tmp_path):
    # An Uno reboots on replug: its index restarts, so the gap comes from host time.
    link = str(tmp_path / "uno")
    device = make_device(framing="emgf", channels=1, fs_hz=1000.0, link=link, scenario="rest",
                         faults=Faults(unplug_after_s=0.6, replug_after_s=0.5))
    source = SerialSource(link, framing="emgf", reset_wait_s=0.5)
    sources.append(source)
    t_begin = time.monotonic()
    source.open()
    source.start()

    def resumed(chunks):
        return any(g.cause == "unplug" for c in chunks for g in c.gaps) and \
            source.state == "streaming" and chunks[-1].end_index > 1500
    chunks = collect(source, resumed)
    elapsed_s = time.monotonic() - t_begin
    gaps = [g for c in chunks for g in c.gaps]
    assert [g.cause for g in gaps] == ["unplug"]
    # at least the 0.5 s the board was away, at most the whole test
    assert 0.45 * 1000 <= gaps[0].n_samples <= elapsed_s * 1000
    assert source.stats().unplugs == 1
    assert device.log.host_opens == 2 and device.log.commands.count("b") == 2
    assert_consistent(chunks)


def test_silent_device_raises_no_data_then_recovers(sources):
    from emgfeedback.acquisition.framing import encode_emgf_data

    master, slave = os.openpty()
    try:
        source = SerialSource(os.ttyname(slave), framing="emgf", reset_wait_s=0.2,
                              no_data_s=1.0)
        sources.append(source)
        source.open()  # no info within reset_wait: falls back to the board's defaults
        t_start = time.monotonic()
        source.start()
        wait_for(lambda: source.state == "no_data")
        assert source.stats().no_data_events == 1
        events = source.pop_events()
        assert [e.kind for e in events] == ["no_data"]
        # The alarm is never early: a second of silence had passed, by the host clock that
        # stamped it (however late the test got to look).
        assert events[0].time_s - t_start >= 1.0
        sent = os.read(master, 100)
        assert sent == b"?\nb\n"  # the info request after the hold, then start
        n_ch = source.info.n_channels
        os.write(master, encode_emgf_data(0, np.full((8, n_ch), 500)))
        chunks = collect(source, at_least(1))
        assert chunks[0].samples.shape == (8, n_ch)
        wait_for(lambda: source.state == "streaming")
        assert [e.kind for e in source.pop_events()] == ["data_resumed"]
    finally:
        os.close(master)
        os.close(slave)


def test_emgf_options_reconfigure_the_device(make_device, sources):
    device = make_device(framing="emgf", channels=2)
    source = open_source(f"serial://{device.path}?framing=emgf&fs=1000&channels=3&k=4")
    sources.append(source)
    source.open()
    assert (device.fs_hz, device.channels, device.k) == (1000.0, 3, 4)
    assert source.info.fs_hz == 1000.0 and source.info.n_channels == 3
    source.start()
    chunks = collect(source, at_least(100))
    index, samples = stitched(chunks)
    assert samples.shape[1] == 3 and index[0] == 0
    assert np.array_equal(samples, expected_counts(device, index[-1] + 1)[index])


def test_device_refusal_is_a_clear_error(make_device):
    device = make_device(framing="emgf", channels=2)
    source = open_source(f"serial://{device.path}?framing=emgf&channels=9")
    with pytest.raises(SourceError, match=r"refused 'c9'.*ch 1\.\.8"):
        source.open()
    assert source.state == "closed"


def test_bad_urls_and_missing_ports():
    with pytest.raises(ConfigError, match="accepts: .*framing"):
        open_source("serial:///dev/null?parity=odd")
    with pytest.raises(ConfigError, match="framing.*expected one of emgf, text, p2, byb, auto"):
        open_source("serial:///dev/ttyACM0?framing=cyton")
    with pytest.raises(ConfigError, match="unknown board"):
        open_source("serial:///dev/ttyACM0?board=nope")
    source = open_source("serial:///dev/does-not-exist-emg?framing=emgf")
    with pytest.raises(SourceError, match="cannot open serial port"):
        source.open()


def test_stop_and_start_continue_the_indices_without_a_gap(make_device, sources):
    device = make_device(framing="text", channels=2)  # keeps sending while "stopped"
    source = SerialSource(device.path, framing="text", fs_hz=2000.0)
    sources.append(source)
    source.open()
    source.start()
    before = collect(source, at_least(100))
    source.stop()
    assert source.state == "stopped"
    time.sleep(0.3)
    before += source.read(0.0)  # delivered before stop() took effect
    source.start()
    after = collect(source, at_least(100))
    chunks = before + after
    assert before and after
    assert_consistent(chunks)
    assert all(not c.gaps for c in chunks)
    assert source.stats().lost_samples == 0


def test_byb_commands_are_answered_with_wrapped_messages(make_device, sources):
    device = make_device(framing="byb", channels=2)
    source = SerialSource(device.path, framing="byb", channels=2)
    sources.append(source)
    source.open()
    source.start()
    source.send_command("b:;")
    texts = []

    def answered(chunks):
        texts.extend(e.message for e in source.pop_events() if e.kind == "device_text")
        return "HWT:MUSCLESS;" in texts and n_samples(chunks) >= 100

    chunks = collect(source, answered)
    assert device.log.commands[:2] == ["c:2", "b:"]
    assert source.stats().bytes_skipped == 0  # the messages are not mistaken for samples
    index, samples = stitched(chunks)
    assert np.array_equal(samples, expected_counts(device, index[-1] + 1)[index])


def test_replug_at_a_new_path(make_device):
    import serial

    device = make_device(framing="text", channels=2,
                         faults=Faults(unplug_after_s=0.2, replug_after_s=0.2, new_path=True))
    old = device.path
    port = serial.Serial(old, timeout=0.05)
    try:
        deadline = time.monotonic() + DEADLINE_S
        with pytest.raises(serial.SerialException):
            while time.monotonic() < deadline:
                port.read(100)
    finally:
        port.close()
    while not device.plugged and time.monotonic() < deadline:
        time.sleep(0.02)
    assert device.plugged and device.path != old  # (another process may reuse old)
    assert device.log.paths == [old, device.path]


def test_without_reconnect_an_unplug_finishes_the_source(make_device, sources):
    device = make_device(framing="p2", channels=2, faults=Faults(unplug_after_s=0.4))
    source = open_source(f"serial://{device.path}?framing=p2&reconnect=false")
    sources.append(source)
    source.open()
    source.start()
    chunks = collect(source, lambda c: source.finished)
    assert source.finished and source.state == "finished"
    assert chunks and source.read(0.2) == []
    assert source.stats().unplugs == 1 and source.stats().reconnects == 0


def test_text_stream_opened_mid_line_keeps_its_channel_count(sources):
    """A board already printing when the port opens: the first line is a fragment."""
    import select
    import threading

    master, slave = os.openpty()
    path = os.ttyname(slave)
    os.close(slave)  # POLLHUP on the master until the host opens the port
    stop = threading.Event()

    def board():
        poller = select.poll()
        poller.register(master, select.POLLHUP)
        while poller.poll(0) and not stop.is_set():
            time.sleep(0.002)  # wait for the host
        time.sleep(0.05)
        os.write(master, b"98\r\n")  # the tail of a line printed before the open
        i = 0
        while not stop.is_set():
            os.write(master, f"{500 + i % 7} {600 + i % 5}\r\n".encode())
            i += 1
            time.sleep(0.001)

    thread = threading.Thread(target=board, daemon=True)
    thread.start()
    try:
        source = SerialSource(path, framing="text", fs_hz=1000.0)
        sources.append(source)
        source.open()
        assert source.info.n_channels == 2
        source.start()
        chunks = collect(source, at_least(201))
        _, samples = stitched(chunks)
        assert samples.shape[0] > 200 and samples.shape[1] == 2
        assert set(np.unique(samples[:, 1])) <= set(range(600, 605))
        assert source.stats().format_errors <= 1  # the fragment, at most
    finally:
        stop.set()
        thread.join(2)
        source.close()
        os.close(master)
