"""Onset-detection accuracy against the simulator's exact ground truth.

Recordings come from the project's simulator (``emgfeedback.acquisition.simulator``) in µV
at the electrode (no ADC quantisation) with mains hum and baseline wander, filtered by the
project's pipeline (20-450 Hz band-pass, mains notch). Conditions: scenarios ``drill``
(8 reps, 4 muscles, bursts ~3 s) and ``asymmetry`` (8 reps, 2 pairs, bursts ~2.5 s);
raised-cosine rises of 10, 40 and 100 ms (±30 % jitter: the burst *shape*); nominal SNR
3, 6, 10 and 20 dB (20·log10(activation RMS / background RMS); per-burst factors of the
scenarios spread individual bursts a few dB around it); 1 and 2 kHz.

Every detector gets the same band-passed signal and the same rest (the scenario's first
3.5 s, before any burst). A detected onset matches a true one when within ±250 ms
(one-to-one, nearest first); errors are detected minus true onset in ms.

Reference detectors, used when installed (``pip install neurokit2 biosppy peakutils``):
NeuroKit2 ``emg_activation`` (threshold method and defaults, on ``emg_amplitude``) and BioSPPy
``hodges_bui_onset_detector`` (size 50 ms in samples, threshold 3) and
``bonato_onset_detector`` (threshold 10, active state 30 ms, fail size 5, 1 sample above).
BioSPPy returns onsets and offsets merged (sorted together): every other index is taken
as an onset, as BioSPPy's own examples do.

Run::

    python benchmarks/bench_onsets.py            # full table (a few minutes on 2 cores)
    python benchmarks/bench_onsets.py --quick    # 2 kHz, drill, 40 ms rises only
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
import warnings

import numpy as np

from emgfeedback.acquisition.simulator import Simulator
from emgfeedback.analysis.offline import DETECTORS, detect_bursts
from emgfeedback.analysis.rest import rest_from_spans
from emgfeedback.dsp import PipelineConfig, process_offline

MATCH_S = 0.25
REST_S = 3.5


def _nk():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import neurokit2 as nk
        return nk
    except Exception:  # noqa: BLE001 - any import failure means "not available"
        return None


def _biosppy_emg():
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            import peakutils  # noqa: F401  (BioSPPy 2.2.4 imports it lazily)
            from biosppy.signals import emg
        return emg
    except Exception:  # noqa: BLE001
        return None


def reference_detectors():
    """Available reference detectors: name -> fn(x_1d, fs, rest_slice) -> onsets."""
    refs = {}
    missing = []
    nk = _nk()
    if nk is not None:
        def neurokit(x, fs, rest):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                amplitude = nk.emg_amplitude(x)
                _, info = nk.emg_activation(emg_amplitude=amplitude, emg_cleaned=x,
                                            sampling_rate=int(fs), method="threshold")
            return np.asarray(info["EMG_Onsets"], dtype=np.int64)
        refs["neurokit2"] = neurokit
    else:
        missing.append("neurokit2")
    emg = _biosppy_emg()
    if emg is not None:
        def bsp_hodges_bui(x, fs, rest):
            on = emg.hodges_bui_onset_detector(signal=x, rest=x[rest], sampling_rate=fs,
                                               size=int(0.05 * fs), threshold=3)["onsets"]
            return np.asarray(on[::2], dtype=np.int64)

        def bsp_bonato(x, fs, rest):
            on = emg.bonato_onset_detector(signal=x, rest=x[rest], sampling_rate=fs,
                                           threshold=10, active_state_duration=int(0.015 * fs),
                                           samples_above_fail=1, fail_size=5)["onsets"]
            return np.asarray(on[::2], dtype=np.int64)
        refs["biosppy_hodges_bui"] = bsp_hodges_bui
        refs["biosppy_bonato"] = bsp_bonato
    else:
        missing.append("biosppy (needs peakutils)")
    return refs, missing


def match(true_onsets, detected, fs_hz):
    """One-to-one nearest matching within ±MATCH_S; returns (tp, errors_ms)."""
    tol = MATCH_S * fs_hz
    pairs = sorted((abs(int(d) - int(t)), i, j) for i, t in enumerate(true_onsets)
                   for j, d in enumerate(detected) if abs(int(d) - int(t)) <= tol)
    used_t, used_d, errs = set(), set(), []
    for _, i, j in pairs:
        if i in used_t or j in used_d:
            continue
        used_t.add(i)
        used_d.add(j)
        errs.append((int(detected[j]) - int(true_onsets[i])) * 1000.0 / fs_hz)
    return len(errs), errs


def conditions(quick: bool, snrs):
    rates = (2000.0,) if quick else (1000.0, 2000.0)
    scenarios = ("drill",) if quick else ("drill", "asymmetry")
    ramps = (40.0,) if quick else (10.0, 40.0, 100.0)
    for snr in snrs:
        for fs in rates:
            for scen in scenarios:
                for ramp in ramps:
                    yield snr, fs, scen, ramp


def run(quick: bool, snrs, seed: int, out=sys.stdout, references: bool = True,
        detectors=DETECTORS):
    refs, missing = reference_detectors() if references else ({}, ["(not requested)"])
    names = list(detectors) + list(refs)
    stats = {}
    timing = {n: 0.0 for n in names}
    for snr, fs, scen, ramp in conditions(quick, snrs):
        sim = Simulator(scen, 4, fs, seed=seed + int(ramp) + int(fs), board="uv",
                        mains_hz=50.0, snr_db=snr, ramp_ms=ramp)
        n = sim.truth.duration_samples
        raw = sim.generate_uv(n)
        filtered, _ = process_offline(raw, PipelineConfig(fs_hz=fs))
        rest = slice(0, int(REST_S * fs))
        mask = rest_from_spans(n, 4, [(0, rest.stop)])
        for name in names:
            t0 = time.perf_counter()
            if name in detectors:
                onsets = [b[:, 0] for b in detect_bursts(filtered, fs, name, rest=mask)]
            else:
                onsets = [refs[name](filtered[:, c], fs, rest) for c in range(4)]
            timing[name] += time.perf_counter() - t0
            s = stats.setdefault((snr, name), {"tp": 0, "det": 0, "true": 0, "err": []})
            by_rise = stats.setdefault((snr, name, ramp), [])
            for c in range(4):
                truth = [on for on, _ in sim.truth.activations[c]]
                tp, errs = match(truth, onsets[c], fs)
                s["tp"] += tp
                s["det"] += len(onsets[c])
                s["true"] += len(truth)
                s["err"] += errs
                by_rise += errs
    print("| SNR dB | detector | bias ms | SD ms | median abs ms | precision | recall | F1 |",
          file=out)
    print("|---:|---|---:|---:|---:|---:|---:|---:|", file=out)
    for snr in snrs:
        for name in names:
            s = stats[(snr, name)]
            e = np.array(s["err"])
            p = s["tp"] / s["det"] if s["det"] else 0.0
            r = s["tp"] / s["true"] if s["true"] else 0.0
            f1 = 2 * p * r / (p + r) if p + r else 0.0
            timing_cells = (f"{np.mean(e):+.1f} | {np.std(e):.1f} | {np.median(np.abs(e)):.1f}"
                            if e.size else "– | – | –")  # nothing matched
            print(f"| {snr:g} | {name} | {timing_cells} | {p:.3f} | {r:.3f} | {f1:.3f} |",
                  file=out)
    print(file=out)
    # The onset error depends on the shape of the rise: per nominal rise length.
    ramps = sorted({r for *_, r in conditions(quick, snrs)})
    print("| SNR dB | detector | " + " | ".join(f"{r:g} ms rise: median abs / bias ms"
                                                for r in ramps) + " |", file=out)
    print("|---:|---|" + "---:|" * len(ramps), file=out)
    for snr in snrs:
        for name in names:
            cells = []
            for r in ramps:
                e = np.array(stats[(snr, name, r)])
                cells.append(f"{np.median(np.abs(e)):.1f} / {np.mean(e):+.1f}" if e.size
                             else "–")
            print(f"| {snr:g} | {name} | " + " | ".join(cells) + " |", file=out)
    print(file=out)
    n_cond = len(list(conditions(quick, snrs)))
    print(f"{n_cond} recordings x 4 channels; matching window ±{MATCH_S * 1000:.0f} ms; "
          f"rest = first {REST_S} s", file=out)
    print("time per detector (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timing.items()),
          file=out)
    if missing:
        print(f"reference detectors not installed (skipped): {', '.join(missing)}; "
              "pip install neurokit2 biosppy peakutils", file=out)
    return stats


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 kHz, drill, 40 ms rises only")
    ap.add_argument("--snr", type=float, nargs="+", default=[3.0, 6.0, 10.0, 20.0])
    ap.add_argument("--seed", type=int, default=0,
                    help="base seed of the recordings (the detector defaults were tuned on "
                         "--seed 5000; 0 and 1000 are held out)")
    ap.add_argument("--detectors", nargs="+", default=list(DETECTORS), choices=DETECTORS,
                    help="our detectors to run (default: all)")
    ap.add_argument("--no-reference", action="store_true",
                    help="skip NeuroKit2/BioSPPy (NeuroKit2 takes minutes)")
    args = ap.parse_args(argv)
    run(args.quick, args.snr, args.seed, references=not args.no_reference,
        detectors=tuple(args.detectors))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
