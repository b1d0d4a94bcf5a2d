"""Independent families of synthetic sEMG bursts with exact onsets, for the onset benchmark.

Each family differs from the others (and from the project's simulator) in what a detector
could be tuned to: the activation spectrum, the background noise's colour, the shape and
length of the rise, burst and rest lengths, and the contamination (mains hum, ECG, baseline
wander, ADC quantisation). The detector is tuned on ``shwedyk`` only; every other family is
held out.

SNR is defined in the EMG band, where detectors work: the activation's RMS during a burst's
plateau over the background's RMS, both after the project's default band-pass
(20-450 Hz, or up to 0.45 fs at 500 Hz), 20·log10 of the ratio. Hum, ECG and wander come on
top of the background and are not counted in it.

Families (activation spectrum; background; rise shape and length; burst / rest s; extras):

- ``shwedyk``: Shwedyk (fl 60, fh 120 Hz); white; linear 0-300 ms; 0.6-2.5 / 0.5-2.0;
  50 Hz hum 0-5 µV.
- ``loconte``: low-peaked (f0 50 Hz, 3rd order); pink (1/f); raised cosine 0-200 ms;
  0.3-1.5 / 0.3-0.5; 60 Hz hum 0-10 µV, ECG.
- ``ar_real``: AR(10) fitted to real bursts (UCI); AR(10) fitted to real rest (BioSPPy);
  exponential, τ 0-100 ms; 1.0-3.0 / 0.5-3.0; baseline wander, 10-bit steps.
- ``steps``: Butterworth 30-300 Hz; brown + white; a step or a 300 ms linear rise;
  0.4-2.0 / 0.4-1.0; 50 Hz + 150 Hz hum 10 µV.
- ``sim``: the project's simulator (drill, first muscle) with its own background, 40 ms
  raised-cosine rises, hum and wander.

:func:`make_rest` gives a family's rest alone, as long as asked (the long-rest false-alarm
count): the same background, contamination and converter as :func:`make`, no activation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import signal

FAMILIES = ("shwedyk", "loconte", "ar_real", "steps", "sim")
TUNED_ON = "shwedyk"
REST0_S = 3.0          # initial rest, the baseline every detector is given
DURATION_S = 45.0
BG_RMS_UV = 5.0       # the background's RMS in the EMG band, every family but sim
#: The real recordings the ``ar_real`` family is fitted to (copied into the repository with
#: their licences, benchmarks/data/SOURCES.md, so a clone alone runs every family).
DATA = Path(__file__).resolve().parent / "data"


@dataclass
class Recording:
    """One synthetic recording of one muscle."""

    family: str
    fs_hz: float
    snr_db: float
    x_uv: np.ndarray          # raw signal, µV
    onsets: np.ndarray        # true onsets, sample indices
    offsets: np.ndarray       # true ends of the bursts
    rest_s: float             # seconds of rest after the initial baseline (for false alarms)


def band_of(fs_hz: float) -> tuple[float, float]:
    """The project's default band for a rate (as runtime.processor chooses it)."""
    high = min(450.0, 0.45 * fs_hz)
    return min(20.0, high / 4.0), high


def _bandpass(x, fs_hz):
    lo, hi = band_of(fs_hz)
    sos = signal.butter(4, [lo, hi], btype="bandpass", fs=fs_hz, output="sos")
    return signal.sosfiltfilt(sos, x)


def _shaped(n: int, fs_hz: float, psd, rng) -> np.ndarray:
    """Gaussian noise with power spectrum ``psd(f)``, unit RMS in the EMG band."""
    f = np.fft.rfftfreq(n, 1 / fs_hz)
    spec = np.fft.rfft(rng.standard_normal(n)) * np.sqrt(np.maximum(psd(np.maximum(f, 1e-3)),
                                                                     0.0))
    spec[0] = 0.0
    x = np.fft.irfft(spec, n)
    return x / np.sqrt(np.mean(_bandpass(x, fs_hz) ** 2))


def _ar_noise(n: int, fs_hz: float, ar: np.ndarray, fs_model: float, rng) -> np.ndarray:
    """AR-model noise generated at the model's rate and resampled to ``fs_hz``."""
    m = int(math.ceil(n * fs_model / fs_hz)) + 64
    x = signal.lfilter([1.0], np.concatenate(([1.0], -ar)), rng.standard_normal(m + 500))[500:]
    if fs_hz != fs_model:
        up, down = int(fs_hz), int(fs_model)
        g = math.gcd(up, down)
        x = signal.resample_poly(x, up // g, down // g)
    x = x[:n]
    return x / np.sqrt(np.mean(_bandpass(x, fs_hz) ** 2))


def _fit_ar(x: np.ndarray, order: int = 10) -> np.ndarray:
    """Yule-Walker AR coefficients (x[n] = sum a_k x[n-k] + e)."""
    x = x - x.mean()
    r = np.correlate(x, x, "full")[len(x) - 1:len(x) + order] / len(x)
    from scipy.linalg import solve_toeplitz

    return solve_toeplitz(r[:order], r[1:order + 1])


_AR_CACHE: dict = {}


def real_ar_models() -> tuple[np.ndarray, np.ndarray]:
    """AR(10) models of real bursts (UCI lower limb, 3Apie channel 1) and real rest (BioSPPy)."""
    if "models" not in _AR_CACHE:
        uci = np.loadtxt(DATA / "uci_3Apie.txt", skiprows=7)[:, 0]
        uci = _bandpass(uci - uci.mean(), 1000.0)
        # The active part: samples whose 100 ms RMS is in the top third.
        p = np.convolve(uci ** 2, np.ones(100) / 100, "same")
        active = uci[p > np.quantile(p, 0.67)]
        rest = np.loadtxt(DATA / "biosppy_emg.txt", comments="#")
        rest = rest.reshape(-1) if rest.ndim == 1 else rest[:, -1]
        rest = rest[:20000] - rest[:20000].mean()
        _AR_CACHE["models"] = (_fit_ar(active), _fit_ar(rest))
    return _AR_CACHE["models"]


def _schedule(rng, burst_s, rest_s, fs_hz):
    """Alternating bursts and rests after the initial rest: (onset, offset) sample pairs."""
    t = REST0_S + rng.uniform(0, 0.3)
    out = []
    while True:
        b = rng.uniform(*burst_s)
        if t + b + 0.5 > DURATION_S:
            break
        out.append((int(round(t * fs_hz)), int(round((t + b) * fs_hz))))
        t += b + rng.uniform(*rest_s)
    return out


def _ramp(kind: str, length: int, rng) -> np.ndarray:
    """Rise from 0 to 1 over ``length`` samples (0 = a step)."""
    if length <= 1:
        return np.ones(1)
    u = np.arange(length) / length
    if kind == "linear":
        return u
    if kind == "cosine":
        return 0.5 - 0.5 * np.cos(np.pi * u)
    if kind == "exponential":  # a first-order rise, 5 time constants long
        return 1.0 - np.exp(-5.0 * u)
    raise ValueError(kind)


def _envelope(n, bursts, fs_hz, rng, shape, ramp_ms):
    env = np.zeros(n)
    for on, off in bursts:
        kind = shape if shape != "mixed" else ("step" if rng.random() < 0.5 else "linear")
        ms = rng.uniform(*ramp_ms) if kind != "step" else 0.0
        rise = _ramp("linear" if kind == "step" else kind, int(ms * fs_hz / 1000), rng)
        amp = 10 ** (rng.normal(0.0, 1.0) / 20)  # bursts spread about ±1 dB
        seg = np.ones(off - on) * amp
        k = min(len(rise), len(seg))
        seg[:k] *= rise[:k]
        fall = min(int(0.05 * fs_hz), len(seg) // 4)
        if fall > 1:
            seg[-fall:] *= np.linspace(1, 0, fall)
        env[on:off] = seg
    return env


def _ecg(n, fs_hz, rng, amp_uv):
    """A QRS-like biphasic spike train at 60-80 beats per minute."""
    x = np.zeros(n)
    period = fs_hz * 60.0 / rng.uniform(60, 80)
    t = np.arange(int(0.08 * fs_hz)) / fs_hz
    qrs = np.sin(2 * np.pi * t / 0.08) * np.exp(-((t - 0.03) / 0.012) ** 2) * amp_uv
    pos = rng.uniform(0, period)
    while pos + len(qrs) < n:
        i = int(pos)
        x[i:i + len(qrs)] += qrs
        pos += period * rng.uniform(0.95, 1.05)
    return x


def _background(family: str, n: int, fs_hz: float, rng) -> np.ndarray:
    """The family's background noise, unit RMS in the EMG band (its colour)."""
    if family == "shwedyk":
        return _shaped(n, fs_hz, lambda f: np.ones_like(f), rng)
    if family == "loconte":
        return _shaped(n, fs_hz, lambda f: 1.0 / f, rng)
    if family == "ar_real":
        return _ar_noise(n, fs_hz, real_ar_models()[1], 1000.0, rng)
    if family == "steps":
        return _shaped(n, fs_hz, lambda f: 1.0 / f ** 2 + 1e-4, rng)
    raise ValueError(f"unknown family {family!r}")


def _contamination(family: str, n: int, fs_hz: float, rng) -> np.ndarray:
    """The family's mains hum, ECG and baseline wander, µV (drawn per recording)."""
    # (the expressions as they were written in make(), to keep every bit of the recordings)
    t = np.arange(n) / fs_hz
    if family == "shwedyk":
        return rng.uniform(0, 5) * np.sin(2 * np.pi * 50 * np.arange(n) / fs_hz)
    if family == "loconte":
        hum = rng.uniform(0, 10) * np.sin(2 * np.pi * 60 * np.arange(n) / fs_hz)
        return hum + _ecg(n, fs_hz, rng, amp_uv=rng.uniform(10, 30))
    if family == "ar_real":
        return 50.0 * np.sin(2 * np.pi * rng.uniform(0.2, 0.5) * t + rng.uniform(0, 6))
    if family == "steps":
        extra = 10.0 * np.sin(2 * np.pi * 50 * t)
        if 150.0 < fs_hz / 2:
            extra += 3.0 * np.sin(2 * np.pi * 150 * t)
        return extra
    raise ValueError(f"unknown family {family!r}")


def _adc(family: str, x: np.ndarray) -> np.ndarray:
    """The family's converter: ``ar_real`` has 10-bit steps, half the resting noise."""
    if family == "ar_real":
        step = BG_RMS_UV * 0.5
        return np.round(x / step) * step
    return x


def make(family: str, fs_hz: float, snr_db: float, seed: int) -> Recording:
    """One recording of a family at a rate and in-band SNR."""
    rng = np.random.default_rng([seed, int(fs_hz), int(snr_db * 10) + 1000,
                                 FAMILIES.index(family)])
    n = int(DURATION_S * fs_hz)
    if family == "sim":
        return _from_simulator(fs_hz, snr_db, seed)
    # The draws keep the order they had before the background and contamination became
    # functions of their own (shared with make_rest), so the recordings are unchanged.
    if family == "shwedyk":
        fl, fh = 60.0, 120.0
        act = _shaped(n, fs_hz, lambda f: fh ** 4 * f ** 2 / ((f ** 2 + fl ** 2)
                                                                * (f ** 2 + fh ** 2) ** 2), rng)
        bg = _background(family, n, fs_hz, rng)
        bursts = _schedule(rng, (0.6, 2.5), (0.5, 2.0), fs_hz)
        env = _envelope(n, bursts, fs_hz, rng, "linear", (0.0, 300.0))
    elif family == "loconte":
        f0 = 50.0
        act = _shaped(n, fs_hz, lambda f: f ** 2 / (1 + (f / f0) ** 2) ** 3, rng)
        bg = _background(family, n, fs_hz, rng)
        bursts = _schedule(rng, (0.3, 1.5), (0.3, 0.5), fs_hz)
        env = _envelope(n, bursts, fs_hz, rng, "cosine", (0.0, 200.0))
    elif family == "ar_real":
        ar_act, _ = real_ar_models()
        act = _ar_noise(n, fs_hz, ar_act, 1000.0, rng)
        bg = _background(family, n, fs_hz, rng)
        bursts = _schedule(rng, (1.0, 3.0), (0.5, 3.0), fs_hz)
        # exponential rises with a time constant of 0-100 ms (5 τ long)
        env = _envelope(n, bursts, fs_hz, rng, "exponential", (0.0, 500.0))
    elif family == "steps":
        sos = signal.butter(2, [30.0, min(300.0, 0.45 * fs_hz)], btype="bandpass", fs=fs_hz,
                            output="sos")
        act = signal.sosfilt(sos, rng.standard_normal(n))
        act /= np.sqrt(np.mean(_bandpass(act, fs_hz) ** 2))
        bg = _background(family, n, fs_hz, rng)
        bursts = _schedule(rng, (0.4, 2.0), (0.4, 1.0), fs_hz)
        env = _envelope(n, bursts, fs_hz, rng, "mixed", (300.0, 300.0))
    else:
        raise ValueError(f"unknown family {family!r}")
    extra = _contamination(family, n, fs_hz, rng)
    act_rms = BG_RMS_UV * 10 ** (snr_db / 20)
    x = _adc(family, BG_RMS_UV * bg + act_rms * env * act + extra)
    on = np.array([b[0] for b in bursts], dtype=np.int64)
    off = np.array([b[1] for b in bursts], dtype=np.int64)
    rest_s = (n - int(REST0_S * fs_hz) - int(np.sum(off - on))) / fs_hz
    return Recording(family, fs_hz, snr_db, x, on, off, rest_s)


def make_rest(family: str, fs_hz: float, duration_s: float, seed: int) -> np.ndarray:
    """A stretch of pure rest, generated the way ``family`` generates the rest between bursts.

    The same background (spectrum, colour, level), contamination (mains hum and its
    harmonic, ECG, baseline wander; their amplitudes and rates drawn once per stretch, as
    per recording in :func:`make`) and converter as the family's recordings, with the
    activation switched off. The SNR only scales the activation, so a family's rest is the
    same at every SNR. ``sim`` is the project's simulator's ``rest`` scenario, first channel
    (the drill's first muscle has the same 3 µV tone, board, hum and wander).

    Returns
    -------
    numpy.ndarray
        Raw signal in µV, ``int(duration_s * fs_hz)`` samples.
    """
    n = int(duration_s * fs_hz)
    if family == "sim":
        from emgfeedback.acquisition.simulator import Simulator

        sim = Simulator("rest", 2, fs_hz, seed=seed, board="uv", mains_hz=50.0, ramp_ms=40.0)
        return sim.generate_uv(n)[:, 0]
    # A seed sequence of another length than make()'s: never the same draws as a recording.
    rng = np.random.default_rng([seed, int(fs_hz), FAMILIES.index(family), 0, 0])
    bg = _background(family, n, fs_hz, rng)
    return _adc(family, BG_RMS_UV * bg + _contamination(family, n, fs_hz, rng))


def _from_simulator(fs_hz: float, snr_db: float, seed: int) -> Recording:
    from emgfeedback.acquisition.simulator import Simulator

    sim = Simulator("drill", 2, fs_hz, seed=seed, board="uv", mains_hz=50.0, snr_db=snr_db,
                    ramp_ms=40.0)
    n = sim.truth.duration_samples
    x = sim.generate_uv(n)[:, 0]
    acts = sim.truth.activations[0]
    on = np.array([a for a, _ in acts], dtype=np.int64)
    off = np.array([b for _, b in acts], dtype=np.int64)
    first = int(on[0]) if len(on) else n
    rest_s = (n - first - int(np.sum(off - on))) / fs_hz
    return Recording("sim", fs_hz, snr_db, x, on, off, rest_s)
