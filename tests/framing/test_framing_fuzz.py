"""Hypothesis fuzzing of every decoder: random bytes, random splits, corrupted streams.

Properties: never raises; feeding split anywhere gives the same content and counters as
one feed; every yielded sample row is an original frame's content at its original index;
for emgf the lost-sample count equals exactly the samples missing between the first and
last surviving frames (destroyed frames plus device-side drops).
"""

from __future__ import annotations

import os
from collections import Counter

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emgfeedback.acquisition.framing import (
    FRAMINGS,
    DecodedBlock,
    DeviceMessage,
    encode_byb,
    encode_byb_message,
    encode_emgf_data,
    encode_emgf_event,
    encode_emgf_info,
    encode_emgf_status,
    encode_p2,
    encode_text,
    get_decoder,
)

# modest by default to keep CI fast; EMGF_FUZZ_EXAMPLES=2000 for a deep run
FUZZ = settings(max_examples=int(os.environ.get("EMGF_FUZZ_EXAMPLES", "60")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
U32 = 2**32


def feed_split(dec, data: bytes, cuts: list[int]) -> list:
    items = []
    prev = 0
    for c in sorted({min(max(0, c), len(data)) for c in cuts}) + [len(data)]:
        items += dec.feed(data[prev:c])
        prev = c
    return items + dec.flush()


def tokens(items) -> list[tuple]:
    """Content of a decode result independent of how samples were cut into blocks."""
    out: list[tuple] = []
    for it in items:
        if isinstance(it, DeviceMessage):
            out.append(("msg", it.kind, it.raw))
            continue
        if it.lost_before:
            out.append(("lost", it.lost_before))
        for j, row in enumerate(it.samples.tolist()):
            idx = None if it.first_index is None else it.first_index + j
            out.append(("row", idx, tuple(row)))
    return out


def decoded_rows(items) -> list[tuple[int | None, tuple]]:
    return [(t[1], t[2]) for t in tokens(items) if t[0] == "row"]


def corrupt(data: bytes, ops: list[tuple[str, int, bytes]]) -> bytes:
    """Apply (op, position, extra) from the end backwards so positions stay original."""
    buf = bytearray(data)
    for op, pos, extra in sorted(ops, key=lambda o: o[1], reverse=True):
        pos = min(pos, len(buf) - 1)
        if op == "flip":
            buf[pos] ^= 1 << (extra[0] % 8)
        elif op == "drop":
            del buf[pos]
        else:  # insert a byte or a burst of garbage before pos
            buf[pos:pos] = extra
    return bytes(buf)


ops_strategy = st.lists(st.tuples(st.sampled_from(["flip", "drop", "insert"]),
                                  st.integers(0, 10**6),
                                  st.binary(min_size=1, max_size=20)), max_size=5)


# ---------------------------------------------------------------- random bytes, all decoders


@FUZZ
@given(framing=st.sampled_from(FRAMINGS + ("auto",)), data=st.binary(max_size=3000),
       cuts=st.lists(st.integers(0, 3000), max_size=8), channels=st.integers(1, 6))
def test_random_bytes_never_raise_and_split_anywhere_is_invariant(framing, data, cuts,
                                                                  channels):
    n_ch = channels if framing in ("byb", "p2") else None
    one = get_decoder(framing, n_channels=n_ch)
    whole = one.feed(data) + one.flush()
    two = get_decoder(framing, n_channels=n_ch)
    parts = feed_split(two, data, cuts)
    assert tokens(whole) == tokens(parts)
    assert one.counters == two.counters
    assert all(v >= 0 for v in one.counters.values())
    for blk in whole:
        if isinstance(blk, DecodedBlock):
            assert blk.samples.dtype == np.int32 and blk.samples.ndim == 2
            assert blk.samples.shape[0] >= 1


# ---------------------------------------------------------------- emgf


@st.composite
def emgf_streams(draw):
    ch = draw(st.integers(1, 8))
    idx = draw(st.one_of(st.integers(0, U32 - 1), st.integers(U32 - 40, U32 - 1)))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    frames = []  # (kind, bytes, {unwrapped index: row} or None)
    for _ in range(draw(st.integers(1, 25))):
        kind = draw(st.sampled_from(["data"] * 6 + ["status", "event", "info"]))
        if kind == "data":
            idx += draw(st.sampled_from([0] * 6 + [1, 5]))  # device-side drops
            k = draw(st.integers(1, min(15, 122 // ch)))
            samples = rng.integers(0, 1024, (k, ch))
            frames.append(("data", encode_emgf_data(idx, samples),
                           {idx + j: tuple(samples[j].tolist()) for j in range(k)}))
            idx += k
        elif kind == "status":
            frames.append(("msg", encode_emgf_status(0, 1, 2, idx), None))
        elif kind == "event":
            frames.append(("msg", encode_emgf_event(idx, "EVNT:btn"), None))
        else:
            frames.append(("msg", encode_emgf_info({"ch": ch, "fs": 2000, "k": 8}), None))
    return frames


@FUZZ
@given(frames=emgf_streams(), ops=ops_strategy, cuts=st.lists(st.integers(0, 5000), max_size=6))
def test_emgf_corrupted_stream_yields_only_originals_and_counts_losses_exactly(frames, ops,
                                                                              cuts):
    clean = b"".join(f[1] for f in frames)
    spans, pos = [], 0
    for f in frames:
        spans.append((pos, pos + len(f[1])))
        pos += len(f[1])
    # one op per position: ops are applied from the end backwards, so each hits its own byte
    ops = list({p % len(clean): (op, p % len(clean), extra) for op, p, extra in ops}.values())
    # the stream goes on after the damage: padding lets a false header with a long claimed
    # length fail its CRC, as the next bytes of a live stream would
    data = corrupt(clean, ops) + bytes(260)
    touched = {i for i, (s, e) in enumerate(spans) for _, p, _ in ops if s <= p < e}

    dec = get_decoder("emgf")
    items = feed_split(dec, data, cuts)
    ref = get_decoder("emgf")
    assert tokens(ref.feed(data)) == tokens(items)  # split invariance on damaged streams too
    assert ref.counters == dec.counters

    originals = {}
    for kind, _, rows in frames:
        if kind == "data":
            for i, row in rows.items():
                originals[i % U32] = (i, row)
    got = decoded_rows(items)
    offsets = set()
    decoded_orig = set()
    for idx, row in got:
        orig_i, orig_row = originals[idx % U32]
        assert row == orig_row
        offsets.add(orig_i - idx)
        decoded_orig.add(orig_i)
    assert len(offsets) <= 1  # one consistent unwrapped numbering
    assert len(decoded_orig) == len(got)  # nothing delivered twice

    for i, (kind, _raw, rows) in enumerate(frames):
        if i not in touched and kind == "data":
            assert set(rows) <= decoded_orig
    msgs = Counter(it.raw for it in items if isinstance(it, DeviceMessage))
    orig_msgs = Counter(f[1] for f in frames if f[0] == "msg")
    assert not msgs - orig_msgs  # every message is an original frame
    untouched_msgs = Counter(f[1] for i, f in enumerate(frames) if f[0] == "msg"
                             and i not in touched)
    assert not untouched_msgs - msgs

    expected_lost = (max(decoded_orig) - min(decoded_orig) + 1 - len(decoded_orig)
                     if decoded_orig else 0)
    assert dec.counters["lost_samples"] == expected_lost
    assert sum(it.lost_before for it in items if isinstance(it, DecodedBlock)) == expected_lost
    assert dec.counters["samples"] == len(got)
    n_data_frames = sum(1 for kind, _, rows in frames
                        if kind == "data" and set(rows) <= decoded_orig)
    assert dec.counters["frames"] == n_data_frames + sum(msgs.values())
    assert dec.counters["index_restarts"] == 0
    if not ops:
        assert dec.counters["crc_errors"] == dec.counters["format_errors"] == 0
        assert dec.counters["bytes_skipped"] == 260


# ---------------------------------------------------------------- p2


@st.composite
def p2_streams(draw):
    seq = draw(st.integers(0, 255))
    packets = []  # (bytes, seq, row)
    for i in range(draw(st.integers(1, 60))):
        seq += draw(st.sampled_from([0] * 8 + [1, 3]))
        row = (i, draw(st.integers(0, 1023)), 0x200, 1023, 0, draw(st.integers(0, 1023)))
        packets.append((encode_p2(seq, row), seq, row))
        seq += 1
    return packets


def _one_op_per_unit(draw_ops, spans):
    """At most one drop/insert per packet/frame and none in its neighbours: a drop and an
    insertion within one frame length cancel out in length, which a format without a
    checksum cannot detect (an insertion at a frame's start is also the previous one's end).
    """
    ops, used = [], set()
    for op, unit, offset, extra in draw_ops:
        unit %= len(spans)
        if used & {unit - 1, unit, unit + 1}:
            continue
        used.add(unit)
        s, e = spans[unit]
        ops.append((op, s + offset % (e - s), extra))
    return ops


unit_ops = st.lists(st.tuples(st.sampled_from(["drop", "insert"]), st.integers(0, 500),
                              st.integers(0, 100), st.binary(min_size=1, max_size=20)),
                    max_size=6)


@FUZZ
@given(packets=p2_streams(), raw_ops=unit_ops, cuts=st.lists(st.integers(0, 1200), max_size=6))
def test_p2_dropped_and_inserted_bytes_never_yield_a_wrong_packet(packets, raw_ops, cuts):
    spans, pos = [], 0
    for p in packets:
        spans.append((pos, pos + len(p[0])))
        pos += len(p[0])
    ops = _one_op_per_unit(raw_ops, spans)
    data = corrupt(b"".join(p[0] for p in packets), ops)
    dec = get_decoder("p2")
    items = feed_split(dec, data, cuts)
    got = decoded_rows(items)
    offsets, seqs = set(), []
    for idx, row in got:
        _, seq, orig = packets[row[0]]
        assert row == orig
        offsets.add(seq - idx)
        seqs.append(seq)
    assert len(offsets) <= 1
    assert seqs == sorted(set(seqs))
    expected_lost = seqs[-1] - seqs[0] + 1 - len(seqs) if seqs else 0
    assert dec.counters["lost_samples"] == expected_lost
    # a packet whose bytes and the next sync are intact is always delivered
    for i, (s, e) in enumerate(spans):
        if not any(s <= p < e + 3 for _, p, _ in ops):
            assert packets[i][2] in {r for _, r in got}


# ---------------------------------------------------------------- byb


@st.composite
def byb_streams(draw):
    ch = draw(st.integers(1, 4))
    units = []  # (bytes, row or None)
    for i in range(draw(st.integers(1, 60))):
        if draw(st.integers(0, 15)) == 0:
            units.append((encode_byb_message(draw(st.sampled_from(["EVNT:3;",
                                                                   "HWT:MUSCLESS;"]))), None))
        row = (i,) + tuple(draw(st.integers(0, 16383)) for _ in range(ch - 1))
        units.append((encode_byb([row]), row))
    return ch, units


@FUZZ
@given(stream=byb_streams(), raw_ops=unit_ops, cuts=st.lists(st.integers(0, 1000), max_size=6))
def test_byb_dropped_and_inserted_bytes_never_yield_a_wrong_frame(stream, raw_ops, cuts):
    ch, units = stream
    spans, pos = [], 0
    for u in units:
        spans.append((pos, pos + len(u[0])))
        pos += len(u[0])
    data_units = [i for i, u in enumerate(units) if u[1] is not None]
    # inserted bytes get bit 7 cleared: without a checksum, a frame-start byte inserted right
    # after another frame's first byte makes a well-formed frame (documented limitation)
    ops = _one_op_per_unit([(op, data_units[unit % len(data_units)], off,
                             bytes(b & 0x7F for b in extra).replace(b"StartUp!", b"S"))
                            for op, unit, off, extra in raw_ops], spans)
    data = corrupt(b"".join(u[0] for u in units), ops)
    dec = get_decoder("byb", n_channels=ch)
    items = feed_split(dec, data, cuts)
    got = [row for _, row in decoded_rows(items)]
    rows_by_id = {u[1][0]: u[1] for u in units if u[1] is not None}
    ids = [row[0] for row in got]
    assert ids == sorted(set(ids))
    for row in got:
        assert row == rows_by_id[row[0]]
    # the decoder's own alarms (a damaged stream judged invalid) are not device messages
    assert [it.raw for it in items if isinstance(it, DeviceMessage) and it.kind != "alarm"] \
        == [u[0] for u in units if u[1] is None]
    assert dec.counters["lost_samples"] == 0
    if not ops:
        assert len(got) == len(rows_by_id)


# ---------------------------------------------------------------- text


@FUZZ
@given(n=st.integers(2, 40), ch=st.integers(1, 6), style=st.sampled_from(["plain", "csv",
                                                                          "plotter"]),
       junk=st.lists(st.tuples(st.integers(0, 100), st.binary(max_size=30)), max_size=5),
       cuts=st.lists(st.integers(0, 2000), max_size=6), seed=st.integers(0, 1000))
def test_text_junk_lines_never_become_samples(n, ch, style, junk, cuts, seed):
    x = np.random.default_rng(seed).integers(-5000, 5000, (n, ch))
    labels = [f"ch{i}" for i in range(ch)]
    lines = encode_text(x, labels, style).split(b"\n")[:-1]
    for at, blob in sorted(junk, reverse=True):
        # junk with a non-ASCII byte or the wrong column count is always rejected
        bad = blob.replace(b"\n", b"") + b"\x80" if at % 2 else b" ".join(
            [b"1"] * (ch + 1 + at % 3))
        # after the header and the first two rows: two agreeing lines fix the column count
        first = 3 if style == "csv" else 2
        lines.insert(first + at % (len(lines) - first + 1), bad)
    data = b"\n".join(lines) + b"\n"
    dec = get_decoder("text")
    items = feed_split(dec, data, cuts)
    assert [r for _, r in decoded_rows(items)] == [tuple(r) for r in x.tolist()]
    assert dec.counters["format_errors"] == len(junk)
    if style != "plain":
        assert dec.channel_names == tuple(labels)
