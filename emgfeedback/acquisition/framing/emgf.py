"""emgf v1: the project's own frame (normative spec: ``hardware/WIRE_FORMAT.md``).

``EB 90`` | ver/type | length | payload | CRC-16/CCITT-FALSE (little-endian) over
ver/type, length and payload. Data frames carry a u32 sample index, so every dropped frame
shows up as an exact sample loss.
"""

from __future__ import annotations

import binascii
import json
import struct

import numpy as np

from emgfeedback.acquisition.framing.base import (
    Decoder,
    DeviceMessage,
    Item,
    as_block,
)

SYNC = b"\xeb\x90"
VERSION = 1
TYPE_DATA, TYPE_INFO, TYPE_EVENT, TYPE_STATUS = 0, 1, 2, 3
TYPE_NAMES = {TYPE_INFO: "info", TYPE_EVENT: "event", TYPE_STATUS: "status"}
MAX_PAYLOAD = 250
OVERHEAD = 6  # sync (2) + ver/type + length + CRC (2)
DATA_HEADER = 6  # u32 index, u8 channels, u8 samples
MAX_VALUES_PER_FRAME = (MAX_PAYLOAD - DATA_HEADER) // 2  # 122 = samples x channels

STATUS_CODES = {
    0: "periodic",
    1: "started",
    2: "stopped",
    3: "config accepted",
    4: "config refused",
    5: "unknown command",
}

_SMALL_RUN = 3  # up to this many complete frames are decoded without numpy vectorisation
_U32 = 1 << 32
_HALF = 1 << 31
_STATUS = struct.Struct("<BIII")
_DATA_HDR = struct.Struct("<IBB")


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) as used by emgf v1."""
    return binascii.crc_hqx(data, 0xFFFF)


def _frame(frame_type: int, payload: bytes) -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"emgf payload is {len(payload)} bytes, at most {MAX_PAYLOAD} allowed")
    body = bytes(((VERSION << 4) | frame_type, len(payload))) + payload
    return SYNC + body + struct.pack("<H", crc16(body))


def encode_emgf_data(first_index: int, samples) -> bytes:
    """Encode one emgf data frame.

    Parameters
    ----------
    first_index : int
        Index of the first sample; sent modulo 2**32.
    samples : array_like
        ``(n_samples, n_channels)`` unsigned 16-bit values; ``n_samples * n_channels``
        must be at most 122.

    Returns
    -------
    bytes
        The whole frame, sync to CRC.
    """
    arr = np.asarray(samples)
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"samples must be (n_samples>=1, n_channels>=1), got shape {arr.shape}")
    n, ch = arr.shape
    if n * ch > MAX_VALUES_PER_FRAME or n > 255 or ch > 255:
        raise ValueError(f"{n} samples x {ch} channels does not fit one emgf frame "
                         f"(at most {MAX_VALUES_PER_FRAME} values)")
    if arr.min() < 0 or arr.max() > 0xFFFF:
        raise ValueError("emgf sample values must be in 0..65535")
    payload = _DATA_HDR.pack(int(first_index) % _U32, ch, n) + arr.astype("<u2").tobytes()
    return _frame(TYPE_DATA, payload)


def encode_emgf_data_frames(first_index: int, samples, k: int = 8) -> bytes:
    """Encode ``samples`` as consecutive data frames of ``k`` samples (last may be shorter)."""
    arr = np.asarray(samples)
    return b"".join(encode_emgf_data(first_index + i, arr[i:i + k])
                    for i in range(0, arr.shape[0], k))


def encode_emgf_info(info: dict) -> bytes:
    """Encode an info frame: ``info`` as compact JSON."""
    return _frame(TYPE_INFO, json.dumps(info, separators=(",", ":")).encode("utf-8"))


def encode_emgf_event(index: int, text: str) -> bytes:
    """Encode an event frame: u32 sample index then ASCII text."""
    return _frame(TYPE_EVENT, struct.pack("<I", int(index) % _U32) + text.encode("ascii"))


def encode_emgf_status(code: int, tx_dropped: int, overruns: int, next_index: int,
                       message: str = "") -> bytes:
    """Encode a status frame (codes in :data:`STATUS_CODES`)."""
    payload = _STATUS.pack(int(code), int(tx_dropped) % _U32, int(overruns) % _U32,
                           int(next_index) % _U32) + message.encode("ascii")
    return _frame(TYPE_STATUS, payload)


class EmgfDecoder(Decoder):
    """Incremental emgf v1 decoder with resync, CRC check and loss counting.

    Besides the common counters it counts ``index_restarts`` (the device index went
    backwards: reset or new stream; no loss can be known across it). The last info
    frame is kept in :attr:`info`; it sets :attr:`fs_hz`, and the channel count if the
    stream has none yet.
    """

    name = "emgf"

    def __init__(self, n_channels: int | None = None, fs_hz: float | None = None):
        super().__init__(n_channels, fs_hz)
        self._pending = b""
        self._expected: int | None = None  # unwrapped index of the next expected sample
        self._expected_u32 = 0
        self.counters["index_restarts"] = 0
        self.info: dict | None = None

    @property
    def pending_bytes(self) -> int:
        return len(self._pending)

    def reset_stream(self, n_channels: int | None = None) -> None:
        """Start a new stream (after an accepted ``c``/``f`` command): forget the index."""
        self._expected = None
        self.n_channels = n_channels

    def feed(self, data: bytes, arrival_s: float | None = None,
             fs_hz: float | None = None) -> list[Item]:
        # the u32 index counts every loss exactly: arrival times are not needed
        buf = self._pending + bytes(data)
        n = len(buf)
        out: list[Item] = []
        pos = 0
        while True:
            p = buf.find(SYNC, pos)
            if p < 0:
                keep = 1 if n > pos and buf[-1] == SYNC[0] else 0
                self._skip(n - keep - pos)
                pos = n - keep
                break
            if p > pos:
                self._skip(p - pos)
                pos = p
            if n - p < 4:
                break
            vt, length = buf[p + 2], buf[p + 3]
            ftype = vt & 0x0F
            if vt >> 4 != VERSION or ftype > TYPE_STATUS or length > MAX_PAYLOAD:
                self._reject(out, "format_errors")
                pos = p + 1
                continue
            size = length + OVERHEAD
            if n - p < size:
                break
            if ftype == TYPE_DATA:
                accepted = self._data_run(buf, p, size, out)
                if accepted:
                    pos = p + accepted * size
                    continue
            body = buf[p + 2:p + size - 2]
            if crc16(body) != buf[p + size - 2] | (buf[p + size - 1] << 8):
                self._reject(out, "crc_errors")
                pos = p + 1
                continue
            msg = self._message(ftype, body[2:], buf[p:p + size])
            if msg is None:  # valid CRC, inconsistent content (or data the run refused)
                self._reject(out, "format_errors")
                pos = p + 1
                continue
            self.counters["frames"] += 1
            out.append(msg)
            pos = p + size
        self._pending = buf[pos:]
        return out

    def _reject(self, out: list[Item], counter: str) -> None:
        self.counters[counter] += 1
        self._skip(1)

    def _data_run(self, buf: bytes, p: int, size: int, out: list[Item]) -> int:
        """Accept as many consecutive equal-shaped valid data frames from ``p`` as possible.

        Vectorised: headers and sample values of the whole run are handled by numpy, only
        the CRC is computed per frame (in C by binascii). Returns the frames accepted.
        """
        channels, n_samp = buf[p + 8], buf[p + 9]
        if (channels < 1 or n_samp < 1 or DATA_HEADER + 2 * channels * n_samp != size - OVERHEAD
                or (self.n_channels is not None and channels != self.n_channels)):
            return 0
        m = (len(buf) - p) // size
        if m <= _SMALL_RUN:
            return self._data_few(buf, p, size, m, channels, n_samp, out)
        frames = np.frombuffer(buf, np.uint8, count=m * size, offset=p).reshape(m, size)
        head = frames[:, :10]
        ok = ((head[:, 0] == 0xEB) & (head[:, 1] == 0x90) & (head[:, 2] == buf[p + 2])
              & (head[:, 3] == buf[p + 3]) & (head[:, 8] == channels) & (head[:, 9] == n_samp))
        run = m if ok.all() else int(np.argmin(ok))
        view = memoryview(buf)
        crc_got = frames[:run, size - 2].astype(np.int64) | (
            frames[:run, size - 1].astype(np.int64) << 8)
        crc_calc = np.fromiter(
            (crc16(view[q + 2:q + size - 2]) for q in range(p, p + run * size, size)),
            dtype=np.int64, count=run)
        good = crc_calc == crc_got
        run = run if good.all() else int(np.argmin(good))
        if run == 0:
            return 0
        frames = frames[:run]
        idx = np.ascontiguousarray(frames[:, 4:8]).view("<u4").ravel().astype(np.int64)
        jump = np.empty(run, dtype=np.int64)
        jump[0] = 0 if self._expected is None else (idx[0] - self._expected_u32) % _U32
        jump[1:] = (idx[1:] - idx[:-1] - n_samp) % _U32
        restart = jump >= _HALF
        lost = np.where(restart, 0, jump)
        base = int(idx[0]) if self._expected is None else self._expected
        first = base + n_samp * np.arange(run, dtype=np.int64) + np.cumsum(lost)
        values = np.ascontiguousarray(frames[:, 10:size - 2]).view("<u2")
        values = values.reshape(run * n_samp, channels).astype(np.int32)
        cuts = np.flatnonzero(jump[1:]) + 1
        starts = np.concatenate(([0], cuts))
        ends = np.concatenate((cuts, [run]))
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            out.append(as_block(values[a * n_samp:b * n_samp], int(first[a]), int(lost[a])))
        if self.n_channels is None:
            self.n_channels = channels
        c = self.counters
        c["frames"] += run
        c["samples"] += run * n_samp
        c["lost_samples"] += int(lost.sum())
        c["index_restarts"] += int(restart.sum())
        self._expected = int(first[-1]) + n_samp
        self._expected_u32 = (int(idx[-1]) + n_samp) % _U32
        return run

    def _data_few(self, buf: bytes, p: int, size: int, m: int, channels: int, n_samp: int,
                  out: list[Item]) -> int:
        """Same as the vectorised run for a few frames (small serial reads): plain Python
        is faster than a dozen numpy calls here."""
        head = buf[p:p + 4]
        accepted = 0
        for q in range(p, p + m * size, size):
            if (buf[q:q + 4] != head or buf[q + 8] != channels or buf[q + 9] != n_samp
                    or crc16(buf[q + 2:q + size - 2]) != buf[q + size - 2] | (
                        buf[q + size - 1] << 8)):
                break
            idx = int.from_bytes(buf[q + 4:q + 8], "little")
            if self._expected is None:
                first, lost = idx, 0
            else:
                jump = (idx - self._expected_u32) % _U32
                restart = jump >= _HALF
                lost = 0 if restart else jump
                self.counters["index_restarts"] += int(restart)
                first = self._expected + lost
            values = np.frombuffer(buf, "<u2", count=n_samp * channels, offset=q + 10)
            out.append(as_block(values.reshape(n_samp, channels), first, lost))
            self._expected = first + n_samp
            self._expected_u32 = (idx + n_samp) % _U32
            self.counters["lost_samples"] += lost
            accepted += 1
        if accepted:
            if self.n_channels is None:
                self.n_channels = channels
            self.counters["frames"] += accepted
            self.counters["samples"] += accepted * n_samp
        return accepted

    def _message(self, ftype: int, payload: bytes, raw: bytes) -> DeviceMessage | None:
        if ftype == TYPE_INFO:
            try:
                info = json.loads(payload.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                return None
            if not isinstance(info, dict):
                return None
            self._apply_info(info)
            return DeviceMessage("info", info, raw)
        if ftype == TYPE_EVENT:
            if len(payload) < 4:
                return None
            index = struct.unpack_from("<I", payload)[0]
            text = payload[4:].decode("ascii", errors="replace")
            return DeviceMessage("event", {"index": index, "abs_index": self._unwrap(index),
                                           "text": text}, raw)
        if ftype == TYPE_STATUS:
            if len(payload) < _STATUS.size:
                return None
            code, dropped, overruns, next_index = _STATUS.unpack_from(payload)
            return DeviceMessage("status", {
                "code": code, "meaning": STATUS_CODES.get(code, "unknown"),
                "tx_dropped": dropped, "overruns": overruns, "next_index": next_index,
                "message": payload[_STATUS.size:].decode("ascii", errors="replace")}, raw)
        return None  # a data frame the vectorised run refused: wrong shape or channel count

    def _unwrap(self, index_u32: int) -> int | None:
        """Unwrapped index for a u32 index near the stream position, None before any data."""
        if self._expected is None:
            return None
        d = (index_u32 - self._expected_u32) % _U32
        return self._expected + (d - _U32 if d >= _HALF else d)

    def _apply_info(self, info: dict) -> None:
        self.info = info
        fs = info.get("fs")
        if isinstance(fs, (int, float)) and fs > 0:
            self.fs_hz = float(fs)
        ch = info.get("ch")
        if self.n_channels is None and isinstance(ch, int) and ch >= 1:
            self.n_channels = ch
        inputs = info.get("in")
        if (isinstance(inputs, list) and all(isinstance(x, str) for x in inputs)
                and len(inputs) == (self.n_channels or len(inputs))):
            self.channel_names = tuple(inputs)
