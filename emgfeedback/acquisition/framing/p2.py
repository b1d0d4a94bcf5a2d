"""OpenEEG ModularEEG packet format 2 (Olimex SHIELD-EKG-EMG, EEG-SMT).

17 bytes: ``A5 5A 02``, u8 packet counter, 6 x u16 big-endian (10-bit values, so every
high byte is <= 0x03), one byte of switch states. 57600 baud, 256 Hz nominal (the Olimex
demo sketch ticks at 250 Hz). There is no checksum, so a packet is accepted only if its
high bytes are <= 0x03 **and** the next packet's sync follows right after it; dropped or
inserted bytes are therefore always caught, but a flipped bit in a low data byte is not
(the format cannot tell). Counter jumps (mod 256) become lost samples.

A packet followed by junk (line noise, a garbage burst) is still delivered when the next
packet continues its counter and its switch byte, and no single insertion of the junk
*inside* the packet could explain the bytes with different channel values (see
:meth:`P2Decoder._after_junk`); otherwise it is dropped and shows up as lost.

Given host arrival times (``feed(data, arrival_s, fs_hz)``), a counter jump is resolved
to whole counter cycles from the time elapsed (:class:`~.timing.CounterClock`), so a
pause of 1.5 s at 256 Hz counts 384 lost packets, not 384 - 256 = 128.
"""

from __future__ import annotations

import numpy as np

from emgfeedback.acquisition.framing.base import Decoder, Item, as_block, partial_suffix
from emgfeedback.acquisition.framing.timing import CounterClock

SYNC = b"\xa5\x5a\x02"
PACKET = 17
CHANNELS = 6
NOMINAL_FS_HZ = 256.0
_LOOKAHEAD = PACKET + len(SYNC)  # bytes needed to decide on a candidate
_SMALL_FEED = 32 * PACKET  # bytes; smaller buffers are scanned without vectorisation
_HIGH_OFFSETS = np.arange(4, 16, 2)
_DATA_OFFSETS = np.arange(4, 16)
SWITCH_OFFSET = 16

#: Longest run of junk after a packet that is waited out before the packet is dropped.
MAX_JUNK = 256


def encode_p2(counter: int, values6, switches: int = 0) -> bytes:
    """Encode one P2 packet.

    Parameters
    ----------
    counter : int
        Packet counter, sent modulo 256.
    values6 : sequence of int
        Up to 6 channel values in 0..1023; missing channels are sent as 0x0200 (the
        value unused inputs read on the Olimex shield).
    switches : int
        Switch-state byte.
    """
    vals = [int(v) for v in values6]
    if len(vals) > CHANNELS:
        raise ValueError(f"P2 carries {CHANNELS} channels, got {len(vals)} values")
    if any(not 0 <= v <= 0x3FF for v in vals):
        raise ValueError("P2 values must be 10-bit (0..1023)")
    vals += [0x200] * (CHANNELS - len(vals))
    body = b"".join(v.to_bytes(2, "big") for v in vals)
    return SYNC + bytes((counter & 0xFF,)) + body + bytes((switches & 0xFF,))


class P2Decoder(Decoder):
    """Incremental, vectorised P2 decoder.

    ``n_channels`` (1..6, default 6) keeps the first channels of each packet.
    ``first_index`` of blocks is the unwrapped packet counter (starting at the first
    packet's counter value).
    """

    name = "p2"

    def __init__(self, n_channels: int | None = None, fs_hz: float | None = None):
        if n_channels is not None and not 1 <= int(n_channels) <= CHANNELS:
            raise ValueError(f"P2 has {CHANNELS} channels; n_channels must be 1..{CHANNELS}")
        super().__init__(CHANNELS if n_channels is None else n_channels, fs_hz)
        self._pending = b""
        self._pending_s: float | None = None  # arrival time of the pending bytes
        self._expected: int | None = None
        self._expected_u8 = 0
        self._clock = CounterClock(256)
        # (pending bytes' arrival, this read's arrival, pending length, session rate)
        self._arrivals: tuple = (None, None, 0, None)

    @property
    def pending_bytes(self) -> int:
        return len(self._pending)

    def feed(self, data: bytes, arrival_s: float | None = None,
             fs_hz: float | None = None) -> list[Item]:
        # packets that ended in the pending bytes arrived with them
        self._arrivals = (self._pending_s, arrival_s, len(self._pending), fs_hz)
        self._pending_s = arrival_s
        buf = self._pending + bytes(data)
        n = len(buf)
        a = np.frombuffer(buf, dtype=np.uint8)
        if n <= _SMALL_FEED:
            return self._feed_few(buf, a)
        if n >= len(SYNC):
            cand = np.flatnonzero((a[:-2] == 0xA5) & (a[1:-1] == 0x5A) & (a[2:] == 0x02))
        else:
            cand = np.empty(0, dtype=np.intp)
        decidable = cand[cand <= n - _LOOKAHEAD]
        if len(decidable):
            highs = a[decidable[:, None] + _HIGH_OFFSETS]
            self_ok = (highs <= 0x03).all(axis=1)
            is_cand = np.zeros(n, dtype=bool)
            is_cand[cand] = True
            good = decidable[self_ok & is_cand[decidable + PACKET]]
            junk_after = decidable[self_ok & ~is_cand[decidable + PACKET]]
        else:
            good = junk_after = decidable
        wait = n
        if len(junk_after):  # rare: only next to junk, decided one by one
            rescued = []
            for c in junk_after.tolist():
                if self._inside(good, c):
                    continue
                verdict = self._after_junk(buf, c, cand)
                if verdict == "wait":
                    wait = c
                    break
                if verdict == "good":
                    rescued.append(c)
            if rescued:
                good = np.union1d(good, np.asarray(rescued, dtype=np.intp))
            if wait < n:
                good = good[good < wait]
                decidable = decidable[decidable < wait]
        if len(good) > 1 and (np.diff(good) < PACKET).any():
            good = self._greedy(good)
        end = int(good[-1]) + PACKET if len(good) else 0
        undecided = cand[(cand > n - _LOOKAHEAD) & (cand >= end)]
        if wait < n:
            keep_from = wait
        elif len(undecided):
            keep_from = int(undecided[0])
        else:
            keep_from = max(end, n - partial_suffix(buf[end:], (SYNC,)))
        # every decidable candidate not inside an accepted packet was a failed sync
        if len(good):
            owner = np.maximum(np.searchsorted(good, decidable, side="right") - 1, 0)
            inside = (decidable >= good[owner]) & (decidable < good[owner] + PACKET)
            failed = int(np.count_nonzero(~inside))
        else:
            failed = len(decidable)
        self.counters["format_errors"] += failed
        self._skip(keep_from - PACKET * len(good))
        self._pending = buf[keep_from:]
        if len(good):
            return self._blocks(a, good)
        return []

    def _feed_few(self, buf: bytes, a: np.ndarray) -> list[Item]:
        """Scalar twin of the vectorised scan for small reads (same decisions)."""
        n = len(buf)
        good: list[int] = []
        pos = end = 0
        keep_from = None
        while True:
            c = buf.find(SYNC, pos)
            if c < 0:
                break
            if c > n - _LOOKAHEAD:
                keep_from = c
                break
            if all(buf[c + o] <= 0x03 for o in range(4, 16, 2)):
                verdict = "good" if buf.startswith(SYNC, c + PACKET) else \
                    self._after_junk(buf, c, None)
            else:
                verdict = "bad"
            if verdict == "wait":
                keep_from = c
                break
            if verdict == "good":
                good.append(c)
                pos = end = c + PACKET
            else:
                self.counters["format_errors"] += 1
                pos = c + 1
        if keep_from is None:
            keep_from = max(end, n - partial_suffix(buf[end:], (SYNC,)))
        self._skip(keep_from - PACKET * len(good))
        self._pending = buf[keep_from:]
        return self._blocks(a, np.asarray(good, dtype=np.intp)) if good else []

    def flush(self) -> list[Item]:
        self._arrivals = (None, None, 0, None)
        buf, self._pending = self._pending, b""
        a = np.frombuffer(buf, dtype=np.uint8)
        # only a packet that ends exactly where the stream ends: anything else may be a
        # packet with a byte dropped or inserted
        if (len(buf) == PACKET and buf.startswith(SYNC)
                and (a[_HIGH_OFFSETS] <= 0x03).all()):
            return self._blocks(a, np.zeros(1, dtype=np.intp))
        self._skip(len(buf))
        return []

    @staticmethod
    def _inside(good: np.ndarray, c: int) -> bool:
        """Whether candidate ``c`` lies inside one of the accepted packets ``good``."""
        k = int(np.searchsorted(good, c, side="right")) - 1
        return k >= 0 and c < int(good[k]) + PACKET

    def _after_junk(self, buf: bytes, c: int, cand: np.ndarray | None) -> str:
        """Decide on a plausible packet at ``c`` that junk follows: good, bad or wait.

        Good when the next sync after the junk starts a plausible packet that continues
        this one's counter (``+1``, or ``+k+1`` across ``k`` whole damaged packets) and
        keeps its switch byte, and no insertion of the junk inside this packet (which
        would keep sync, 10-bit range and switch byte) yields other channel values.
        Wait while the next packet is not complete yet (at most :data:`MAX_JUNK` bytes).
        """
        n = len(buf)
        if cand is None:
            s = buf.find(SYNC, c + 1)
        else:
            k = int(np.searchsorted(cand, c, side="right"))
            s = int(cand[k]) if k < len(cand) else -1
        if s < 0:
            return "wait" if n - c < PACKET + MAX_JUNK else "bad"
        g = s - c - PACKET  # junk bytes
        if g < 1 or g > MAX_JUNK:
            return "bad"  # a sync inside the packet (it lost bytes), or too much junk
        if s + PACKET > n:
            return "wait"
        nxt = buf[s:s + PACKET]
        if any(b > 0x03 for b in nxt[4:16:2]):
            return "bad"
        step = (nxt[3] - buf[c + 3]) % 256
        if not (step == 1 or (g % PACKET == 0 and step == g // PACKET + 1)):
            return "bad"
        switch = nxt[SWITCH_OFFSET]
        if buf[c + SWITCH_OFFSET] != switch:
            return "bad"
        stretch = buf[c:s]
        values = slice(4, 4 + 2 * self.n_channels)
        mine = stretch[values]
        for o in range(1, PACKET):  # the packet as it was if the junk was inserted at o
            alt = stretch[:o] + stretch[o + g:]
            if (alt.startswith(SYNC) and alt[SWITCH_OFFSET] == switch
                    and all(b <= 0x03 for b in alt[4:16:2]) and alt[values] != mine):
                return "bad"
        return "good"

    @staticmethod
    def _greedy(good: np.ndarray) -> np.ndarray:
        # only reached with garbage that mimics syncs: rare, so a Python loop is fine
        keep = []
        end = -1
        for c in good.tolist():
            if c >= end:
                keep.append(c)
                end = c + PACKET
        return np.asarray(keep, dtype=np.intp)

    def _blocks(self, a: np.ndarray, good: np.ndarray) -> list[Item]:
        # counter bookkeeping in plain Python: a few hundred packets per read at most, and
        # cheaper than a dozen numpy calls for the small reads a live port delivers
        counters = a[good + 3].tolist()
        raw = np.ascontiguousarray(a[good[:, None] + _DATA_OFFSETS])
        values = raw.view(">u2").reshape(len(counters), CHANNELS)[:, : self.n_channels]
        values = values.astype(np.int32)
        produced = self._production_times(good)
        clock = self._clock
        nominal = self._arrivals[3] or self.fs_hz or NOMINAL_FS_HZ
        out: list[Item] = []
        start, lost_total = 0, 0
        expected, expected_u8 = self._expected, self._expected_u8
        first = lost = 0
        for j, cnt in enumerate(counters):
            wrapped = False
            if expected is None:
                jump, expected = 0, cnt
            else:
                jump = (cnt - expected_u8) % 256
                if produced is not None:
                    extra = clock.extra_wraps(jump, produced[j], nominal)
                    jump += 256 * extra
                    wrapped = extra > 0
            if j == 0:
                first, lost = expected + jump, jump
            elif jump:
                out.append(as_block(values[start:j], first, lost))
                start, first, lost = j, expected + jump, jump
            lost_total += jump
            expected += jump + 1
            expected_u8 = (cnt + 1) % 256
            if produced is not None:
                clock.packet(produced[j], expected - 1, wrapped)
        out.append(as_block(values[start:], first, lost))
        c = self.counters
        c["frames"] += len(counters)
        c["samples"] += len(counters)
        c["lost_samples"] += lost_total
        self._expected, self._expected_u8 = expected, expected_u8
        return out

    def _production_times(self, good: np.ndarray) -> list[float] | None:
        """Estimated production time of each packet: its read's arrival time minus the
        packets that arrived after it in the same read, at the rate. None without times."""
        pending_s, arrival_s, pending_len, fs_hz = self._arrivals
        if arrival_s is None:
            return None
        rate = self._clock.rate_hz(fs_hz or self.fs_hz or NOMINAL_FS_HZ)
        ends = good + PACKET
        times = np.where(ends <= pending_len,
                         arrival_s if pending_s is None else pending_s, arrival_s)
        # packets after each one with the same arrival time
        after = np.empty(len(good), dtype=np.float64)
        old = int(np.count_nonzero(ends <= pending_len))
        after[:old] = np.arange(old - 1, -1, -1)
        after[old:] = np.arange(len(good) - old - 1, -1, -1)
        return (times - after / rate).tolist()
