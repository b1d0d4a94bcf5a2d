"""Scripted scenarios for the sEMG simulator: who fires when, how strongly, and the tone.

A scenario is a *schedule* for one cycle of the simulated session: activation bursts with
exact onset and offset sample indices (relative to the start of the cycle), the resting
tone of every channel (possibly changing over time), and the repetitions a therapist would
score (firing order, lag, left/right ratio). :class:`~emgfeedback.acquisition.simulator.Simulator`
renders a schedule into samples and repeats it when run longer than one cycle.

Every number that ends up in the ground truth is decided here, from the sample rate, the
channel count and a seeded generator; nothing random happens after scheduling except the
noise itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from emgfeedback.errors import ConfigError


@dataclass(frozen=True)
class Burst:
    """One activation of one channel, relative to the start of a cycle.

    Attributes
    ----------
    channel : int
        Channel index.
    onset : int
        Index of the first sample with non-zero activation.
    offset : int
        Index one past the last sample with non-zero activation.
    amplitude_uv : float
        RMS of the activation component on the plateau, µV at the electrode (before the
        simulator's SNR scaling; the ground truth carries the scaled value).
    ramp_on : int
        Length of the raised-cosine rise in samples.
    ramp_off : int
        Length of the raised-cosine fall in samples.
    mod_depth : float
        Depth of the slow amplitude fluctuation on the plateau (0 = flat).
    mod_hz : float
        Frequency of that fluctuation in hertz.
    mod_phase : float
        Its phase in radians.
    rep : int or None
        Repetition number the burst belongs to.
    """

    channel: int
    onset: int
    offset: int
    amplitude_uv: float
    ramp_on: int
    ramp_off: int
    mod_depth: float = 0.0
    mod_hz: float = 2.0
    mod_phase: float = 0.0
    rep: int | None = None


@dataclass
class Schedule:
    """One cycle of a scenario.

    Attributes
    ----------
    name : str
        Scenario name.
    channel_names : tuple of str
        One per channel.
    duration : int
        Length of one cycle in samples.
    tone_uv : numpy.ndarray
        Relaxed resting tone per channel, µV RMS.
    nominal_uv : numpy.ndarray
        Nominal activation amplitude per channel, µV RMS (0 for channels that never fire).
    snr_reference : tuple of int
        For SNR scaling, the channel whose background and nominal amplitude set each
        channel's scale (keeps left/right ratios exact).
    bursts : list of Burst
        Sorted by onset.
    repetitions : list of dict
        Scored repetitions (indices relative to the cycle start).
    tone_fn : callable or None
        ``tone_fn(local_index) -> (n, ch)`` tone in µV RMS when it changes over time.
    extra : dict
        Scenario parameters for the ground truth.
    """

    name: str
    channel_names: tuple[str, ...]
    duration: int
    tone_uv: np.ndarray
    nominal_uv: np.ndarray
    snr_reference: tuple[int, ...]
    bursts: list[Burst] = field(default_factory=list)
    repetitions: list[dict] = field(default_factory=list)
    tone_fn: Callable[[np.ndarray], np.ndarray] | None = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ScenarioSpec:
    """A named scenario: what it shows, how many channels it needs, and its builder."""

    name: str
    description: str
    min_channels: int
    build: Callable[..., Schedule]


def _names(base: list[str], n_channels: int) -> tuple[str, ...]:
    return tuple(base[c] if c < len(base) else f"ch{c + 1}" for c in range(n_channels))


def _cycle(values: list[float], n_channels: int) -> np.ndarray:
    return np.array([values[c % len(values)] for c in range(n_channels)], dtype=np.float64)


class _Scheduler:
    """Shared helpers: seconds to samples, jittered ramps and burst shapes."""

    def __init__(self, fs_hz: float, rng: np.random.Generator, ramp_ms: float,
                 variation: float) -> None:
        self.fs_hz = fs_hz
        self.rng = rng
        self.ramp_ms = ramp_ms
        self.variation = variation

    def samples(self, seconds: float) -> int:
        return int(round(seconds * self.fs_hz))

    def jitter(self, relative: float) -> float:
        """A factor 1 ± relative·variation (uniform), drawn in a fixed order."""
        u = self.rng.uniform(-1.0, 1.0)
        return 1.0 + relative * self.variation * u

    def ramp(self) -> int:
        ms = self.ramp_ms * self.jitter(0.3)
        return max(1, int(round(ms * self.fs_hz / 1000.0)))

    def burst(self, channel: int, onset: int, offset: int, amplitude_uv: float,
              rep: int | None) -> Burst:
        ramp_on, ramp_off = self.ramp(), self.ramp()
        # Ramps must fit inside the burst (a very short burst becomes a raised-cosine bump).
        length = max(offset - onset, 2)
        offset = onset + length
        if ramp_on + ramp_off > length:
            ramp_on = length // 2
            ramp_off = length - ramp_on
        depth = 0.08 * self.variation
        return Burst(channel=channel, onset=onset, offset=offset, amplitude_uv=amplitude_uv,
                     ramp_on=ramp_on, ramp_off=ramp_off, mod_depth=depth,
                     mod_hz=float(self.rng.uniform(1.0, 3.0)),
                     mod_phase=float(self.rng.uniform(0.0, 2.0 * math.pi)), rep=rep)


# --------------------------------------------------------------------------- rest


REST_TONE_UV = [3.0, 4.5, 2.5, 6.0, 3.5, 5.0, 2.0, 4.0]


def build_rest(n_channels: int, fs_hz: float, rng: np.random.Generator, ramp_ms: float,
               variation: float) -> Schedule:
    """60 s of resting tone on every channel; no activations."""
    sch = _Scheduler(fs_hz, rng, ramp_ms, variation)
    return Schedule(
        name="rest", channel_names=_names([], n_channels), duration=sch.samples(60.0),
        tone_uv=_cycle(REST_TONE_UV, n_channels), nominal_uv=np.zeros(n_channels),
        snr_reference=tuple(range(n_channels)), extra={"tone_uv": REST_TONE_UV},
    )


# --------------------------------------------------------------------------- drill

#: Channel roles of the drill: target first, then compensators/synergists.
DRILL_NAMES = ["glute_med", "tfl", "quadratus_lumborum", "glute_max"]
DRILL_TONE_UV = [3.0, 4.0, 5.0, 3.5]
#: Nominal activation per channel (µV RMS): the compensator should stay well below the target.
DRILL_NOMINAL_UV = [90.0, 40.0, 30.0, 60.0]
#: Onset of each channel relative to the target's onset, per repetition, in ms. Positive:
#: after the target. The TFL (compensator) fires first in repetitions 3 and 6.
DRILL_LAGS_MS = {
    1: [120, 80, -60, 150, 50, -100, 200, 90],
    2: [250, 300, 180, 220, 260, 150, 320, 240],
    3: [60, 40, 90, 30, 70, 50, 20, 80],
}
DRILL_PRE_S = 4.0
DRILL_WORK_S = 3.0
DRILL_REST_S = 4.0
DRILL_TARGET_DELAY_S = 0.25


def build_drill(n_channels: int, fs_hz: float, rng: np.random.Generator, ramp_ms: float,
                variation: float) -> Schedule:
    """Eight work/rest repetitions of a target (glute med) and its compensator (TFL).

    Each repetition: the target fires 0.25 s into the rep for about 3 s; every other
    active channel fires at its lag from :data:`DRILL_LAGS_MS`. Repetitions where the
    compensator fires first also have a stronger compensator (the pattern to retrain).
    """
    sch = _Scheduler(fs_hz, rng, ramp_ms, variation)
    n_reps = len(DRILL_LAGS_MS[1])
    period = DRILL_WORK_S + DRILL_REST_S
    active = [c for c in range(min(n_channels, len(DRILL_NAMES)))]
    nominal = np.zeros(n_channels)
    for c in active:
        nominal[c] = DRILL_NOMINAL_UV[c]
    bursts: list[Burst] = []
    reps: list[dict] = []
    for k in range(n_reps):
        rep_start = sch.samples(DRILL_PRE_S + k * period)
        target_on = rep_start + sch.samples(DRILL_TARGET_DELAY_S)
        work = sch.samples(DRILL_WORK_S * sch.jitter(0.1))
        wrong = DRILL_LAGS_MS[1][k] < 0
        onsets: dict[int, int] = {}
        offsets: dict[int, int] = {}
        amps: dict[int, float] = {}
        for c in active:
            lag = 0 if c == 0 else DRILL_LAGS_MS[c][k]
            onset = target_on + sch.samples(lag / 1000.0)
            # Channels that start late also stop a little late; ±0.1 s·variation on top.
            end_jitter_s = 0.1 * variation * rng.uniform(-1.0, 1.0)
            offset = target_on + work + sch.samples(end_jitter_s + lag / 2000.0)
            factor = sch.jitter(0.1)
            if c == 0 and wrong:
                factor *= 0.7
            if c == 1:
                factor *= 1.6 if wrong else 0.85
            b = sch.burst(c, onset, offset, DRILL_NOMINAL_UV[c] * factor, rep=k)
            bursts.append(b)
            onsets[c], offsets[c], amps[c] = b.onset, b.offset, b.amplitude_uv
        order = sorted(onsets, key=lambda c: (onsets[c], c))
        lag_ms = (onsets[1] - onsets[0]) * 1000.0 / fs_hz
        reps.append({
            "rep": k,
            "start_index": rep_start,
            "end_index": rep_start + sch.samples(period),
            "target": 0,
            "compensator": 1,
            "onset_index": onsets,
            "offset_index": offsets,
            "amplitude_uv": amps,
            "order": order,
            "lag_ms": lag_ms,
            "lags_ms": {c: (onsets[c] - onsets[0]) * 1000.0 / fs_hz for c in onsets},
            "target_first": lag_ms > 0,
        })
    bursts.sort(key=lambda b: (b.onset, b.channel))
    return Schedule(
        name="drill", channel_names=_names(DRILL_NAMES, n_channels),
        duration=sch.samples(DRILL_PRE_S + n_reps * period),
        tone_uv=_cycle(DRILL_TONE_UV, n_channels), nominal_uv=nominal,
        snr_reference=tuple(range(n_channels)), bursts=bursts, repetitions=reps,
        extra={"target": 0, "compensator": 1, "lags_ms_table": DRILL_LAGS_MS,
               "work_s": DRILL_WORK_S, "rest_s": DRILL_REST_S, "pre_s": DRILL_PRE_S},
    )


# --------------------------------------------------------------------------- asymmetry

ASYM_NAMES = ["erector_l", "erector_r", "upper_trap_l", "upper_trap_r", "glute_med_l",
              "glute_med_r", "obliques_l", "obliques_r"]
ASYM_TONE_UV = [4.0, 4.0, 5.0, 5.0, 3.0, 3.0, 3.5, 3.5]
ASYM_LEFT_NOMINAL_UV = [80.0, 60.0, 70.0, 50.0]
#: Right/left amplitude ratio of each pair.
ASYM_RATIOS = [0.7, 1.3, 0.85, 1.15]
#: Right onset minus left onset, per pair, in ms (mean over repetitions).
ASYM_LAGS_MS = [60.0, -40.0, 25.0, -80.0]
ASYM_PRE_S = 4.0
ASYM_WORK_S = 2.5
ASYM_REST_S = 4.5
ASYM_REPS = 8


def build_asymmetry(n_channels: int, fs_hz: float, rng: np.random.Generator, ramp_ms: float,
                    variation: float) -> Schedule:
    """Left/right pairs (channels 0/1, 2/3, ...) with a known amplitude ratio and lag.

    Both sides of a pair share each repetition's amplitude factor, so the right/left ratio
    is exact in every repetition; the lag varies by up to ±20 ms·variation around the pair's
    mean (the exact value per repetition is in the truth).
    """
    sch = _Scheduler(fs_hz, rng, ramp_ms, variation)
    n_pairs = min(n_channels // 2, len(ASYM_RATIOS))
    nominal = np.zeros(n_channels)
    ref = list(range(n_channels))
    pairs = []
    for p in range(n_pairs):
        left, right = 2 * p, 2 * p + 1
        nominal[left] = ASYM_LEFT_NOMINAL_UV[p]
        nominal[right] = ASYM_LEFT_NOMINAL_UV[p] * ASYM_RATIOS[p]
        ref[right] = left
        pairs.append({"left": left, "right": right, "amplitude_ratio": ASYM_RATIOS[p],
                      "lag_ms_mean": ASYM_LAGS_MS[p]})
    period = ASYM_WORK_S + ASYM_REST_S
    bursts: list[Burst] = []
    reps: list[dict] = []
    for k in range(ASYM_REPS):
        rep_start = sch.samples(ASYM_PRE_S + k * period)
        for p, pair in enumerate(pairs):
            left, right = pair["left"], pair["right"]
            lag_ms = ASYM_LAGS_MS[p] + 20.0 * variation * rng.uniform(-1.0, 1.0)
            base = rep_start + sch.samples(0.3 + 0.1 * p)
            lag = sch.samples(lag_ms / 1000.0)
            on_l, on_r = (base, base + lag) if lag >= 0 else (base - lag, base)
            work = sch.samples(ASYM_WORK_S * sch.jitter(0.1))
            factor = sch.jitter(0.1)
            amp_l = ASYM_LEFT_NOMINAL_UV[p] * factor
            b_l = sch.burst(left, on_l, on_l + work, amp_l, rep=k)
            b_r = sch.burst(right, on_r, on_r + work, amp_l * ASYM_RATIOS[p], rep=k)
            bursts += [b_l, b_r]
            reps.append({
                "rep": k,
                "pair": (left, right),
                "start_index": rep_start,
                "end_index": rep_start + sch.samples(period),
                "onset_index": {left: b_l.onset, right: b_r.onset},
                "offset_index": {left: b_l.offset, right: b_r.offset},
                "amplitude_uv": {left: b_l.amplitude_uv, right: b_r.amplitude_uv},
                "amplitude_ratio": ASYM_RATIOS[p],
                "order": [left, right] if b_l.onset <= b_r.onset else [right, left],
                "lag_ms": (b_r.onset - b_l.onset) * 1000.0 / fs_hz,
            })
    bursts.sort(key=lambda b: (b.onset, b.channel))
    return Schedule(
        name="asymmetry", channel_names=_names(ASYM_NAMES, n_channels),
        duration=sch.samples(ASYM_PRE_S + ASYM_REPS * period),
        tone_uv=_cycle(ASYM_TONE_UV, n_channels), nominal_uv=nominal,
        snr_reference=tuple(ref), bursts=bursts, repetitions=reps, extra={"pairs": pairs},
    )


# --------------------------------------------------------------------------- tension

TENSION_NAMES = ["upper_trap_l", "upper_trap_r", "masseter_l", "masseter_r"]
TENSION_ELEVATED_UV = [25.0, 18.0, 15.0, 12.0]
TENSION_RELAXED_UV = [4.0, 3.5, 3.0, 2.5]
TENSION_TAU_S = [25.0, 35.0, 20.0, 30.0]
TENSION_DURATION_S = 120.0
#: A shrug on the trapezius channels, after which tone rebounds and relaxes again.
TENSION_SHRUG_S = (70.0, 72.0)
TENSION_SHRUG_UV = 120.0
TENSION_REBOUND_UV = 8.0
TENSION_REBOUND_TAU_S = 6.0


def build_tension(n_channels: int, fs_hz: float, rng: np.random.Generator, ramp_ms: float,
                  variation: float) -> Schedule:
    """Elevated resting tone relaxing exponentially, with one shrug and its rebound.

    Tone of channel c at time t (s, from the cycle start)::

        relaxed + (elevated − relaxed)·exp(−t/τ) + rebound·exp(−(t − t_off)/τ_r)·[t ≥ t_off]

    where the rebound term applies to the channels that shrugged (0 and 1) after the
    shrug's offset ``t_off``.
    """
    sch = _Scheduler(fs_hz, rng, ramp_ms, variation)
    elevated = _cycle(TENSION_ELEVATED_UV, n_channels)
    relaxed = _cycle(TENSION_RELAXED_UV, n_channels)
    tau = _cycle(TENSION_TAU_S, n_channels)
    shrugging = [c for c in range(min(2, n_channels))]
    nominal = np.zeros(n_channels)
    bursts = []
    for c in shrugging:
        nominal[c] = TENSION_SHRUG_UV
        bursts.append(sch.burst(c, sch.samples(TENSION_SHRUG_S[0]),
                                sch.samples(TENSION_SHRUG_S[1]), TENSION_SHRUG_UV, rep=0))
    rebound_from = {b.channel: b.offset for b in bursts}
    rebound = np.zeros(n_channels)
    rebound_start = np.zeros(n_channels, dtype=np.int64)
    for c, off in rebound_from.items():
        rebound[c] = TENSION_REBOUND_UV
        rebound_start[c] = off

    def tone_fn(local: np.ndarray) -> np.ndarray:
        t = np.asarray(local, dtype=np.float64)[:, None] / fs_hz
        out = relaxed + (elevated - relaxed) * np.exp(-t / tau)
        since = (np.asarray(local)[:, None] - rebound_start) / fs_hz
        out = out + np.where(since >= 0, rebound * np.exp(-np.maximum(since, 0.0)
                                                           / TENSION_REBOUND_TAU_S), 0.0)
        return out

    reps = [{"rep": 0, "onset_index": {b.channel: b.onset for b in bursts},
             "offset_index": {b.channel: b.offset for b in bursts},
             "amplitude_uv": {b.channel: b.amplitude_uv for b in bursts},
             "order": [b.channel for b in bursts]}] if bursts else []
    return Schedule(
        name="tension", channel_names=_names(TENSION_NAMES, n_channels),
        duration=sch.samples(TENSION_DURATION_S), tone_uv=relaxed, nominal_uv=nominal,
        snr_reference=tuple(range(n_channels)), bursts=bursts, repetitions=reps,
        tone_fn=tone_fn,
        extra={"elevated_uv": elevated.tolist(), "relaxed_uv": relaxed.tolist(),
               "tau_s": tau.tolist(), "rebound_uv": rebound.tolist(),
               "rebound_tau_s": TENSION_REBOUND_TAU_S,
               "rebound_start_index": rebound_start.tolist()},
    )


# --------------------------------------------------------------------------- check

#: The ``check`` scenario is timed to ``emgfeedback check``'s defaults (rest for
#: CHECK_REST_S, then a test contraction): every channel rests, then contracts once.
CHECK_REST_S = 6.0
#: The contraction starts this long after the rest ends (a person's reaction to the cue).
CHECK_REACTION_S = 0.5
CHECK_CONTRACTION_S = 3.0
CHECK_CYCLE_S = 14.0
CHECK_NOMINAL_UV = [80.0, 60.0, 70.0, 50.0]


def build_check(n_channels: int, fs_hz: float, rng: np.random.Generator, ramp_ms: float,
                variation: float) -> Schedule:
    """Rest for :data:`CHECK_REST_S`, then every channel contracts together once.

    The contraction starts :data:`CHECK_REACTION_S` after the rest ends and lasts
    :data:`CHECK_CONTRACTION_S`: the timing of ``emgfeedback check``'s default rest and
    test contraction, so a check on ``sim://?scenario=check`` sees a contraction exactly
    when it asks for one. The cycle (:data:`CHECK_CYCLE_S`) then rests again.
    """
    sch = _Scheduler(fs_hz, rng, ramp_ms, variation)
    nominal = _cycle(CHECK_NOMINAL_UV, n_channels)
    onset = sch.samples(CHECK_REST_S + CHECK_REACTION_S)
    offset = onset + sch.samples(CHECK_CONTRACTION_S)
    bursts = [sch.burst(c, onset, offset, float(nominal[c]), rep=0) for c in range(n_channels)]
    reps = [{"rep": 0, "onset_index": {b.channel: b.onset for b in bursts},
             "offset_index": {b.channel: b.offset for b in bursts},
             "amplitude_uv": {b.channel: b.amplitude_uv for b in bursts},
             "order": [b.channel for b in bursts]}]
    return Schedule(
        name="check", channel_names=_names([], n_channels), duration=sch.samples(CHECK_CYCLE_S),
        tone_uv=_cycle(REST_TONE_UV, n_channels), nominal_uv=nominal,
        snr_reference=tuple(range(n_channels)), bursts=bursts, repetitions=reps,
        extra={"rest_s": CHECK_REST_S, "reaction_s": CHECK_REACTION_S,
               "contraction_s": CHECK_CONTRACTION_S},
    )


SCENARIOS: dict[str, ScenarioSpec] = {
    "rest": ScenarioSpec("rest", "resting tone only, 60 s", 1, build_rest),
    "drill": ScenarioSpec(
        "drill", "target (glute med) vs compensator (TFL): 8 reps, known order and lag",
        2, build_drill),
    "asymmetry": ScenarioSpec(
        "asymmetry", "left/right pairs with known amplitude ratio and onset lag, 8 reps",
        2, build_asymmetry),
    "tension": ScenarioSpec(
        "tension", "elevated resting tone relaxing over 120 s, one shrug and its rebound",
        1, build_tension),
    "check": ScenarioSpec(
        "check", "rest 6 s, then every channel contracts for 3 s (emgfeedback check's timing)",
        1, build_check),
}


def build_schedule(scenario: str | ScenarioSpec, n_channels: int, fs_hz: float,
                   rng: np.random.Generator, ramp_ms: float = 40.0,
                   variation: float = 1.0) -> Schedule:
    """Build one cycle of a named scenario (or of a :class:`ScenarioSpec` given directly,
    e.g. a simulated client from :mod:`emgfeedback.acquisition.sim_client`).

    Raises
    ------
    ConfigError
        For an unknown scenario or too few channels.
    """
    spec = scenario if isinstance(scenario, ScenarioSpec) else SCENARIOS.get(scenario)
    if spec is None:
        raise ConfigError(
            f"unknown scenario {scenario!r}; known scenarios: {', '.join(SCENARIOS)}")
    if n_channels < spec.min_channels:
        raise ConfigError(
            f"scenario {scenario!r} needs at least {spec.min_channels} channels, "
            f"got {n_channels}")
    return spec.build(n_channels, fs_hz, rng, ramp_ms, variation)
