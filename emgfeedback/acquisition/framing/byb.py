"""Backyard Brains SpikerShield / SpikerBox frames.

A frame holds one sample of every channel, 2 bytes per channel; bit 7 is set only on the
first byte of a frame; value = ``((b0 & 0x7F) << 7) | (b1 & 0x7F)``. Device messages are
wrapped between ``FF FF 01 01 80 FF`` and ``FF FF 01 01 81 FF`` (``HWT:MUSCLESS;``,
``EVNT:2;``); the board boots with ``StartUp!\\n``. The channel count comes from the user
(default 1) or from the device's ``c:`` reply.

There is no checksum and no counter: a frame is accepted when its first byte has bit 7
set, the other ``2*C - 1`` bytes have it clear, and the next frame (or a message) starts
right after it, so dropped and inserted bytes are caught; flipped low bits are not.

Random bytes pass that test often (one frame in every 8 bytes for one channel), so the
stream as a whole is judged too: a frame is rejected (its bytes counted in
``bytes_rejected`` and ``bytes_skipped``, one ``rejected`` alarm per episode) while more
than :data:`REJECT_SHARE` of the :data:`JUDGE_WINDOW` bytes before it were outside valid
frames and messages; it is accepted again below :data:`ACCEPT_SHARE`. A real stream with
occasional junk stays far below (a 32-byte burst is 1.6 % of the window).

Without a counter, losses are known only from host arrival times
(``feed(data, arrival_s, fs_hz)``): a silence becomes lost samples of its measured length
(cause ``"pause"``, or ``"rejected"`` when rejected bytes filled it); see :mod:`.timing`.
"""

from __future__ import annotations

import re

import numpy as np

from emgfeedback.acquisition.framing.base import (
    Decoder,
    DeviceMessage,
    Item,
    alarm,
    as_block,
    partial_suffix,
)

MSG_START = b"\xff\xff\x01\x01\x80\xff"
MSG_END = b"\xff\xff\x01\x01\x81\xff"
STARTUP = b"StartUp!\n"
MAX_MESSAGE = 256  # bytes between the markers; longer means the start marker was garbage
MUSCLE_SPIKERSHIELD_TOTAL_HZ = 10_000.0  # divided by the channel count
_MARKERS = (MSG_START, STARTUP)

#: Stream judge: bytes looked back over, and the shares of bytes outside valid frames and
#: messages above which frames are rejected and below which they are accepted again.
JUDGE_WINDOW = 2048
JUDGE_MIN_BYTES = 256  # the share's denominator at the start of a stream
REJECT_SHARE = 0.4
ACCEPT_SHARE = 0.2
_EVENT = re.compile(r"EVNT:(\d+)")


def encode_byb(samples) -> bytes:
    """Encode samples ``(n_samples, n_channels)`` (values 0..16383) as SpikerShield frames."""
    arr = np.asarray(samples).astype(np.int64)
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise ValueError(f"samples must be (n_samples, n_channels>=1), got shape {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() > 0x3FFF):
        raise ValueError("SpikerShield values must be 14-bit (0..16383)")
    out = np.empty(arr.shape + (2,), dtype=np.uint8)
    out[..., 0] = (arr >> 7) & 0x7F
    out[..., 1] = arr & 0x7F
    out[:, 0, 0] |= 0x80
    return out.tobytes()


def encode_byb_message(text: str) -> bytes:
    """Wrap a device message (e.g. ``"HWT:MUSCLESS;"``) in the SpikerShield markers."""
    return MSG_START + text.encode("ascii") + MSG_END


class BybDecoder(Decoder):
    """Incremental, vectorised Backyard Brains decoder (``first_index`` is always None)."""

    name = "byb"

    def __init__(self, n_channels: int | None = None, fs_hz: float | None = None):
        super().__init__(1 if n_channels is None else n_channels, fs_hz)
        self._pending = b""
        self._user_fs = fs_hz is not None
        self._history = np.zeros(0, dtype=np.uint8)  # 1 per recent byte outside frames
        self._seen = 0  # bytes judged so far
        self._rejecting = False

    @property
    def pending_bytes(self) -> int:
        return len(self._pending)

    def feed(self, data: bytes, arrival_s: float | None = None,
             fs_hz: float | None = None) -> list[Item]:
        return self._time_gaps(self._decode(data), arrival_s, fs_hz)

    def _decode(self, data: bytes) -> list[Item]:
        buf = self._pending + bytes(data)
        out: list[Item] = []
        pos = 0
        while True:
            m = buf.find(MSG_START, pos)
            s = buf.find(STARTUP, pos)
            if m < 0 and s < 0:
                # hold back a marker split across feeds, and any frame still undecided
                hold = len(buf) - partial_suffix(buf[pos:], _MARKERS)
                pos = self._frames(buf, pos, hold, False, out)
                break
            if s >= 0 and (m < 0 or s < m):
                pos = self._frames_then(buf, pos, s, out)
                out.append(DeviceMessage("text", STARTUP.decode("ascii").strip(), STARTUP))
                self._judged(np.zeros(len(STARTUP), dtype=np.uint8))
                pos = s + len(STARTUP)
                continue
            pos = self._frames_then(buf, pos, m, out)
            e = buf.find(MSG_END, m + len(MSG_START), m + len(MSG_START) + MAX_MESSAGE
                         + len(MSG_END))
            if e < 0:
                if len(buf) - m < len(MSG_START) + MAX_MESSAGE + len(MSG_END):
                    break  # wait for the end marker
                self.counters["format_errors"] += 1
                self._skip(1)  # not a message after all: rescan from the next byte
                self._judged(np.ones(1, dtype=np.uint8))
                pos = m + 1
                continue
            raw = buf[m:e + len(MSG_END)]
            out.append(self._message(buf[m + len(MSG_START):e], raw))
            self._judged(np.zeros(len(raw), dtype=np.uint8))
            pos = e + len(MSG_END)
        self._pending = buf[pos:]
        return out

    def flush(self) -> list[Item]:
        out: list[Item] = []
        buf, self._pending = self._pending, b""
        self._frames(buf, 0, len(buf), True, out)
        return out

    def _frames_then(self, buf: bytes, start: int, stop: int, out: list[Item]) -> int:
        """Decode the frames in ``buf[start:stop]``, which a marker follows."""
        return self._frames(buf, start, stop, True, out)

    def _frames(self, buf: bytes, start: int, stop: int, terminated: bool,
                out: list[Item]) -> int:
        """Decode the frames in ``buf[start:stop]``; return where undecided bytes begin.

        ``terminated``: a marker follows ``stop``, so a frame ending there is complete.
        Consumed bytes that are not in accepted frames are counted as skipped.
        """
        if stop <= start:
            return start
        width = 2 * self.n_channels
        a = np.frombuffer(buf, dtype=np.uint8, count=stop - start, offset=start)
        heads = np.flatnonzero(a & 0x80)
        # a frame is good when the next frame start (or the marker) is exactly width later
        nxt = np.append(heads[1:], len(a) if terminated else -1)
        good = heads[(nxt - heads) == width]
        consumed = len(a)
        if not terminated and len(heads) and len(a) - int(heads[-1]) <= width:
            consumed = int(heads[-1])  # the last frame needs its successor's first byte
        # a frame-start byte that does not start an accepted frame is a format error
        self.counters["format_errors"] += int(np.count_nonzero(heads < consumed)) - len(good)
        self._skip(consumed - width * len(good))
        outside = np.ones(consumed, dtype=np.uint8)
        if len(good):
            outside[(good[:, None] + np.arange(width)).ravel()] = 0
            raw = a[good[:, None] + np.arange(width)].reshape(-1, self.n_channels, 2)
            values = ((raw[..., 0].astype(np.int32) & 0x7F) << 7) | (raw[..., 1] & 0x7F)
            self.counters["frames"] += len(good)
            self.counters["samples"] += len(good)
            self._judge_frames(values, good, outside, out)
        else:
            self._judged(outside)
        return start + consumed

    def _judged(self, outside: np.ndarray) -> None:
        """Append bytes' outside-frame flags to the judge's history."""
        if len(self._history) == 0 and not outside.any():
            self._seen += len(outside)  # a clean stream: nothing to remember
            return
        self._history = np.concatenate([self._history, outside])[-JUDGE_WINDOW:]
        if not self._history.any():
            self._history = self._history[:0]
        self._seen += len(outside)

    def _judge_frames(self, values: np.ndarray, good: np.ndarray, outside: np.ndarray,
                      out: list[Item]) -> None:
        """Deliver the frames the stream judge accepts, reject the others (module doc)."""
        hist = self._history
        if not self._rejecting and int(hist.sum()) + int(outside.sum()) <= \
                REJECT_SHARE * JUDGE_MIN_BYTES:
            self._judged(outside)  # too few bad bytes for any share above the threshold
            out.append(as_block(values, None))
            return
        flags = np.concatenate([hist, outside])
        cum = np.concatenate([[0], np.cumsum(flags, dtype=np.int64)])
        at = len(hist) + good  # position of each frame's first byte in ``flags``
        lo = np.maximum(at - JUDGE_WINDOW, 0)
        looked = np.maximum(np.minimum(self._seen + good, JUDGE_WINDOW), JUDGE_MIN_BYTES)
        share = (cum[at] - cum[lo]) / looked
        self._judged(outside)
        if not self._rejecting and not (share > REJECT_SHARE).any():
            out.append(as_block(values, None))
            return
        keep = np.empty(len(good), dtype=bool)
        state = self._rejecting
        alarm_at = []
        for i, x in enumerate(share.tolist()):
            if not state and x > REJECT_SHARE:
                state = True
                alarm_at.append((i, x))
            elif state and x < ACCEPT_SHARE:
                state = False
            keep[i] = not state
        self._rejecting = state
        rejected = int(np.count_nonzero(~keep))
        width = 2 * self.n_channels
        c = self.counters
        c["frames"] -= rejected
        c["samples"] -= rejected
        c["bytes_rejected"] += rejected * width
        self._skip(rejected * width)
        start = 0
        for i, x in alarm_at:
            if keep[start:i].any():
                out.append(as_block(values[start:i][keep[start:i]], None))
            out.append(alarm("byb", f"{100 * x:.0f}% of the last bytes are not valid "
                             f"{self.n_channels}-channel SpikerShield frames: samples "
                             "rejected until the stream is valid again (check framing=, "
                             "channels= and the baud rate)", share=round(x, 3)))
            start = i
        if keep[start:].any():
            out.append(as_block(values[start:][keep[start:]], None))

    def _message(self, body: bytes, raw: bytes) -> DeviceMessage:
        text = body.decode("ascii", errors="replace")
        event = _EVENT.search(text)
        if event:
            return DeviceMessage("event", {"text": text, "event": int(event.group(1))}, raw)
        self._apply_reply(text)
        return DeviceMessage("text", text, raw)

    def _apply_reply(self, text: str) -> None:
        # the device confirms a channel change as "c:<n>;" (sent back by the host's command)
        for field in text.split(";"):
            key, _, value = field.partition(":")
            if key.strip().lower() == "c" and value.strip().isdigit() and int(value) >= 1:
                self.n_channels = int(value)
                if not self._user_fs:
                    self.fs_hz = MUSCLE_SPIKERSHIELD_TOTAL_HZ / self.n_channels
