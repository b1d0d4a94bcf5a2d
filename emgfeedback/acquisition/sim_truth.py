"""The simulator's ground truth: everything it knows about what it generates.

:class:`GroundTruth` is built by :class:`~emgfeedback.acquisition.simulator.Simulator` (and
imported from there by most callers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from emgfeedback.acquisition.sim_scenarios import Schedule

__all__ = ["GroundTruth"]


@dataclass(frozen=True)
class GroundTruth:
    """Everything the simulator knows about what it generates.

    Indices are absolute sample indices of the first cycle; the scenario repeats every
    ``duration_samples`` samples (use :meth:`activations_between` and
    :meth:`repetitions_between` for later cycles).

    Attributes
    ----------
    scenario : str
        Scenario name.
    fs_hz : float
        Sample rate in hertz.
    channel_names : tuple of str
        One per channel.
    duration_samples : int
        Length of one cycle of the scenario in samples.
    activations : tuple of tuple of (int, int)
        Per channel, ``(onset_index, offset_index)`` of every activation: onset is the
        first sample with non-zero activation, offset is one past the last.
    amplitudes_uv : tuple of tuple of float
        Per channel, the plateau RMS of each activation's own component, µV.
    ramps : tuple of tuple of (int, int)
        Per channel, each activation's raised-cosine rise and fall in samples.
    tone_uv : tuple of float
        Resting tone per channel, µV RMS of the EMG component at rest (for ``tension``
        the relaxed level it decays to; see :meth:`tone_uv_at`).
    background_uv : tuple of float
        RMS of everything at rest in the EMG band: √(tone² + noise_uv²).
    noise_uv : float
        Amplifier/electrode noise, µV RMS (white).
    snr_db : float or None
        SNR requested (20·log10(activation RMS / background RMS)), or None.
    repetitions : tuple of dict
        Scored repetitions: ``rep``, ``onset_index`` and ``offset_index`` (dict channel ->
        index), ``amplitude_uv`` (dict), ``order`` (channels by onset), ``lag_ms`` and
        scenario-specific keys (``target_first``, ``pair``, ``amplitude_ratio``...).
    artefacts : tuple of dict
        Artefacts added: ``kind`` (motion, ecg, off), ``channels``, ``start_index``,
        ``end_index`` (ecg: ``r_peak_indices`` and ``amplitude_uv`` per channel).
    mains_hz : float
        Mains frequency (0: no hum).
    hum_uv : float
        Amplitude of the hum's fundamental in µV (before the per-channel factor).
    extra : dict
        Scenario parameters (lag table, pairs, tension time constants...).
    outputs : tuple of str
        Output kind per channel (``raw``, ``rect``, ``env``, ``uv``).
    hum_rms_uv : tuple of float
        Per channel, RMS of the simulated mains hum (all harmonics generated), µV. RAW
        processing notches it out; an ENV or RECT output cannot, so it is part of the level
        such a channel shows at rest (:meth:`rest_level_uv`).
    hum_terms : tuple of tuple of (float, float, float)
        Per channel, ``(frequency_hz, amplitude_uv, phase_rad)`` of each hum harmonic.
    """

    scenario: str
    fs_hz: float
    channel_names: tuple[str, ...]
    duration_samples: int
    activations: tuple
    amplitudes_uv: tuple
    ramps: tuple
    tone_uv: tuple[float, ...]
    background_uv: tuple[float, ...]
    noise_uv: float
    snr_db: float | None
    repetitions: tuple
    artefacts: tuple
    mains_hz: float
    hum_uv: float
    extra: dict = field(default_factory=dict)
    outputs: tuple = ()
    hum_rms_uv: tuple = ()
    hum_terms: tuple = ()
    _schedule: Schedule | None = field(default=None, repr=False, compare=False)

    @property
    def n_channels(self) -> int:
        """Number of channels."""
        return len(self.channel_names)

    @property
    def duration_s(self) -> float:
        """Length of one cycle of the scenario in seconds."""
        return self.duration_samples / self.fs_hz

    def to_dict(self) -> dict:
        """The truth as plain JSON-compatible values (channel keys become strings)."""
        return _plain({
            "scenario": self.scenario, "fs_hz": self.fs_hz,
            "channel_names": list(self.channel_names),
            "duration_samples": self.duration_samples, "duration_s": self.duration_s,
            "activations": self.activations, "amplitudes_uv": self.amplitudes_uv,
            "ramps": self.ramps, "tone_uv": self.tone_uv,
            "background_uv": self.background_uv, "noise_uv": self.noise_uv,
            "snr_db": self.snr_db, "repetitions": self.repetitions,
            "artefacts": self.artefacts, "mains_hz": self.mains_hz, "hum_uv": self.hum_uv,
            "extra": self.extra, "outputs": self.outputs, "hum_rms_uv": self.hum_rms_uv,
            "hum_terms": self.hum_terms,
        })

    def rest_level_uv(self, channel: int) -> float:
        """The µV RMS a correct pipeline shows on ``channel`` at rest.

        RAW/µV: the background in the EMG band, √(tone² + noise²) (the notches remove the
        hum). RECT: the sensor rectifies the hum with the EMG, and rectifying keeps the RMS:
        √(tone² + noise² + hum_rms²). ENV: the sensor's average rectified value of EMG plus
        hum, scaled to RMS-equivalent µV as the pipeline does (:meth:`level_uv`). For
        ``tension`` the relaxed tone is used.
        """
        return self.level_uv(channel, 0.0)

    def active_level_uv(self, channel: int, amplitude_uv: float) -> float:
        """The µV RMS a correct pipeline shows during a plateau of ``amplitude_uv`` RMS
        (the activation combined with the background, and the hum on RECT/ENV)."""
        return self.level_uv(channel, amplitude_uv)

    def level_uv(self, channel: int, amplitude_uv: float) -> float:
        """What a correct pipeline reads on ``channel`` with an activation of
        ``amplitude_uv`` RMS on top of the background, µV (RMS-equivalent for ENV).

        An ENV pin carries E|x| (ARV); the pipeline multiplies it by √(π/2), which is exact
        for Gaussian EMG. With hum in ``x`` the ARV is not √(2/π)·RMS (a sine's ARV is
        0.900 × its RMS), so it is computed exactly here: the mean over one mains period of
        E|h(t) + σZ| = σ·√(2/π)·exp(−h²/2σ²) + h·erf(h/(σ√2)), σ the Gaussian part's RMS.
        """
        sigma = math.hypot(amplitude_uv, self.background_uv[channel])
        kind = self.outputs[channel] if self.outputs else "raw"
        if kind == "rect" and self.hum_rms_uv:
            return float(math.hypot(sigma, self.hum_rms_uv[channel]))
        if kind != "env" or not self.hum_terms or not self.hum_terms[channel]:
            return float(sigma)
        terms = self.hum_terms[channel]
        f0 = min(f for f, _, _ in terms)
        t = np.arange(512) / (512 * f0)  # one period of the fundamental
        h = sum(a * np.sin(2 * math.pi * f * t + ph) for f, a, ph in terms)
        if sigma <= 0:
            arv = float(np.mean(np.abs(h)))
        else:
            from scipy.special import erf

            arv = float(np.mean(sigma * math.sqrt(2 / math.pi) * np.exp(-h * h / (2 * sigma ** 2))
                                + h * erf(h / (sigma * math.sqrt(2)))))
        return arv * math.sqrt(math.pi / 2)

    def tone_uv_at(self, index) -> np.ndarray:
        """Resting tone (µV RMS) at absolute sample indices, shape ``(n, n_channels)``."""
        idx = np.atleast_1d(np.asarray(index, dtype=np.int64))
        local = idx % self.duration_samples
        if self._schedule is not None and self._schedule.tone_fn is not None:
            return self._schedule.tone_fn(local)
        return np.broadcast_to(np.asarray(self.tone_uv), (idx.size, self.n_channels)).copy()

    def activations_between(self, start: int, stop: int) -> list[tuple[int, int, int]]:
        """Activations with onset in ``[start, stop)``, as ``(channel, onset, offset)``."""
        out = []
        first, last = start // self.duration_samples, (stop - 1) // self.duration_samples
        for cycle in range(max(first, 0), last + 1):
            base = cycle * self.duration_samples
            for ch, spans in enumerate(self.activations):
                for onset, offset in spans:
                    if start <= onset + base < stop:
                        out.append((ch, onset + base, offset + base))
        out.sort(key=lambda t: (t[1], t[0]))
        return out

    def activation_mask(self, start: int, stop: int) -> np.ndarray:
        """Boolean ``(stop − start, n_channels)``: True where a channel's activation is > 0."""
        mask = np.zeros((stop - start, self.n_channels), dtype=bool)
        first = max((start // self.duration_samples) - 1, 0)
        for cycle in range(first, (stop - 1) // self.duration_samples + 1):
            base = cycle * self.duration_samples
            for ch, spans in enumerate(self.activations):
                for onset, offset in spans:
                    a, b = max(onset + base, start), min(offset + base, stop)
                    if a < b:
                        mask[a - start:b - start, ch] = True
        return mask

    def repetitions_between(self, start: int, stop: int) -> list[dict]:
        """Repetitions (with absolute indices) whose first onset lies in ``[start, stop)``."""
        out = []
        first, last = start // self.duration_samples, (stop - 1) // self.duration_samples
        for cycle in range(max(first, 0), last + 1):
            base = cycle * self.duration_samples
            for rep in self.repetitions:
                shifted = _shift_rep(rep, base)
                shifted["cycle"] = cycle
                if start <= min(shifted["onset_index"].values()) < stop:
                    out.append(shifted)
        return out


def _plain(value):
    """Recursively turn tuples, numpy scalars/arrays and int keys into JSON-safe values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def _shift_rep(rep: dict, base: int) -> dict:
    out = dict(rep)
    for key in ("onset_index", "offset_index"):
        out[key] = {c: i + base for c, i in rep[key].items()}
    for key in ("start_index", "end_index"):
        if key in rep:
            out[key] = rep[key] + base
    return out
