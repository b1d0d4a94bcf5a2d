"""The simulated board on a pty, paced to real time, read by the project's serial source."""

from __future__ import annotations

import time

import numpy as np
import pytest

from emgfeedback.acquisition import avrsim
from emgfeedback.acquisition.source import open_source

FS_HZ = 2000
N_CHANNELS = 4
RECORD_S = 3.0


def _wait_status(src, code: int, timeout_s: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = src.device_status
        if status is not None and status.get("code") == code:
            return status
        time.sleep(0.01)
    raise AssertionError(f"no status {code} from the device; last: {src.device_status}")


def _wait_info(src, timeout_s: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while src.device_info is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert src.device_info is not None, "no info frame from the device"
    return src.device_info


def test_serial_source_records_from_the_simulated_board(uno_elf, harness):
    pytest.importorskip("serial")
    mv = avrsim.simulator_mv(N_CHANNELS, FS_HZ, seconds=10.0, seed=5)  # repeats (--loop)
    with avrsim.start_pty(uno_elf, mv, rate_hz=FS_HZ, harness=harness) as device:
        src = open_source(f"serial://{device.path}?framing=emgf&baud=1000000"
                          f"&channels={N_CHANNELS}&fs={FS_HZ}&k=8&reset_wait=0.3")
        try:
            src.open()  # no reset on a pty: the boot info is gone, the source asks `?`
            _wait_info(src)
            assert src.device_info["ch"] == N_CHANNELS and src.device_info["fs"] == FS_HZ
            src.device_info = None
            src.request_info()  # `?`
            assert _wait_info(src)["run"] == 0
            assert src.info.fs_hz == FS_HZ and src.info.n_channels == N_CHANNELS

            src.start()  # `b`
            chunks = []
            n = 0
            deadline = time.monotonic() + 60.0  # only a failing test waits this long
            while n < RECORD_S * FS_HZ and time.monotonic() < deadline:
                for chunk in src.read(timeout_s=0.2):
                    chunks.append(chunk)
                    n += len(chunk.samples)
            src.stop()  # `s`
            stopped = _wait_status(src, 2)
            stats = src.stats()
        finally:
            src.close()

    assert n >= RECORD_S * FS_HZ, f"only {n} samples in 60 s"
    samples = np.concatenate([c.samples for c in chunks])
    firsts = [c.first_index for c in chunks]
    ends = [c.first_index + len(c.samples) for c in chunks]
    assert firsts[0] == 0 and firsts[1:] == ends[:-1]  # contiguous, no gap anywhere
    assert not any(c.gaps for c in chunks)
    assert stats.lost_samples == 0 and stats.crc_errors == 0
    assert stats.format_errors == 0
    assert stopped["tx_dropped"] == 0 and stopped["overruns"] == 0
    # real-time pacing: the samples took at least about as long to arrive as they span (the
    # harness never runs ahead of the wall clock; on a loaded machine it may fall behind)
    span_s = chunks[-1].arrival_s - chunks[0].arrival_s
    assert 0.7 * (n / FS_HZ) < span_s
    assert samples.shape[1] == N_CHANNELS
    # MyoWare RAW sits mid-rail: counts around 512
    assert abs(np.median(samples) - 512) < 20
