"""Benchmark of the Numba pipeline against the same chain built from SciPy calls.

Shared by ``emgfeedback bench`` and ``benchmarks/bench_pipeline.py``. Measures, in one run:

* offline throughput on ``n_channels`` x ``minutes`` of signal (Msamples/s, counting
  samples x channels), one call each;
* per-block cost of streaming ``block`` samples at a time (µs per call, median and p99);
* the largest absolute difference between the two outputs.

The SciPy chain is what one would write without this package: ``sosfilt`` per stage with
carried ``zi`` (band-pass, high-pass, notches, linear-envelope low-pass), ``np.abs`` for the
rectification and a cumulative-sum moving mean for the RMS envelope.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import numpy as np
from scipy import signal

from emgfeedback.dsp.filters import bandpass_sos, highpass_sos, notch_sos
from emgfeedback.dsp.pipeline import Pipeline, PipelineConfig, design


class ScipyChain:
    """Streaming reference chain from SciPy/NumPy calls, state carried between chunks.

    Parameters
    ----------
    cfg : PipelineConfig
    n_channels : int
    """

    def __init__(self, cfg: PipelineConfig, n_channels: int):
        self.cfg = cfg
        stages = [bandpass_sos(cfg.fs_hz, cfg.band_hz[0], cfg.band_hz[1], cfg.band_order)]
        if cfg.highpass_hz is not None:
            stages.append(highpass_sos(cfg.fs_hz, cfg.highpass_hz, cfg.highpass_order))
        if cfg.notch_hz is not None:
            stages.append(notch_sos(cfg.fs_hz, cfg.notch_hz, cfg.notch_q, cfg.notch_harmonics))
        d = design(cfg)
        self.stages = stages
        self.zi = [np.zeros((s.shape[0], 2, n_channels)) for s in stages]
        self.env_sos = d.env_sos
        self.env_zi = np.zeros((d.env_sos.shape[0], 2, n_channels))
        self.window = d.window
        self.tail = np.zeros((d.window, n_channels))

    def process(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Filter the next chunk; returns (filtered, envelope) like :meth:`Pipeline.process`."""
        y = x
        for i, sos in enumerate(self.stages):
            y, self.zi[i] = signal.sosfilt(sos, y, axis=0, zi=self.zi[i])
        if self.window:
            squares = np.vstack([self.tail, y * y])
            csum = np.cumsum(squares, axis=0)
            sums = csum[self.window :] - csum[: -self.window]
            env = np.sqrt(np.maximum(sums, 0.0) / self.window)
            self.tail = squares[-self.window :]
        else:
            env, self.env_zi = signal.sosfilt(self.env_sos, np.abs(y), axis=0, zi=self.env_zi)
        return y, env


def synthetic_emg(n_samples: int, n_channels: int, fs_hz: float, seed: int = 0) -> np.ndarray:
    """Plausible raw sEMG in µV: bursts of band-limited noise, mains hum, baseline drift."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples) / fs_hz
    noise = rng.standard_normal((n_samples, n_channels))
    # 2-s contraction cycles with a different phase per channel.
    phase = rng.uniform(0, 2 * np.pi, n_channels)
    gain = 5.0 + 100.0 * (np.sin(2 * np.pi * 0.5 * t[:, None] + phase) > 0.3)
    hum = 20.0 * np.sin(2 * np.pi * 50.0 * t)[:, None]
    drift = 200.0 * np.sin(2 * np.pi * 0.1 * t)[:, None]
    return noise * gain + hum + drift


@dataclass
class BenchResult:
    """Figures of one benchmark run (see :func:`run_benchmark`)."""

    n_channels: int
    minutes: float
    fs_hz: float
    block: int
    n_sections: int
    numba_msps: float
    scipy_msps: float
    block_numba_us: float
    block_numba_p99_us: float
    block_scipy_us: float
    block_scipy_p99_us: float
    max_abs_diff_filtered: float
    max_abs_diff_envelope: float
    cold_start_s: float

    def as_dict(self) -> dict:
        """Nested dict for ``--json``."""
        return {
            "config": {
                "n_channels": self.n_channels,
                "minutes": self.minutes,
                "fs_hz": self.fs_hz,
                "block_samples": self.block,
                "n_sections": self.n_sections,
            },
            "offline": {
                "numba_msps": self.numba_msps,
                "scipy_msps": self.scipy_msps,
                "speedup": self.numba_msps / self.scipy_msps,
            },
            "block": {
                "numba_us": self.block_numba_us,
                "numba_p99_us": self.block_numba_p99_us,
                "scipy_us": self.block_scipy_us,
                "scipy_p99_us": self.block_scipy_p99_us,
                "speedup": self.block_scipy_us / self.block_numba_us,
            },
            "max_abs_diff": max(self.max_abs_diff_filtered, self.max_abs_diff_envelope),
            "max_abs_diff_filtered": self.max_abs_diff_filtered,
            "max_abs_diff_envelope": self.max_abs_diff_envelope,
            "kernel_load_s": self.cold_start_s,
        }

    def table(self) -> str:
        """Readable table."""
        d = self.as_dict()
        off, blk = d["offline"], d["block"]
        rows = [
            f"pipeline benchmark: {self.n_channels} channels, {self.fs_hz:g} Hz, "
            f"{self.n_sections} filter sections + envelope",
            "",
            f"{'':34}{'numba':>12}{'scipy':>12}{'ratio':>10}",
            f"{f'offline {self.minutes:g} min (Msamples/s)':34}"
            f"{off['numba_msps']:12.1f}{off['scipy_msps']:12.1f}{off['speedup']:9.1f}x",
            f"{f'block of {self.block} (µs, median)':34}"
            f"{blk['numba_us']:12.2f}{blk['scipy_us']:12.2f}{blk['speedup']:9.1f}x",
            f"{f'block of {self.block} (µs, p99)':34}"
            f"{blk['numba_p99_us']:12.2f}{blk['scipy_p99_us']:12.2f}",
            "",
            f"max |numba - scipy|: filtered {self.max_abs_diff_filtered:.3g} µV, "
            f"envelope {self.max_abs_diff_envelope:.3g} µV",
            f"kernel compile/cache load: {self.cold_start_s:.2f} s",
        ]
        return "\n".join(rows)


def _progress(message: str, enabled: bool) -> None:
    if enabled:
        print(message, file=sys.stderr, flush=True)


def _best_time(func, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = func()
        best = min(best, time.perf_counter() - start)
    return best, out


def _block_times_us(process, x: np.ndarray, block: int) -> tuple[np.ndarray, list]:
    times = np.empty(x.shape[0] // block)
    outs = []
    clock = time.perf_counter_ns
    for i in range(times.size):
        chunk = x[i * block : (i + 1) * block]
        start = clock()
        out = process(chunk)
        times[i] = (clock() - start) / 1000.0
        outs.append(out)
    return times, outs


def run_benchmark(
    minutes: float = 10.0,
    n_channels: int = 8,
    block: int = 16,
    n_blocks: int = 4000,
    cfg: PipelineConfig | None = None,
    repeats: int = 3,
    progress: bool = True,
) -> BenchResult:
    """Run the benchmark.

    Parameters
    ----------
    minutes : float
        Length of the offline signal, minutes.
    n_channels : int
        Channels.
    block : int
        Samples per streaming block.
    n_blocks : int
        Blocks timed in the streaming part.
    cfg : PipelineConfig, optional
        Defaults to ``PipelineConfig(fs_hz=2000.0)``.
    repeats : int
        Offline runs per implementation; the fastest counts.
    progress : bool
        Print progress on stderr.

    Returns
    -------
    BenchResult
    """
    cfg = cfg or PipelineConfig(fs_hz=2000.0)
    n = max(block, int(round(minutes * 60.0 * cfg.fs_hz)))
    _progress(f"bench: generating {minutes:g} min x {n_channels} ch of synthetic EMG", progress)
    x = synthetic_emg(n, n_channels, cfg.fs_hz)

    start = time.perf_counter()
    Pipeline(cfg, n_channels).process(x[:block])  # compile or load the cached kernels
    cold = time.perf_counter() - start

    _progress(f"bench: offline numba ({repeats} runs)", progress)
    t_numba, (y_n, e_n) = _best_time(lambda: Pipeline(cfg, n_channels).process(x), repeats)
    _progress(f"bench: offline scipy ({repeats} runs)", progress)
    t_scipy, (y_s, e_s) = _best_time(lambda: ScipyChain(cfg, n_channels).process(x), repeats)
    diff_y = float(np.max(np.abs(y_n - y_s)))
    diff_e = float(np.max(np.abs(e_n - e_s)))
    del y_n, e_n, y_s, e_s

    _progress(f"bench: {n_blocks} blocks of {block} samples, numba and scipy", progress)
    xb = x[: n_blocks * block]
    t_bn, out_n = _block_times_us(Pipeline(cfg, n_channels).process, xb, block)
    t_bs, out_s = _block_times_us(ScipyChain(cfg, n_channels).process, xb, block)
    for a, b in zip(out_n, out_s, strict=True):
        diff_y = max(diff_y, float(np.max(np.abs(a[0] - b[0]))))
        diff_e = max(diff_e, float(np.max(np.abs(a[1] - b[1]))))

    total = n * n_channels
    return BenchResult(
        n_channels=n_channels,
        minutes=minutes,
        fs_hz=cfg.fs_hz,
        block=block,
        n_sections=design(cfg).sos.shape[0],
        numba_msps=total / t_numba / 1e6,
        scipy_msps=total / t_scipy / 1e6,
        block_numba_us=float(np.median(t_bn)),
        block_numba_p99_us=float(np.percentile(t_bn, 99)),
        block_scipy_us=float(np.median(t_bs)),
        block_scipy_p99_us=float(np.percentile(t_bs, 99)),
        max_abs_diff_filtered=diff_y,
        max_abs_diff_envelope=diff_e,
        cold_start_s=cold,
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``benchmarks/bench_pipeline.py`` (same options as ``emgfeedback bench``)."""
    import argparse

    from emgfeedback.commands.bench import add_arguments
    from emgfeedback.errors import EmgFeedbackError

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_from_args(args)
    except EmgFeedbackError as exc:
        print(f"bench_pipeline: error: {exc}", file=sys.stderr)
        return 2


def run_from_args(args) -> int:
    """Run with parsed options and print the table or JSON; returns the exit status."""
    import json

    from emgfeedback.errors import ConfigError

    if not args.minutes > 0:
        raise ConfigError(f"--minutes must be > 0, got {args.minutes}")
    if args.channels < 1 or args.block < 1 or args.repeats < 1:
        raise ConfigError("--channels, --block and --repeats must be >= 1")
    result = run_benchmark(
        minutes=args.minutes,
        n_channels=args.channels,
        block=args.block,
        repeats=args.repeats,
        progress=True,
    )
    if args.json:
        print(json.dumps(result.as_dict(), indent=None))
    else:
        print(result.table())
    return 0
