"""Losses of formats without a (wide) counter, from host arrival times given to the decoders.

Every test drives the real decoders with an injected clock: reads are simulated as bursts
at chosen arrival times, the way a USB link or a pty delivers them, so nothing here races
the wall clock. Each finding of issue 13 item 5 has a test that fails on the old decoders:
P2's 8-bit counter wrap, P2 over-counting next to junk, byb/text silences never counted,
random bytes decoded as SpikerShield samples, and the unbounded text probe.
"""

from __future__ import annotations

import numpy as np
import pytest

from emgfeedback.acquisition.framing import (
    DecodedBlock,
    DeviceMessage,
    encode_byb,
    encode_p2,
    encode_text,
    get_decoder,
)
from emgfeedback.acquisition.framing.timing import SilenceClock, pause_threshold_s
from emgfeedback.acquisition.serial_detect import (
    DETECT_MAX_BYTES,
    TEXT_PROBE_MAX_BYTES,
    framing_decided,
    text_probe_done,
    trim_probe,
)


def blocks(items):
    return [it for it in items if isinstance(it, DecodedBlock)]


def alarms(items):
    return [it for it in items if isinstance(it, DeviceMessage) and it.kind == "alarm"]


def stream(decoder, encode, fs_hz, seconds, read_every_s=0.004, pause=None, stall=None,
           fs_session=None, jitter_s=0.0, seed=0):
    """Feed ``seconds`` of a device at ``fs_hz``: one read every ``read_every_s``.

    ``pause=(at_s, duration_s)``: the device drops its samples meanwhile (they are lost).
    ``stall=(at_s, duration_s)``: the host does not read meanwhile; the bytes wait in the
    OS buffer and arrive in one burst (nothing lost). Returns (samples delivered, lost
    before blocks with their causes, items, samples the device dropped).
    """
    rng = np.random.default_rng(seed)
    done = dropped = 0
    t = 0.0
    delivered, gaps, items = 0, [], []
    buffered = b""
    while t < seconds:
        t += read_every_s
        due = int(t * fs_hz)
        n = due - done
        if pause and pause[0] <= t < pause[0] + pause[1]:
            dropped += n
            done = due
            continue
        if n:
            buffered += encode(done, n)
            done = due
        if stall and stall[0] <= t < stall[0] + stall[1]:
            continue
        if not buffered:
            continue
        arrival = t + (rng.uniform(0, jitter_s) if jitter_s else 0.0)
        got = decoder.feed(buffered, arrival, fs_session)
        buffered = b""
        items += got
        for blk in blocks(got):
            delivered += blk.samples.shape[0]
            if blk.lost_before:
                gaps.append((blk.lost_before, blk.loss_cause))
    return delivered, gaps, items, dropped


def text_enc(first, n):
    return encode_text(np.arange(first, first + n)[:, None] % 1000)


def byb_enc(first, n):
    return encode_byb((np.arange(first, first + n)[:, None] * 7) % 16384)


def p2_enc(first, n):
    return b"".join(encode_p2(i & 0xFF, [i % 1024, 512]) for i in range(first, first + n))


# ---------------------------------------------------------------- the silence clock


def test_pause_threshold_is_five_periods_or_50_ms_plus_jitter():
    assert pause_threshold_s(2000) == pytest.approx(0.1)
    assert pause_threshold_s(10) == pytest.approx(0.55)


def test_silence_clock_counts_a_pause_of_its_measured_length_despite_jitter():
    fs = 2000.0
    clock = SilenceClock()
    produced, gaps = 0, []
    rng = np.random.default_rng(3)
    for k in range(1, 2000):  # 8 s of reads every 4 ms, arriving up to 10 ms late
        t = k * 0.004
        due = int(t * fs)
        n, produced = due - produced, due
        if 3.0 <= t < 4.5:
            continue  # a 1.5 s pause: the samples produced meanwhile are gone
        gap = clock.missing(t + rng.uniform(0, 0.01), n, fs)
        if gap:
            gaps.append(gap)
    assert len(gaps) == 1 and gaps[0] == pytest.approx(3000, rel=0.01)


def test_silence_clock_a_burst_after_a_host_stall_is_not_a_loss():
    clock = SilenceClock()
    assert clock.missing(1.0, 100, 1000.0) == 0
    # the host read nothing for 2 s, then 2 s of samples arrive at once: no loss
    assert clock.missing(3.0, 2000, 1000.0) == 0
    assert clock.missing(3.01, 10, 1000.0) == 0


def test_silence_clock_continuous_rate_drift_never_makes_gaps():
    clock = SilenceClock()
    # the board runs 10 % slower than the rate assumed: the lag grows but samples keep
    # coming every 5 ms, which is no silence
    assert sum(clock.missing(k * 0.005, 9, 2000.0) for k in range(1, 4000)) == 0


def test_silence_clock_short_pause_below_threshold_is_not_counted():
    clock = SilenceClock()
    for k in range(1, 200):
        clock.missing(k * 0.004, 8, 2000.0)
    # 60 ms of silence at 2 kHz: below the 100 ms threshold
    assert clock.missing(199 * 0.004 + 0.06, 8, 2000.0) == 0


# ---------------------------------------------------------------- text and byb silences


@pytest.mark.parametrize("framing, encode, fs", [("text", text_enc, 2000.0),
                                                 ("byb", byb_enc, 10000.0)])
def test_a_pause_is_a_gap_of_the_measured_length(framing, encode, fs):
    dec = get_decoder(framing, n_channels=1 if framing == "byb" else None)
    delivered, gaps, _, dropped = stream(dec, encode, fs, 6.0, pause=(2.0, 1.5),
                                         fs_session=fs, jitter_s=0.01)
    assert dropped == pytest.approx(1.5 * fs, rel=0.01)
    # old decoders: no gap at all (the time axis shifted by 1.5 s)
    assert len(gaps) == 1 and gaps[0][1] == "pause"
    assert gaps[0][0] == pytest.approx(dropped, rel=0.02)
    assert dec.counters["lost_samples"] == gaps[0][0]
    assert delivered + gaps[0][0] == pytest.approx(6.0 * fs, rel=0.01)


@pytest.mark.parametrize("framing, encode, fs", [("text", text_enc, 2000.0),
                                                 ("byb", byb_enc, 10000.0)])
def test_a_host_stall_with_buffered_bytes_is_not_a_loss(framing, encode, fs):
    dec = get_decoder(framing, n_channels=1 if framing == "byb" else None)
    _, gaps, _, dropped = stream(dec, encode, fs, 6.0, stall=(2.0, 1.5), fs_session=fs)
    assert dropped == 0 and gaps == []


def test_without_arrival_times_decoding_depends_on_the_bytes_only():
    dec = get_decoder("byb", n_channels=1)
    items = dec.feed(byb_enc(0, 100)) + dec.feed(byb_enc(100, 100))
    assert all(b.lost_before == 0 for b in blocks(items))


# ---------------------------------------------------------------- byb: random bytes


def test_byb_random_bytes_are_rejected_with_one_alarm_not_decoded():
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, 200_000, dtype=np.uint8).tobytes()
    dec = get_decoder("byb", n_channels=1)
    items = []
    for i in range(0, len(noise), 256):
        items += dec.feed(noise[i:i + 256])
    delivered = sum(b.samples.shape[0] for b in blocks(items))
    # the old decoder delivered about 25,000 "samples" (one frame in every 8 random bytes)
    assert delivered < 100
    assert len(alarms(items)) == 1
    payload = alarms(items)[0].payload
    assert payload["alarm"] == "rejected" and "channels=" in payload["message"]
    assert dec.counters["bytes_rejected"] > 40_000
    assert dec.counters["samples"] == delivered


def test_byb_real_stream_with_garbage_bursts_is_never_rejected():
    rng = np.random.default_rng(8)
    data = b""
    for k in range(200):
        data += byb_enc(50 * k, 50) + rng.integers(0, 256, 32, dtype=np.uint8).tobytes()
    dec = get_decoder("byb", n_channels=1)
    items = dec.feed(data) + dec.flush()
    assert alarms(items) == [] and dec.counters["bytes_rejected"] == 0
    assert dec.counters["samples"] >= 200 * 48


def test_byb_noise_then_recovery_is_a_rejected_gap_of_the_noise_length():
    fs = 10000.0
    rng = np.random.default_rng(9)
    dec = get_decoder("byb", n_channels=1)

    def enc(first, n):
        return byb_enc(first, n)

    t, done, items, gaps = 0.0, 0, [], []
    while t < 6.0:
        t += 0.004
        due = int(t * fs)
        if 2.0 <= t < 4.0:  # 2 s of random bytes at 200 kB/s instead of frames
            data = rng.integers(0, 256, 800, dtype=np.uint8).tobytes()
        else:
            data = enc(done, due - done)
        done = due
        got = dec.feed(data, t, fs)
        items += got
        gaps += [(b.lost_before, b.loss_cause) for b in blocks(got) if b.lost_before]
    assert len(alarms(items)) == 1
    assert len(gaps) == 1 and gaps[0][1] == "rejected"
    # the noise lasted 2 s; a few good frames after it are rejected until the judge
    # window is clean again
    assert gaps[0][0] == pytest.approx(2.0 * fs, rel=0.05)


# ---------------------------------------------------------------- P2 counter


def test_p2_pause_longer_than_the_counter_cycle_is_resolved_from_arrival_times():
    dec = get_decoder("p2")
    delivered, gaps, _, dropped = stream(dec, p2_enc, 256.0, 6.0, read_every_s=0.016,
                                         pause=(2.0, 1.5), fs_session=256.0, jitter_s=0.01)
    assert 380 <= dropped <= 390  # 1.5 s at 256 Hz, give or take a read
    assert [g[0] for g in gaps] == [dropped]  # the old decoder counted dropped - 256
    assert dec.counters["lost_samples"] == dropped


def test_p2_counter_wraps_use_the_measured_rate_not_the_nominal_one():
    # an Olimex sketch ticking at 250 Hz while the session assumes 256: a 10 s pause is
    # 2500 packets; at 256 Hz the estimate would be 2560, still the same 9 wraps + 196
    dec = get_decoder("p2")
    _, gaps, _, dropped = stream(dec, p2_enc, 250.0, 16.0, read_every_s=0.016,
                                 pause=(3.0, 10.0), fs_session=256.0)
    assert [g[0] for g in gaps] == [dropped]
    assert dec._clock.measured_hz == pytest.approx(250.0, rel=0.01)


def test_p2_host_stall_with_buffered_packets_is_not_a_loss():
    dec = get_decoder("p2")
    _, gaps, _, _ = stream(dec, p2_enc, 256.0, 6.0, read_every_s=0.016,
                           stall=(2.0, 1.5), fs_session=256.0)
    assert gaps == []


def test_p2_without_arrival_times_counts_modulo_256():
    dec = get_decoder("p2")
    items = dec.feed(p2_enc(0, 10) + p2_enc(10 + 384, 10))
    assert [b.lost_before for b in blocks(items)] == [0, 128]


def test_p2_garbage_between_packets_loses_nothing():
    rng = np.random.default_rng(11)
    data = b""
    for k in range(100):
        data += p2_enc(10 * k, 10) + rng.integers(0, 256, 32, dtype=np.uint8).tobytes()
    dec = get_decoder("p2")
    items = dec.feed(data) + dec.flush()
    # the old decoder dropped the packet before every burst and counted ~100 lost
    assert dec.counters["lost_samples"] == 0
    # every packet but the very last one (junk, then the end of the stream: undecidable)
    assert [r[0] for b in blocks(items) for r in b.samples.tolist()] == list(range(999))


def test_p2_junk_inserted_inside_a_packet_never_yields_a_wrong_packet():
    good = [encode_p2(i, [i, 600, 512, 512, 512, 700]) for i in range(6)]
    for offset in range(4, 17):
        for junk in (bytes(5), b"\x01\x00\x02"):
            bad = good[2][:offset] + junk + good[2][offset:]
            dec = get_decoder("p2")
            items = dec.feed(b"".join(good[:2]) + bad + b"".join(good[3:])) + dec.flush()
            for blk in blocks(items):
                for j, row in enumerate(blk.samples.tolist()):
                    assert row == [blk.first_index + j, 600, 512, 512, 512, 700]


# ---------------------------------------------------------------- byte limits


def test_text_endless_line_is_dropped_with_one_alarm_and_bounded_memory():
    dec = get_decoder("text")
    items = []
    for _ in range(100):
        items += dec.feed(b"7" * 4096)
        assert dec.pending_bytes <= 1024
    assert len(alarms(items)) == 1 and "longer than 1024 bytes" in \
        alarms(items)[0].payload["message"]
    items = dec.feed(b"\n1 2\n3 4\n5 6\n")
    assert [r for b in blocks(items) for r in b.samples.tolist()] == [[1, 2], [3, 4], [5, 6]]


def test_text_probe_and_detection_have_byte_limits():
    assert not text_probe_done([], 0.1, TEXT_PROBE_MAX_BYTES - 1)
    assert text_probe_done([], 0.1, TEXT_PROBE_MAX_BYTES)  # an endless line: give up

    class Found:
        framing, confidence = "byb", 0.6

    assert not framing_decided(Found, 0.3, DETECT_MAX_BYTES - 1)
    assert framing_decided(Found, 0.3, DETECT_MAX_BYTES)
    buf = bytearray(b"x" * (DETECT_MAX_BYTES + 10) + b"end")
    assert trim_probe(buf) == 13 and len(buf) == DETECT_MAX_BYTES and buf.endswith(b"end")
