"""Benchmark of the Numba pipeline against the same chain built from SciPy calls.

Shared by ``emgfeedback bench`` and ``benchmarks/bench_pipeline.py`` (which also adds the
engine's per-chunk cost, :mod:`emgfeedback.benchmarking.engine`). Measures, in one run:

* offline throughput on ``n_channels`` x ``minutes`` of signal (Msamples/s, counting
  samples x channels), one call each, best of ``repeats``;
* per-block cost of streaming ``block`` samples at a time (µs per call, median and p99);
* both also in this thread's CPU time, which is steadier on a shared machine;
* the largest absolute difference between the two outputs;
* the same (shorter offline signal) at 1, 2, 4, 8 and 16 channels (:func:`run_sweep`).

The SciPy chain is what one would write without this package, on the same filters
(:func:`emgfeedback.dsp.pipeline.design_stages`): ``sosfilt`` with carried ``zi`` per stage
(band-pass, high-pass, notches; linear-envelope low-pass), ``np.abs`` for the rectification and
a cumulative-sum moving mean for the RMS envelope. Offline it is run twice, once per stage and
once over all sections stacked into one ``sosfilt`` call, and the faster counts (fair to SciPy:
the stacked call saves intermediate arrays). Blocks use the per-stage chain, as a streaming
user would write it; the stacked variant's block time is reported alongside.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import numpy as np
from scipy import signal

from emgfeedback.dsp.pipeline import Pipeline, PipelineConfig, design, design_stages


class ScipyChain:
    """Streaming reference chain from SciPy/NumPy calls, state carried between chunks.

    Parameters
    ----------
    cfg : PipelineConfig
    n_channels : int
    stacked : bool
        One ``sosfilt`` over all stages' sections stacked into one cascade, instead of one
        ``sosfilt`` per stage (band-pass, high-pass, notches). Same arithmetic, fewer calls
        and intermediate arrays; whichever is faster is the fair offline comparison.
    """

    def __init__(self, cfg: PipelineConfig, n_channels: int, stacked: bool = False):
        self.cfg = cfg
        d = design(cfg)
        stages = [sos for _, sos in design_stages(cfg)]
        self.stages = [d.sos] if stacked else stages
        self.zi = [np.zeros((s.shape[0], 2, n_channels)) for s in self.stages]
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
    """Figures of one benchmark run (see :func:`run_benchmark`).

    Wall-clock figures are the headline (what a user sees); the ``*_cpu_*`` figures are this
    thread's CPU time (``time.thread_time``), which leaves out time the OS gave to other
    processes, so they are the steadier comparison on a loaded machine.
    """

    n_channels: int
    minutes: float
    fs_hz: float
    block: int
    n_sections: int
    numba_msps: float
    scipy_msps: float
    scipy_variant: str
    scipy_per_stage_msps: float
    scipy_stacked_msps: float
    numba_cpu_msps: float
    scipy_cpu_msps: float
    block_numba_us: float
    block_numba_p99_us: float
    block_scipy_us: float
    block_scipy_p99_us: float
    block_scipy_stacked_us: float
    block_numba_cpu_us: float
    block_scipy_cpu_us: float
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
                "scipy_variant": self.scipy_variant,
                "scipy_per_stage_msps": self.scipy_per_stage_msps,
                "scipy_stacked_msps": self.scipy_stacked_msps,
                "numba_cpu_msps": self.numba_cpu_msps,
                "scipy_cpu_msps": self.scipy_cpu_msps,
                "speedup_cpu": self.numba_cpu_msps / self.scipy_cpu_msps,
            },
            "block": {
                "numba_us": self.block_numba_us,
                "numba_p99_us": self.block_numba_p99_us,
                "scipy_us": self.block_scipy_us,
                "scipy_p99_us": self.block_scipy_p99_us,
                "speedup": self.block_scipy_us / self.block_numba_us,
                "scipy_stacked_us": self.block_scipy_stacked_us,
                "numba_cpu_us": self.block_numba_cpu_us,
                "scipy_cpu_us": self.block_scipy_cpu_us,
                "speedup_cpu": self.block_scipy_cpu_us / self.block_numba_cpu_us,
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
            f"{'':36}{'numba':>11}{'scipy':>11}{'ratio':>9}",
            f"{f'offline {self.minutes:g} min (Msamples/s)':36}"
            f"{off['numba_msps']:11.1f}{off['scipy_msps']:11.1f}{off['speedup']:8.1f}x",
            f"{'  same, CPU time':36}"
            f"{off['numba_cpu_msps']:11.1f}{off['scipy_cpu_msps']:11.1f}{off['speedup_cpu']:8.1f}x",
            f"{f'block of {self.block} (µs, median)':36}"
            f"{blk['numba_us']:11.2f}{blk['scipy_us']:11.2f}{blk['speedup']:8.1f}x",
            f"{f'block of {self.block} (µs, p99)':36}"
            f"{blk['numba_p99_us']:11.2f}{blk['scipy_p99_us']:11.2f}",
            f"{'  CPU time per block (µs, mean)':36}"
            f"{blk['numba_cpu_us']:11.2f}{blk['scipy_cpu_us']:11.2f}{blk['speedup_cpu']:8.1f}x",
            "",
            f"scipy offline: {self.scipy_variant} sosfilt was faster (per stage "
            f"{self.scipy_per_stage_msps:.1f}, stacked {self.scipy_stacked_msps:.1f} Msamples/s); "
            f"blocks: per stage with carried zi (stacked: {self.block_scipy_stacked_us:.2f} µs)",
            f"max |numba - scipy|: filtered {self.max_abs_diff_filtered:.3g} µV, "
            f"envelope {self.max_abs_diff_envelope:.3g} µV",
            f"kernel compile/cache load: {self.cold_start_s:.2f} s",
        ]
        return "\n".join(rows)


def _progress(message: str, enabled: bool) -> None:
    if enabled:
        print(message, file=sys.stderr, flush=True)


def _best_time(func, repeats: int) -> tuple[float, float, object]:
    """Fastest wall time and fastest CPU time over ``repeats`` calls, and the last output."""
    best, best_cpu, out = float("inf"), float("inf"), None
    for _ in range(repeats):
        out = None  # free the previous output first: same memory conditions for every run
        start, start_cpu = time.perf_counter(), time.thread_time()
        out = func()
        best_cpu = min(best_cpu, time.thread_time() - start_cpu)
        best = min(best, time.perf_counter() - start)
    return best, best_cpu, out


def _block_times_us(process, x: np.ndarray, block: int) -> tuple[np.ndarray, float]:
    """Wall time of each block (µs) and mean CPU time per block (µs).

    Each block's output is dropped before the next call, as a streaming consumer that copies
    what it keeps would do; keeping thousands of outputs alive would instead time fresh,
    cache-cold memory for every block. Correctness is checked in a separate untimed pass.
    """
    times = np.empty(x.shape[0] // block)
    chunks = [x[i * block : (i + 1) * block] for i in range(times.size)]
    clock = time.perf_counter_ns
    start_cpu = time.thread_time_ns()
    for i, chunk in enumerate(chunks):
        start = clock()
        process(chunk)
        times[i] = (clock() - start) / 1000.0
    # Includes the two clock reads per block (~0.1 µs), on both sides alike.
    cpu_us = (time.thread_time_ns() - start_cpu) / 1000.0 / max(1, times.size)
    return times, cpu_us


def _best_block_run(make_process, x: np.ndarray, block: int, repeats: int):
    """The stream pass (fresh state each time) with the lowest median of ``repeats`` passes.

    Like best-of-N offline: a pass that shared the cores with another job's burst says more
    about that job than about the code. Both sides get the same treatment.
    """
    runs = [_block_times_us(make_process(), x, block) for _ in range(repeats)]
    return min(runs, key=lambda run: float(np.median(run[0])))


def _block_diffs(cfg: PipelineConfig, x: np.ndarray, block: int) -> tuple[float, float]:
    """Largest |numba - scipy| over a stream fed block by block to both (filtered, envelope)."""
    ours, theirs = Pipeline(cfg, x.shape[1]), ScipyChain(cfg, x.shape[1])
    diff_y = diff_e = 0.0
    for i in range(x.shape[0] // block):
        chunk = x[i * block : (i + 1) * block]
        (y_n, e_n), (y_s, e_s) = ours.process(chunk), theirs.process(chunk)
        diff_y = max(diff_y, float(np.max(np.abs(y_n - y_s))))
        diff_e = max(diff_e, float(np.max(np.abs(e_n - e_s))))
    return diff_y, diff_e


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
        Offline runs, and block-stream passes, per implementation; the fastest counts.
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
    t_numba, c_numba, (y_n, e_n) = _best_time(lambda: Pipeline(cfg, n_channels).process(x), repeats)
    scipy = {}
    for variant, stacked in (("per-stage", False), ("stacked", True)):
        _progress(f"bench: offline scipy, {variant} sosfilt ({repeats} runs)", progress)
        t, c, (y_s, e_s) = _best_time(
            lambda s=stacked: ScipyChain(cfg, n_channels, stacked=s).process(x), repeats
        )
        scipy[variant] = (t, c)
        diff_y = float(np.max(np.abs(y_n - y_s)))
        diff_e = float(np.max(np.abs(e_n - e_s)))
        del y_s, e_s
    del y_n, e_n
    variant = min(scipy, key=lambda k: scipy[k][0])
    t_scipy = scipy[variant][0]
    c_scipy = min(c for _, c in scipy.values())

    _progress(
        f"bench: {n_blocks} blocks of {block} samples, numba and scipy ({repeats} passes)",
        progress,
    )
    xb = x[: n_blocks * block]
    t_bn, c_bn = _best_block_run(lambda: Pipeline(cfg, n_channels).process, xb, block, repeats)
    t_bs, c_bs = _best_block_run(lambda: ScipyChain(cfg, n_channels).process, xb, block, repeats)
    t_bk, _ = _best_block_run(
        lambda: ScipyChain(cfg, n_channels, stacked=True).process, xb, block, repeats
    )
    block_diff_y, block_diff_e = _block_diffs(cfg, xb, block)
    diff_y, diff_e = max(diff_y, block_diff_y), max(diff_e, block_diff_e)

    total = n * n_channels
    return BenchResult(
        n_channels=n_channels,
        minutes=minutes,
        fs_hz=cfg.fs_hz,
        block=block,
        n_sections=design(cfg).sos.shape[0],
        numba_msps=total / t_numba / 1e6,
        scipy_msps=total / t_scipy / 1e6,
        scipy_variant=variant,
        scipy_per_stage_msps=total / scipy["per-stage"][0] / 1e6,
        scipy_stacked_msps=total / scipy["stacked"][0] / 1e6,
        numba_cpu_msps=total / c_numba / 1e6,
        scipy_cpu_msps=total / c_scipy / 1e6,
        block_numba_us=float(np.median(t_bn)),
        block_numba_p99_us=float(np.percentile(t_bn, 99)),
        block_scipy_us=float(np.median(t_bs)),
        block_scipy_p99_us=float(np.percentile(t_bs, 99)),
        block_scipy_stacked_us=float(np.median(t_bk)),
        block_numba_cpu_us=c_bn,
        block_scipy_cpu_us=c_bs,
        max_abs_diff_filtered=diff_y,
        max_abs_diff_envelope=diff_e,
        cold_start_s=cold,
    )


#: Channel counts every run also reports (``by_channels`` in the JSON), as issue 16 asks.
SWEEP_CHANNELS = (1, 2, 4, 8, 16)
#: Longest offline signal of the sweep, minutes (the headline count uses ``--minutes``).
SWEEP_MAX_MINUTES = 2.0


def sweep_entry(result: BenchResult) -> dict:
    """The per-channel-count summary of one run (``by_channels[str(n)]`` in the JSON)."""
    from emgfeedback.dsp.kernels_fast import SPECIALISED_CHANNEL_COUNTS

    d = result.as_dict()
    off, blk = d["offline"], d["block"]
    return {
        "kernel": ("specialised" if result.n_channels in SPECIALISED_CHANNEL_COUNTS
                   else "generic"),
        "minutes": result.minutes,
        "offline": {k: off[k] for k in ("numba_msps", "scipy_msps", "speedup", "speedup_cpu")},
        "block": {k: blk[k] for k in ("numba_us", "scipy_us", "speedup", "speedup_cpu")},
        "max_abs_diff": d["max_abs_diff"],
        "max_abs_diff_filtered": d["max_abs_diff_filtered"],
        "kernel_load_s": d["kernel_load_s"],
    }


def run_sweep(headline: BenchResult, minutes: float, block: int, cfg: PipelineConfig,
              repeats: int, counts=SWEEP_CHANNELS, progress: bool = True) -> dict:
    """:func:`run_benchmark` at each channel count of ``counts`` and the headline run's
    count (which reuses ``headline``); offline signals of
    ``min(minutes, SWEEP_MAX_MINUTES)`` minutes.

    Returns
    -------
    dict
        ``{str(n_channels): sweep_entry(...)}``.
    """
    out = {}
    for n in sorted({*counts, headline.n_channels}):
        if n == headline.n_channels:
            out[str(n)] = sweep_entry(headline)
            continue
        _progress(f"bench: sweep, {n} channel(s)", progress)
        result = run_benchmark(minutes=min(minutes, SWEEP_MAX_MINUTES), n_channels=n,
                               block=block, cfg=cfg, repeats=repeats, progress=False)
        out[str(n)] = sweep_entry(result)
    return out


def sweep_table(sweep: dict) -> str:
    """Readable lines for :func:`run_sweep`."""
    rows = ["", f"{'channels':>8}{'kernel':>13}{'offline x':>11}{'block x':>9}"
                f"{'block µs':>10}{'max diff':>10}{'load s':>8}"]
    for n, e in sweep.items():
        rows.append(f"{n:>8}{e['kernel']:>13}{e['offline']['speedup']:10.1f}x"
                    f"{e['block']['speedup']:8.1f}x{e['block']['numba_us']:10.2f}"
                    f"{e['max_abs_diff']:10.2g}{e['kernel_load_s']:8.2f}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``benchmarks/bench_pipeline.py`` (same options as ``emgfeedback bench``)."""
    import argparse

    from emgfeedback.benchmarking.options import add_arguments
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
    cfg = PipelineConfig(fs_hz=2000.0, notch_max_hz=getattr(args, "notch_max_hz", None))
    result = run_benchmark(
        minutes=args.minutes,
        n_channels=args.channels,
        block=args.block,
        cfg=cfg,
        repeats=args.repeats,
        progress=True,
    )
    report = result.as_dict()
    report["by_channels"] = run_sweep(result, args.minutes, args.block, cfg, args.repeats)
    engine_minutes = getattr(args, "engine_minutes", 0.0) or 0.0
    if engine_minutes < 0:
        raise ConfigError(f"--engine-minutes must be >= 0, got {engine_minutes}")
    if engine_minutes > 0:
        from emgfeedback.benchmarking.engine import engine_chunk_cost

        _progress(f"bench: engine, {engine_minutes:g} min of 8 ch at 2 kHz in chunks of "
                  f"{args.block} (detector, protocol, quality, recorder)", True)
        report["engine"] = engine_chunk_cost(minutes=engine_minutes, n_channels=8,
                                             fs_hz=2000.0, chunk_samples=args.block)
    if args.json:
        print(json.dumps(report, indent=None))
        return 0
    print(result.table())
    print(sweep_table(report["by_channels"]))
    if "engine" in report:
        print(engine_table(report["engine"]))
    return 0


def engine_table(e: dict) -> str:
    """Readable lines for :func:`emgfeedback.benchmarking.engine.engine_chunk_cost`."""
    return "\n".join([
        "",
        f"engine per chunk: {e['n_channels']} ch, {e['fs_hz']:g} Hz, {e['chunk_samples']} "
        f"samples ({e['chunk_interval_us'] / 1000:g} ms apart), {e['minutes']:g} min, "
        f"protocol {e['protocol']}, quality and recorder on",
        f"  wall µs  p50 {e['chunk_us_p50']:8.1f}  p99.9 {e['chunk_us_p999']:8.1f}  "
        f"max {e['chunk_us_max']:8.1f}   (target p99.9 <= 1000, max <= 5000)",
        f"  CPU µs   p50 {e['cpu_us_p50']:8.1f}  p99.9 {e['cpu_us_p999']:8.1f}  "
        f"max {e['cpu_us_max']:8.1f}",
        f"  chunks over 1 ms: {e['over_1ms']} of {e['chunks']}; over 5 ms: {e['over_5ms']}; "
        f"load average {e['load_avg_1min']:.1f}",
    ])
