"""BrainFlow boards as sources, with the real BrainFlow library (synthetic and playback boards)."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("brainflow",
                    reason="brainflow is missing: pip install 'emgfeedback[brainflow]'")

from brainflow.board_shim import BoardIds, BoardShim  # noqa: E402
from brainflow.data_filter import DataFilter  # noqa: E402

from emgfeedback.acquisition import open_source  # noqa: E402
from emgfeedback.acquisition.source import Gap  # noqa: E402
from emgfeedback.errors import ConfigError, SourceError  # noqa: E402
from emgfeedback.interop.brainflow_source import board_id_from_name  # noqa: E402
from emgfeedback.runtime import Engine  # noqa: E402
from emgfeedback.storage import SessionMeta, SessionStore  # noqa: E402

SYNTHETIC = int(BoardIds.SYNTHETIC_BOARD.value)


def test_synthetic_board_records_through_the_pipeline(tmp_path):
    source = open_source("brainflow://synthetic?channels=4")
    source.open()
    info = source.info
    assert info.fs_hz == BoardShim.get_sampling_rate(SYNTHETIC) == 250.0
    assert info.n_channels == 4 and info.framing == "brainflow"
    store = SessionStore(tmp_path / "s.sqlite")
    sid = store.create_session(SessionMeta(
        subject="t", board=info.board, source_url=info.url, fs_hz=info.fs_hz,
        channel_names=list(info.channel_names), placements=[""] * 4, sides=[""] * 4,
        calibration=info.calibration))
    writer = store.open_writer(sid)
    seen = []
    engine = Engine(source, writer=writer)
    engine.add_listener(seen.append)
    engine.start()
    deadline = time.monotonic() + 60  # only a failing test waits this long
    while engine.health.samples_in < 500 and time.monotonic() < deadline:
        time.sleep(0.05)
    engine.stop()
    writer.close(status="complete")
    assert writer.error is None

    n = engine.health.samples_in
    assert n >= 500
    # (How fast the synthetic board ticks is BrainFlow's business and the host clock's: not
    # checked here, it would race the clock on a loaded machine.)
    indices, counts = store.read_samples(sid)
    assert counts.shape == (n, 4)
    np.testing.assert_array_equal(indices, np.arange(n))
    np.testing.assert_array_equal(counts, np.concatenate([p.chunk.samples for p in seen]))
    assert store.gaps(sid) == []
    # BrainFlow's own µV scaling survives: the synthetic channels are waves of growing size.
    uv = np.concatenate([p.uv for p in seen])
    spread = uv.std(axis=0)
    assert np.all(spread > 1.0) and np.all(np.diff(spread) > 0)
    assert np.isfinite(np.concatenate([p.envelope_uv for p in seen])).all()


def test_playback_board_counter_jump_is_a_gap(tmp_path):
    """A BrainFlow file with a jump in its package counter, played back by BrainFlow."""
    n = 400
    rows = BoardShim.get_num_rows(SYNTHETIC)
    data = np.zeros((rows, n))
    counter = np.arange(n)
    counter[300:] += 20  # 20 samples lost after sample 299
    data[BoardShim.get_package_num_channel(SYNTHETIC)] = counter % 256  # wraps at 256
    emg = BoardShim.get_emg_channels(SYNTHETIC)
    data[emg[0]] = np.arange(n) * 0.01 - 1.0  # µV, exact in 0.01 µV steps
    data[emg[1]] = -123.45
    data[BoardShim.get_timestamp_channel(SYNTHETIC)] = time.time() + np.arange(n) / 250.0
    path = tmp_path / "recording.csv"
    DataFilter.write_file(data, str(path), "w")

    src = open_source(f"brainflow://playback_file?file={path}&master_board={SYNTHETIC}"
                      "&channels=2")
    src.open()
    assert src.info.fs_hz == 250.0
    src.start()
    chunks = []
    deadline = time.monotonic() + 60
    while sum(c.n_samples for c in chunks) < n and time.monotonic() < deadline:
        chunks.extend(src.read(0.1))
    src.close()
    assert sum(c.n_samples for c in chunks) == n
    assert [g for c in chunks for g in c.gaps] == [Gap(300, 20, "counter")]
    indices = np.concatenate([np.arange(c.first_index, c.end_index) for c in chunks])
    np.testing.assert_array_equal(indices, counter)
    counts = np.concatenate([c.samples for c in chunks])
    np.testing.assert_array_equal(counts[:, 0], np.arange(n) - 100)
    np.testing.assert_array_equal(counts[:, 1], np.full(n, -12345))
    assert src.stats().lost_by_cause == {"counter": 20}


@pytest.mark.parametrize("name", ["synthetic", "SYNTHETIC_BOARD", "-1"])
def test_board_names(name):
    assert board_id_from_name(name) == SYNTHETIC


def test_cyton_by_name_and_a_missing_port_is_a_clear_error():
    src = open_source("brainflow://cyton?serial_port=/dev/nonexistent-emgf")
    assert src.info.n_channels == 8 and src.info.fs_hz == 250.0
    with pytest.raises(SourceError, match="BrainFlow cannot open Cyton"):
        src.open()
    assert src.state == "closed"


@pytest.mark.parametrize("url, message", [
    ("brainflow://", "name the board"),
    ("brainflow://no_such_board", "unknown BrainFlow board"),
    ("brainflow://synthetic?port=/dev/x", "unknown option"),
    ("brainflow://synthetic?channels=20", "has 16 EMG channels"),
    ("brainflow://playback_file?file=x.csv", "master_board"),
])
def test_bad_urls(url, message):
    with pytest.raises(ConfigError, match=message):
        open_source(url)
