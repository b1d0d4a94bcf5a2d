"""The serial source's byte stream: framing detection, decoding, session indices and loss
accounting (:class:`SerialStreamMixin`, mixed into
:class:`~emgfeedback.acquisition.serial_source.SerialSource`).

Runs on the reader thread. Bytes go to framing detection (``framing=auto``) or the text
channel probe until the format is known, then to the framing's decoder. Decoded blocks get
absolute session indices and the gaps before them from
:class:`~emgfeedback.acquisition.serial_indexing.BlockPlacer` (see :meth:`_place`); every
chunk handed out is counted in the source's
:class:`~emgfeedback.acquisition.source.LossCounts`. Device messages (info, status, alarms,
text) become :class:`~emgfeedback.acquisition.source.SourceEvent` objects.

The attributes used here are created by ``SerialSource.__init__``.
"""

from __future__ import annotations

from emgfeedback.acquisition.serial_detect import (
    DETECT_EARLY_S,
    DETECT_S,
    count_text_channels,
    framing_decided,
    text_probe_done,
    trim_probe,
    whole_lines,
)
from emgfeedback.acquisition.serial_indexing import (
    DECODER_COUNTERS,
    REBASE_RESTART,
    append_block,
)
from emgfeedback.acquisition.source import Chunk

__all__ = ["SerialStreamMixin"]


class SerialStreamMixin:
    """Decoding and loss accounting of a serial source (reader thread side)."""

    def _new_decoder(self) -> None:
        """Replace the decoder (after an unplug or reconfiguration), keeping its counts."""
        from emgfeedback.acquisition.framing import get_decoder

        if self._decoder is not None:
            for key in DECODER_COUNTERS:
                self._counters_done[key] += int(self._decoder.counters.get(key, 0))
        n_channels = self._channels_option if self.framing in ("text", "byb") else None
        if n_channels is None and self.framing == "byb" and self.detection is not None:
            n_channels = self.detection.n_channels
        fs_hz = self._fs_option if self.framing in ("text", "byb", "p2") else None
        self._decoder = get_decoder(self.framing, n_channels=n_channels, fs_hz=fs_hz)
        self._placer.new_decoder()

    def _on_bytes(self, data: bytes, now: float) -> None:
        if self.framing is None:
            data = self._detect(data, now)
            if self.framing is None:
                return
        if self._text_probe and self.framing == "text":
            data = self._probe_text(data, now)
            if self._text_probe:
                return
        if self._decoder is None or self._renew_decoder:
            with self._lock:
                self._new_decoder()
                self._renew_decoder = False
        if not data:
            return
        # arrival time and session rate: time-based gaps (text, byb), P2 counter wraps
        items = self._decoder.feed(data, now,
                                   self._info.fs_hz if self._info is not None else None)
        if items:
            self._handle_items(items, now)

    def _detect(self, data: bytes, now: float) -> bytes:
        from emgfeedback.acquisition.framing import detect_framing

        if self._detect_started_s is None:
            self._detect_started_s = now
        self._detect_buf += data
        # a byte limit (serial_detect); what it drops is counted as skipped
        self._counters_done["bytes_skipped"] += trim_probe(self._detect_buf)
        elapsed = now - self._detect_started_s
        result = detect_framing(bytes(self._detect_buf), self._channels_option)
        self.detection = result
        if self.requested_framing == "byb":  # only the channel count is unknown
            if result.framing == "byb" and result.n_channels and elapsed >= DETECT_EARLY_S:
                self._channels_option = self._channels_option or result.n_channels
            elif elapsed < DETECT_S:
                return b""
            self.framing = "byb"
        else:
            if not framing_decided(result, elapsed, len(self._detect_buf)):
                return b""
            self.framing = result.framing
            if self.framing == "byb" and result.n_channels and not self._channels_option:
                self._channels_option = result.n_channels
            if self.framing == "text" and not self._channels_option:
                self._text_probe = True
        if self.framing in ("text", "p2"):
            self._commands.release()
        buf, self._detect_buf = bytes(self._detect_buf), bytearray()
        return buf

    def _probe_text(self, data: bytes, now: float) -> bytes:
        """Hold text until a few whole lines show the channel count, then release it.

        A port opened on a board that is already printing starts mid-line; a decoder that
        took its channel count from that fragment would reject every following line. The
        count is the most common number of numeric fields among whole lines (the first,
        possibly partial, line excluded).
        """
        if self._detect_started_s is None:
            self._detect_started_s = now
        self._detect_buf += data
        lines = whole_lines(bytes(self._detect_buf))
        if not text_probe_done(lines, now - self._detect_started_s, len(self._detect_buf)):
            return b""
        self._channels_option = count_text_channels(lines) or self._channels_option
        self._text_probe = False
        buf, self._detect_buf = bytes(self._detect_buf), bytearray()
        return buf

    def _handle_items(self, items, now: float) -> None:
        from emgfeedback.acquisition.framing.base import DecodedBlock

        chunks: list[Chunk] = []
        for item in items:
            if not isinstance(item, DecodedBlock):
                self._on_message(item, now)
                continue
            samples = item.samples
            if self._info is not None and samples.shape[1] != self._info.n_channels:
                with self._lock:
                    first_time = self._channel_mismatch == 0
                    self._channel_mismatch += samples.shape[0]
                if first_time:
                    self._event(now, "channel_mismatch",
                                f"device sends {samples.shape[1]} channels, the session has "
                                f"{self._info.n_channels}; those samples are dropped (give "
                                "channels=N or reopen the source)")
                continue
            self._first_block.set()
            if not self._started and self._info is not None:
                # stopped: discarded; the next block delivered continues without a gap
                with self._lock:
                    if self._placer.rebase is None:
                        self._placer.rebase = REBASE_RESTART
                continue
            first, gaps = self._place(item, now)
            append_block(chunks, samples, first, gaps, now)
        if not chunks:
            return
        if self._needs_rate_estimate():
            if self._rate_estimator is None:
                from emgfeedback.acquisition.framing import RateEstimator

                self._rate_estimator = RateEstimator()
            self._rate_estimator.add(now, sum(c.n_samples for c in chunks))
        with self._lock:
            for chunk in chunks:
                self._loss_counts.count(chunk)
            self._last_sample_s = now
            self._rate.add(now, chunks[-1].end_index)
            self._chunks.extend(chunks)
            self._chunk_ready.notify_all()
            resumed = self._silent_alarmed
            self._silent_alarmed = False
        if resumed:
            self._event(now, "data_resumed", "samples are arriving again")
        if self._state in ("no_data", "reconnecting", "open") and self._started:
            self._set_state("streaming")

    def _place(self, block, now: float) -> tuple[int, list]:
        """Session index of a decoded block and the gaps before it (see
        :meth:`BlockPlacer.place`)."""
        with self._lock:
            counters = {k: int(self._decoder.counters.get(k, 0)) for k in DECODER_COUNTERS}
            return self._placer.place(
                block.first_index, block.samples.shape[0], block.lost_before, counters, now,
                fs_hz=self._info.fs_hz if self._info is not None else 0.0,
                last_sample_s=self._last_sample_s, unplug_s=self._unplug_s,
                index_survives_unplug=self.framing == "emgf",
                tx_dropped=(self.device_status or {}).get("tx_dropped", 0) or 0,
                loss_cause=block.loss_cause)

    def _on_message(self, message, now: float) -> None:
        kind = message.kind
        payload = message.payload
        if kind == "info" and isinstance(payload, dict):
            self.device_info = dict(payload)
            self._commands.release()
            self._event(now, "device_info", "device described itself", dict(payload))
        elif kind == "status" and isinstance(payload, dict):
            with self._status_seen:
                self.device_status = dict(payload)
                self._status_seq += 1
                self._status_log.append((self._status_seq, dict(payload)))
                self._status_seen.notify_all()
            self._event(now, "device_status", str(payload.get("message", "")), dict(payload))
        elif kind == "alarm" and isinstance(payload, dict):  # the decoder rejected bytes
            self._event(now, "rejected", str(payload.get("message", "")), dict(payload))
        elif kind == "event":
            self._event(now, "device_event", str(payload), payload if isinstance(payload, dict)
                        else {"text": str(payload)})
        else:
            text = str(payload)
            if self.framing == "byb" and "StartUp" in text:
                self._commands.release()
            self._event(now, "device_text", text, {"text": text})
