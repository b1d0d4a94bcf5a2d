"""Whole-recording analysis in blocks: :func:`~emgfeedback.analysis.report.analyse`'s numbers
with memory that does not grow with the recording's length.

:func:`analyse_source` reads a :class:`~emgfeedback.analysis.recordings.RecordingSource`
block by block and makes a few passes over it:

1. read: the samples (in µV) are written to a private temporary file, and what needs the
   raw signal only is accumulated: the mains spectrum (Welch, segment by segment), the
   quantisation step, lost samples, the per-second electrode-off flags, clipping;
2. filter: the processing chain runs block by block (it is causal and chunk-size
   invariant); the filtered signal is written to the temporary folder; the usable samples
   (never padding, gaps or settling), the 0.5 s window RMS values (rest, SNR), the peak
   envelope, the ECG band energy (decimated) and the APDF envelope values are kept;
3. rest: with the rest windows known, the resting tone (median window power, the filters'
   power ratio from the mean rest spectrum) and the onset detector's baseline;
4. onsets: the streaming detector over the filtered signal;
5. per burst: recovery and the left/right amplitudes, read back around each burst.

Each step calls the same definitions as :func:`~emgfeedback.analysis.report.analyse`
(usable samples, floors, the filter power ratio, quality verdicts, recovery, symmetry,
timing); where a whole-array function cannot take a block, the block's summary goes to its
``*_from_*`` counterpart. The results agree with :func:`analyse` to floating-point rounding
(``tests/e2e/test_round_trips.py`` checks it on a session and its CSV and EDF exports,
with gaps, at two block sizes). Memory: a few blocks of samples plus about 1/20 of a value
per sample for the ECG band energy (8 channels × 10 min at 2 kHz: 17-22 MB above the
import floor, about 1.1× the samples' int16 size); the temporary files (a private folder
in ``TMPDIR``) take up to 25 bytes per sample per channel on disk.
Only the ``streaming`` detector is supported (the others are zero-phase, whole-array).
"""

from __future__ import annotations

import math
import os
import tempfile

import numpy as np
from scipy import signal

from emgfeedback.analysis.blocks import Spill, Stats, Welch, exact_percentiles, rechunk

#: Recordings shorter than this are analysed as whole arrays (they are small), s.
MIN_BLOCKED_S = 20.0
#: Rest windows per block (blocks are whole windows, so windows never straddle blocks).
BLOCK_WINDOWS = 16
#: Longest stretch after a burst read at once when looking for the return to rest, s.
RECOVERY_SPAN_S = 30.0
#: ECG band filtering looks this far on both sides of a block (zero-phase filter), s.
ECG_MARGIN_S = 4.0


def _convert(block: np.ndarray, cols, factors, means) -> np.ndarray:
    """The EMG columns in µV (counts minus their mean, times µV per count)."""
    x = block[:, cols].astype(np.float64, copy=True)
    for j in range(x.shape[1]):
        if means[j] is not None:
            x[:, j] -= means[j]
        if factors[j] != 1.0:
            x[:, j] *= factors[j]
    return x


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
    fs_hz : float
        Sample rate in hertz.
    units, uv_per_count
        As :func:`~emgfeedback.analysis.recordings.to_uv`.
    detector : str
        Must be ``streaming``.
    mains_hz, highpass_hz, quantisation_uv, reference, progress, output_kinds, calibration
        As :func:`~emgfeedback.analysis.report.analyse` (``output_kinds`` and
        ``calibration`` for every channel of ``src``, ``quantisation_uv`` per EMG channel).
    block_windows : int
        0.5 s windows per block.

    Returns
    -------
    dict
        The dictionary :func:`~emgfeedback.analysis.report.analyse` returns; ``_arrays``
        holds the envelope and rest mask decimated for a plot (``plot_step``).
    """
    from emgfeedback.analysis.recordings import UV_FACTORS
    from emgfeedback.errors import ConfigError

    if detector != "streaming":
        raise ConfigError(f"detector {detector}: only 'streaming' runs on a recording read in "
                          "blocks")
    say = progress or (lambda msg: None)
    names_all = list(src.channel_names)
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
    with tempfile.TemporaryDirectory(prefix="emgfeedback-analyze-") as folder:
        os.chmod(folder, 0o700)
        job = _Job(src, fs_hz, cols, factors, means, folder, block_windows, say,
                   output_kinds, calibration, quantisation_uv, mains_hz, highpass_hz)
        try:
            out = job.run(reference)
        finally:
            job.close()
    out["skipped_channels"] = [n for c, n in enumerate(names_all) if c not in cols]
    return out


class _Job:
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

    def spill(self, name, n_cols, dtype=np.float64) -> Spill:
        s = Spill(self.folder, name, n_cols, dtype)
        self.spills.append(s)
        return s

    def close(self):
        for s in self.spills:
            s.close()

    # ------------------------------------------------------------------ pass 1: read
    def read_pass(self):
        from emgfeedback.analysis.quality import CHECKS_BY_KIND

        fs, n_ch = self.fs, self.n_ch
        self.raw = self.spill("raw.f8", n_ch)
        nper = int(round(fs))
        self.vote = [Welch(fs, nper) if k in ("raw", "uv") else None for k in self.kinds]
        self.checks = [CHECKS_BY_KIND.get(k, CHECKS_BY_KIND["raw"]) for k in self.kinds]
        self.qwelch = [Welch(fs, nper) if "mains" in ch else None for ch in self.checks]
        self.qfinite = [[] for _ in range(n_ch)]  # the first finite samples (short files)
        self.n_nan = np.zeros(n_ch, dtype=np.int64)
        want_q = self.quantisation_uv is None and self.calibration is None
        self.uniq = [np.empty(0) for _ in range(n_ch)] if want_q else None
        w1 = max(int(round(fs)), 1)
        self.off_tail = [np.empty(0) for _ in range(n_ch)]
        self.flat = [[] for _ in range(n_ch)]
        self.rail = [[] for _ in range(n_ch)]
        self.clipped = np.zeros(n_ch, dtype=np.int64)
        for blk in rechunk(self.src.chunks(), self.rows):
            x = _convert(blk, self.cols, self.factors, self.means)
            self.raw.append(x)
            finite = np.isfinite(x)
            self.n_nan += (~finite).sum(axis=0)
            zero = np.where(finite, x, 0.0)
            for c in range(n_ch):
                if self.vote[c] is not None and self.mains_hz is None:
                    self.vote[c].add(zero[:, c])
                xc = x[finite[:, c], c]
                if self.qwelch[c] is not None:
                    self.qwelch[c].add(xc)
                    if self.qwelch[c].n <= nper:
                        self.qfinite[c].append(xc)
                if self.uniq is not None and self.uniq[c] is not None:
                    u = np.union1d(self.uniq[c], np.unique(np.round(xc, 9)))
                    self.uniq[c] = u if u.size <= 50_000 else None
                self._off_windows(c, x[:, c], xc, w1)

    def _off_windows(self, c, xc_all, xc_finite, w1):
        cal = self.calibration[c] if self.calibration is not None else None
        one_sided = self.kinds[c] in ("rect", "env")
        if cal is not None and cal.uv_per_count > 0:
            counts = cal.to_counts(np.where(np.isfinite(xc_all), xc_all, cal.offset_counts))
            low = cal.adc_min - 1 if one_sided else cal.adc_min
            self.clipped[c] += np.count_nonzero((counts <= low) | (counts >= cal.adc_max))
            data, step, rails = counts.astype(np.float64), 0.0, (low, cal.adc_max)
        else:
            data, step, rails = xc_finite, 0.01, None
        data = np.concatenate([self.off_tail[c], data]) if self.off_tail[c].size else data
        n_win = data.size // w1
        if n_win:
            b = data[: n_win * w1].reshape(n_win, w1)
            self.flat[c].append(np.ptp(b, axis=1) <= step)
            if rails is not None:
                self.rail[c].append(np.mean((b <= rails[0]) | (b >= rails[1]), axis=1) > 0.5)
            else:
                self.rail[c].append(np.zeros(n_win, dtype=bool))
        self.off_tail[c] = data[n_win * w1:].copy()

    # ------------------------------------------------------------------ pass 2: filter
    def filter_pass(self):
        from emgfeedback.analysis.quality import FLAT_RUN_S
        from emgfeedback.analysis.quantities import SETTLE_S, TONE_WINDOW_S, usable_samples
        from emgfeedback.analysis.rest import windowed_rms
        from emgfeedback.analysis.tone import moving_rms
        from emgfeedback.dsp import KindPipeline

        fs, n_ch, n = self.fs, self.n_ch, self.raw.n_rows
        pipe = KindPipeline(self.cfg, self.kinds)
        env_cols = [c for c, k in enumerate(self.kinds) if k == "env"]
        flat_n = max(int(round(0.25 * fs)), 2)
        flat_env = max(int(round(FLAT_RUN_S * fs)), 2) if env_cols else 0
        settle = int(round(SETTLE_S * fs))
        look_back = max(flat_n, flat_env) + settle + 2
        look_ahead = max(flat_n, flat_env) + 1
        ecg_cols = [c for c in range(n_ch) if "ecg" in self.checks[c]]
        margin = int(round(ECG_MARGIN_S * fs)) if ecg_cols else 0
        self.ecg_step = max(int(fs // 100), 1)
        sos = signal.butter(2, [5.0, min(30.0, 0.45 * fs)], btype="band", fs=fs,
                            output="sos") if ecg_cols else None
        k_ecg = max(int(0.04 * fs), 1)
        self.ecg_energy = {c: [] for c in ecg_cols}
        self.filtered = self.spill("filtered.f8", n_ch)
        self.usable = self.spill("usable.u1", n_ch, np.uint8)
        self.env_spill = [self.spill(f"env{c}.f8", 1) for c in range(n_ch)]
        self.env_min = np.full(n_ch, np.inf)
        self.env_max = np.full(n_ch, -np.inf)
        self.peak = np.full(n_ch, -np.inf)
        self.rest_rms, self.snr_rms = [], []
        self.plot_step = max(n // 20000, 1)
        self.plot_env, self.plot_pos = [], []
        w_env = max(int(round(0.1 * fs)), 1)
        prev_f = np.empty((0, n_ch))
        for a in range(0, n, self.rows):
            b = min(a + self.rows, n)
            ctx_a, ctx_b = max(a - max(look_back, margin), 0), min(b + max(look_ahead, margin), n)
            ctx = self.raw.read(ctx_a, ctx_b)
            x = ctx[a - ctx_a: b - ctx_a]
            zero = np.where(np.isfinite(x), x, 0.0)
            filt, env = pipe.process(zero)
            self.filtered.append(filt)
            if env.size:
                self.peak = np.maximum(self.peak, env.max(axis=0))
            # Usable samples: usable_samples() on the block with enough context both sides.
            u_a = max(a - look_back, 0)
            u_b = min(b + look_ahead, n)
            use_ctx = ctx[u_a - ctx_a: u_b - ctx_a]
            use = usable_samples(use_ctx, fs)
            if env_cols:
                use[:, env_cols] = usable_samples(use_ctx[:, env_cols], fs, flat_s=FLAT_RUN_S)
            use = use[a - u_a: b - u_a]
            self.usable.append(use.astype(np.uint8))
            self.rest_rms.append(windowed_rms(np.where(use, filt, np.nan), fs, TONE_WINDOW_S))
            self.snr_rms.append(windowed_rms(filt, fs, 0.5))
            # APDF envelope: the 100 ms moving RMS over the usable samples.
            both = np.concatenate([prev_f, filt]) if prev_f.size else filt
            mr = moving_rms(both, fs, 0.1)[prev_f.shape[0]:]
            prev_f = both[-w_env:]
            for c in range(n_ch):
                v = mr[use[:, c] & np.isfinite(mr[:, c]), c]
                if v.size:
                    self.env_spill[c].append(v)
                    self.env_min[c] = min(self.env_min[c], float(v.min()))
                    self.env_max[c] = max(self.env_max[c], float(v.max()))
            # ECG: zero-phase band energy, cut from a block with margins, decimated.
            for c in ecg_cols:
                xz = ctx[:, c]
                xz = np.where(np.isfinite(xz), xz, 0.0)
                low = signal.sosfiltfilt(sos, xz)
                e = np.convolve(low * low, np.ones(k_ecg) / k_ecg, mode="same")
                first = a + (-a) % self.ecg_step
                self.ecg_energy[c].append(e[first - ctx_a: b - ctx_a: self.ecg_step].copy())
            first = a + (-a) % self.plot_step
            self.plot_env.append(env[first - a:: self.plot_step].copy())  # not a view
            self.plot_pos.append(np.arange(first, b, self.plot_step))

    # ------------------------------------------------------------------ pass 3: rest
    def rest_pass(self):
        from emgfeedback.analysis.onset import OnsetConfig, detection_envelope

        fs, n_ch, w = self.fs, self.n_ch, self.w
        rms = np.concatenate(self.rest_rms) if self.rest_rms else np.empty((0, n_ch))
        if rms.shape[0] == 0:
            from emgfeedback.errors import ConfigError

            raise ConfigError(f"recording of {self.filtered.n_rows / fs:.2f} s is shorter "
                              "than one rest window (0.5 s)")
        with np.errstate(invalid="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                quiet = np.nanpercentile(rms, 10.0, axis=0)
            self.rest_win = rms <= 1.3 * quiet[None, :]
        unfiltered = [k in ("rect", "env") for k in self.kinds]
        self.win_ms = [[] for _ in range(n_ch)]
        self.rest_psd = [None] * n_ch
        self.rest_psd_n = np.zeros(n_ch, dtype=np.int64)
        self.ocfg = OnsetConfig()
        w_det = max(int(round(self.ocfg.window_s * fs)), 1)
        self.valid_stats, self.all_stats = Stats(n_ch), Stats(n_ch)
        prev = np.empty((0, n_ch))
        self.plot_rest = []
        for a, filt in self.filtered.blocks(self.rows):
            b = a + filt.shape[0]
            use = self.usable.read(a, b).astype(bool)
            n_win = filt.shape[0] // w
            wi = a // w
            mask = np.zeros(filt.shape, dtype=bool)
            mask[: n_win * w] = np.repeat(self.rest_win[wi: wi + n_win], w, axis=0)
            mask &= use
            first = a + (-a) % self.plot_step
            self.plot_rest.append(mask[first - a:: self.plot_step].copy())
            # Tone: windows entirely at rest.
            if n_win:
                xs = filt[: n_win * w].reshape(n_win, w, n_ch)
                ms = mask[: n_win * w].reshape(n_win, w, n_ch).all(axis=1)
                for c in range(n_ch):
                    win = xs[ms[:, c], :, c]
                    win = win[np.all(np.isfinite(win), axis=1)]
                    if win.shape[0] == 0:
                        continue
                    self.win_ms[c].append(np.mean(win * win, axis=1))
                    if not unfiltered[c] and w >= 16:
                        f, p = signal.welch(win, fs=fs, nperseg=w, axis=1)
                        self.rest_f = f
                        s = p.sum(axis=0)
                        self.rest_psd[c] = s if self.rest_psd[c] is None else self.rest_psd[c] + s
                        self.rest_psd_n[c] += win.shape[0]
            # Detector baseline: its envelope over the rest samples (after its window).
            both = np.concatenate([prev, filt]) if prev.size else filt
            denv = detection_envelope(both, fs, self.ocfg)[prev.shape[0]:]
            prev = both[-w_det:]
            idx = np.arange(a, b)
            for c in range(n_ch):
                self.valid_stats.add(c, denv[mask[:, c] & (idx >= w_det), c])
                self.all_stats.add(c, denv[idx >= w_det, c])
        self.w_det = w_det

    # ------------------------------------------------------------------ pass 4: onsets
    def onset_pass(self):
        from emgfeedback.analysis.offline import events_to_bursts
        from emgfeedback.analysis.onset import OnsetDetector

        n = self.filtered.n_rows
        mu, sd = np.empty(self.n_ch), np.empty(self.n_ch)
        for c in range(self.n_ch):
            st = self.valid_stats if self.valid_stats.n[c] >= 2 else self.all_stats
            mu[c], sd[c] = st.mean[c], st.sd(c)
        det = OnsetDetector(self.ocfg, self.n_ch, self.fs)
        det.set_baseline(mu, sd)
        events = []
        for a, filt in self.filtered.blocks(self.rows):
            events.extend(det.process(filt, a))
        self.bursts = events_to_bursts(events, self.n_ch, n)

    # ------------------------------------------------------------------ pass 5: per burst
    def burst_pass(self):
        from emgfeedback.analysis.tone import recovery_after_bursts

        fs, n = self.fs, self.filtered.n_rows
        guard = int(round(0.2 * fs))
        pre_n = int(round(2.0 * fs))
        hold = max(int(round(0.25 * fs)), 1)
        span = int(round(RECOVERY_SPAN_S * fs))
        self.recovery, self.burst_rms = [], []
        for c in range(self.n_ch):
            b = self.bursts[c]
            recs, amps = [], {}
            for k, (on, off) in enumerate(b):
                prev = b[k - 1] if k else None
                nxt = b[k + 1] if k + 1 < len(b) else None
                next_on = int(nxt[0]) if nxt is not None else n
                seg_a = max(int(on) - guard - pre_n, 0)
                seg_b = min(next_on, int(off) + span)
                x = self.filtered.read(seg_a, seg_b)[:, c]
                # The burst before (or a stand-in ending at sample 0: its "previous offset").
                local = [[prev[0] - seg_a, prev[1] - seg_a] if prev is not None
                         else [-seg_a - 1, -seg_a], [on - seg_a, off - seg_a]]
                if seg_b < next_on:  # cut short: a stand-in for the rest of the recording
                    local.append([seg_b - seg_a, seg_b - seg_a + 1])
                elif nxt is not None:
                    local.append([nxt[0] - seg_a, nxt[1] - seg_a])
                r = recovery_after_bursts(x, fs, np.array(local, dtype=np.int64))[1]
                return_s = r.return_s
                if not math.isfinite(return_s) and seg_b < next_on and math.isfinite(r.pre_uv):
                    return_s = self._return_after(c, int(off), next_on - guard, hold,
                                                  (1.0 + 0.2) * r.pre_uv)
                recs.append({"onset_s": int(on) / fs, "return_s": return_s,
                             "residual_pct": r.residual_pct})
                amps[int(on)] = r.burst_uv
            self.recovery.append(recs)
            self.burst_rms.append(amps)

    def _return_after(self, c, off, end, hold, threshold) -> float:
        """First time after ``off + hold`` from which the 0.25 s moving RMS stays at or
        below ``threshold`` for ``hold`` samples (as recovery_after_bursts), scanning on."""
        from emgfeedback.analysis.tone import moving_rms

        start = min(off + hold, self.filtered.n_rows)
        run = 0
        for a in range(start, max(end, start), self.rows):
            b = min(a + self.rows, end)
            x = self.filtered.read(a - hold, b)[:, c]
            env = moving_rms(x, self.fs, hold / self.fs)[hold:] if a >= hold else \
                moving_rms(self.filtered.read(0, b)[:, c], self.fs, hold / self.fs)[a:]
            ok = env <= threshold
            for i, v in enumerate(ok):
                run = run + 1 if v else 0
                if run == hold:
                    return (a + i - hold + 1 - start + hold) / self.fs
        return math.nan

    # ------------------------------------------------------------------ all
    def run(self, reference: int) -> dict:
        from emgfeedback.analysis.quality import (
            channel_quality,
            ecg_from_energy,
            electrode_off_from_windows,
            mains_ratio,
            mains_ratio_from_psd,
            snr_from_window_rms,
        )
        from emgfeedback.analysis.quantities import (
            VALID_FLOOR_RATIO,
            channel_floors_uv,
            filter_power_ratio_from_psd,
        )
        from emgfeedback.analysis.report import estimate_quantisation_uv, find_pairs
        from emgfeedback.analysis.symmetry import pair_symmetry
        from emgfeedback.analysis.timing import analyse_timing
        from emgfeedback.dsp import PipelineConfig

        fs, n_ch = self.fs, self.n_ch
        self.say("reading")
        self.read_pass()
        n = self.raw.n_rows
        if n < MIN_BLOCKED_S * fs:  # short: whole arrays are small, and analyse() is the rule
            from emgfeedback.analysis.report import analyse

            return analyse(self.raw.read(0, n), fs, self.names, mains_hz=self.mains_hz,
                           highpass_hz=self.highpass_hz, quantisation_uv=self.quantisation_uv,
                           reference=reference, progress=self.say,
                           output_kinds=self.kinds, calibration=self.calibration)
        mains = self.mains_hz
        if mains is None:
            votes = [mains_ratio_from_psd(*v.result(), fs) if v.count else
                     mains_ratio(np.zeros(0), fs) for v in self.vote if v is not None]
            mains = max(votes, key=lambda v: v[0])[1] if votes else 50.0
        band = (20.0, min(450.0, 0.45 * fs))
        self.cfg = PipelineConfig(fs_hz=fs, band_hz=band, notch_hz=mains,
                                  highpass_hz=self.highpass_hz)
        self.say("filtering")
        self.filter_pass()
        self.raw.close()
        os.unlink(self.raw.path)
        quant = self.quantisation_uv
        if quant is None and self.calibration is None:
            quant = [estimate_quantisation_uv(u) if u is not None else math.nan
                     for u in self.uniq]
        floors = channel_floors_uv(fs, band, self.kinds, quantisation_uv=quant,
                                   calibration=self.calibration)
        self.say("resting tone")
        self.rest_pass()
        self.say("detecting onsets (streaming)")
        self.onset_pass()
        self.say("recovery and symmetry")
        self.burst_pass()
        channels = []
        for c, name in enumerate(self.names):
            p10, p50, p90 = exact_percentiles(self.env_spill[c], self.env_min[c],
                                              self.env_max[c], [10, 50, 90])
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
                raw = math.sqrt(float(np.median(ms)) * ratio)
                tone = math.sqrt(max(raw * raw - floor * floor, 0.0))
                valid = bool(tone >= VALID_FLOOR_RATIO * floor and tone > 0)
                reason = "" if valid else (
                    f"tone {tone:.2f} µV is below {VALID_FLOOR_RATIO:g}× the noise floor "
                    f"({floor:.2f} µV): not a measurement")
                rest_s = ms.size * self.w / fs
            channels.append({
                "name": name, "output": self.kinds[c],
                "onsets_s": [float(i) / fs for i in self.bursts[c][:, 0]],
                "offsets_s": [float(i) / fs for i in self.bursts[c][:, 1]],
                "resting_tone_uv": tone, "noise_floor_uv": floor, "tone_valid": valid,
                "tone_note": reason, "raw_rest_rms_uv": raw, "rest_s": rest_s,
                "static_level_p10_uv": float(p10), "apdf_p50_uv": float(p50),
                "apdf_p90_uv": float(p90),
                "peak_envelope_uv": float(self.peak[c]) if n else None,
                "recovery": self.recovery[c],
                "quality": self._quality(c, n, mains, band, channel_quality, ecg_from_energy,
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
            timing = analyse_timing([b[:, 0] for b in self.bursts], fs, reference=ref)
            out["timing"] = timing.to_dict(fs, self.names)
            sym = []
            for left, right in find_pairs(self.names):
                s = pair_symmetry(None, fs, self.bursts, left, right,
                                  burst_rms={left: self.burst_rms[left],
                                             right: self.burst_rms[right]})
                sym.append({
                    "left": self.names[left], "right": self.names[right],
                    "n_repetitions": s["n_repetitions"],
                    "amplitude_index_pct": s["amplitude_index_pct"],
                    "amplitude_index_sd": s["amplitude_index_sd"],
                    "lag_ms_mean": s["lag_ms_mean"], "lag_ms_sd": s["lag_ms_sd"],
                    "repetitions": [{"amplitude_index_pct": r["amplitude_index_pct"],
                                     "lag_ms": r["lag_ms"]} for r in s["repetitions"]],
                })
            out["symmetry"] = sym
        env = np.concatenate(self.plot_env) if self.plot_env else np.empty((0, n_ch))
        rest = np.concatenate(self.plot_rest) if self.plot_rest else np.empty((0, n_ch), bool)
        out["_arrays"] = {"envelope": env, "rest": rest, "plot_step": self.plot_step,
                          "bursts": self.bursts}
        return out

    def _quality(self, c, n, mains, band, channel_quality, ecg_from_energy,
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
            e = np.concatenate(self.ecg_energy[c])
            ecg, rate, _ = ecg_from_energy(e, self.fs / self.ecg_step)
        clipped = 100.0 * float(self.clipped[c]) / n if n else 0.0
        lost_pct = 100.0 * float(self.n_nan[c]) / max(n, 1)
        rms = np.concatenate(self.snr_rms)[:, c] if self.snr_rms else np.empty(0)
        return channel_quality(self.kinds[c], checks, ratio, m, clipped, off, off_reason,
                               ecg, rate, snr_from_window_rms(rms), lost_pct)
