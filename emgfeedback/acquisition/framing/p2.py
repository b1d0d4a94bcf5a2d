"""OpenEEG ModularEEG packet format 2 (Olimex SHIELD-EKG-EMG, EEG-SMT).

17 bytes: ``A5 5A 02``, u8 packet counter, 6 x u16 big-endian (10-bit values, so every
high byte is <= 0x03), one byte of switch states. 57600 baud, 256 Hz nominal (the Olimex
demo sketch ticks at 250 Hz). There is no checksum, so a packet is accepted only if its
high bytes are <= 0x03 **and** the next packet's sync follows right after it; dropped or
inserted bytes are therefore always caught, but a flipped bit in a low data byte is not
(the format cannot tell). Counter jumps (mod 256) become lost samples.
"""

from __future__ import annotations

import numpy as np

from emgfeedback.acquisition.framing.base import Decoder, Item, as_block, partial_suffix

SYNC = b"\xa5\x5a\x02"
PACKET = 17
CHANNELS = 6
NOMINAL_FS_HZ = 256.0
_LOOKAHEAD = PACKET + len(SYNC)  # bytes needed to decide on a candidate
_SMALL_FEED = 32 * PACKET  # bytes; smaller buffers are scanned without vectorisation
_HIGH_OFFSETS = np.arange(4, 16, 2)
_DATA_OFFSETS = np.arange(4, 16)


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
        self._expected: int | None = None
        self._expected_u8 = 0

    @property
    def pending_bytes(self) -> int:
        return len(self._pending)

    def feed(self, data: bytes) -> list[Item]:
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
        else:
            good = decidable
        if len(good) > 1 and (np.diff(good) < PACKET).any():
            good = self._greedy(good)
        end = int(good[-1]) + PACKET if len(good) else 0
        undecided = cand[(cand > n - _LOOKAHEAD) & (cand >= end)]
        if len(undecided):
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
            if (all(buf[c + o] <= 0x03 for o in range(4, 16, 2))
                    and buf.startswith(SYNC, c + PACKET)):
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
        out: list[Item] = []
        start, lost_total = 0, 0
        expected, expected_u8 = self._expected, self._expected_u8
        first = lost = 0
        for j, cnt in enumerate(counters):
            if expected is None:
                jump, expected = 0, cnt
            else:
                jump = (cnt - expected_u8) % 256
            if j == 0:
                first, lost = expected + jump, jump
            elif jump:
                out.append(as_block(values[start:j], first, lost))
                start, first, lost = j, expected + jump, jump
            lost_total += jump
            expected += jump + 1
            expected_u8 = (cnt + 1) % 256
        out.append(as_block(values[start:], first, lost))
        c = self.counters
        c["frames"] += len(counters)
        c["samples"] += len(counters)
        c["lost_samples"] += lost_total
        self._expected, self._expected_u8 = expected, expected_u8
        return out
