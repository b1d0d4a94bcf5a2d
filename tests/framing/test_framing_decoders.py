"""Hand-written byte vectors for every decoder: resync, losses, wrap, messages, text rules."""

from __future__ import annotations

import numpy as np
import pytest

from emgfeedback.acquisition.framing import (
    COUNTER_KEYS,
    FRAMINGS,
    DecodedBlock,
    DeviceMessage,
    encode_byb,
    encode_byb_message,
    encode_emgf_data,
    encode_emgf_status,
    encode_p2,
    encode_text,
    estimate_fs_hz,
    get_decoder,
)
from emgfeedback.acquisition.framing.text import RateEstimator
from emgfeedback.errors import ConfigError


def blocks(items):
    return [i for i in items if isinstance(i, DecodedBlock)]


def messages(items):
    return [i for i in items if isinstance(i, DeviceMessage)]


def rows(items):
    bl = blocks(items)
    return np.concatenate([b.samples for b in bl]).tolist() if bl else []


# ---------------------------------------------------------------- registry


def test_get_decoder_knows_every_framing_and_rejects_others():
    for name in FRAMINGS:
        dec = get_decoder(name)
        assert set(COUNTER_KEYS) <= set(dec.counters)
        assert dec.feed(b"") == []
    with pytest.raises(ConfigError, match="accepted: emgf, text, p2, byb, auto"):
        get_decoder("cyton")
    with pytest.raises(ConfigError, match="n_channels"):
        get_decoder("p2", n_channels=7)


# ---------------------------------------------------------------- emgf

def _with_crc(body_hex: str) -> bytes:
    import binascii

    body = bytes.fromhex(body_hex)
    crc = binascii.crc_hqx(body, 0xFFFF)
    return b"\xeb\x90" + body + bytes((crc & 0xFF, crc >> 8))


def test_emgf_hand_written_frames_match_encoder():
    a = _with_crc("100A 00000000 0102 01000200")
    assert a == encode_emgf_data(0, [[1], [2]])
    dec = get_decoder("emgf")
    items = dec.feed(a + _with_crc("100A 02000000 0102 03000400"))
    assert rows(items) == [[1], [2], [3], [4]]
    assert blocks(items)[0].first_index == 0
    assert dec.counters["frames"] == 2 and dec.counters["samples"] == 4


def test_emgf_resync_after_corrupted_length_does_not_swallow_next_frames():
    good = [encode_emgf_data(2 * i, [[i], [i + 1]]) for i in range(4)]
    bad = bytearray(good[0])
    bad[3] = 200  # length byte corrupted: claims a 206-byte frame
    dec = get_decoder("emgf")
    items = dec.feed(bytes(bad) + b"".join(good[1:]) + bytes(250))
    # frames 1..3 survive although they lie inside the claimed 206 bytes
    assert [b.first_index for b in blocks(items)] == [2]
    assert rows(items) == [[1], [2], [2], [3], [3], [4]]
    assert dec.counters["crc_errors"] == 1
    assert dec.counters["lost_samples"] == 0  # frame 0 was the first: nothing known before it
    assert dec.counters["bytes_skipped"] == len(bad) + 250


def test_emgf_lost_samples_from_index_jump_and_bad_crc():
    f0 = encode_emgf_data(100, [[1], [2], [3]])
    f1 = bytearray(encode_emgf_data(103, [[4], [5], [6]]))
    f1[12] ^= 0x01  # a bit flip in the samples: CRC fails
    f2 = encode_emgf_data(106, [[7], [8], [9]])
    f3 = encode_emgf_data(115, [[10], [11], [12]])  # device dropped 6 samples (103..108 sent)
    dec = get_decoder("emgf")
    items = dec.feed(f0 + bytes(f1) + f2 + f3)
    bl = blocks(items)
    assert [(b.first_index, b.lost_before) for b in bl] == [(100, 0), (106, 3), (115, 6)]
    assert dec.counters["lost_samples"] == 9
    assert dec.counters["crc_errors"] >= 1


def test_emgf_u32_wrap_unwraps_to_int64():
    dec = get_decoder("emgf")
    items = dec.feed(encode_emgf_data(2**32 - 3, [[1], [2]]) + encode_emgf_data(2**32 - 1,
                     [[3], [4]]) + encode_emgf_data(3, [[5], [6]]))
    bl = blocks(items)
    assert bl[0].first_index == 2**32 - 3
    assert bl[-1].first_index == 2**32 + 3 and bl[-1].lost_before == 2
    assert dec.counters["lost_samples"] == 2


def test_emgf_index_going_backwards_is_a_restart_not_a_loss():
    dec = get_decoder("emgf")
    dec.feed(encode_emgf_data(5000, [[1]]))
    (blk,) = dec.feed(encode_emgf_data(0, [[2]]))
    assert blk.first_index == 5001 and blk.lost_before == 0
    assert dec.counters["index_restarts"] == 1


def test_emgf_channel_count_change_is_a_format_error():
    dec = get_decoder("emgf")
    items = dec.feed(encode_emgf_data(0, [[1, 2]]) + encode_emgf_data(1, [[1, 2, 3]])
                     + encode_emgf_data(2, [[5, 6]]))
    assert rows(items) == [[1, 2], [5, 6]]
    assert dec.counters["format_errors"] >= 1
    assert dec.counters["lost_samples"] == 1


def test_emgf_user_channel_count_is_enforced():
    dec = get_decoder("emgf", n_channels=4)
    assert dec.feed(encode_emgf_data(0, [[1, 2]])) == []
    assert dec.counters["format_errors"] == 1


def test_emgf_inconsistent_length_with_valid_crc_is_format_error():
    frame = _with_crc("100C 00000000 0102 01000200 0000")  # 2 samples x 1 ch but L=12
    dec = get_decoder("emgf")
    assert dec.feed(frame) == []
    assert dec.counters["format_errors"] == 1 and dec.counters["crc_errors"] == 0


def test_emgf_status_and_info_set_decoder_state():
    dec = get_decoder("emgf")
    items = dec.feed(encode_emgf_status(3, 0, 0, 0) + _with_crc(
        "1114" + b'{"ch":2,"fs":1000.5}'.hex()))
    assert [m.kind for m in messages(items)] == ["status", "info"]
    assert items[0].payload["meaning"] == "config accepted"
    assert dec.fs_hz == 1000.5 and dec.n_channels == 2


def test_emgf_garbage_is_counted_and_never_raises():
    dec = get_decoder("emgf")
    junk = b"\xeb\x90\xeb\x90\x1f\x05" + bytes(range(256)) + b"\xeb"
    assert dec.feed(junk) == []
    assert dec.counters["format_errors"] >= 2
    assert dec.counters["bytes_skipped"] + dec.pending_bytes == len(junk)


# ---------------------------------------------------------------- text


def test_text_plain_lines_with_cr_and_blank_lines():
    dec = get_decoder("text")
    items = dec.feed(b"512\r\n513\r\n\r\n5")
    items += dec.feed(b"14\r\n")
    assert rows(items) == [[512], [513], [514]]
    assert dec.n_channels == 1 and blocks(items)[0].first_index is None


def test_text_csv_header_and_plotter_labels_become_channel_names():
    dec = get_decoder("text")
    items = dec.feed(b"left,right\n1,2\n3,4\n")
    assert dec.channel_names == ("left", "right")
    assert rows(items) == [[1, 2], [3, 4]]
    assert messages(items)[0].payload == "left,right"
    dec = get_decoder("text")
    items = dec.feed(b"EMG1:10\tEMG2:-20\nEMG1:11 EMG2:21\n")
    assert dec.channel_names == ("EMG1", "EMG2")
    assert rows(items) == [[10, -20], [11, 21]]


def test_text_ragged_and_junk_lines_are_format_errors_not_samples():
    dec = get_decoder("text")
    items = dec.feed(b"1 2\n0 0\n3\n4 5 6\n7 x8\n9 10\nhello world\n\xff\xfe\n11 12\n")
    assert rows(items) == [[1, 2], [0, 0], [9, 10], [11, 12]]
    assert dec.counters["format_errors"] == 4
    assert [m.payload for m in messages(items)] == ["hello world"]
    assert dec.counters["bytes_skipped"] == len(b"3\n4 5 6\n7 x8\n\xff\xfe\n")


def test_text_port_opened_mid_line_does_not_fix_the_wrong_column_count():
    dec = get_decoder("text")
    items = dec.feed(b"b:5,c:7\r\na:1,b:2,c:3\r\na:4,b:5,c:6\r\n")
    assert rows(items) == [[1, 2, 3], [4, 5, 6]]
    assert dec.n_channels == 3 and dec.channel_names == ("a", "b", "c")
    assert dec.counters["format_errors"] == 1


def test_text_boot_message_is_not_taken_for_a_header_of_the_wrong_width():
    dec = get_decoder("text")
    items = dec.feed(b"Starting\n10 20\n11 21\n")
    assert rows(items) == [[10, 20], [11, 21]]
    assert dec.channel_names is None
    assert [m.payload for m in messages(items)] == ["Starting"]


def test_text_over_long_line_is_dropped_the_same_whether_split_or_not():
    stream = b"1\n" + b"7" * 3000 + b"\n2\n"
    one = get_decoder("text")
    r1 = rows(one.feed(stream))
    two = get_decoder("text")
    r2 = []
    for i in range(0, len(stream), 700):
        r2 += rows(two.feed(stream[i:i + 700]))
    assert r1 == r2 == [[1], [2]]
    assert one.counters == two.counters
    assert one.counters["format_errors"] == 1


def test_text_encoder_styles_round_trip():
    x = np.array([[1, -2], [3, 4]])
    for style in ("plain", "csv", "plotter"):
        dec = get_decoder("text")
        assert rows(dec.feed(encode_text(x, ["a", "b"], style=style))) == x.tolist()
        assert dec.channel_names == (None if style == "plain" else ("a", "b"))


def test_estimate_fs_from_bursty_arrivals():
    rng = np.random.default_rng(3)
    fs = 1000.0
    t, pairs, done = 0.0, [], 0
    while t < 3.0:
        t += rng.uniform(0.005, 0.03)
        n = int(fs * t) - done
        done += n
        pairs.append((t + rng.uniform(0, 0.004), n))
    assert estimate_fs_hz(pairs) == pytest.approx(fs, rel=0.01)
    assert estimate_fs_hz(pairs[:2]) is None
    est = RateEstimator()
    for p in pairs:
        est.add(*p)
    assert est.fs_hz == pytest.approx(fs, rel=0.01)


# ---------------------------------------------------------------- p2

P2_0 = bytes.fromhex("A55A02 FE 0200 03FF 0000 0155 0200 0200 00")
P2_1 = bytes.fromhex("A55A02 FF 0201 03FE 0001 0156 0200 0200 00")
P2_2 = bytes.fromhex("A55A02 00 0202 03FD 0002 0157 0200 0200 0F")  # counter wraps
P2_4 = bytes.fromhex("A55A02 02 0203 03FC 0003 0158 0200 0200 00")  # packet 01 lost


def test_p2_hand_written_packets_counter_wrap_and_loss():
    assert encode_p2(0xFE, [0x200, 0x3FF, 0, 0x155]) == P2_0
    dec = get_decoder("p2", n_channels=4)
    items = dec.feed(P2_0 + P2_1 + P2_2 + P2_4 + P2_0[:5])
    items += dec.flush()
    assert rows(items)[:4] == [[512, 1023, 0, 341], [513, 1022, 1, 342], [514, 1021, 2, 343],
                               [515, 1020, 3, 344]]
    bl = blocks(items)
    assert [(b.first_index, b.lost_before) for b in bl] == [(254, 0), (258, 1)]
    assert dec.counters["lost_samples"] == 1
    assert dec.counters["frames"] == 4


def test_p2_high_byte_above_3_rejects_the_packet():
    bad = bytearray(P2_1)
    bad[6] = 0x04  # high byte of channel 2
    dec = get_decoder("p2")
    items = dec.feed(P2_0 + bytes(bad) + P2_2 + P2_4)
    assert [b.lost_before for b in blocks(items)] == [0, 1]
    assert dec.counters["format_errors"] == 1
    assert dec.counters["bytes_skipped"] == 17


def test_p2_dropped_byte_never_yields_a_shifted_packet():
    dec = get_decoder("p2")
    items = dec.feed(P2_0 + P2_1[:9] + P2_1[10:] + P2_2 + P2_4)
    assert [r[0] for r in rows(items)] == [512, 514]
    assert dec.counters["lost_samples"] == 1


# ---------------------------------------------------------------- byb


def test_byb_hand_written_frames_messages_and_startup():
    # 2 channels: (1000, 5) and (3, 16383); bit 7 only on the first byte of a frame
    f0 = bytes([0x80 | (1000 >> 7), 1000 & 0x7F, 0x00, 0x05])
    f1 = bytes([0x80, 0x03, 0x7F, 0x7F])
    assert encode_byb([[1000, 5], [3, 16383]]) == f0 + f1
    stream = (b"StartUp!\n" + f0 + b"\xff\xff\x01\x01\x80\xffEVNT:2;\xff\xff\x01\x01\x81\xff"
              + f1 + b"\x11\x22" + f0 + f1)
    dec = get_decoder("byb", n_channels=2)
    items = dec.feed(stream) + dec.flush()
    # the frame before the 2 junk bytes is dropped too: junk right after a frame cannot be
    # told from a byte inserted inside it
    assert rows(items) == [[1000, 5], [1000, 5], [3, 16383]]
    msgs = messages(items)
    assert [m.kind for m in msgs] == ["text", "event"]
    assert msgs[0].payload == "StartUp!" and msgs[1].payload["event"] == 2
    assert dec.counters["bytes_skipped"] == 4 + 2
    assert dec.counters["lost_samples"] == 0
    assert all(b.first_index is None for b in blocks(items))


def test_byb_channel_reply_switches_channel_count():
    dec = get_decoder("byb")  # default 1 channel
    items = dec.feed(encode_byb([[7]]) + encode_byb_message("c:3;") + encode_byb([[1, 2, 3]] * 2))
    items += dec.flush()
    assert dec.n_channels == 3 and dec.fs_hz == pytest.approx(10000 / 3)
    shapes = [b.samples.shape[1] for b in blocks(items)]
    assert shapes[0] == 1 and set(shapes[1:]) == {3}
    assert [b.samples.tolist() for b in blocks(items)] == [[[7]], [[1, 2, 3]], [[1, 2, 3]]]


def test_byb_inserted_byte_inside_frame_is_not_yielded():
    f = encode_byb([[100, 200], [300, 400], [500, 600]])
    dec = get_decoder("byb", n_channels=2)
    items = dec.feed(f[:6] + b"\x05" + f[6:]) + dec.flush()
    assert rows(items) == [[100, 200], [500, 600]]
    assert dec.counters["bytes_skipped"] == 4 + 1
