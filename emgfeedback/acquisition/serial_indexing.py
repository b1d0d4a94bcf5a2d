"""Session indices for decoded serial blocks: gaps, their causes, and the measured rate.

The decoders give each block the device's own (unwrapped) index when the format has one;
the session numbers samples from 0 with the first sample received and never goes back.
:class:`BlockPlacer` maps one onto the other across lost frames, stops, reconfigurations
and unplugs, and says why samples are missing (a
:class:`~emgfeedback.acquisition.source.Gap` per jump).
"""

from __future__ import annotations

from collections import deque

import numpy as np

from emgfeedback.acquisition.source import Chunk, Gap

#: Decoder counters summed into the serial source's ``stats()`` (``bytes_rejected``: byb
#: frames rejected as no valid stream, see ``framing.byb``; also in ``bytes_skipped``).
DECODER_COUNTERS = ("frames", "crc_errors", "format_errors", "bytes_skipped", "bytes_rejected")

#: Why the next block cannot be placed by its device index alone.
REBASE_FIRST = "first"  # the session's first sample: index 0
REBASE_UNPLUG = "unplug"  # after a reconnect: an unplug gap
REBASE_RESTART = "restart"  # after a stop or reconfiguration: continue without a gap


def zero_counters() -> dict[str, int]:
    """All :data:`DECODER_COUNTERS` at 0."""
    return dict.fromkeys(DECODER_COUNTERS, 0)


class BlockPlacer:
    """Gives decoded blocks their session index and the gaps just before them.

    Attributes
    ----------
    next_index : int
        Session index of the next sample.
    rebase : str or None
        :data:`REBASE_FIRST`, :data:`REBASE_UNPLUG`, :data:`REBASE_RESTART`, or None to
        place the next block by its device index; consumed by :meth:`place`.
    index_restarts : int
        Device indices that went backwards inside one connection.
    """

    def __init__(self) -> None:
        self.next_index = 0
        self.rebase: str | None = REBASE_FIRST
        self.index_restarts = 0
        self._offset: int | None = None  # session index - device index
        self._last_dev_end: int | None = None
        self._block_counters = zero_counters()  # decoder counters at the last block
        self._last_tx_dropped = 0

    def new_decoder(self) -> None:
        """A fresh decoder counts from 0 again."""
        self._block_counters = zero_counters()

    def place(self, device_index: int | None, n_samples: int, lost_before: int,
              counters: dict, now: float, *, fs_hz: float, last_sample_s: float | None,
              unplug_s: float | None, index_survives_unplug: bool,
              tx_dropped: int, loss_cause: str | None = None) -> tuple[int, list[Gap]]:
        """Session index of a block and the gaps before it.

        Inside one connection, indexed formats (emgf u32 index, P2 u8 counter, both
        unwrapped by the decoder) place blocks by their device index, and a jump is a gap
        whose cause is read from what the decoder counted meanwhile (CRC failures, format
        errors/skipped bytes, device-reported TX drops, else a bare counter jump). Formats
        without an index use the decoder's ``lost_before``: for text and byb, the samples a
        silence measured with host arrival times is worth (``loss_cause`` ``"pause"`` or
        ``"rejected"``, see :mod:`~emgfeedback.acquisition.framing.timing`).

        After an unplug, a device whose index simply continued (it kept running) gives the
        exact gap. Otherwise (the device restarted, or the format has no index or only a
        u8 counter) the gap is estimated from host time: samples the nominal rate would
        have produced between the last sample before the unplug and the first block after
        it, minus that block, at least 1.

        Parameters
        ----------
        device_index : int or None
            The block's first index as the device counts (None: the format has none).
        n_samples : int
            Samples in the block.
        lost_before : int
            Samples the decoder saw lost just before the block (formats without an index).
        counters : dict
            The decoder's :data:`DECODER_COUNTERS` now.
        now : float
            Host monotonic time of arrival, s.
        fs_hz : float
            Nominal sample rate (0 if unknown yet).
        last_sample_s, unplug_s : float or None
            When the last samples arrived, and when the port was lost.
        index_survives_unplug : bool
            Whether the format's index is wide enough to bridge an unplug (emgf u32).
        tx_dropped : int
            Frames the device reported dropping (emgf status), cumulative.
        loss_cause : str, optional
            The decoder's own cause for ``lost_before`` (``DecodedBlock.loss_cause``);
            used as the gap's cause instead of one read from the counters.

        Returns
        -------
        first_index : int
        gaps : list of Gap
        """
        rebase, self.rebase = self.rebase, None
        gaps: list[Gap] = []
        if rebase == REBASE_FIRST:
            first = 0
        elif rebase == REBASE_UNPLUG:
            elapsed = now - (last_sample_s if last_sample_s is not None else (unplug_s or now))
            estimate = max(1, round(elapsed * fs_hz) - n_samples)
            jump = None
            if (index_survives_unplug and device_index is not None
                    and self._last_dev_end is not None
                    and 0 < device_index - self._last_dev_end <= 2 * estimate + fs_hz):
                jump = device_index - self._last_dev_end
            first = self.next_index + (jump if jump is not None else estimate)
            gaps.append(Gap(self.next_index, first - self.next_index, "unplug"))
        elif rebase == REBASE_RESTART:
            first = self.next_index
        elif device_index is not None and self._offset is not None:
            first = device_index + self._offset
            if first < self.next_index:
                self.index_restarts += 1
                first = self.next_index
        else:
            first = self.next_index + max(0, int(lost_before))
        if not gaps and first > self.next_index:
            cause = loss_cause if device_index is None and loss_cause else \
                self._loss_cause(counters, tx_dropped)
            gaps.append(Gap(self.next_index, first - self.next_index, cause))
        if device_index is not None:
            self._offset = first - device_index
            self._last_dev_end = device_index + n_samples
        self.next_index = first + n_samples
        self._block_counters = counters
        return first, gaps

    def _loss_cause(self, counters: dict, tx_dropped: int) -> str:
        before = self._block_counters
        if counters["crc_errors"] > before["crc_errors"]:
            return "crc"
        if (counters["format_errors"] > before["format_errors"]
                or counters["bytes_skipped"] > before["bytes_skipped"]):
            return "format"
        if tx_dropped > self._last_tx_dropped:
            self._last_tx_dropped = tx_dropped
            return "device_dropped"
        return "counter"


def append_block(chunks: list[Chunk], samples: np.ndarray, first_index: int,
                 gaps: list[Gap], arrival_s: float) -> None:
    """Add a placed block to ``chunks``, merged into the last chunk when it continues it
    without a gap (one read often holds many small frames)."""
    if chunks and not gaps and chunks[-1].end_index == first_index:
        prev = chunks[-1]
        chunks[-1] = Chunk(np.concatenate([prev.samples, samples]), prev.first_index,
                           arrival_s, prev.gaps)
    else:
        chunks.append(Chunk(samples, first_index, arrival_s, tuple(gaps)))


class RateMeter:
    """Session indices per second over the last ~5 s (losses included).

    Attributes
    ----------
    fs_hz : float or None
        The rate, once at least 0.5 s has been seen.
    """

    WINDOW_S = 5.0
    MIN_SPAN_S = 0.5

    def __init__(self) -> None:
        self._window: deque[tuple[float, int]] = deque()
        self.fs_hz: float | None = None

    def add(self, now: float, end_index: int) -> None:
        """Samples up to ``end_index`` (exclusive) had arrived at ``now``."""
        window = self._window
        window.append((now, end_index))
        while len(window) > 2 and now - window[0][0] > self.WINDOW_S:
            window.popleft()
        t0, i0 = window[0]
        if now - t0 >= self.MIN_SPAN_S:
            self.fs_hz = (end_index - i0) / (now - t0)
