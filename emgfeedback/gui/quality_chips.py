"""Hysteresis for the per-channel quality chips, so they do not flicker "ok" <-> "hum".

The engine assesses quality once per quality window (2 s of samples). A channel whose mains
ratio hovers around the flag threshold would otherwise flip its chip at every assessment.
:class:`QualityHysteresis` sits between the assessments and the chips:

* a flag that is a nuisance rather than an alarm (``mains``, ``ecg``) turns on only after
  :data:`CONFIRM_ASSESSMENTS` assessments in a row say so, and off only after as many in a
  row say it is gone; for mains "gone" means the ratio fell below
  :data:`MAINS_OFF_FRACTION` of the flag threshold (a band, not a line);
* an alarm (``clipping``, ``electrode_off``, ``lost``) shows at the first assessment that
  finds it and clears only after :data:`CONFIRM_ASSESSMENTS` clean assessments in a row.

Time is counted in assessments, that is in quality windows of samples, never wall time.
"""

from __future__ import annotations

import math

from emgfeedback.analysis.quality import MAINS_FLAG_RATIO

#: Assessments in a row (quality windows of 2 s of samples) needed to change a chip.
CONFIRM_ASSESSMENTS = 2
#: A mains flag clears only when the ratio is below this fraction of the flag threshold.
MAINS_OFF_FRACTION = 0.5
#: Flags shown at once (alarms); the others wait for confirmation.
IMMEDIATE_FLAGS = ("clipping", "electrode_off", "lost")


class QualityHysteresis:
    """Debounced quality flags per channel.

    Parameters
    ----------
    n_channels : int
        Channels shown.
    """

    def __init__(self, n_channels: int) -> None:
        self.n_channels = int(n_channels)
        self._shown: list[set] = [set() for _ in range(self.n_channels)]
        self._streak: list[dict] = [{} for _ in range(self.n_channels)]
        self._last_input = None
        self._last_output = None
        self.assessments = 0

    def update(self, quality):
        """The assessment to show: ``quality`` with its ``flags`` debounced.

        Parameters
        ----------
        quality : list of dict or None
            The engine's latest assessment (the same list until a new one is made; each
            new list counts as one assessment).

        Returns
        -------
        list of dict or None
            Copies of the entries with ``flags`` replaced by the shown flags.
        """
        if quality is None:
            return None
        if quality is self._last_input:
            return self._last_output
        self._last_input = quality
        self.assessments += 1
        out = []
        for c, entry in enumerate(quality):
            if not isinstance(entry, dict) or c >= self.n_channels:
                out.append(entry)
                continue
            out.append(dict(entry, flags=self._debounce(c, entry)))
        self._last_output = out
        return out

    def _debounce(self, c: int, entry: dict) -> list:
        raw = set(entry.get("flags") or [])
        shown, streak = self._shown[c], self._streak[c]
        for flag in raw | shown | set(streak):
            on_now = flag in raw
            if flag == "mains" and flag in shown and not on_now:
                ratio = entry.get("mains_ratio", math.nan)
                # Still inside the band: not yet evidence that the hum is gone.
                on_now = isinstance(ratio, (int, float)) and \
                    ratio >= MAINS_OFF_FRACTION * MAINS_FLAG_RATIO
            if on_now == (flag in shown):
                streak.pop(flag, None)
                continue
            if on_now and flag in IMMEDIATE_FLAGS:
                shown.add(flag)
                streak.pop(flag, None)
                continue
            streak[flag] = streak.get(flag, 0) + 1
            if streak[flag] >= CONFIRM_ASSESSMENTS:
                shown.add(flag) if on_now else shown.discard(flag)
                streak.pop(flag, None)
        order = list(entry.get("flags") or []) + sorted(shown)
        return [f for i, f in enumerate(order) if f in shown and f not in order[:i]]
