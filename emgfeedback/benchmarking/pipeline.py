"""Benchmark of the Numba pipeline against the same chain built from SciPy calls.

Shared by ``emgfeedback bench`` and ``benchmarks/bench_pipeline.py`` (which also adds the
engine's per-chunk cost, :mod:`emgfeedback.benchmarking.engine`). Measures, in one run:

* offline throughput on ``n_channels`` x ``minutes`` of signal (Msamples/s, counting
  samples x channels), best of ``repeats``, two ways (see below);
* per-block cost of streaming ``block`` samples at a time (µs per call, median and p99);
* both also in this thread's CPU time, which is steadier on a shared machine;
* the largest absolute difference between the two outputs;
* the same (shorter offline signal) at 1, 2, 4, 8 and 16 channels (:func:`run_sweep`).

The SciPy chain is what one would write without this package, on the same filters
(:func:`emgfeedback.dsp.pipeline.design_stages`): ``sosfilt`` with carried ``zi`` per stage
(band-pass, high-pass, notches; linear-envelope low-pass), ``np.abs`` for the rectification and
a cumulative-sum moving mean for the RMS envelope.

What each side delivers, and so what is compared:

``offline`` (headline)
    The recording reaches the caller chunk by chunk (a consumer that reduces or copies what
    it keeps: statistics, a file, a plot). Ours: :meth:`Pipeline.iter_chunks` (reused
    buffers). SciPy: the fastest of six ways, ``sosfilt`` per stage or over all sections
    stacked, on the whole array or in chunks (ours, or :data:`SCIPY_CHUNK_FACTOR` times
    longer) with carried ``zi``.
``offline_full``
    The caller gets full-length ``(filtered, envelope)`` arrays, newly allocated on both
    sides. Ours: :func:`process_offline`. SciPy: the faster of per stage and stacked on the
    whole array. Fresh memory's page faults count on both sides.
``block`` (headline)
    16-sample blocks to a consumer that copies what it keeps: ours into
    :meth:`Pipeline.buffers` (``process(x, out=...)``), SciPy per stage with carried ``zi``
    (``sosfilt`` has no ``out``). ``numba_fresh_us`` is ours with new arrays per block, as
    the engine calls it.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import numpy as np
from scipy import signal

from emgfeedback.dsp.pipeline import (
    Pipeline,
    PipelineConfig,
    chunk_rows,
    design,
    design_stages,
    process_offline,
)


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
    processes, so they are the steadier comparison on a loaded machine. ``full_*`` is the
    full-length-arrays comparison (``offline_full`` in the JSON).
    """

    n_channels: int
    minutes: float
    fs_hz: float
    block: int
    n_sections: int
    chunk_samples: int
    numba_msps: float
    scipy_msps: float
    scipy_variant: str
    scipy_chunked: bool
    scipy_chunk_samples: int
    scipy_per_stage_msps: float
    scipy_stacked_msps: float
    numba_cpu_msps: float
    scipy_cpu_msps: float
    full_numba_msps: float
    full_scipy_msps: float
    full_numba_cpu_msps: float
    full_scipy_cpu_msps: float
    block_numba_us: float
    block_numba_p99_us: float
    block_numba_fresh_us: float
    block_scipy_us: float
    block_scipy_p99_us: float
    block_scipy_stacked_us: float
    block_numba_cpu_us: float
    block_numba_fresh_cpu_us: float
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
                "chunk_samples": self.chunk_samples,
            },
            "offline": {
                "numba_msps": self.numba_msps,
                "scipy_msps": self.scipy_msps,
                "speedup": self.numba_msps / self.scipy_msps,
                "scipy_variant": self.scipy_variant,
                "scipy_chunked": self.scipy_chunked,
                "scipy_chunk_samples": self.scipy_chunk_samples,
                "scipy_per_stage_msps": self.scipy_per_stage_msps,
                "scipy_stacked_msps": self.scipy_stacked_msps,
                "numba_cpu_msps": self.numba_cpu_msps,
                "scipy_cpu_msps": self.scipy_cpu_msps,
                "speedup_cpu": self.numba_cpu_msps / self.scipy_cpu_msps,
            },
            "offline_full": {
                "numba_msps": self.full_numba_msps,
                "scipy_msps": self.full_scipy_msps,
                "speedup": self.full_numba_msps / self.full_scipy_msps,
                "numba_cpu_msps": self.full_numba_cpu_msps,
                "scipy_cpu_msps": self.full_scipy_cpu_msps,
                "speedup_cpu": self.full_numba_cpu_msps / self.full_scipy_cpu_msps,
            },
            "block": {
                "numba_us": self.block_numba_us,
                "numba_p99_us": self.block_numba_p99_us,
                "scipy_us": self.block_scipy_us,
                "scipy_p99_us": self.block_scipy_p99_us,
                "speedup": self.block_scipy_us / self.block_numba_us,
                "numba_fresh_us": self.block_numba_fresh_us,
                "speedup_fresh": self.block_scipy_us / self.block_numba_fresh_us,
                "scipy_stacked_us": self.block_scipy_stacked_us,
                "speedup_stacked": self.block_scipy_stacked_us / self.block_numba_us,
                "numba_cpu_us": self.block_numba_cpu_us,
                "numba_fresh_cpu_us": self.block_numba_fresh_cpu_us,
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
        off, full, blk = d["offline"], d["offline_full"], d["block"]
        where = (f"in chunks of {self.scipy_chunk_samples}" if self.scipy_chunked
                 else "on the whole array")
        rows = [
            f"pipeline benchmark: {self.n_channels} channels, {self.fs_hz:g} Hz, "
            f"{self.n_sections} filter sections + envelope",
            "",
            f"{'':40}{'numba':>11}{'scipy':>11}{'ratio':>9}",
            f"{f'offline {self.minutes:g} min, chunks (Msamples/s)':40}"
            f"{off['numba_msps']:11.1f}{off['scipy_msps']:11.1f}{off['speedup']:8.1f}x",
            f"{'  same, CPU time':40}"
            f"{off['numba_cpu_msps']:11.1f}{off['scipy_cpu_msps']:11.1f}{off['speedup_cpu']:8.1f}x",
            f"{'offline, full-length arrays':40}"
            f"{full['numba_msps']:11.1f}{full['scipy_msps']:11.1f}{full['speedup']:8.1f}x",
            f"{'  same, CPU time':40}"
            f"{full['numba_cpu_msps']:11.1f}{full['scipy_cpu_msps']:11.1f}"
            f"{full['speedup_cpu']:8.1f}x",
            f"{f'block of {self.block}, out= (µs, median)':40}"
            f"{blk['numba_us']:11.2f}{blk['scipy_us']:11.2f}{blk['speedup']:8.1f}x",
            f"{f'block of {self.block}, new arrays (µs)':40}"
            f"{blk['numba_fresh_us']:11.2f}{blk['scipy_us']:11.2f}{blk['speedup_fresh']:8.1f}x",
            f"{'  against scipy stacked (µs, median)':40}"
            f"{blk['numba_us']:11.2f}{blk['scipy_stacked_us']:11.2f}"
            f"{blk['speedup_stacked']:8.1f}x",
            f"{f'block of {self.block}, out= (µs, p99)':40}"
            f"{blk['numba_p99_us']:11.2f}{blk['scipy_p99_us']:11.2f}",
            f"{'  CPU time per block (µs, mean)':40}"
            f"{blk['numba_cpu_us']:11.2f}{blk['scipy_cpu_us']:11.2f}{blk['speedup_cpu']:8.1f}x",
            "",
            f"offline chunks: {self.chunk_samples} samples; scipy's fastest was "
            f"{self.scipy_variant} sosfilt "
            f"{where} (per stage "
            f"{self.scipy_per_stage_msps:.1f}, stacked {self.scipy_stacked_msps:.1f} Msamples/s);"
            " blocks: per stage with carried zi",
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


def _block_times_us(process, x: np.ndarray, block: int, out=None) -> tuple[np.ndarray, float]:
    """Wall time of each block (µs) and mean CPU time per block (µs).

    Each block's output is dropped (or, with ``out``, overwritten) before the next call, as
    a streaming consumer that copies what it keeps would do; keeping thousands of outputs
    alive would instead time fresh, cache-cold memory for every block. Correctness is
    checked in a separate untimed pass.
    """
    times = np.empty(x.shape[0] // block)
    chunks = [x[i * block : (i + 1) * block] for i in range(times.size)]
    clock = time.perf_counter_ns
    start_cpu = time.thread_time_ns()
    if out is None:
        for i, chunk in enumerate(chunks):
            start = clock()
            process(chunk)
            times[i] = (clock() - start) / 1000.0
    else:
        for i, chunk in enumerate(chunks):
            start = clock()
            process(chunk, out)
            times[i] = (clock() - start) / 1000.0
    # Includes the two clock reads per block (~0.1 µs), on both sides alike.
    cpu_us = (time.thread_time_ns() - start_cpu) / 1000.0 / max(1, times.size)
    return times, cpu_us


def _best_block_run(make_process, x: np.ndarray, block: int, repeats: int):
    """The stream pass (fresh state each time) with the lowest median of ``repeats`` passes.

    ``make_process()`` returns ``(process, out)``. Like best-of-N offline: a pass that
    shared the cores with another job's burst says more about that job than about the code.
    Both sides get the same treatment.
    """
    runs = []
    for _ in range(repeats):
        process, out = make_process()
        runs.append(_block_times_us(process, x, block, out))
    return min(runs, key=lambda run: float(np.median(run[0])))


def _with_buffers(pipe: Pipeline, block: int):
    return pipe.process, pipe.buffers(block)


def _block_diffs(cfg: PipelineConfig, x: np.ndarray, block: int) -> tuple[float, float]:
    """Largest |numba - scipy| over a stream fed block by block to both (filtered, envelope),
    ours into its reused buffers (the headline path) and into new arrays."""
    ours, fresh = Pipeline(cfg, x.shape[1]), Pipeline(cfg, x.shape[1])
    theirs = ScipyChain(cfg, x.shape[1])
    out = ours.buffers(block)
    diff_y = diff_e = 0.0
    for i in range(x.shape[0] // block):
        chunk = x[i * block : (i + 1) * block]
        y_s, e_s = theirs.process(chunk)
        for y_n, e_n in (ours.process(chunk, out), fresh.process(chunk)):
            diff_y = max(diff_y, float(np.max(np.abs(y_n - y_s))))
            diff_e = max(diff_e, float(np.max(np.abs(e_n - e_s))))
    return diff_y, diff_e


def _scipy_chunked(cfg: PipelineConfig, x: np.ndarray, rows: int, stacked: bool) -> None:
    """The SciPy chain over ``x`` in chunks of ``rows`` with carried state (outputs dropped)."""
    chain = ScipyChain(cfg, x.shape[1], stacked=stacked)
    for a in range(0, x.shape[0], rows):
        chain.process(x[a : a + rows])


def _numba_chunked(cfg: PipelineConfig, x: np.ndarray, rows: int) -> None:
    """Our pipeline over ``x`` through :meth:`Pipeline.iter_chunks` (outputs dropped)."""
    for _ in Pipeline(cfg, x.shape[1]).iter_chunks(x, rows):
        pass


def _chunk_diffs(cfg: PipelineConfig, x: np.ndarray, rows: int, y_s, e_s) -> tuple[float, float]:
    """Largest |numba - scipy| of the chunked offline path against SciPy's whole-array one."""
    diff_y = diff_e = 0.0
    for a, y_n, e_n in Pipeline(cfg, x.shape[1]).iter_chunks(x, rows):
        b = a + y_n.shape[0]
        diff_y = max(diff_y, float(np.max(np.abs(y_n - y_s[a:b]))))
        diff_e = max(diff_e, float(np.max(np.abs(e_n - e_s[a:b]))))
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
    rows = chunk_rows(n_channels)
    _progress(f"bench: generating {minutes:g} min x {n_channels} ch of synthetic EMG", progress)
    x = synthetic_emg(n, n_channels, cfg.fs_hz)

    start = time.perf_counter()
    Pipeline(cfg, n_channels).process(x[:block])  # compile or load the cached kernels
    cold = time.perf_counter() - start

    _progress(f"bench: offline numba, chunks and full arrays ({repeats} runs)", progress)
    t_numba, c_numba, _ = _best_time(lambda: _numba_chunked(cfg, x, rows), repeats)
    t_full, c_full, (y_n, e_n) = _best_time(lambda: process_offline(x, cfg), repeats)
    scipy = {}  # (variant, rows per chunk or 0 for the whole array) -> (wall, cpu)
    diff_y = diff_e = 0.0
    for variant, stacked in (("per-stage", False), ("stacked", True)):
        _progress(f"bench: offline scipy, {variant} sosfilt, whole and chunks "
                  f"({repeats} runs)", progress)
        t, c, (y_s, e_s) = _best_time(
            lambda s=stacked: ScipyChain(cfg, n_channels, stacked=s).process(x), repeats
        )
        scipy[variant, 0] = (t, c)
        for r in (rows, SCIPY_CHUNK_FACTOR * rows):  # ours, and SciPy's better chunk size
            scipy[variant, r] = _best_time(
                lambda s=stacked, r=r: _scipy_chunked(cfg, x, r, s), repeats)[:2]
        diff_y = max(diff_y, float(np.max(np.abs(y_n - y_s))))
        diff_e = max(diff_e, float(np.max(np.abs(e_n - e_s))))
    chunk_diff_y, chunk_diff_e = _chunk_diffs(cfg, x, rows, y_s, e_s)
    diff_y, diff_e = max(diff_y, chunk_diff_y), max(diff_e, chunk_diff_e)
    del y_n, e_n, y_s, e_s
    best_any = min(scipy, key=lambda k: scipy[k][0])
    best_full = min((k for k in scipy if not k[1]), key=lambda k: scipy[k][0])

    _progress(
        f"bench: {n_blocks} blocks of {block} samples, numba and scipy ({repeats} passes)",
        progress,
    )
    xb = x[: n_blocks * block]
    t_bn, c_bn = _best_block_run(lambda: _with_buffers(Pipeline(cfg, n_channels), block),
                                 xb, block, repeats)
    t_bf, c_bf = _best_block_run(lambda: (Pipeline(cfg, n_channels).process, None),
                                 xb, block, repeats)
    t_bs, c_bs = _best_block_run(lambda: (ScipyChain(cfg, n_channels).process, None),
                                 xb, block, repeats)
    t_bk, _ = _best_block_run(
        lambda: (ScipyChain(cfg, n_channels, stacked=True).process, None), xb, block, repeats
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
        chunk_samples=rows,
        numba_msps=total / t_numba / 1e6,
        scipy_msps=total / scipy[best_any][0] / 1e6,
        scipy_variant=best_any[0],
        scipy_chunked=best_any[1] > 0,
        scipy_chunk_samples=best_any[1],
        scipy_per_stage_msps=total / min(t for k, (t, _) in scipy.items()
                                         if k[0] == "per-stage") / 1e6,
        scipy_stacked_msps=total / min(t for k, (t, _) in scipy.items()
                                       if k[0] == "stacked") / 1e6,
        numba_cpu_msps=total / c_numba / 1e6,
        scipy_cpu_msps=total / min(c for _, c in scipy.values()) / 1e6,
        full_numba_msps=total / t_full / 1e6,
        full_scipy_msps=total / scipy[best_full][0] / 1e6,
        full_numba_cpu_msps=total / c_full / 1e6,
        full_scipy_cpu_msps=total / min(c for k, (_, c) in scipy.items() if not k[1]) / 1e6,
        block_numba_us=float(np.median(t_bn)),
        block_numba_p99_us=float(np.percentile(t_bn, 99)),
        block_numba_fresh_us=float(np.median(t_bf)),
        block_scipy_us=float(np.median(t_bs)),
        block_scipy_p99_us=float(np.percentile(t_bs, 99)),
        block_scipy_stacked_us=float(np.median(t_bk)),
        block_numba_cpu_us=c_bn,
        block_numba_fresh_cpu_us=c_bf,
        block_scipy_cpu_us=c_bs,
        max_abs_diff_filtered=diff_y,
        max_abs_diff_envelope=diff_e,
        cold_start_s=cold,
    )


#: SciPy's chunked offline runs also try chunks this many times ours (its per-call costs favour
#: longer chunks: 8 channels, 8192 rows ran ~8 % faster than 2048), so it gets its own best.
SCIPY_CHUNK_FACTOR = 4


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
        "offline_full": {k: d["offline_full"][k] for k in ("speedup", "speedup_cpu")},
        "block": {k: blk[k] for k in ("numba_us", "scipy_us", "speedup", "speedup_cpu",
                                      "numba_fresh_us", "speedup_fresh", "speedup_stacked")},
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
    rows = ["", f"{'channels':>8}{'kernel':>13}{'offline x':>11}{'full x':>8}{'block x':>9}"
                f"{'new x':>8}{'block µs':>10}{'max diff':>10}{'load s':>8}"]
    for n, e in sweep.items():
        rows.append(f"{n:>8}{e['kernel']:>13}{e['offline']['speedup']:10.1f}x"
                    f"{e['offline_full']['speedup']:7.1f}x{e['block']['speedup']:8.1f}x"
                    f"{e['block']['speedup_fresh']:7.1f}x{e['block']['numba_us']:10.2f}"
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
        f"  CPU µs   p50 {e['chunk_cpu_us_p50']:8.1f}  p99.9 {e['chunk_cpu_us_p999']:8.1f}  "
        f"max {e['chunk_cpu_us_max']:8.1f}",
        f"  chunks over 1 ms: {e['over_1ms']} of {e['chunks']}; over 5 ms: {e['over_5ms']}; "
        f"load average {e['load_avg_1min']:.1f}",
    ])
