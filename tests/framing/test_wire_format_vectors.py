"""The test vectors of hardware/WIRE_FORMAT.md, parsed out of the markdown itself."""

from __future__ import annotations

import binascii
import json
import re
from pathlib import Path

import numpy as np
import pytest

from emgfeedback.acquisition.framing import (
    DecodedBlock,
    DeviceMessage,
    encode_emgf_data,
    encode_emgf_event,
    encode_emgf_info,
    encode_emgf_status,
    get_decoder,
)

SPEC = Path(__file__).resolve().parents[2] / "hardware" / "WIRE_FORMAT.md"


def _vectors() -> list[dict]:
    text = SPEC.read_text(encoding="utf-8")
    blocks = re.findall(r"```emgf-vector\n(.*?)```", text, flags=re.S)
    vectors = []
    for block in blocks:
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            m = re.match(r"^(\w+):\s?(.*)$", line)
            if m and m.group(1) in ("name", "hex", "crc", "decoded"):
                key = m.group(1)
                fields[key] = m.group(2).strip()
            elif key is not None:  # continuation line (long hex)
                fields[key] += " " + line.strip()
        vectors.append({
            "name": fields["name"],
            "bytes": bytes.fromhex(fields["hex"]),
            "crc": int(fields["crc"], 16),
            "decoded": json.loads(fields["decoded"]),
        })
    return vectors


VECTORS = _vectors()


def test_spec_has_a_vector_of_every_frame_type():
    kinds = {v["decoded"]["type"] for v in VECTORS}
    assert kinds == {"data", "info", "event", "status"}
    assert len(VECTORS) >= 6


@pytest.mark.parametrize("vec", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_crc_matches_binascii_and_is_little_endian(vec):
    frame = vec["bytes"]
    assert frame[:2] == b"\xeb\x90"
    length = frame[3]
    assert len(frame) == length + 6
    crc = binascii.crc_hqx(frame[2:4 + length], 0xFFFF)
    assert crc == vec["crc"]
    assert frame[-2:] == bytes((crc & 0xFF, crc >> 8))


@pytest.mark.parametrize("vec", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_decodes_to_the_stated_content(vec):
    dec = get_decoder("emgf")
    items = dec.feed(vec["bytes"])
    assert len(items) == 1
    item = items[0]
    want = vec["decoded"]
    if want["type"] == "data":
        assert isinstance(item, DecodedBlock)
        assert item.first_index == want["first_index"]
        assert item.samples.dtype == np.int32
        assert item.samples.tolist() == want["samples"]
        assert dec.n_channels == want["channels"]
    else:
        assert isinstance(item, DeviceMessage)
        assert item.kind == want["type"]
        assert item.raw == vec["bytes"]
        for key, value in want["payload"].items():
            assert item.payload[key] == value
    assert dec.counters["crc_errors"] == dec.counters["format_errors"] == 0
    assert dec.counters["bytes_skipped"] == 0


@pytest.mark.parametrize("vec", VECTORS, ids=[v["name"] for v in VECTORS])
def test_encoders_reproduce_the_vector_bytes(vec):
    want = vec["decoded"]
    if want["type"] == "data":
        got = encode_emgf_data(want["first_index"], np.array(want["samples"]))
    elif want["type"] == "info":
        got = encode_emgf_info(want["payload"])
    elif want["type"] == "event":
        got = encode_emgf_event(want["payload"]["index"], want["payload"]["text"])
    else:
        p = want["payload"]
        got = encode_emgf_status(p["code"], p["tx_dropped"], p["overruns"], p["next_index"],
                                 p["message"])
    assert got.hex() == vec["bytes"].hex()


def test_wrap_vector_is_followed_by_index_1_without_loss():
    wrap = next(v for v in VECTORS if v["name"] == "data-wrap")
    dec = get_decoder("emgf")
    dec.feed(wrap["bytes"])
    (blk,) = dec.feed(encode_emgf_data(1, [[3], [4]]))
    assert blk.first_index == 2**32 + 1
    assert blk.lost_before == 0
    assert dec.counters["lost_samples"] == 0


def test_uart_budget_table_matches_the_frame_size_formula():
    text = SPEC.read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d) ch @ (\d) kHz\s*\| (\d+) \| (\d+)\s*\| (\d+)\s*\| ([\d,]+)", text,
                      flags=re.M)
    assert len(rows) >= 4
    for ch, khz, k, frame_bytes, frames_s, bytes_s in rows:
        ch, fs, k = int(ch), int(khz) * 1000, int(k)
        assert int(frame_bytes) == 12 + 2 * k * ch
        assert int(frames_s) == fs // k
        assert int(bytes_s.replace(",", "")) == (12 + 2 * k * ch) * fs // k
        # the real encoder agrees with the table's frame size
        assert len(encode_emgf_data(0, np.zeros((k, ch), dtype=int))) == int(frame_bytes)
