"""The serial source's parts on their own: port helpers on real ptys, commands, indexing."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from emgfeedback.acquisition.serial_commands import (
    CommandQueue,
    emgf_config_commands,
    encode_command,
    resume_commands,
)
from emgfeedback.acquisition.serial_detect import (
    count_text_channels,
    snap_rate,
    text_probe_done,
    whole_lines,
)
from emgfeedback.acquisition.serial_indexing import BlockPlacer, RateMeter, append_block
from emgfeedback.acquisition.serial_port import (
    PortLost,
    find_device,
    open_port,
    read_available,
    usb_identity,
)


@pytest.fixture
def pty():
    master, slave = os.openpty()
    yield master, os.ttyname(slave)
    os.close(master)
    os.close(slave)


def test_a_pty_opens_despite_enotty_reads_and_is_found_again_by_path(pty, tmp_path):
    master, path = pty
    ser = open_port(path, 1_000_000)
    try:
        os.write(master, b"hello")
        deadline = time.monotonic() + 60.0  # only a failing test waits this long
        data = b""
        while len(data) < 5 and time.monotonic() < deadline:
            data += read_available(ser)
        assert data == b"hello"
    finally:
        ser.close()
    assert usb_identity(path) is None  # a pty has no USB identity
    link = tmp_path / "by-id"
    link.symlink_to(path)
    assert find_device(None, str(link)) == str(link)
    link.unlink()
    assert find_device(None, str(link)) is None


def test_a_missing_port_fails_to_open_and_a_closed_one_reports_lost(pty, tmp_path):
    with pytest.raises(OSError, match="no-such-port"):
        open_port(str(tmp_path / "no-such-port"), 115_200)
    _, path = pty
    ser = open_port(path, 115_200)
    ser.close()
    with pytest.raises(PortLost):
        read_available(ser)


def test_commands_per_framing():
    assert encode_command("emgf", "f1000") == b"f1000\n"
    assert encode_command("emgf", "?\n") == b"?\n"
    assert encode_command("byb", "c:2;") == b"c:2;"
    assert encode_command("emgf", b"raw") == b"raw"
    info = {"fs": 2000, "ch": 4, "k": 8}
    assert emgf_config_commands(info, 2000.0, 4, 8) == []
    assert emgf_config_commands(info, 1000.0, 2, 10) == ["f1000", "c2", "k10"]
    assert emgf_config_commands(info, None, 3, None) == ["c3"]
    assert resume_commands("emgf", True, None) == [b"b\n"]
    assert resume_commands("emgf", False, None) == []
    assert resume_commands("byb", False, 3) == [b"c:3;"]
    assert resume_commands("text", True, 3) == []


def test_command_queue_holds_until_the_reset_wait_or_the_device_speaks():
    import threading

    queue = CommandQueue(threading.Lock())
    queue.hold(0.2, "emgf")
    now = time.monotonic()
    assert not queue.timed_out(now) and not queue.released.is_set()
    assert queue.timed_out(now + 0.3)  # once, when the hold ends by time
    assert not queue.timed_out(now + 0.4) and queue.released.is_set()
    queue.hold(10.0, "emgf")
    queue.release()  # the device spoke
    assert queue.released.is_set() and not queue.timed_out(time.monotonic() + 20.0)
    queue.hold(10.0, "text")  # nothing to hold for
    assert queue.released.is_set()
    queue.put(b"b\n")
    queue.put(b"b\n", once=True)
    queue.put(b"s\n")
    assert [queue.pop(), queue.pop(), queue.pop()] == [b"b\n", b"s\n", None]


def test_text_channels_come_from_whole_lines_only():
    buffer = b"12 7,300\n" + b"A0:512,A1:498\n" * 8 + b"51"
    lines = whole_lines(buffer)
    assert len(lines) == 8 and text_probe_done(lines, 0.0)
    assert count_text_channels(lines) == 2
    assert not text_probe_done(lines[:3], 0.1) and text_probe_done(lines[:3], 0.6)
    assert count_text_channels([b"hello", b""]) is None
    assert snap_rate(1987.0) == 2000.0 and snap_rate(1900.4) == 1900.0


def place(placer, device_index, n, counters=None, now=0.0, **kwargs):
    counters = counters or {"frames": 0, "crc_errors": 0, "format_errors": 0,
                            "bytes_skipped": 0}
    options = {"fs_hz": 1000.0, "last_sample_s": None, "unplug_s": None,
               "index_survives_unplug": True, "tx_dropped": 0}
    options.update(kwargs)
    return placer.place(device_index, n, 0, counters, now, **options)


def test_block_placer_rebases_counts_and_names_gap_causes():
    placer = BlockPlacer()
    assert place(placer, 500, 10) == (0, [])  # the first sample is session index 0
    first, gaps = place(placer, 520, 10, {"frames": 2, "crc_errors": 1, "format_errors": 0,
                                          "bytes_skipped": 0})
    assert first == 20 and [(g.start_index, g.n_samples, g.cause) for g in gaps] == \
        [(10, 10, "crc")]
    first, gaps = place(placer, 540, 10, {"frames": 3, "crc_errors": 1, "format_errors": 0,
                                          "bytes_skipped": 0}, tx_dropped=1)
    assert first == 40 and gaps[0].cause == "device_dropped"
    assert place(placer, 0, 10)[0] == 50 and placer.index_restarts == 1
    # unplug: the index continued, so the gap is exact
    placer.rebase = "unplug"
    first, gaps = place(placer, 300, 10, now=10.3, last_sample_s=10.0)
    assert first == 60 + 290 and gaps[0].cause == "unplug" and gaps[0].n_samples == 290
    # unplug of a board that restarted: estimated from host time (1 s at 1 kHz, minus n)
    placer.rebase = "unplug"
    first, gaps = place(placer, 0, 10, now=21.0, last_sample_s=20.0)
    assert gaps[0].n_samples == 990 and first == 360 + 990
    placer.rebase = "restart"
    assert place(placer, 7, 5) == (1360, [])


def test_contiguous_blocks_merge_and_the_rate_meter_counts_indices():
    chunks = []
    samples = np.ones((4, 2), dtype=np.int32)
    append_block(chunks, samples, 0, [], 1.0)
    append_block(chunks, samples, 4, [], 1.1)
    assert len(chunks) == 1 and chunks[0].n_samples == 8
    append_block(chunks, samples, 10, [], 1.2)  # not contiguous: a new chunk
    assert [c.first_index for c in chunks] == [0, 10]
    meter = RateMeter()
    meter.add(0.0, 0)
    meter.add(0.25, 500)
    assert meter.fs_hz is None  # under 0.5 s
    meter.add(1.0, 2000)
    assert meter.fs_hz == pytest.approx(2000.0)
