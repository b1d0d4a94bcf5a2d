"""Synthetic surface EMG with exactly known ground truth.

The signal of channel ``c`` at sample ``i`` (µV at the electrode) is::

    emg(i)·√(tone(i)² + Σ activation(i)²)      shaped Gaussian noise, amplitude-modulated
    + amplifier noise (white, noise_uv RMS)
    + mains hum (50/60 Hz and harmonics) + baseline wander
    + optional motion artefacts, ECG, electrode-off (flat at the positive rail)
    + optional signal faults on the last channel (:data:`SIGNAL_FAULTS`, H9, #20)

Output kinds: a RAW channel is the sum above. RECT and ENV channels model the sensor's
own chain (MyoWare 2.0: amplifier, band-pass, rectifier, envelope detector): the sum is
high-passed at :data:`SENSOR_HIGHPASS_HZ` (the sensor's AC coupling: baseline wander does
not reach the rectifier, mains hum does), rectified (RECT) and low-passed at
:data:`ENV_CUTOFF_HZ` (ENV, an average rectified value: ≈ √(2/π) times the RMS for Gaussian
EMG). Samples are still µV at the electrode; the board's calibration applies the output's
gain (ENV: 200·(1 + R_pot/1 kΩ)) and zero offset, exactly as the real pin reads.

``emg`` is unit-variance Gaussian noise shaped to a surface-EMG spectrum (Shwedyk et al.
1977: ``P(f) ∝ f²·f_h⁴ / ((f² + f_l²)(f² + f_h²)²)`` with f_l = 60 Hz, f_h = 140 Hz, peak
near 70 Hz, most power 50-150 Hz). Activations come from a scripted scenario
(:mod:`emgfeedback.acquisition.sim_scenarios`) with raised-cosine ramps, so onsets and
offsets are exact sample indices. The board's ADC then quantises and clips.

Determinism: noise is drawn per fixed internal block of :data:`BLOCK` samples from a
generator keyed by ``(seed, block number)`` and the shaping filter's state is carried from
block to block, so any partition of the stream into ``generate_uv`` calls gives the same
samples. Everything else (hum, wander, activations, artefacts) is a function of the
absolute sample index.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace

import numpy as np

from emgfeedback.acquisition.boards import Board, get_board, rate_for_channels
from emgfeedback.acquisition.sim_scenarios import SCENARIOS, Burst, build_schedule
from emgfeedback.acquisition.sim_truth import GroundTruth
from emgfeedback.dsp.iir_design import bilinear_zpk, butter_sos, zpk2sos
from emgfeedback.errors import ConfigError

__all__ = ["BLOCK", "ARTEFACT_KINDS", "ENV_CUTOFF_HZ", "GroundTruth", "SCENARIOS",
           "SENSOR_HIGHPASS_HZ", "SIGNAL_FAULTS", "Simulator", "emg_shaping_sos",
           "parse_artefacts", "parse_faults"]

#: Samples per internal noise block (the unit of the seeded generator).
BLOCK = 1024
#: Optional artefacts the simulator can add.
ARTEFACT_KINDS = ("motion", "ecg", "off")

#: Signal faults a set-up can have, for the whole stream, on the last channel (what
#: ``emgfeedback check`` must name): ``off`` a lifted electrode (the input floats and picks
#: up mains at tens of mV, swinging the ADC between its rails), ``rail`` the output stuck at
#: the ADC's full scale, ``flat`` a constant reading (sensor unpowered or not wired),
#: ``drift`` a baseline walking by mV (electrodes settling), ``hum`` heavy mains pick-up
#: (a poor reference, a laptop on its charger), ``ecg`` the heartbeat (on every channel,
#: as the ``ecg`` artefact). A board too coarse for a quiet muscle is not a fault but a
#: choice: ``board=uno-myoware2`` (RAW, 24 µV per count) with the ``rest`` or ``check``
#: scenario's 3 µV tone.
SIGNAL_FAULTS = ("off", "rail", "flat", "drift", "hum", "ecg")
#: A floating input's mains pick-up, µV at the electrode (fundamental amplitude).
FLOATING_HUM_UV = 40_000.0
#: Peak of the ``drift`` fault's baseline walk, µV, and its frequency, Hz.
DRIFT_FAULT_UV = 3000.0
DRIFT_FAULT_HZ = 0.04
#: Fundamental amplitude of the ``hum`` fault, µV.
HEAVY_HUM_UV = 400.0

# Stream keys for the seeded generators: one per purpose, so adding one never shifts another.
_KEY_NOISE, _KEY_WARMUP, _KEY_SCHEDULE, _KEY_STATIC = 1, 2, 3, 4

#: Relative amplitude of mains harmonics (odd harmonics dominate in real pick-up).
_HUM_HARMONICS = {1: 1.0, 2: 0.15, 3: 0.4, 5: 0.15}
#: Low-pass of the simulated ENV output (the sensor's envelope detector), Hz.
ENV_CUTOFF_HZ = 5.0
#: High-pass before the simulated rectifier (the sensor's input band starts here), Hz.
SENSOR_HIGHPASS_HZ = 20.0
_ECG_RATE_HZ = 1.2
_MOTION_S = 0.6


def emg_shaping_sos(fs_hz: float, low_hz: float = 60.0, high_hz: float = 140.0) -> np.ndarray:
    """Filter that shapes white noise to a surface-EMG spectrum, with unit output variance.

    The analogue prototype ``H(s) = s / ((s + ω_l)(s + ω_h)²)`` has the Shwedyk power
    spectrum; it is discretised with the bilinear transform and scaled so that unit-variance
    white noise in gives unit variance out.

    Parameters
    ----------
    fs_hz : float
        Sample rate in hertz.
    low_hz, high_hz : float
        The spectrum's low and high corner frequencies in hertz.

    Returns
    -------
    numpy.ndarray
        Second-order sections.
    """
    wl, wh = 2.0 * math.pi * low_hz, 2.0 * math.pi * high_hz
    sos = zpk2sos(*bilinear_zpk([0.0], [-wl, -wh, -wh], 1.0, fs_hz))
    impulse = np.zeros((int(max(4.0 * fs_hz, 4096)), 1))
    impulse[0] = 1.0
    response, _ = _sosfilt(sos, impulse, np.zeros((sos.shape[0], 2, 1)))
    gain = math.sqrt(float(np.sum(response[:, 0] ** 2)))
    sos[0, :3] /= gain
    return sos


def _sosfilt(sos, x, zi):
    # scipy.signal.sosfilt(sos, x, axis=0, zi=zi), bit for bit, without importing SciPy
    # (about a second of CPU per process); imported here so that importing the simulator
    # does not load Numba.
    from emgfeedback.dsp.sosfilt import sosfilt_columns

    return sosfilt_columns(sos, x, zi)


def parse_faults(faults: str | Iterable[str] | None) -> tuple[str, ...]:
    """Normalise a fault selection: ``"none"``, ``"off"``, ``"drift,hum"``, a list...

    Raises
    ------
    ConfigError
        For an unknown fault.
    """
    if faults is None:
        return ()
    items = faults.split(",") if isinstance(faults, str) else list(faults)
    kinds = [s.strip().lower() for s in items]
    for item in kinds:
        if item not in SIGNAL_FAULTS + ("", "none"):
            raise ConfigError(f"unknown fault {item!r}; expected none or a comma list of "
                              f"{', '.join(SIGNAL_FAULTS)}")
    return tuple(k for k in SIGNAL_FAULTS if k in kinds)


def parse_artefacts(artefacts: str | Iterable[str] | None) -> tuple[str, ...]:
    """Normalise an artefact selection: ``"none"``, ``"all"``, ``"motion,ecg"``, a list...

    Raises
    ------
    ConfigError
        For an unknown artefact kind.
    """
    if artefacts is None:
        return ()
    items = artefacts.split(",") if isinstance(artefacts, str) else list(artefacts)
    kinds: list[str] = []
    for item in (s.strip().lower() for s in items):
        if item in ("", "none"):
            continue
        if item == "all":
            kinds.extend(ARTEFACT_KINDS)
            continue
        if item not in ARTEFACT_KINDS:
            raise ConfigError(f"unknown artefact {item!r}; expected none, all or a comma list "
                              f"of {', '.join(ARTEFACT_KINDS)}")
        kinds.append(item)
    return tuple(k for k in ARTEFACT_KINDS if k in kinds)


class Simulator:
    """Seeded, block-partition-invariant sEMG generator for one board.

    Parameters
    ----------
    scenario : str
        One of :data:`SCENARIOS` (``rest``, ``drill``, ``asymmetry``, ``tension``).
    n_channels : int
        Number of channels.
    fs_hz : float, optional
        Sample rate in hertz; default the board's nominal rate for ``n_channels``
        (:func:`~emgfeedback.acquisition.boards.rate_for_channels`, e.g. 500 Hz for
        ``uno-myoware2-env``).
    seed : int
        Seed of every random draw (noise, schedule jitter, hum phases).
    board : str or Board
        Board whose ADC quantises and clips (see :mod:`emgfeedback.acquisition.boards`).
    mains_hz : float
        Mains frequency (50 or 60); 0 for none.
    snr_db : float, optional
        If given, every channel's nominal activation is set to
        ``background_uv · 10**(snr_db/20)`` (scenario ratios between bursts and between
        the two sides of a pair are kept).
    artefacts : str or iterable of str
        ``"none"``, ``"all"`` or any of ``motion``, ``ecg``, ``off``.
    ramp_ms : float
        Mean duration of the raised-cosine rise and fall of each activation.
    variation : float
        Scale of the per-repetition variation (durations, amplitudes, ramps, lags for
        ``asymmetry``, plateau fluctuation); 0 makes every repetition identical.
    hum_uv : float
        Mains fundamental amplitude in µV at the electrode.
    noise_uv : float, optional
        Amplifier/electrode noise in µV RMS; defaults to the sensor's data-sheet value or
        1.5 µV.
    wander_uv : float
        Peak amplitude of the baseline wander (0.05-0.4 Hz) in µV.
    ecg_uv : float
        R-wave amplitude on channel 0 when ECG is on (later channels get less).
    outputs : tuple of str, optional
        Output kind per channel (``raw``, ``rect``, ``env``); defaults to the board's.
    faults : str or iterable of str
        Signal faults (:data:`SIGNAL_FAULTS`) on the last channel for the whole stream
        (``ecg``: the ECG artefact, on every channel).
    """

    def __init__(self, scenario: str = "drill", n_channels: int = 2, fs_hz: float | None = None,
                 seed: int = 0, board: str | Board = "uno-myoware2", mains_hz: float = 50.0,
                 *, snr_db: float | None = None, artefacts: str | Iterable[str] | None = None,
                 ramp_ms: float = 40.0, variation: float = 1.0, hum_uv: float = 8.0,
                 noise_uv: float | None = None, wander_uv: float = 15.0, ecg_uv: float = 60.0,
                 outputs: tuple[str, ...] | None = None,
                 faults: str | Iterable[str] | None = None) -> None:
        self._faults = parse_faults(faults)
        if "ecg" in self._faults:
            artefacts = tuple(parse_artefacts(artefacts)) + ("ecg",)
        self._board = board if isinstance(board, Board) else get_board(board)
        n_channels = int(n_channels)
        if not 1 <= n_channels <= self._board.max_channels:
            raise ConfigError(f"channels={n_channels}: board {self._board.name} takes 1 to "
                              f"{self._board.max_channels} channels")
        if fs_hz is None:
            fs_hz = rate_for_channels(self._board, n_channels)
        if not fs_hz > 0:
            raise ConfigError(f"fs={fs_hz}: the sample rate must be positive")
        if mains_hz < 0:
            raise ConfigError(f"mains={mains_hz}: expected 50, 60 or 0 (no hum)")
        if not ramp_ms > 0:
            raise ConfigError(f"ramp={ramp_ms}: the ramp duration must be positive (ms)")
        if variation < 0:
            raise ConfigError(f"variation={variation}: expected 0 or more")
        if int(seed) < 0:
            raise ConfigError(f"seed={seed}: expected an integer >= 0")
        for name, value in (("hum_uv", hum_uv), ("wander_uv", wander_uv), ("ecg_uv", ecg_uv),
                            ("noise_uv", 0.0 if noise_uv is None else noise_uv)):
            if value < 0:
                raise ConfigError(f"{name}={value}: expected 0 or more (µV)")
        self._fs = float(fs_hz)
        self._n = n_channels
        self._seed = int(seed)
        self._mains = float(mains_hz)
        self._hum_uv = float(hum_uv)
        self._wander_uv = float(wander_uv)
        self._artefact_kinds = parse_artefacts(artefacts)
        self._calibration = self._board.calibration(n_channels, outputs)
        self._outputs = tuple(c.output for c in self._calibration)
        if noise_uv is None:
            noise_uv = self._board.sensor.noise_uv or 1.5
        self._noise_uv = float(noise_uv)

        sched_rng = self._rng(_KEY_SCHEDULE)
        self._schedule = build_schedule(scenario, n_channels, self._fs, sched_rng,
                                        ramp_ms=ramp_ms, variation=variation)
        background = np.sqrt(self._schedule.tone_uv ** 2 + self._noise_uv ** 2)
        self._scale = self._snr_scale(background, snr_db)
        self._bursts = [replace(b, amplitude_uv=float(b.amplitude_uv * self._scale[b.channel]))
                        for b in self._schedule.bursts]
        self._build_static(ecg_uv)
        self._truth = self._make_truth(background, snr_db)

        self._sos = emg_shaping_sos(self._fs)
        self._env_sos = butter_sos(2, min(ENV_CUTOFF_HZ, 0.4 * self._fs), "lowpass", self._fs)
        self._hp_sos = butter_sos(2, min(SENSOR_HIGHPASS_HZ, 0.2 * self._fs), "highpass",
                                  self._fs)
        self.reset()

    # ------------------------------------------------------------------ public API

    @property
    def board(self) -> Board:
        """The board descriptor."""
        return self._board

    @property
    def calibration(self) -> tuple:
        """Per-channel :class:`ChannelCalibration` of the board."""
        return self._calibration

    @property
    def channel_names(self) -> tuple[str, ...]:
        """Channel names of the scenario."""
        return self._schedule.channel_names

    @property
    def fs_hz(self) -> float:
        """Sample rate in hertz."""
        return self._fs

    @property
    def n_channels(self) -> int:
        """Number of channels."""
        return self._n

    @property
    def seed(self) -> int:
        """The seed."""
        return self._seed

    @property
    def truth(self) -> GroundTruth:
        """The ground truth."""
        return self._truth

    @property
    def position(self) -> int:
        """Absolute index of the next sample the ``generate``/``next`` methods return."""
        return self._position

    def reset(self) -> None:
        """Restart the stream at sample 0 (the same samples again)."""
        self._position = 0
        self._next_block = 0
        self._pending = np.zeros((0, self._n))
        self._zi = self._warm_state()
        self._env_zi = np.zeros((self._env_sos.shape[0], 2, self._n))
        self._hp_zi = np.zeros((self._hp_sos.shape[0], 2, self._n))

    def generate_uv(self, n: int) -> np.ndarray:
        """The next ``n`` samples in µV at the electrode (before the ADC).

        Returns
        -------
        numpy.ndarray
            float64, shape ``(n, n_channels)``.
        """
        n = int(n)
        if n < 0:
            raise ValueError("n must be >= 0")
        parts = [self._pending]
        have = self._pending.shape[0]
        while have < n:
            block = self._render_block(self._next_block)
            self._next_block += 1
            parts.append(block)
            have += block.shape[0]
        data = np.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]
        out, self._pending = data[:n], data[n:]
        self._position += n
        return np.array(out, dtype=np.float64, copy=True)

    def next_counts(self, n: int) -> np.ndarray:
        """The next ``n`` samples as the board's ADC counts (rounded and clipped), int32."""
        uv = self.generate_uv(n)
        out = np.empty(uv.shape, dtype=np.int32)
        for c, cal in enumerate(self._calibration):
            out[:, c] = cal.to_counts(uv[:, c])
        return out

    def next_adc_mv(self, n: int) -> np.ndarray:
        """The next ``n`` samples as the voltage at the ADC pin in mV, clipped to 0..vref.

        ``mV = (µV / uv_per_count + offset_counts) · vref_mV / 2**adc_bits``, i.e. the
        electrode voltage times the sensor gain plus the output's offset (mid-rail for RAW).
        Not quantised: that is the (simulated) firmware's ADC's job.
        """
        if not self._board.vref_mv > 0:
            raise ConfigError(f"board {self._board.name} has no analogue output to simulate")
        uv = self.generate_uv(n)
        lsb_mv = self._board.vref_mv / 2 ** self._board.adc_bits
        offsets = np.array([c.offset_counts for c in self._calibration])
        steps = np.array([c.uv_per_count for c in self._calibration])
        mv = (uv / steps + offsets) * lsb_mv
        return np.clip(mv, 0.0, self._board.vref_mv)

    def rail_uv(self) -> np.ndarray:
        """Per channel, the µV at the electrode that sits at the ADC's positive rail."""
        return np.array([(c.adc_max - c.offset_counts) * c.uv_per_count
                         for c in self._calibration])

    # ------------------------------------------------------------------ set-up

    def _rng(self, *key: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence(self._seed, spawn_key=key))

    def _snr_scale(self, background: np.ndarray, snr_db: float | None) -> np.ndarray:
        scale = np.ones(self._n)
        if snr_db is None:
            return scale
        target = 10.0 ** (float(snr_db) / 20.0)
        nominal = self._schedule.nominal_uv
        for c, ref in enumerate(self._schedule.snr_reference):
            if nominal[ref] > 0:
                scale[c] = background[ref] * target / nominal[ref]
        return scale

    def _build_static(self, ecg_uv: float) -> None:
        """Hum and wander parameters, and artefact events, all from the seed."""
        rng = self._rng(_KEY_STATIC)
        n, dur, fs = self._n, self._schedule.duration, self._fs
        self._hum_gain = rng.uniform(0.5, 1.5, n)
        self._hum_terms = []
        for h, rel in _HUM_HARMONICS.items():
            phases = rng.uniform(0.0, 2.0 * math.pi, n)
            if self._mains > 0 and h * self._mains < 0.45 * fs:
                self._hum_terms.append((h * self._mains, rel, phases))
        self._wander_terms = []
        for f0, rel in ((0.07, 0.6), (0.17, 0.3), (0.31, 0.1)):
            freq = f0 * rng.uniform(0.8, 1.2)
            self._wander_terms.append((freq, rel, rng.uniform(0.0, 2.0 * math.pi, n)))
        # Artefact events, placed at fixed fractions of the cycle.
        self._motion: list[tuple[int, int, float, float]] = []
        self._off: list[tuple[int, int, int]] = []
        self._ecg_peaks = np.zeros(0, dtype=np.int64)
        self._ecg_amp = np.zeros(n)
        artefacts: list[dict] = []
        if "motion" in self._artefact_kinds:
            for frac, amp in ((0.3, 400.0), (0.65, -300.0)):
                start = int(round(frac * dur + 0.5 * fs))
                length = max(1, int(round(_MOTION_S * fs)))
                freq = rng.uniform(2.0, 5.0)
                self._motion.append((start, length, amp, freq))
                artefacts.append({"kind": "motion", "channels": tuple(range(n)),
                                  "start_index": start, "end_index": start + length,
                                  "amplitude_uv": abs(amp)})
        if "off" in self._artefact_kinds:
            start, length = int(round(0.8 * dur)), int(round(2.0 * fs))
            ch = n - 1
            self._off.append((ch, start, min(start + length, dur)))
            artefacts.append({"kind": "off", "channels": (ch,), "start_index": start,
                              "end_index": min(start + length, dur)})
        if "ecg" in self._artefact_kinds:
            peaks = []
            t = 0.4
            while t < dur / fs - 0.5:
                peaks.append(int(round(t * fs)))
                t += (1.0 / _ECG_RATE_HZ) * rng.uniform(0.96, 1.04)
            self._ecg_peaks = np.array(peaks, dtype=np.int64)
            self._ecg_amp = ecg_uv * 0.7 ** np.arange(n)
            artefacts.append({"kind": "ecg", "channels": tuple(range(n)), "start_index": 0,
                              "end_index": dur, "r_peak_indices": tuple(peaks),
                              "amplitude_uv": tuple(self._ecg_amp.tolist())})
        for fault in self._faults:
            if fault != "ecg":
                artefacts.append({"kind": "fault", "fault": fault, "channels": (n - 1,),
                                  "start_index": 0, "end_index": dur})
        self._artefacts = tuple(artefacts)
        self._ecg_template, self._ecg_before = _ecg_template(fs)

    def _make_truth(self, background: np.ndarray, snr_db: float | None) -> GroundTruth:
        per_ch: list[list[Burst]] = [[] for _ in range(self._n)]
        for b in self._bursts:
            per_ch[b.channel].append(b)
        reps = []
        for rep in self._schedule.repetitions:
            rep = dict(rep)
            rep["amplitude_uv"] = {c: float(a * self._scale[c])
                                 for c, a in rep["amplitude_uv"].items()}
            reps.append(rep)
        return GroundTruth(
            scenario=self._schedule.name, fs_hz=self._fs,
            channel_names=self._schedule.channel_names,
            duration_samples=self._schedule.duration,
            activations=tuple(tuple((b.onset, b.offset) for b in bs) for bs in per_ch),
            amplitudes_uv=tuple(tuple(b.amplitude_uv for b in bs) for bs in per_ch),
            ramps=tuple(tuple((b.ramp_on, b.ramp_off) for b in bs) for bs in per_ch),
            tone_uv=tuple(float(t) for t in self._schedule.tone_uv),
            background_uv=tuple(float(b) for b in background), noise_uv=self._noise_uv,
            snr_db=None if snr_db is None else float(snr_db), repetitions=tuple(reps),
            artefacts=self._artefacts, mains_hz=self._mains, hum_uv=self._hum_uv,
            extra=dict(self._schedule.extra), outputs=self._outputs,
            hum_rms_uv=self._hum_rms(), hum_terms=self._hum_per_channel(),
            _schedule=self._schedule,
        )

    def _hum_per_channel(self) -> tuple:
        """Per channel, ``(frequency_hz, amplitude_uv, phase_rad)`` of each hum harmonic."""
        return tuple(tuple((float(f), float(self._hum_uv * rel * self._hum_gain[c]),
                            float(ph[c])) for f, rel, ph in self._hum_terms)
                     for c in range(self._n))

    def _hum_rms(self) -> tuple[float, ...]:
        """RMS of the hum actually generated on each channel, µV."""
        power = sum((self._hum_uv * rel) ** 2 / 2.0 for _, rel, _ in self._hum_terms)
        return tuple(float(g * math.sqrt(power)) for g in self._hum_gain)

    def _warm_state(self) -> np.ndarray:
        """Shaping-filter state after 0.5 s of (seeded) noise, so sample 0 is stationary."""
        zi = np.zeros((self._sos.shape[0], 2, self._n))
        warm = self._rng(_KEY_WARMUP).standard_normal((max(int(0.5 * self._fs), 64), self._n))
        _, zi = _sosfilt(self._sos, warm, zi)
        return zi

    # ------------------------------------------------------------------ rendering

    def _render_block(self, block: int) -> np.ndarray:
        rng = self._rng(_KEY_NOISE, block)
        start = block * BLOCK
        white = rng.standard_normal((BLOCK, self._n))
        amp_noise = rng.standard_normal((BLOCK, self._n)) * self._noise_uv
        emg, self._zi = _sosfilt(self._sos, white, self._zi)
        idx = np.arange(start, start + BLOCK, dtype=np.int64)
        local = idx % self._schedule.duration
        if self._schedule.tone_fn is not None:
            tone = self._schedule.tone_fn(local)
        else:
            tone = np.broadcast_to(self._schedule.tone_uv, (BLOCK, self._n))
        act_sq = self._activation_sq(start, BLOCK)
        x = emg * np.sqrt(tone ** 2 + act_sq) + amp_noise
        t = idx[:, None] / self._fs
        for freq, rel, phases in self._hum_terms:
            x += (self._hum_uv * rel * self._hum_gain) * np.sin(2 * math.pi * freq * t + phases)
        for freq, rel, phases in self._wander_terms:
            x += (self._wander_uv * rel) * np.sin(2 * math.pi * freq * t + phases)
        self._add_events(x, start)
        self._apply_input_faults(x, t)
        x = self._apply_outputs(x)
        self._apply_off(x, start)
        self._apply_output_faults(x)
        return x

    def _apply_input_faults(self, x: np.ndarray, t: np.ndarray) -> None:
        """Faults at the electrodes (before the sensor's chain) on the last channel."""
        ch = self._n - 1
        mains = self._mains or 50.0
        if "drift" in self._faults:
            x[:, ch] += DRIFT_FAULT_UV * np.sin(2 * math.pi * DRIFT_FAULT_HZ * t[:, 0])
        if "hum" in self._faults:
            x[:, ch] += HEAVY_HUM_UV * np.sin(2 * math.pi * mains * t[:, 0] + 0.3)
        if "off" in self._faults:
            # The EMG is gone; what is left is the floating lead's pick-up.
            x[:, ch] = FLOATING_HUM_UV * np.sin(2 * math.pi * mains * t[:, 0] + 0.7)

    def _apply_output_faults(self, x: np.ndarray) -> None:
        """Faults of the output (after the sensor's chain) on the last channel."""
        ch = self._n - 1
        if "rail" in self._faults:
            rail = self.rail_uv()[ch]
            x[:, ch] = rail if rail < 1e6 else 1e4
        if "flat" in self._faults:
            x[:, ch] = 0.0

    def _cycles(self, start: int, length: int, before: int, after: int):
        """Cycle start indices whose events (spanning −before..+after) may touch the block."""
        dur = self._schedule.duration
        first = max((start - after) // dur, 0)
        last = (start + length + before) // dur
        return [m * dur for m in range(first, last + 1)]

    def _activation_sq(self, start: int, length: int) -> np.ndarray:
        out = np.zeros((length, self._n))
        for base in self._cycles(start, length, 0, 0):
            lo, hi = start - base, start + length - base
            for b in self._bursts:
                if b.offset <= lo or b.onset >= hi:
                    continue
                a, z = max(b.onset, lo), min(b.offset, hi)
                k = np.arange(a, z)
                out[a - lo:z - lo, b.channel] += (b.amplitude_uv * _burst_profile(b, k,
                                                                                self._fs)) ** 2
        return out

    def _add_events(self, x: np.ndarray, start: int) -> None:
        length = x.shape[0]
        if self._motion:
            for base in self._cycles(start, length, 0, int(_MOTION_S * self._fs) + 1):
                for m_start, m_len, amp, freq in self._motion:
                    a, z = max(base + m_start, start), min(base + m_start + m_len, start + length)
                    if a >= z:
                        continue
                    tt = (np.arange(a, z) - (base + m_start)) / self._fs
                    wave = amp * np.exp(-tt / 0.15) * np.sin(2 * math.pi * freq * tt)
                    x[a - start:z - start, :] += wave[:, None]
        if self._ecg_peaks.size:
            tpl, before = self._ecg_template, self._ecg_before
            after = tpl.size - before
            for base in self._cycles(start, length, before, after):
                for peak in self._ecg_peaks + base:
                    a, z = max(peak - before, start), min(peak + after, start + length)
                    if a >= z:
                        continue
                    seg = tpl[a - (peak - before):z - (peak - before)]
                    x[a - start:z - start, :] += seg[:, None] * self._ecg_amp

    def _apply_outputs(self, x: np.ndarray) -> np.ndarray:
        kinds = self._outputs
        if all(k in ("raw", "uv") for k in kinds):
            return x
        # The sensor's band-pass: its AC coupling keeps the wander from the rectifier.
        band, self._hp_zi = _sosfilt(self._hp_sos, x, self._hp_zi)
        rect = np.abs(band)
        env, self._env_zi = _sosfilt(self._env_sos, rect, self._env_zi)
        for c, kind in enumerate(kinds):
            if kind == "rect":
                x[:, c] = rect[:, c]
            elif kind == "env":
                x[:, c] = np.maximum(env[:, c], 0.0)
        return x

    def _apply_off(self, x: np.ndarray, start: int) -> None:
        if not self._off:
            return
        # An ADC board goes flat at its rail; a µV stream has no rail, so use a clearly
        # saturated amplifier level instead (10 mV at the electrode).
        rails = self.rail_uv()
        rails = np.where(rails > 1e6, 1e4, rails)
        for base in self._cycles(start, x.shape[0], 0, 0):
            for ch, a0, z0 in self._off:
                a, z = max(base + a0, start), min(base + z0, start + x.shape[0])
                if a < z:
                    x[a - start:z - start, ch] = rails[ch]


def _burst_profile(b: Burst, k: np.ndarray, fs_hz: float) -> np.ndarray:
    """Activation profile (0..1, times the plateau fluctuation) at cycle indices ``k``.

    Raised-cosine ramps sampled at half-sample offsets, so the profile is > 0 exactly on
    ``onset <= k < offset`` and reaches 1 at the end of the rise.
    """
    p = np.ones(k.size)
    rel_on = k - b.onset
    rise = rel_on < b.ramp_on
    p[rise] = 0.5 * (1.0 - np.cos(math.pi * (rel_on[rise] + 0.5) / b.ramp_on))
    rel_off = b.offset - 1 - k
    fall = rel_off < b.ramp_off
    p[fall] = np.minimum(p[fall],
                         0.5 * (1.0 - np.cos(math.pi * (rel_off[fall] + 0.5) / b.ramp_off)))
    if b.mod_depth > 0:
        tt = rel_on / fs_hz
        p = p * (1.0 + b.mod_depth * np.sin(2 * math.pi * b.mod_hz * tt + b.mod_phase))
    return p


def _ecg_template(fs_hz: float) -> tuple[np.ndarray, int]:
    """A QRS-T complex (R peak = 1) as Gaussian bumps; returns (template, samples before R)."""
    before = int(round(0.25 * fs_hz))
    after = int(round(0.45 * fs_hz))
    t = np.arange(-before, after) / fs_hz

    def bump(center: float, width: float) -> np.ndarray:
        return np.exp(-0.5 * ((t - center) / width) ** 2)

    tpl = (0.12 * bump(-0.16, 0.025) - 0.12 * bump(-0.022, 0.007) + bump(0.0, 0.009)
           - 0.25 * bump(0.022, 0.008) + 0.3 * bump(0.25, 0.045))
    return tpl, before
