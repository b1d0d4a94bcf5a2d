"""Board and sensor descriptors: gains, quantisation steps, floors, shared rates."""

from __future__ import annotations

import math

import numpy as np
import pytest

from emgfeedback.acquisition.boards import (
    BOARDS,
    calibration_table,
    counts_to_uv,
    get_board,
    rate_for_channels,
    uv_calibration,
)
from emgfeedback.errors import ConfigError


def test_uno_myoware2_raw_is_24_uv_per_count_centred():
    (cal,) = get_board("uno-myoware2").calibration(1)
    assert cal.uv_per_count == pytest.approx(5000e3 / 1024 / 200)  # 24.41 µV
    assert cal.offset_counts == 512
    assert cal.wideband_floor_uv == pytest.approx(cal.uv_per_count / math.sqrt(12))
    assert cal.to_uv(np.array([512, 513]))[1] == pytest.approx(24.4140625)


@pytest.mark.parametrize("name,gain,vref,bits,framing,fs", [
    ("olimex-ekg-emg", 2848.0, 5000.0, 10, "p2", 256.0),
    ("olimex-ekg-emg-3v3", 2848.0, 3300.0, 10, "p2", 256.0),
    ("byb-muscle", 600.0, 5000.0, 10, "byb", 10000.0),
    ("uno-myoware2-env", 10200.0, 5000.0, 10, "emgf", 500.0),
    ("esp32-myoware2", 200.0, 3300.0, 12, "text", 1000.0),
    ("uno-myoware1-env", 10050.0, 5000.0, 10, "emgf", 500.0),
])
def test_board_descriptors(name, gain, vref, bits, framing, fs):
    board = get_board(name)
    (cal,) = board.calibration(1)
    assert board.framing == framing and board.fs_hz == fs
    assert cal.uv_per_count == pytest.approx(vref * 1000 / 2**bits / gain, rel=1e-3)


def test_line_rates():
    assert get_board("olimex-ekg-emg").line_baud == 57600
    assert get_board("byb-muscle").line_baud == 222222
    assert get_board("byb-muscle").baud == 230400
    assert rate_for_channels(get_board("byb-muscle"), 4) == 2500.0
    assert rate_for_channels(get_board("uno-myoware2"), 4) == 2000.0


def test_every_board_calibrates_and_round_trips():
    rng = np.random.default_rng(1)
    for board in BOARDS.values():
        cals = board.calibration(board.channels)
        assert len(cals) == board.channels
        cal = cals[0]
        assert cal.uv_per_count > 0
        uv = rng.uniform(-0.4, 0.4, 1000) * min(cal.uv_per_count * 2**board.adc_bits, 1e5)
        if cal.output in ("env", "rect"):
            uv = np.abs(uv)
        back = cal.to_uv(cal.to_counts(uv))
        assert np.abs(back - uv).max() <= cal.uv_per_count / 2 + 1e-9, board.name


def test_uv_board_uses_the_declared_step():
    (cal,) = get_board("uv").calibration(1)
    assert cal == uv_calibration(1)[0]
    assert cal.to_counts(np.array([1.234]))[0] == 123


def test_calibration_table_rows():
    rows = {r["board"]: r for r in calibration_table()}
    assert set(rows) == set(BOARDS)
    assert rows["uno-myoware2"]["floor_uv"] == pytest.approx(24.4140625 / math.sqrt(12))
    assert rows["uno-myoware2"]["full_scale_uv"] == pytest.approx(511 * 24.4140625)
    # The ENV output resolves a resting tone that RAW on the same ADC cannot.
    assert rows["uno-myoware2-env"]["uv_per_count"] < 1.0 < rows["uno-myoware2"]["floor_uv"]


def test_counts_to_uv_per_channel():
    cals = get_board("uno-myoware2").calibration(2, ("raw", "env"))
    out = counts_to_uv(np.array([[513, 10]]), cals)
    np.testing.assert_allclose(out, [[cals[0].uv_per_count, 10 * cals[1].uv_per_count]])


def test_errors_list_what_is_accepted():
    with pytest.raises(ConfigError, match="known boards: .*uno-myoware2"):
        get_board("arduino")
    with pytest.raises(ConfigError, match="has no RECT output; it has RAW"):
        get_board("olimex-ekg-emg").calibration(1, ("rect",))
    with pytest.raises(ConfigError, match="2 outputs for 1 channels"):
        get_board("uno-myoware2").calibration(1, ("raw", "env"))
