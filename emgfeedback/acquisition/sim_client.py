"""A simulated client who follows a protocol's cues: ``sim://?client=compliant&protocol=...``.

The virtual client runs its own copy of the protocol's timeline. The protocol runner is
driven only by sample indices and starts at the stream's first sample, so the client can
derive every cue (phase starts, work/release/rest segments) from the protocol schema, with
no feedback from the runner: exactly the cues a person sees on the screen, at the same
sample indices. It reacts to each cue after a human reaction time (200-400 ms, drawn per
cue from the seed) and contracts or relaxes with seeded per-repetition variability.

Client kinds (:data:`CLIENT_KINDS`):

``compliant``
    Does the task: stays at its habitual resting tone in baseline and rest phases, relaxes
    further when a phase asks it to stay below a line (downtraining), contracts each
    target to 2.5 times the level a goal asks for at work cues (to the asked MVC in an
    MVC phase), keeps compensators quiet, fires the target before a compensator (150 ms),
    contracts left and right evenly, lets go at rest cues and releases smoothly over a
    release segment.
``compensating``
    Like compliant, but the compensator fires 150 ms *before* the target and too hard
    (2.5 x its "quiet" line where a dissociation goal draws one, else 1.6 x the target's
    level instead of 0.6 x); in a left/right protocol the right side does twice the work
    of the left. Identical to compliant where the protocol has only one muscle.
``held``
    Tension never drops: its resting tone is three times the compliant one from the start,
    it does not relax further when asked to, and after its first contraction 60 % of the
    contraction stays on until the end of the protocol.
``late``
    Slow release: lets go 0.5 s late and takes ``max(6 s, 2.5 x the release segment)`` to
    do it (raised-cosine fall), so it is still contracted well into the rest.

Levels are µV RMS at the electrode. The client estimates its own resting envelope as
``√(tone² + noise² + floor²)`` (``floor`` = the board's quantisation floor) and scales the
goals that are in baseline units with it; goals in % MVC use its MVC, :data:`MVC_UV`.
After the protocol's last cue the client rests for :data:`TAIL_S` seconds; a longer stream
repeats the whole session.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from emgfeedback.acquisition.sim_scenarios import Burst, ScenarioSpec, Schedule
from emgfeedback.errors import ConfigError

CLIENT_KINDS = ("compliant", "compensating", "held", "late")

#: Reaction time to a cue, drawn uniformly per cue (ms).
REACTION_MS = (200.0, 400.0)
#: Habitual resting tone of a compliant client, µV RMS.
HABITUAL_TONE_UV = 6.0
#: Tone a compliant client reaches when a phase asks it to relax below a line, µV RMS.
RELAXED_TONE_UV = 2.5
#: Time constant of relaxing to the relaxed tone (s).
RELAX_TAU_S = 4.0
#: Resting tone of a ``held`` client, as a multiple of the habitual tone.
HELD_TONE_X = 3.0
#: Part of a contraction that a ``held`` client never lets go of.
HELD_RESIDUAL = 0.6
#: How far above an "above" line the client aims (times the asked level).
EFFORT_X = 2.5
#: Contraction level of a channel that works with no explicit level (times its rest).
DEFAULT_WORK_X = 6.0
#: The client's maximum voluntary contraction, µV RMS.
MVC_UV = 300.0
#: A compliant compensator's co-activation, as a fraction of its "quiet" line.
QUIET_X = 0.3
#: A compensating compensator's activation, as a multiple of its "quiet" line.
COMPENSATING_X = 2.5
#: A compensator's level in an order drill, times the target's: compliant / compensating.
SYNERGIST_X = 0.6
COMPENSATING_ORDER_X = 1.6
#: Onset of the compensator relative to the target (ms): compliant / compensating.
SYNERGIST_LAG_MS = 150.0
#: Right/left amplitude ratio of a compensating client in a left/right protocol.
COMPENSATING_RIGHT_X = 2.0
#: Rise time of a contraction and fall time of a normal release (s).
RISE_S = 0.15
FALL_S = 0.25
#: Extra delay and minimum length of a ``late`` client's release (s).
LATE_DELAY_S = 0.5
LATE_RELEASE_S = 6.0
LATE_RELEASE_X = 2.5
#: Rest after the protocol's end before the session repeats (s).
TAIL_S = 30.0


@dataclass(frozen=True)
class _Cue:
    """A cue of the client's copy of the timeline (sample offsets from the protocol start)."""

    phase: int
    kind: str  # "phase", "work", "release", "rest"
    rep: int
    start: int
    end: int


def protocol_cues(protocol, fs_hz: float) -> list[_Cue]:
    """The protocol's timed parts as sample offsets, rounded exactly as the runner does.

    Parameters
    ----------
    protocol : Protocol
        A loaded protocol.
    fs_hz : float
        Sample rate in hertz.

    Returns
    -------
    list
        One entry per segment (``phase``, ``kind``, ``rep``, ``start``, ``end``).
    """
    out = []
    t = 0.0
    for pi, phase in enumerate(protocol.phases):
        for seg in phase.segments():
            start = round(t * fs_hz)
            t += seg.duration_s
            out.append(_Cue(pi, seg.kind, seg.rep, start, round(t * fs_hz)))
    return out


class _Plan:
    """Collects bursts and tone changes for one client and one protocol."""

    def __init__(self, protocol, kind: str, n_channels: int, fs_hz: float,
                 rng: np.random.Generator, rest_uv: np.ndarray, variation: float) -> None:
        self.protocol = protocol
        self.kind = kind
        self.n = n_channels
        self.fs = fs_hz
        self.rng = rng
        self.rest_uv = rest_uv
        self.variation = variation
        self.ids = list(protocol.channel_ids)
        self.bursts: list[Burst] = []
        self.reps: list[dict] = []
        # per channel: list of (start sample, target tone µV, time constant s)
        self.tone_steps: list[list[tuple[int, float, float]]] = [[] for _ in range(n_channels)]
        self.held_from: dict[int, tuple[int, float]] = {}
        self.reactions_ms: list[float] = []

    # -------------------------------------------------------------- helpers

    def samples(self, seconds: float) -> int:
        return int(round(seconds * self.fs))

    def reaction(self) -> int:
        ms = float(self.rng.uniform(*REACTION_MS))
        self.reactions_ms.append(ms)
        return self.samples(ms / 1000.0)

    def jitter(self, relative: float) -> float:
        return 1.0 + relative * self.variation * float(self.rng.uniform(-1.0, 1.0))

    def col(self, cid: str) -> int:
        return self.ids.index(cid)

    def level_uv(self, value: float, unit: str, c: int) -> float:
        if unit == "uv":
            return float(value)
        if unit == "mvc_pct":
            return float(value) / 100.0 * MVC_UV
        return float(value) * float(self.rest_uv[c])

    def burst(self, c: int, onset: int, offset: int, amplitude_uv: float, fall_s: float,
              rep: int | None) -> Burst:
        rise = max(1, self.samples(RISE_S * self.jitter(0.3)))
        fall = max(1, self.samples(fall_s))
        offset = max(offset, onset + rise + fall)
        return Burst(channel=c, onset=onset, offset=offset, amplitude_uv=amplitude_uv,
                     ramp_on=rise, ramp_off=fall, mod_depth=0.08 * self.variation,
                     mod_hz=float(self.rng.uniform(1.0, 3.0)),
                     mod_phase=float(self.rng.uniform(0.0, 2.0 * math.pi)), rep=rep)

    # -------------------------------------------------------------- what to do per phase

    def demands(self, phase) -> dict[int, dict]:
        """Per channel of a contraction phase: amplitude (µV) and onset lag (ms)."""
        out: dict[int, dict] = {}
        compensating = self.kind == "compensating"

        def want(c: int, amp: float, lag_ms: float | None = None) -> None:
            """Ask channel c for ``amp`` µV (the largest ask wins), optionally at a lag."""
            cur = out.setdefault(c, {"amp": 0.0, "lag_ms": 0.0})
            cur["amp"] = max(cur["amp"], amp)
            if lag_ms is not None:
                cur["lag_ms"] = lag_ms

        for g in phase.goals:
            if g.type == "above":
                c = self.col(g.channel)
                want(c, EFFORT_X * self.level_uv(g.level, g.unit, c))
            elif g.type == "dissociation":
                t, k = self.col(g.target), self.col(g.compensator)
                want(t, EFFORT_X * self.level_uv(g.level, g.unit, t))
                quiet = self.level_uv(g.off_level, g.off_unit, k)
                if compensating:
                    want(k, COMPENSATING_X * quiet, -SYNERGIST_LAG_MS)
                else:
                    want(k, QUIET_X * quiet, SYNERGIST_LAG_MS)
            elif g.type == "order":
                t, k = self.col(g.target), self.col(g.compensator)
                want(t, DEFAULT_WORK_X * self.rest_uv[t])
                lag = -SYNERGIST_LAG_MS if compensating else SYNERGIST_LAG_MS
                share = COMPENSATING_ORDER_X if compensating else SYNERGIST_X
                want(k, share * DEFAULT_WORK_X * self.rest_uv[k], lag)
            elif g.type == "symmetry":
                for cid in (g.left, g.right):
                    c = self.col(cid)
                    want(c, DEFAULT_WORK_X * self.rest_uv[c])
        if phase.kind == "mvc":
            for cid in phase.channels:
                want(self.col(cid), MVC_UV)
        if not out:  # a contraction phase with no goal: the targets work
            role = self.protocol.channel_with_role("target")
            chans = [role.id] if role is not None else list(phase.channels)
            for cid in chans:
                c = self.col(cid)
                want(c, DEFAULT_WORK_X * self.rest_uv[c])
        # Left and right contract evenly (the larger of the two asks); a compensating
        # client overdoes the right side.
        left = self.protocol.channel_with_role("left")
        right = self.protocol.channel_with_role("right")
        if left is not None and right is not None:
            lc, rc = self.col(left.id), self.col(right.id)
            if lc in out and rc in out:
                amp = max(out[lc]["amp"], out[rc]["amp"])
                out[lc]["amp"] = amp
                out[rc]["amp"] = amp * (COMPENSATING_RIGHT_X if compensating else 1.0)
        return out

    def relaxes(self, phase) -> list[int]:
        """Channels a rest phase asks to stay below a line (downtraining)."""
        return [self.col(g.channel) for g in phase.goals
                if g.type == "below" and g.during in ("all", "work")]

    # -------------------------------------------------------------- the plan

    def build(self, cues: list[_Cue]) -> None:
        phases = self.protocol.phases
        habitual = HABITUAL_TONE_UV * (HELD_TONE_X if self.kind == "held" else 1.0)
        for c in range(self.n):
            self.tone_steps[c].append((0, habitual, 1e-3))
        relaxed: set[int] = set()
        by_rep: dict[tuple[int, int], dict[str, _Cue]] = {}
        for cue in cues:
            by_rep.setdefault((cue.phase, cue.rep), {})[cue.kind] = cue
        rep_no = 0
        for (pi, rep), parts in by_rep.items():
            phase = phases[pi]
            contraction = phase.kind in ("mvc", "work", "hold", "quick-flick", "release") \
                or (phase.kind == "free" and phase.goals)
            if not contraction:
                cue = parts["phase"]
                for c in self.relaxes(phase):
                    if self.kind != "held" and c not in relaxed:
                        self.tone_steps[c].append((cue.start + self.reaction(),
                                                   RELAXED_TONE_UV, RELAX_TAU_S))
                        relaxed.add(c)
                continue
            for c in sorted(relaxed):  # back to the habitual tone for the work
                self.tone_steps[c].append((parts.get("work", parts.get("phase")).start,
                                           habitual, 1.0))
            relaxed.clear()
            work = parts.get("work") or parts["phase"]
            release = parts.get("release")
            rep_no += 1
            self.contraction(phase, pi, rep, work, release, rep_no)

    def contraction(self, phase, pi: int, rep: int, work: _Cue, release: _Cue | None,
                    rep_no: int) -> None:
        go = work.start + self.reaction()
        if release is not None:  # let go over the release segment, ending a bit early
            stop = release.start + self.reaction()
            fall_s = max(FALL_S, (release.end - stop) / self.fs - 0.5)
        else:
            stop = work.end + self.reaction()
            fall_s = FALL_S
        if self.kind == "late":
            stop += self.samples(LATE_DELAY_S)
            asked = (release.end - release.start) / self.fs if release is not None else 0.0
            fall_s = max(LATE_RELEASE_S, LATE_RELEASE_X * asked)
        factor = self.jitter(0.1)
        demands = self.demands(phase)
        # A channel with a negative lag fires first: the others wait for it.
        lead_ms = max([0.0] + [-d["lag_ms"] for d in demands.values()])
        onsets, offsets, amps = {}, {}, {}
        for c, d in sorted(demands.items()):
            amp = d["amp"] * factor
            onset = go + self.samples((lead_ms + d["lag_ms"]) / 1000.0)
            own = amp
            if self.kind == "held":
                if c not in self.held_from:
                    self.held_from[c] = (onset, HELD_RESIDUAL * amp)
                # activations add as squares: the held part plus this burst give ``amp``
                own = math.sqrt(max(amp ** 2 - self.held_from[c][1] ** 2, 0.0))
            b = self.burst(c, onset, stop + self.samples(fall_s), own, fall_s, rep_no)
            self.bursts.append(b)
            onsets[c], offsets[c], amps[c] = b.onset, b.offset, amp
        if onsets:
            order = sorted(onsets, key=lambda c: (onsets[c], c))
            self.reps.append({"rep": rep_no, "phase": self.protocol.phases[pi].name,
                              "phase_rep": rep, "onset_index": onsets,
                              "offset_index": offsets, "amplitude_uv": amps, "order": order})

    def held_bursts(self, end: int) -> None:
        for c, (onset, amp) in self.held_from.items():
            self.bursts.append(self.burst(c, onset, end, amp, FALL_S, None))

    def tone_fn(self):
        """``tone_fn(local_index) -> (n, ch)`` following the planned tone steps."""
        fs = self.fs
        tables = []
        for steps in self.tone_steps:
            steps = sorted(steps, key=lambda s: s[0])
            starts = np.array([s[0] for s in steps], dtype=np.int64)
            targets = np.array([s[1] for s in steps])
            taus = np.array([s[2] for s in steps])
            begin = np.empty(len(steps))
            level = targets[0]
            for i in range(len(steps)):
                if i:
                    dt = (starts[i] - starts[i - 1]) / fs
                    level = targets[i - 1] + (level - targets[i - 1]) * math.exp(-dt / taus[i - 1])
                begin[i] = level
            tables.append((starts, targets, taus, begin))

        def tone(local: np.ndarray) -> np.ndarray:
            idx = np.asarray(local, dtype=np.int64)
            out = np.empty((idx.size, len(tables)))
            for c, (starts, targets, taus, begin) in enumerate(tables):
                k = np.clip(np.searchsorted(starts, idx, side="right") - 1, 0, None)
                dt = (idx - starts[k]) / fs
                out[:, c] = targets[k] + (begin[k] - targets[k]) * np.exp(-dt / taus[k])
            return out

        return tone


def client_scenario(protocol, client: str, *, floor_uv=None, noise_uv: float = 1.5) -> ScenarioSpec:
    """A scenario in which a virtual client performs ``protocol`` as ``client`` would.

    Parameters
    ----------
    protocol : Protocol
        The loaded protocol the client follows (the same one the runner runs).
    client : str
        One of :data:`CLIENT_KINDS`.
    floor_uv : sequence of float, optional
        The board's measurement floor per channel in µV RMS (the client's estimate of its
        resting level includes it).
    noise_uv : float
        The simulator's amplifier noise in µV RMS.

    Returns
    -------
    ScenarioSpec
        Pass it as ``scenario`` to :class:`~emgfeedback.acquisition.simulator.Simulator`.

    Raises
    ------
    ConfigError
        For an unknown client kind.
    """
    if client not in CLIENT_KINDS:
        raise ConfigError(f"client={client!r}: expected one of {', '.join(CLIENT_KINDS)}")
    n_needed = len(protocol.channels)

    def build(n_channels: int, fs_hz: float, rng: np.random.Generator, ramp_ms: float,
              variation: float) -> Schedule:
        floors = np.zeros(n_channels) if floor_uv is None else np.resize(
            np.asarray(floor_uv, dtype=np.float64), n_channels)
        tone = HABITUAL_TONE_UV * (HELD_TONE_X if client == "held" else 1.0)
        rest = np.sqrt(tone ** 2 + noise_uv ** 2 + floors ** 2)
        plan = _Plan(protocol, client, n_channels, fs_hz, rng, rest, variation)
        cues = protocol_cues(protocol, fs_hz)
        plan.build(cues)
        end = cues[-1].end
        duration = end + int(round(TAIL_S * fs_hz))
        plan.held_bursts(end)
        bursts = sorted(plan.bursts, key=lambda b: (b.onset, b.channel))
        nominal = np.zeros(n_channels)
        for b in bursts:
            nominal[b.channel] = max(nominal[b.channel], b.amplitude_uv)
        names = tuple(protocol.channel_ids) + tuple(
            f"ch{c + 1}" for c in range(n_needed, n_channels))
        return Schedule(
            name=f"client-{client}", channel_names=names, duration=duration,
            tone_uv=np.full(n_channels, RELAXED_TONE_UV if client != "held" else tone),
            nominal_uv=nominal, snr_reference=tuple(range(n_channels)), bursts=bursts,
            repetitions=plan.reps, tone_fn=plan.tone_fn(),
            extra={"client": client, "protocol": protocol.name,
                   "protocol_samples": end, "reaction_ms": plan.reactions_ms,
                   "rest_estimate_uv": rest.tolist(), "mvc_uv": MVC_UV})

    return ScenarioSpec(f"client-{client}",
                        f"a {client} client following protocol {protocol.name}",
                        n_needed, build)
