"""The serial source's loss accounting (:class:`SerialLosses`): session indices, gaps and
their causes, dropped blocks, and the measured rate.

Every decoded block passes through :meth:`SerialLosses.place` on the reader thread. A
block with another channel count than the session's is dropped and counted (one
``channel_mismatch`` alarm the first time); a block arriving while the source is stopped is
dropped and the next one continues the indices without a gap; every other block gets its
absolute session index and the gaps before it from
:class:`~emgfeedback.acquisition.serial_indexing.BlockPlacer`, which reads the causes (CRC
failures, format errors, device TX drops, pauses, unplugs) from what the decoder counted
meanwhile. The samples and gaps handed to the consumer are counted by the source's
:class:`~emgfeedback.acquisition.source.LossCounts`
(:class:`~emgfeedback.acquisition.threaded.ThreadedSource`).
"""

from __future__ import annotations

import threading

from emgfeedback.acquisition.serial_indexing import (
    REBASE_RESTART,
    REBASE_UNPLUG,
    BlockPlacer,
    RateMeter,
)
from emgfeedback.types import Gap

__all__ = ["SerialLosses"]


class SerialLosses:
    """Session indices and loss causes of one serial source.

    Parameters
    ----------
    lock : threading.Lock
        The source's lock (``stats()`` reads these counters from another thread).

    Attributes
    ----------
    placer : BlockPlacer
        Device index → session index, gaps and their causes.
    rate : RateMeter
        Session indices per second (``fs_hz_measured``).
    channel_mismatch_samples : int
        Samples dropped because their channel count was not the session's.
    last_sample_s : float or None
        Host time of the newest sample delivered.
    unplug_s : float or None
        Host time of the last unplug.
    """

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self.placer = BlockPlacer()
        self.rate = RateMeter()
        self.channel_mismatch_samples = 0
        self.last_sample_s: float | None = None
        self.unplug_s: float | None = None

    def mismatch(self, n_samples: int) -> bool:
        """Count samples dropped for their channel count; True the first time (alarm)."""
        with self._lock:
            first_time = self.channel_mismatch_samples == 0
            self.channel_mismatch_samples += n_samples
        return first_time

    def skip_while_stopped(self) -> None:
        """A block was discarded while stopped: the next one continues without a gap."""
        with self._lock:
            if self.placer.rebase is None:
                self.placer.rebase = REBASE_RESTART

    def restart(self) -> None:
        """The device was reconfigured: its index restarts, the session's continues."""
        with self._lock:
            if self.placer.next_index > 0:
                self.placer.rebase = REBASE_RESTART

    def unplugged(self, now: float) -> None:
        """The port was lost at ``now``."""
        with self._lock:
            self.unplug_s = now

    def reconnected(self, samples_so_far: int) -> None:
        """The port is back (lock held by the caller): the next block is placed after an
        unplug gap, if samples had come before."""
        if samples_so_far:
            self.placer.rebase = REBASE_UNPLUG

    def place(self, block, now: float, counters: dict, *, fs_hz: float,
              index_survives_unplug: bool, tx_dropped: int) -> tuple[int, list[Gap]]:
        """Session index of a decoded block and the gaps before it.

        Parameters
        ----------
        block : DecodedBlock
            From the decoder.
        now : float
            Host arrival time.
        counters : dict
            The current decoder's counters (:data:`DECODER_COUNTERS`).
        fs_hz : float
            The session's nominal rate (0 before the source info exists).
        index_survives_unplug : bool
            True for emgf, whose device index keeps counting while unplugged.
        tx_dropped : int
            The device's own TX-drop counter (emgf status), 0 if unknown.

        Returns
        -------
        first_index : int
        gaps : list of Gap
            See :meth:`BlockPlacer.place`.
        """
        with self._lock:
            return self.placer.place(
                block.first_index, block.samples.shape[0], block.lost_before, counters, now,
                fs_hz=fs_hz, last_sample_s=self.last_sample_s, unplug_s=self.unplug_s,
                index_survives_unplug=index_survives_unplug, tx_dropped=tx_dropped,
                loss_cause=block.loss_cause)

    def delivered(self, now: float, end_index: int) -> None:
        """Samples up to ``end_index`` were handed over at ``now``."""
        with self._lock:
            self.last_sample_s = now
            self.rate.add(now, end_index)
