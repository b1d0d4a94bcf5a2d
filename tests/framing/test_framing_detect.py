"""framing=auto on every format: about one second of realistic bytes, any alignment."""

from __future__ import annotations

import numpy as np
import pytest

from emgfeedback.acquisition.framing import (
    DecodedBlock,
    detect_framing,
    encode_byb,
    encode_byb_message,
    encode_emgf_data_frames,
    encode_emgf_info,
    encode_p2,
    encode_text,
    get_decoder,
)

RNG = np.random.default_rng(7)


def one_second(framing: str) -> tuple[bytes, int]:
    """About one second of a board's output in ``framing`` and its channel count."""
    if framing == "emgf":
        x = RNG.integers(400, 624, (2000, 4))
        info = {"fw": "1.0.0", "board": "uno", "ch": 4, "fs": 2000, "k": 8, "run": 1}
        return encode_emgf_info(info) + encode_emgf_data_frames(0, x, 8), 4
    if framing == "p2":
        x = RNG.integers(0, 1024, (256, 2))
        return b"".join(encode_p2(i, row) for i, row in enumerate(x.tolist())), 6
    if framing == "byb":
        x = RNG.integers(0, 1024, (5000, 2))
        return (b"StartUp!\n" + encode_byb(x[:2500]) + encode_byb_message("HWT:MUSCLESS;")
                + encode_byb(x[2500:])), 2
    x = RNG.integers(0, 1024, (500, 3))
    return encode_text(x, ["a", "b", "c"], "plotter"), 3


@pytest.mark.parametrize("framing", ["emgf", "p2", "byb", "text"])
@pytest.mark.parametrize("offset", [0, 5, 101])
def test_detects_every_framing_from_any_alignment(framing, offset):
    data, channels = one_second(framing)
    result = detect_framing(data[offset:])
    assert result.framing == framing, result.reason
    assert result.reason.startswith(framing + ":")
    assert result.confidence > 0.9
    assert result.n_channels == channels


@pytest.mark.parametrize("framing", ["emgf", "p2", "byb", "text"])
def test_detects_with_a_little_garbage_mixed_in(framing):
    data = bytearray(one_second(framing)[0])
    for pos in RNG.integers(0, len(data), 5):
        data[pos] ^= 0x40
    assert detect_framing(bytes(data)).framing == framing


def test_emgf_info_frame_alone_is_enough():
    result = detect_framing(encode_emgf_info({"ch": 2, "fs": 1000, "run": 0}))
    assert result.framing == "emgf"
    assert "1 frames with valid CRC" in result.reason


def test_byb_boot_text_alone_is_recognised():
    result = detect_framing(b"StartUp!\n")
    assert result.framing == "byb" and "StartUp!" in result.reason


def test_noise_and_silence_are_not_recognised():
    noise = detect_framing(RNG.integers(0, 256, 4000, dtype=np.uint8).tobytes())
    assert noise.framing is None and "no framing recognised" in noise.reason
    assert detect_framing(b"").framing is None


@pytest.mark.parametrize("framing", ["emgf", "p2", "byb", "text"])
def test_auto_decoder_delivers_the_same_samples_as_the_right_decoder(framing):
    data, channels = one_second(framing)
    auto = get_decoder("auto")
    got = []
    for i in range(0, len(data), 300):
        got += auto.feed(data[i:i + 300])
    got += auto.flush()
    ref = get_decoder(framing, n_channels=channels if framing == "byb" else None)
    want = ref.feed(data) + ref.flush()
    assert auto.framing == framing

    def cat(items):
        return np.concatenate([b.samples for b in items if isinstance(b, DecodedBlock)])

    np.testing.assert_array_equal(cat(got), cat(want))
    assert auto.counters == ref.counters
    assert auto.n_channels == ref.n_channels


def test_auto_decoder_survives_a_long_run_of_noise_before_the_stream():
    noise = RNG.integers(0, 256, 20000, dtype=np.uint8).tobytes()
    data, _ = one_second("emgf")
    auto = get_decoder("auto")
    got = []
    for i in range(0, len(noise + data), 1000):
        got += auto.feed((noise + data)[i:i + 1000])
    assert auto.framing == "emgf"
    samples = np.concatenate([b.samples for b in got if isinstance(b, DecodedBlock)])
    assert samples.shape == (2000, 4)
    assert auto.counters["bytes_skipped"] >= len(noise) - 2000
    assert auto.counters["lost_samples"] == 0
