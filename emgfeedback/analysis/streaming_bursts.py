"""Pass 4 of :mod:`.streaming`: per burst, recovery and the amplitude used for symmetry,
read back around each burst from the filtered signal's spill.

Every channel's bursts are taken in the order of their stretches, so one forward read
(:class:`~.blocks.ReadAhead`) serves them all; every other burst is measured in the worker
thread (:class:`~.blocks.Worker`) while the next is read and measured here.
"""

from __future__ import annotations

import math

import numpy as np

from emgfeedback.analysis.blocks import ReadAhead

#: Longest stretch after a burst read at once when looking for the return to rest, s.
RECOVERY_SPAN_S = 30.0


class BurstPass:
    """The per-burst pass of the blocked analysis (a part of ``streaming._Job``: it uses
    its ``fs``, ``n_ch``, ``rows``, ``bursts``, ``filtered`` spill and ``worker``)."""

    def burst_pass(self):
        fs = self.fs
        guard = int(round(0.2 * fs))
        pre_n = int(round(2.0 * fs))
        span = int(round(RECOVERY_SPAN_S * fs))
        # Every channel's bursts in the order of their stretches: one forward read. Every
        # other burst is measured in the worker thread (no two write the same entry).
        jobs = sorted((max(int(on) - guard - pre_n, 0), c, k)
                      for c in range(self.n_ch) for k, (on, _) in enumerate(self.bursts[c]))
        reader = ReadAhead(self.filtered, 2 * span + self.rows)
        self.recovery = [[None] * len(b) for b in self.bursts]
        self.burst_rms = [{} for _ in range(self.n_ch)]
        for i, (seg_a, c, k) in enumerate(jobs):
            b = self.bursts[c]
            nxt = b[k + 1] if k + 1 < len(b) else None
            next_on = int(nxt[0]) if nxt is not None else self.filtered.n_rows
            seg_b = min(next_on, int(b[k][1]) + span)
            x = reader.read(seg_a, seg_b)[:, c]  # a view: the reader's next read is new
            if i % 2:
                self.worker.submit(self._one_burst, c, k, seg_a, seg_b, next_on, x)
            else:
                self._one_burst(c, k, seg_a, seg_b, next_on, x)
        self.worker.drain()

    def _one_burst(self, c, k, seg_a, seg_b, next_on, x) -> None:
        """Recovery and amplitude of burst ``k`` of channel ``c`` from its stretch ``x``
        (rows ``seg_a`` to ``seg_b``)."""
        from emgfeedback.analysis.tone import recovery_after_bursts

        fs, b = self.fs, self.bursts[c]
        guard = int(round(0.2 * fs))
        hold = max(int(round(0.25 * fs)), 1)
        on, off = int(b[k][0]), int(b[k][1])
        prev = b[k - 1] if k else None
        nxt = b[k + 1] if k + 1 < len(b) else None
        # The burst before (or a stand-in ending at sample 0: its "previous offset").
        local = [[prev[0] - seg_a, prev[1] - seg_a] if prev is not None
                 else [-seg_a - 1, -seg_a], [on - seg_a, off - seg_a]]
        if seg_b < next_on:  # cut short: a stand-in for the rest of the recording
            local.append([seg_b - seg_a, seg_b - seg_a + 1])
        elif nxt is not None:
            local.append([nxt[0] - seg_a, nxt[1] - seg_a])
        r = recovery_after_bursts(x, fs, np.array(local, dtype=np.int64), only=1)[0]
        return_s = r.return_s
        if not math.isfinite(return_s) and seg_b < next_on and math.isfinite(r.pre_uv):
            return_s = self._return_after(c, off, next_on - guard, hold,
                                          (1.0 + 0.2) * r.pre_uv)
        self.recovery[c][k] = {"onset_s": on / fs, "return_s": return_s,
                               "residual_pct": r.residual_pct}
        self.burst_rms[c][on] = r.burst_uv

    def _return_after(self, c, off, end, hold, threshold) -> float:
        """First time after ``off + hold`` from which the 0.25 s moving RMS stays at or
        below ``threshold`` for ``hold`` samples (as recovery_after_bursts), scanning on."""
        from emgfeedback.analysis.tone import first_run, moving_rms

        start = min(off + hold, self.filtered.n_rows)
        run = 0  # samples at or below the threshold up to the block's start
        for a in range(start, max(end, start), self.rows):
            b = min(a + self.rows, end)
            x = self.filtered.read(a - hold, b)[:, c]
            env = moving_rms(x, self.fs, hold / self.fs)[hold:] if a >= hold else \
                moving_rms(self.filtered.read(0, b)[:, c], self.fs, hold / self.fs)[a:]
            ok = env <= threshold
            lead = int(np.argmin(ok)) if not ok.all() else ok.size
            if run + lead >= hold:  # the run carried in completes here
                return (a - run - start + hold) / self.fs
            j = first_run(ok, hold)
            if j >= 0:
                return (a + j - start + hold) / self.fs
            run = run + ok.size if lead == ok.size else ok.size - 1 - int(
                np.flatnonzero(~ok)[-1])
        return math.nan

