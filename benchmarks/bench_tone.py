"""Resting-tone bias: ``analyse`` (what ``emgfeedback analyze`` runs) against known truth.

Grid: tones 3-50 µV RMS, mains hum 0-10 µV, 1 and 2 kHz, on four signal families:

* ``sim``: the project's simulator (``rest`` scenario, no amplifier noise), truth = its
  ``tone_uv`` (the whole-spectrum RMS of its EMG component: 98-99 % of its power lies in
  the 20-450 Hz band, so an in-band estimate may read up to 1 % below it);
* ``ar``: AR(2)-coloured Gaussian noise, band-limited to 20-450 Hz, of known RMS;
* ``flat``: white Gaussian noise band-limited to 20-450 Hz;
* ``peaked``: noise with a 150 Hz resonance (AR(2) with complex poles), 20-450 Hz;

each with a sine hum at 50 Hz (+ 0.3 Hz drift for the independent families) and, for the
independent families, its 3rd harmonic at 40 % of the fundamental.

Run ``python benchmarks/bench_tone.py`` (``--json`` for the raw numbers). To see the bias of
another version of the code, put it first on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
from scipy import signal

TONES_UV = (3.0, 8.0, 20.0, 50.0)
HUMS_UV = (0.0, 3.0, 10.0)
RATES_HZ = (1000.0, 2000.0)
FAMILIES = ("sim", "ar", "flat", "peaked")


def independent_rest(family: str, fs_hz: float, tone_uv: float, hum_uv: float,
                     seconds: float = 30.0, seed: int = 0, mains_hz: float = 50.3):
    """Rest signal of known in-band (20-450 Hz) RMS ``tone_uv`` plus hum, ``(n,)`` µV."""
    rng = np.random.default_rng(seed)
    n = int(seconds * fs_hz)
    w = rng.standard_normal(n)
    if family == "ar":
        x = signal.lfilter([1.0], [1.0, -0.9, 0.2], w)
    elif family == "peaked":
        r, f0 = 0.9, 150.0
        x = signal.lfilter([1.0], [1.0, -2 * r * np.cos(2 * np.pi * f0 / fs_hz), r * r], w)
    else:
        x = w
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(n, 1.0 / fs_hz)
    spec[(f < 20.0) | (f > 450.0)] = 0.0
    x = np.fft.irfft(spec, n)
    x *= tone_uv / np.sqrt(np.mean(x * x))
    t = np.arange(n) / fs_hz
    hum = hum_uv * (np.sin(2 * np.pi * mains_hz * t + 0.3)
                    + 0.4 * np.sin(2 * np.pi * 3 * mains_hz * t + 1.1))
    return x + hum


def simulated_rest(fs_hz: float, tone_uv: float, hum_uv: float, seconds: float = 30.0,
                   seed: int = 0):
    """The simulator's rest scenario scaled to ``tone_uv``: ``(samples (n,), truth µV)``."""
    from emgfeedback.acquisition.simulator import Simulator

    sim = Simulator("rest", 1, fs_hz, seed=seed, board="uv", hum_uv=hum_uv, noise_uv=0.0,
                    wander_uv=0.0)
    x = sim.generate_uv(int(seconds * fs_hz))[:, 0]
    truth = float(sim.truth.tone_uv[0])
    # The rest tone is a per-channel constant: scale signal (not hum) by changing the draw.
    hum_free = Simulator("rest", 1, fs_hz, seed=seed, board="uv", hum_uv=0.0, noise_uv=0.0,
                         wander_uv=0.0).generate_uv(int(seconds * fs_hz))[:, 0]
    hum = x - hum_free
    return hum_free * (tone_uv / truth) + hum, tone_uv


def measure(x_uv, fs_hz: float) -> float:
    """Resting tone as ``analyze`` reports it."""
    from emgfeedback.analysis.summary import analyse

    return float(analyse(np.asarray(x_uv)[:, None], fs_hz, ["ch"],
                         mains_hz=50.0)["channels"][0]["resting_tone_uv"])


def run_grid(families=FAMILIES, seconds: float = 30.0) -> list[dict]:
    """Signed error in % of the truth for every cell of the grid."""
    rows = []
    for family in families:
        for fs in RATES_HZ:
            for tone in TONES_UV:
                for hum in HUMS_UV:
                    if family == "sim":
                        x, truth = simulated_rest(fs, tone, hum, seconds)
                    else:
                        x, truth = independent_rest(family, fs, tone, hum, seconds), tone
                    got = measure(x, fs)
                    rows.append({"family": family, "fs_hz": fs, "tone_uv": tone, "hum_uv": hum,
                                 "measured_uv": got, "error_pct": 100.0 * (got / truth - 1)})
    return rows


def main(argv=None) -> int:
    """Print the bias table (or JSON)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args(argv)
    rows = run_grid(seconds=args.seconds)
    if args.json:
        json.dump(rows, sys.stdout, indent=1)
        print()
        return 0
    print(f"{'family':<8}{'fs':>6}  error % per tone (µV) x hum (µV)")
    header = "".join(f"{f'{t:g}/{h:g}':>8}" for t in TONES_UV for h in HUMS_UV)
    print(f"{'':<14}  {header}")
    for family in FAMILIES:
        for fs in RATES_HZ:
            cells = [r for r in rows if r["family"] == family and r["fs_hz"] == fs]
            print(f"{family:<8}{fs:>6.0f}  " + "".join(f"{r['error_pct']:+8.2f}" for r in cells))
    worst = max(rows, key=lambda r: abs(r["error_pct"]))
    print(f"worst: {worst['error_pct']:+.2f} % ({worst['family']}, {worst['fs_hz']:g} Hz, "
          f"tone {worst['tone_uv']:g} µV, hum {worst['hum_uv']:g} µV)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
