"""Whole-recording analysis in blocks: :func:`~emgfeedback.analysis.summary.analyse`'s numbers
with memory that does not grow with the recording's length.

:func:`analyse_source` reads a :class:`~emgfeedback.io.recordings.RecordingSource`
block by block and makes a few passes over it:

1. read (:mod:`.streaming_read`): the samples (in µV) are written to a private temporary
   file, and what needs the raw signal only is accumulated: the mains spectrum (Welch,
   segment by segment, all channels in one transform), the quantisation step, lost
   samples, the per-second electrode-off flags, clipping;
2. filter: the processing chain runs block by block (it is causal and chunk-size
   invariant); the filtered signal is written to the temporary folder; the usable samples
   (never padding, gaps or settling), the 0.5 s window RMS values (rest, SNR), the peak
   envelope, the ECG band energy (decimated; zero-phase filtered over ``ECG_SPAN_S`` with
   margins, by a compiled loop that is SciPy's ``sosfiltfilt`` bit for bit) and a count
   of the APDF envelope's values by bin (:class:`~.blocks.KeyHistogram`'s keys, counted
   with the envelope in one compiled pass, :func:`~.streaming_kernels.apdf_count`) are
   kept, and the onset detector's envelope summarised per 0.5 s window (count, mean, squared
   deviations of its usable samples);
3. rest and onsets: with the rest windows known, the detector's baseline is merged from
   the rest windows' summaries; then, in one read of the filtered signal, the resting
   tone (median window power, the filters' power ratio from the mean rest spectrum), the
   APDF envelope again to gather the few bins holding its percentiles, and the streaming
   onset detector;
4. per burst (:mod:`.streaming_bursts`): recovery and the left/right amplitudes, read back
   around each burst (all channels' bursts in time order, from one forward read).

Each step calls the same definitions as :func:`~emgfeedback.analysis.summary.analyse`
(usable samples, floors, the filter power ratio, the resting tone, quality verdicts,
recovery, symmetry, timing); where a whole-array function cannot take a block, the block's
summary goes to its ``*_from_*`` counterpart. The results agree with :func:`analyse` to
floating-point rounding (``tests/e2e/test_round_trips.py`` checks it on a session and its
CSV and EDF exports, with gaps, at two block sizes).

Speed: the work of a block that can wait (the spectra in pass 1, the APDF envelope and
the ECG energy in pass 2, the envelope's percentile bins and the rest windows' spectra in
pass 3, every other burst in pass 4; the detector, its statistics and the ECG energy in two
more) runs in other threads (:class:`~.blocks.Worker`, blocks in order, so the results do
not depend on timing) while the next block is read; the per-sample loops are ``nogil`` kernels
(:mod:`.streaming_kernels`). Memory: a few blocks of samples, the raw samples of one ECG
span with its margins and a block (about 90 s), plus about 1/20 of a value per sample for
the ECG band energy; the temporary files (a private folder in ``TMPDIR``) take 17 bytes
per sample per channel on disk (raw and filtered float64, the usable flags), 11 for EDF
files (the raw samples as the file's 16-bit integers, :class:`.streaming_read.RawSpill`).
Only the ``streaming`` detector is supported (the others are zero-phase, whole-array).
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings

import numpy as np

from emgfeedback.analysis._docs import shared_params
from emgfeedback.analysis.blocks import (
    KeyHistogram,
    Spill,
    Stats,
    Worker,
    column_max,
    window_psd,
)
from emgfeedback.analysis.streaming_bursts import BurstPass
from emgfeedback.analysis.streaming_read import ReadPass
from emgfeedback.errors import ConfigError

#: Recordings shorter than this are analysed as whole arrays (they are small), s.
MIN_BLOCKED_S = 20.0
#: Rest windows per block (blocks are whole windows, so windows never straddle blocks):
#: 16 s at 0.5 s windows (per-block Python work small; longer costs more in page faults).
BLOCK_WINDOWS = 32
#: ECG band filtering looks this far on both sides of a block (zero-phase filter), s.
ECG_MARGIN_S = 4.0
#: Span filtered at once for the ECG band energy (its margins are then a small part), s.
ECG_SPAN_S = 64.0


@shared_params
def analyse_source(src, fs_hz: float, *, units: str | None = None, uv_per_count: float = 1.0,
                   detector: str = "streaming", mains_hz: float | None = None,
                   highpass_hz: float | None = None, quantisation_uv=None,
                   reference: int = 0, progress=None, output_kinds=None,
                   calibration=None, block_windows: int = BLOCK_WINDOWS) -> dict:
    """Analyse a recording read in blocks (see the module docstring).

    Parameters
    ----------
    src : RecordingSource
        The recording (its :meth:`chunks` are read more than once only for counts).
    {fs_hz}
    units, uv_per_count
        As :func:`~emgfeedback.analysis.units.to_uv`.
    detector : str
        Must be ``streaming``.
    mains_hz, highpass_hz, quantisation_uv, reference, progress, output_kinds, calibration
        As :func:`~emgfeedback.analysis.summary.analyse` (``output_kinds`` and
        ``calibration`` for every channel of ``src``, ``quantisation_uv`` per EMG channel).
    block_windows : int
        0.5 s windows per block.

    Returns
    -------
    dict
        The dictionary :func:`~emgfeedback.analysis.summary.analyse` returns; ``_arrays``
        holds the envelope and rest mask decimated for a plot (``plot_step``).
    """
    if detector != "streaming":
        raise ConfigError(f"detector {detector}: only 'streaming' runs on a recording read in "
                          "blocks")
    say = progress or (lambda msg: None)
    tmp, job = _new_job(src, fs_hz, units, uv_per_count, mains_hz, highpass_hz,
                        quantisation_uv, output_kinds, calibration, block_windows, say)
    job.say = say
    try:
        out = job.run(reference)
    finally:
        job.close()
        tmp.cleanup()
    out["skipped_channels"] = [n for c, n in enumerate(src.channel_names) if c not in job.cols]
    return out


def _new_job(src, fs_hz, units, uv_per_count, mains_hz, highpass_hz, quantisation_uv,
             output_kinds, calibration, block_windows, say):
    """The EMG columns and their conversion to µV, a private temporary folder and the
    job (nothing read yet but the counts' means)."""
    from emgfeedback.analysis.units import UV_FACTORS

    cols, factors, counts_cols = [], [], []
    for c, u in enumerate(src.units):
        unit = (units or u or "uv").lower()
        if unit in ("count", "counts"):
            cols.append(c)
            factors.append(float(uv_per_count))
            counts_cols.append(len(cols) - 1)
        elif unit in UV_FACTORS:
            cols.append(c)
            factors.append(UV_FACTORS[unit])
    if not cols:
        raise ConfigError(f"{src.path}: no EMG channel (units {', '.join(src.units)}); pass "
                          "--units uv or mv")
    means: list = [None] * len(cols)
    if counts_cols:  # counts: the mean is removed first (one extra read)
        tot, cnt = np.zeros(len(cols)), np.zeros(len(cols))
        for blk in src.chunks():
            x = blk[:, cols]
            ok = np.isfinite(x)
            tot += np.where(ok, x, 0.0).sum(axis=0)
            cnt += ok.sum(axis=0)
        for j in counts_cols:
            means[j] = tot[j] / cnt[j] if cnt[j] else 0.0
    if output_kinds is not None:
        output_kinds = [output_kinds[c] for c in cols]
    if calibration is not None:
        calibration = [calibration[c] for c in cols]
    tmp = tempfile.TemporaryDirectory(prefix="emgfeedback-analyze-")
    try:
        os.chmod(tmp.name, 0o700)
        job = _Job(src, fs_hz, cols, factors, means, tmp.name, block_windows, say,
                   output_kinds, calibration, quantisation_uv, mains_hz, highpass_hz)
    except BaseException:
        tmp.cleanup()
        raise
    return tmp, job


class _Job(ReadPass, BurstPass):
    def __init__(self, src, fs_hz, cols, factors, means, folder, block_windows, say,
                 output_kinds, calibration, quantisation_uv, mains_hz, highpass_hz):
        from emgfeedback.analysis.quantities import TONE_WINDOW_S

        self.src, self.fs = src, float(fs_hz)
        self.cols, self.factors, self.means = cols, factors, means
        self.names = [src.channel_names[c] for c in cols]
        self.n_ch = len(cols)
        self.folder, self.say = folder, say
        self.w = max(int(round(TONE_WINDOW_S * self.fs)), 1)
        self.rows = self.w * max(int(block_windows), 1)
        kinds = ["raw"] * self.n_ch if output_kinds is None else [str(k) for k in output_kinds]
        self.kinds = [k.lower() for k in kinds]
        self.calibration = calibration
        self.quantisation_uv = quantisation_uv
        self.mains_hz, self.highpass_hz = mains_hz, highpass_hz
        self.spills: list[Spill] = []
        self.worker = Worker()  # a second core for the work of each block that can wait
        # Two more threads for compiled nogil loops: in pass 2 the onset detector's
        # statistics and the ECG band energy, in pass 3 the detector (channels in halves).
        self.det_workers = [Worker(), Worker()]

    def spill(self, name, n_cols, dtype=np.float64) -> Spill:
        s = Spill(self.folder, name, n_cols, dtype)
        self.spills.append(s)
        return s

    def close(self):
        self.worker.close()
        for wk in self.det_workers:
            wk.close()
        for s in self.spills:
            s.close()

    # ------------------------------------------------------------------ pass 2: filter
    def filter_pass(self):
        from emgfeedback.analysis.onset import OnsetConfig
        from emgfeedback.analysis.quality import FLAT_RUN_S
        from emgfeedback.analysis.quantities import SETTLE_S, TONE_WINDOW_S
        from emgfeedback.analysis.rest import windowed_rms
        from emgfeedback.analysis.streaming_kernels import (
            APDF_KEYS,
            usable_rows,
            window_rms_rows,
        )
        from emgfeedback.dsp import KindPipeline

        fs, n_ch, n = self.fs, self.n_ch, self.raw.n_rows
        pipe = KindPipeline(self.cfg, self.kinds)
        env_cols = [c for c, k in enumerate(self.kinds) if k == "env"]
        flat_n = max(int(round(0.25 * fs)), 2)
        flat_env = max(int(round(FLAT_RUN_S * fs)), 2) if env_cols else 0
        settle = int(round(SETTLE_S * fs))
        look_back = max(flat_n, flat_env) + settle + 2
        look_ahead = max(flat_n, flat_env) + 1
        w_snr = max(int(round(0.5 * fs)), 1)  # windowed_rms's window
        self.ecg_cols = [c for c in range(n_ch) if "ecg" in self.checks[c]]
        self.ecg_step = max(int(fs // 100), 1)
        self.ecg_energy = {c: [] for c in self.ecg_cols}
        self._ecg_raw, self._ecg_next = [], 0  # raw blocks kept for the ECG spans (worker)
        self._ecg_wait = None  # a span waiting for the next to be filtered with it
        self.filtered = self.spill("filtered.f8", n_ch)
        self.usable = self.spill("usable.u1", n_ch, np.uint8)
        self.env_hist = [KeyHistogram() for _ in range(n_ch)]
        self._apdf_w = max(int(round(0.1 * fs)), 1)  # the APDF envelope's window
        self.apdf_counts = np.zeros((n_ch, APDF_KEYS), dtype=np.int64)  # pages touched: few
        self.peak = np.full(n_ch, -np.inf)
        self.rest_rms, self.snr_rms = [], []
        self.plot_step = max(n // 20000, 1)
        self.plot_env = []
        self.ocfg = OnsetConfig()
        self.w_det = max(int(round(self.ocfg.window_s * fs)), 1)
        self.all_stats = Stats(n_ch)
        self.det_win = []  # per block: the detector envelope's (count, mean, m2) per window
        self._prev_d = np.empty((0, n_ch))  # the history of both envelopes' windows
        for a in range(0, n, self.rows):
            b = min(a + self.rows, n)
            ctx_a = max(a - look_back, 0)
            ctx = self.raw.read(ctx_a, min(b + look_ahead, n))
            x = ctx[a - ctx_a: b - ctx_a]
            finite = np.isfinite(x)
            # Missing samples go in as NaN: the filters restart after each from the steady
            # state of the next sample, as the live engine's do at a gap (summary.analyse
            # does the same); the outputs there are 0.
            filt, env = pipe.process(x)
            if not finite.all():
                filt[~finite] = 0.0
                env[~finite] = 0.0
            if env.size:
                self.peak = np.maximum(self.peak, column_max(env))
            # Usable samples: usable_samples() on the block with enough context both sides.
            # (usable_rows: usable_samples' flags, compiled.)
            use = usable_rows(ctx, fs, SETTLE_S)
            if env_cols:
                use[:, env_cols] = usable_rows(ctx[:, env_cols], fs, SETTLE_S, FLAT_RUN_S)
            use = use[a - ctx_a: b - ctx_a]
            # The spills' writes in the worker (idle otherwise in this pass), in order.
            self.worker.submit(self._spill_filtered, filt, use)
            all_use = bool(use.all())
            snr = window_rms_rows(filt, w_snr)  # windowed_rms(filt, fs, 0.5), compiled
            if snr is None:  # NaN or one channel: NumPy's
                snr = windowed_rms(filt, fs, 0.5)
            self.snr_rms.append(snr)
            self.rest_rms.append(snr if all_use and TONE_WINDOW_S == 0.5 else windowed_rms(
                np.where(use, filt, np.nan), fs, TONE_WINDOW_S))
            self.det_workers[0].submit(self._filtered_stats, a, filt, use)
            if self.ecg_cols:
                self.det_workers[1].submit(self._ecg_blocks, a, x)
            first = a + (-a) % self.plot_step
            self.plot_env.append(env[first - a:: self.plot_step].copy())  # not a view
        self.worker.drain()
        for wk in self.det_workers:
            wk.drain()
        for c, h in enumerate(self.env_hist):
            h.add_counts(self.apdf_counts[c])
        del self.apdf_counts

    def _spill_filtered(self, filt, use) -> None:
        self.filtered.append(filt)
        self.usable.append(use.view(np.uint8))

    def _filtered_stats(self, a, filt, use) -> None:
        """The onset detector's envelope statistics and the APDF envelope's counts of one
        block (a detector thread, blocks in order), from one copy of the block after the
        history both envelopes' windows need."""
        from emgfeedback.analysis.streaming_kernels import apdf_count

        prev = self._prev_d  # the last rows before the block (as many as the longer window)
        both = np.concatenate([prev, filt]) if prev.size else filt
        self._prev_d = both[-max(self.w_det, self._apdf_w):]
        self._detector_stats(a, both, prev.shape[0], use)
        # The APDF envelope's values counted per channel by histogram key (one compiled
        # pass, :func:`.apdf_count`), with its own window's history.
        skip = min(self._apdf_w, prev.shape[0])
        apdf_count(both[prev.shape[0] - skip:], self._apdf_w, skip, use, self.apdf_counts)

    def _ecg_blocks(self, a, raw) -> None:
        """Every ECG_SPAN_S, the ECG band energy (in the detector's thread, blocks in
        order)."""
        # The raw blocks are kept until every ECG span needing them is done (a span needs
        # ECG_MARGIN_S beyond its end: blocks arrive in order, so it waits for those).
        n = self.raw.n_rows
        group = self.rows * max(int(round(ECG_SPAN_S * self.fs / self.rows)), 1)
        margin = int(round(ECG_MARGIN_S * self.fs))
        # Every column checked (the usual case): the block itself, no gathered copy.
        every = len(self.ecg_cols) == raw.shape[1]
        self._ecg_raw.append((a, raw if every else raw[:, self.ecg_cols]))
        have = a + raw.shape[0]
        while self._ecg_next < n and have >= min(self._ecg_next + group + margin, n):
            g = self._ecg_next
            gb = min(g + group, n)
            lo, hi = max(g - margin, 0), min(gb + margin, n)
            parts = [blk[max(lo - s0, 0): hi - s0] for s0, blk in self._ecg_raw
                     if s0 < hi and s0 + blk.shape[0] > lo]
            # Two spans of the same length are filtered side by side (one pass each way
            # for both: the filter's passes are bound by its recursion's latency).
            span, wait = (g, gb, lo, hi, parts), self._ecg_wait
            if wait is None:
                self._ecg_wait = span
            elif wait[3] - wait[2] == hi - lo:
                self._ecg_spans([wait, span])
                self._ecg_wait = None
            else:
                self._ecg_spans([wait])
                self._ecg_wait = span
            self._ecg_next = gb
            keep_from = max(gb - margin, 0)
            self._ecg_raw = [(s0, blk) for s0, blk in self._ecg_raw
                             if s0 + blk.shape[0] > keep_from]
        if self._ecg_next >= n and self._ecg_wait is not None:  # the last span
            self._ecg_spans([self._ecg_wait])
            self._ecg_wait = None

    def _detector_stats(self, a, both, n_prev, use) -> None:
        """The onset detector's envelope over one block (blocks in order), the block being
        ``both`` after ``n_prev`` rows of what came before: its count, mean and sum of
        squared deviations over every sample after its first window (the baseline's
        fallback), and per 0.5 s window over the usable samples (the baseline is those of
        the rest windows, known once every block is filtered)."""
        from emgfeedback.analysis.onset import detection_envelope
        from emgfeedback.analysis.streaming_kernels import detector_window_stats

        w_det = self.w_det
        skip = min(w_det, n_prev)  # its window's history: the last w_det rows at most
        both = both[n_prev - skip:]
        env = None  # the rms conditioning's envelope is computed in the kernel
        if self.ocfg.conditioning != "rms":
            env = detection_envelope(both, self.fs, self.ocfg)[skip:]
        per_window, total = detector_window_stats(both, skip, w_det, use,
                                                  max(w_det - a, 0), self.w, env)
        for c in range(self.n_ch):
            self.all_stats.merge(c, *total[:, c])
        self.det_win.append(per_window)

    def _envelope_values(self, filt, use, all_use) -> list:
        """Per channel, the APDF envelope (the 100 ms moving RMS) at the usable samples of
        the next block (blocks in order: the window's history is carried)."""
        from emgfeedback.analysis.streaming_kernels import moving_rms_rows

        prev_f, w = self._prev_f, max(int(round(0.1 * self.fs)), 1)
        both = np.concatenate([prev_f, filt]) if prev_f.size else filt
        mr = moving_rms_rows(both, w, prev_f.shape[0])  # tone.moving_rms(both, fs, 0.1)
        self._prev_f = both[-w:]
        if all_use and bool(np.isfinite(mr).all()):
            return [mr[:, c] for c in range(self.n_ch)]
        keep = use & np.isfinite(mr)
        return [mr[keep[:, c], c] for c in range(self.n_ch)]

    def _gather_envelope(self, both, skip, use) -> None:
        # The APDF percentiles' bins, from the envelope computed again (worker thread):
        # ``both`` is the block after ``skip`` rows of the envelope's history.
        from emgfeedback.analysis.streaming_kernels import apdf_gather

        keys = [h.keys[:0] if h.too_big else h.keys for h in self.env_hist]
        for c, v in enumerate(apdf_gather(both, self._apdf_w, skip, use, keys)):
            self.env_hist[c].gather(v, in_bins=True)

    def _envelope_spills(self) -> dict:
        """The APDF envelope values of the channels whose percentile bins were too full to
        gather, computed again into spills (one pass; very long recordings only)."""
        big = [c for c in range(self.n_ch) if self.env_hist[c].too_big]
        spills = {c: self.spill(f"env{c}.f8", 1) for c in big}
        self._prev_f = np.empty((0, self.n_ch))
        for a, filt in self.filtered.blocks(self.rows) if big else ():
            use = self.usable.read(a, a + filt.shape[0]).astype(bool)
            values = self._envelope_values(filt, use, bool(use.all()))
            for c in big:
                spills[c].append(values[c])
        return {c: (lambda s=s: (blk[:, 0] for _, blk in s.blocks(1 << 18)))
                for c, s in spills.items()}

    def _ecg_spans(self, spans: list) -> None:
        """Quality's ECG band energy (``quality._ecg_low`` then ``_ecg_energy``, decimated)
        at the rows ``a`` to ``b`` of each span ``(a, b, lo, hi, parts)`` (equal ``hi -
        lo``): zero-phase filtered over rows ``lo`` to ``hi``, margins long enough for the
        filter's start-up to die out, so spans join as the whole array would. ``parts``
        hold, joined, the ECG-checked channels' raw samples of those rows; non-finite
        samples count as zero. (Copied once, into the filter's padded array.)"""
        from emgfeedback.analysis.quality import _ecg_sos
        from emgfeedback.analysis.streaming_kernels import centred_mean_of_squares
        from emgfeedback.analysis.zero_phase import sosfiltfilt_parts

        fs, cols, k = self.fs, self.ecg_cols, len(self.ecg_cols)
        low = sosfiltfilt_parts(_ecg_sos(fs), *[p for *_, p in spans], zero_nonfinite=True)
        # The 40 ms centred moving mean of its square, at the kept (decimated) rows only.
        width = max(int(0.04 * fs), 1)
        ats = [np.arange(a + (-a) % self.ecg_step, b, self.ecg_step) - lo
               for a, b, lo, _, _ in spans]
        if all(np.array_equal(at, ats[0]) for at in ats):  # the same rows: at once
            both = centred_mean_of_squares(low, width, ats[0])
            means = [both[:, i * k: (i + 1) * k] for i in range(len(spans))]
        else:
            means = [centred_mean_of_squares(low[:, i * k: (i + 1) * k], width, at)
                     for i, at in enumerate(ats)]
        for mean in means:
            for j, c in enumerate(cols):
                self.ecg_energy[c].append(mean[:, j].copy())

    # ------------------------------------------------------------------ pass 3: rest, onsets
    def rest_onset_pass(self):
        from emgfeedback.analysis.offline import events_to_bursts
        from emgfeedback.analysis.onset import OnsetDetector

        fs, n_ch, w = self.fs, self.n_ch, self.w
        rms = np.concatenate(self.rest_rms) if self.rest_rms else np.empty((0, n_ch))
        if rms.shape[0] == 0:
            raise ConfigError(f"recording of {self.filtered.n_rows / fs:.2f} s is shorter "
                              "than one rest window (0.5 s)")
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a channel without a window
            quiet = np.nanpercentile(rms, 10.0, axis=0)
            self.rest_win = rms <= 1.3 * quiet[None, :]
        self.win_ms, self.rest_psd = [[] for _ in range(n_ch)], [None] * n_ch
        self.rest_psd_n = np.zeros(n_ch, dtype=np.int64)
        self.rest_f = np.fft.rfftfreq(w, 1.0 / fs)  # scipy.signal.welch's frequencies
        # The detector's baseline: its envelope over the rest windows' usable samples (after
        # its first window), else over every sample; merged from the windows' statistics.
        mu, sd = np.empty(n_ch), np.empty(n_ch)
        cnt, mean, m2 = (np.concatenate([d[i] for d in self.det_win]) for i in range(3))
        for c in range(n_ch):
            keep = self.rest_win[: cnt.shape[0], c] & (cnt[:, c] > 0)
            nv = float(cnt[keep, c].sum())
            if nv >= 2:
                mu[c] = float(np.sum(cnt[keep, c] * mean[keep, c])) / nv
                dm = mean[keep, c] - mu[c]
                sd[c] = math.sqrt(float(m2[keep, c].sum() + np.sum(cnt[keep, c] * dm * dm))
                                  / (nv - 1))
            else:
                mu[c], sd[c] = self.all_stats.mean[c], self.all_stats.sd(c)
        # The channels in two groups, each its own detector in its own thread (a channel's
        # events depend on that channel only; events_to_bursts pairs them per channel).
        half = (n_ch + 1) // 2
        groups = [(0, half), (half, n_ch)] if n_ch > 1 else [(0, n_ch)]
        dets = []
        for c0, c1 in groups:
            det = OnsetDetector(self.ocfg, c1 - c0, fs)
            det.set_baseline(mu[c0:c1], sd[c0:c1])
            det.set_quantisation_step(self.steps_uv[c0:c1], self.cfg, self.kinds[c0:c1])
            dets.append(det)
        events = [[] for _ in groups]
        for h in self.env_hist:
            h.plan([10, 50, 90])
        self.plot_rest = []
        for a in range(0, self.filtered.n_rows, self.rows):
            # The block read with the APDF envelope's history before it (the rows the
            # history would hold: the last window of what came before), no joined copy.
            skip = min(self._apdf_w, a)
            both = self.filtered.read(a - skip, a + self.rows)
            filt = both[skip:]
            b = a + filt.shape[0]
            use = self.usable.read(a, b).view(bool)  # written from booleans: 0 or 1
            self.worker.submit(self._gather_envelope, both, skip, use)
            n_win = filt.shape[0] // w
            rest = self.rest_win[a // w: a // w + n_win]  # blocks start at whole windows
            # The rest mask (the block's rest windows' usable samples) at the plot's rows.
            at = np.arange((-a) % self.plot_step, filt.shape[0], self.plot_step)
            at = at[at < n_win * w]
            shown = np.zeros((len(range((-a) % self.plot_step, filt.shape[0],
                                        self.plot_step)), n_ch), dtype=bool)
            shown[: at.size] = rest[at // w] & use[at]
            self.plot_rest.append(shown)
            if n_win:  # the resting tone's windows
                self.worker.submit(self._tone_windows, filt, use, rest, n_win)
            for g, (c0, _c1) in enumerate(groups):
                self.det_workers[g].submit(
                    lambda d, f, a0, col0, out: out.extend(d.process(f, a0, col0)),
                    dets[g], filt, a, c0, events[g])
        for wk in self.det_workers:
            wk.drain()
        self.bursts = [b for (c0, c1), ev in zip(groups, events, strict=True)
                       for b in events_to_bursts(ev, c1 - c0, self.filtered.n_rows)]
        self.worker.drain()

    def _tone_windows(self, filt, use, rest, n_win) -> None:
        """The mean squares and spectra of one block's rest windows whose samples are all
        usable (worker thread)."""
        fs, n_ch, w = self.fs, self.n_ch, self.w
        # Channel by channel, contiguous (windows are then rows: fast selections).
        xs = np.ascontiguousarray(filt[: n_win * w].T).reshape(n_ch, n_win, w)
        us = np.ascontiguousarray(use[: n_win * w].T).reshape(n_ch, n_win, w)
        ms = rest.T & us.all(axis=2)
        # Every channel's windows in one selection, channel after channel (the channels'
        # selections joined: what the spectra are taken of; each window's values alone).
        win = xs[ms]
        chan = np.repeat(np.arange(n_ch), ms.sum(axis=1))
        finite = np.isfinite(win).all(axis=1)
        if not finite.all():
            win, chan = win[finite], chan[finite]
        if win.shape[0] == 0:
            return
        mean_sq = np.mean(win * win, axis=1)
        spectral = np.array([k not in ("rect", "env") for k in self.kinds]) & (w >= 16)
        rows = spectral[chan]
        p = window_psd(win if rows.all() else win[rows], fs, w) if rows.any() else None
        at = at_p = 0
        for c, k in enumerate(np.bincount(chan, minlength=n_ch).tolist()):
            if k == 0:
                continue
            self.win_ms[c].append(mean_sq[at: at + k])
            at += k
            if spectral[c]:  # one FFT call did every channel's windows
                s = p[at_p: at_p + k].sum(axis=0)
                at_p += k
                self.rest_psd[c] = s if self.rest_psd[c] is None else self.rest_psd[c] + s
                self.rest_psd_n[c] += k

    # ------------------------------------------------------------------ all
    def run(self, reference: int) -> dict:
        from emgfeedback.analysis.offline import burst_times, known_onsets
        from emgfeedback.analysis.quality import (
            channel_quality,
            ecg_from_energy,
            electrode_off_from_windows,
            mains_ratio,
            mains_ratio_from_psd,
            snr_from_window_rms,
        )
        from emgfeedback.analysis.quantities import (
            channel_floors_uv,
            filter_power_ratio_from_psd,
            tone_from_windows,
        )
        from emgfeedback.analysis.summary import (
            analysis_band_hz,
            analysis_pipeline_config,
            channel_setup,
            estimate_quantisation_uv,
            find_pairs,
            symmetry_entry,
        )
        from emgfeedback.analysis.symmetry import pair_symmetry
        from emgfeedback.analysis.timing import analyse_timing

        fs, n_ch = self.fs, self.n_ch
        # The set-up (placements, sides) pairs left and right as the session report does.
        pl_all, sd_all, _ = channel_setup(self.src.meta, self.src.channel_names)
        placements = None if pl_all is None else [pl_all[c] for c in self.cols]
        sides = None if sd_all is None else [sd_all[c] for c in self.cols]
        self.say("reading")
        self.read_pass()
        n = self.raw.n_rows
        if n < MIN_BLOCKED_S * fs:  # short: whole arrays are small, and analyse() is the rule
            from emgfeedback.analysis.summary import analyse

            return analyse(self.raw.read(0, n), fs, self.names, mains_hz=self.mains_hz,
                           highpass_hz=self.highpass_hz, quantisation_uv=self.quantisation_uv,
                           reference=reference, progress=self.say,
                           output_kinds=self.kinds, calibration=self.calibration,
                           placements=placements, sides=sides)
        mains = self.mains_hz
        if mains is None:
            votes = []
            if self.vote is not None:
                f, p = self.vote.result()
                votes = [mains_ratio_from_psd(f, p[:, j], fs) if self.vote.count else
                         mains_ratio(np.zeros(0), fs) for j in range(len(self.vote_cols))]
            votes = [v for v in votes if v[1] == v[1]]  # no NaN (no sample to vote with)
            mains = max(votes, key=lambda v: v[0])[1] if votes else 50.0
        band = analysis_band_hz(fs)
        self.cfg = analysis_pipeline_config(fs, mains, self.highpass_hz)
        self.say("filtering")
        self.filter_pass()
        self.raw.close()
        os.unlink(self.raw.path)
        quant = self.quantisation_uv
        if quant is None and self.calibration is None:
            quant = [estimate_quantisation_uv(u) if u is not None else math.nan
                     for u in (v.values() for v in self.uniq)]
        floors = channel_floors_uv(fs, band, self.kinds, quantisation_uv=quant,
                                   calibration=self.calibration)
        # The step per channel (stored or estimated): the onset detector's rest floor.
        self.steps_uv = [c.uv_per_count for c in self.calibration or ()] or list(quant)
        self.say("resting tone, detecting onsets (streaming)")
        self.rest_onset_pass()
        self.say("recovery and symmetry")
        # Quality's ECG verdicts (an FFT of each channel's hour of band energy, ~15 ms
        # each) in a detector thread, idle while the bursts are measured; one thread, one
        # channel at a time (~20 MB of transforms each for an hour: two at once, 45 MB).
        self.ecg_verdict = {}
        if n >= 4 * fs:
            self.det_workers[0].submit(self._ecg_verdicts, ecg_from_energy)
        self.burst_pass()
        for wk in self.det_workers:
            wk.drain()
        channels = []
        again = self._envelope_spills()
        for c, name in enumerate(self.names):
            p10, p50, p90 = self.env_hist[c].percentiles(again.get(c))
            floor = float(floors[c])
            ms = np.concatenate(self.win_ms[c]) if self.win_ms[c] else np.empty(0)
            if ms.size == 0:
                tone = raw = math.nan
                valid, reason, rest_s = False, "no rest window found", 0.0
            else:
                ratio = 1.0
                if self.rest_psd[c] is not None:
                    ratio = filter_power_ratio_from_psd(
                        self.rest_f, self.rest_psd[c] / self.rest_psd_n[c], fs, self.cfg)
                tone, raw, valid, reason = tone_from_windows(ms, ratio, floor)
                rest_s = ms.size * self.w / fs
            channels.append({
                "name": name, "output": self.kinds[c],
                **burst_times(self.bursts[c], fs),
                "resting_tone_uv": tone, "noise_floor_uv": floor, "tone_valid": valid,
                "tone_note": reason, "raw_rest_rms_uv": raw, "rest_s": rest_s,
                "static_level_p10_uv": float(p10), "apdf_p50_uv": float(p50),
                "apdf_p90_uv": float(p90),
                "peak_envelope_uv": float(self.peak[c]) if n else None,
                "recovery": self.recovery[c],
                "quality": self._quality(c, n, mains, band, channel_quality,
                                         electrode_off_from_windows, mains_ratio,
                                         mains_ratio_from_psd, snr_from_window_rms),
            })
        out = {
            "fs_hz": fs, "duration_s": n / fs, "detector": "streaming",
            "pipeline": {"band_hz": list(band), "notch_hz": mains,
                         "highpass_hz": self.highpass_hz},
            "channels": channels,
        }
        if n_ch > 1:
            ref = min(max(int(reference), 0), n_ch - 1)
            timing = analyse_timing(known_onsets(self.bursts), fs, reference=ref)
            out["timing"] = timing.to_dict(fs, self.names)
            sym = []
            for left, right in find_pairs(self.names, placements, sides):
                s = pair_symmetry(None, fs, self.bursts, left, right,
                                  burst_rms={left: self.burst_rms[left],
                                             right: self.burst_rms[right]})
                sym.append(symmetry_entry(self.names[left], self.names[right], s))
            out["symmetry"] = sym
        env = np.concatenate(self.plot_env) if self.plot_env else np.empty((0, n_ch))
        rest = np.concatenate(self.plot_rest) if self.plot_rest else np.empty((0, n_ch), bool)
        out["_arrays"] = {"envelope": env, "rest": rest, "plot_step": self.plot_step,
                          "bursts": self.bursts}
        return out

    def _ecg_verdicts(self, ecg_from_energy) -> None:
        for c in self.ecg_cols:
            e = np.concatenate(self.ecg_energy[c])
            self.ecg_verdict[c] = ecg_from_energy(e, self.fs / self.ecg_step)[:2]

    def _quality(self, c, n, mains, band, channel_quality,
                 electrode_off_from_windows, mains_ratio, mains_ratio_from_psd,
                 snr_from_window_rms) -> dict:
        checks = self.checks[c]
        if "mains" in checks:
            wq = self.qwelch[c]
            if wq.n < int(round(self.fs)):  # shorter than one segment: as mains_ratio does
                xs = np.concatenate(self.qfinite[c]) if self.qfinite[c] else np.empty(0)
                ratio, m = mains_ratio(xs, self.fs, mains, band)
            else:
                ratio, m = mains_ratio_from_psd(*wq.result(), self.fs, mains, band)
        else:
            ratio, m = math.nan, (mains or math.nan)
        flat = np.concatenate(self.flat[c]) if self.flat[c] else np.zeros(0, bool)
        rail = np.concatenate(self.rail[c]) if self.rail[c] else np.zeros(0, bool)
        off, off_reason = electrode_off_from_windows(flat, rail)
        ecg, rate = False, math.nan
        if "ecg" in checks and n >= 4 * self.fs:
            ecg, rate = self.ecg_verdict[c]
        # Of the samples received (lost ones are lost_pct), as quality.assess_quality.
        got = n - int(self.n_nan[c])
        clipped = 100.0 * float(self.clipped[c]) / got if got else 0.0
        lost_pct = 100.0 * float(self.n_nan[c]) / max(n, 1)
        rms = np.concatenate(self.snr_rms)[:, c] if self.snr_rms else np.empty(0)
        return channel_quality(self.kinds[c], checks, ratio, m, clipped, off, off_reason,
                               ecg, rate, snr_from_window_rms(rms), lost_pct)
