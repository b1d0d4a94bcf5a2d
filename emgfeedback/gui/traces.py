"""Scrolling traces: filtered signal and envelope per channel, in µV, 2-30 s window.

Drawing 8 channels x 20,000 points 60 times a second is too slow, so the panel keeps a
*peak-preserving* summary instead: the window is cut into about two bins per screen pixel
and each bin keeps the minimum and maximum of the filtered signal (drawn as a zig-zag, so
a 1 ms burst still reaches its full height) and the maximum of the envelope. Only the bins
completed since the last frame are computed; the newest, still filling bin is drawn too so
a sample shows on the first frame after it arrives. The x axis is fixed (seconds before
now), so only y data change per frame and no axis is re-laid out.

pyqtgraph's own ``setDownsampling(mode='peak')`` and ``setClipToView(True)`` do the same
job per frame over the whole window; with the summary already at one bin per pixel they
only added about 0.7 ms of CPU per frame (``benchmarks/bench_gui.py``), so they are off.

Decimation is display work; every number drawn comes from the engine's display ring.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore, QtGui

from emgfeedback.gui import palette

WINDOW_CHOICES_S = (2.0, 5.0, 10.0, 20.0, 30.0)


class PeakDecimator:
    """Min/max bins of a sliding window, updated incrementally.

    Parameters
    ----------
    n_channels : int
        Channels.
    fs_hz : float
        Sample rate.
    window_s : float
        Window shown, seconds.
    n_bins : int
        Bins across the window (about twice the plot's width in pixels).
    """

    def __init__(self, n_channels: int, fs_hz: float, window_s: float, n_bins: int) -> None:
        self.n_channels = n_channels
        self.fs_hz = fs_hz
        self.window_s = window_s
        window_n = max(2, int(round(window_s * fs_hz)))
        self.bin_size = max(1, math.ceil(window_n / max(8, n_bins)))
        self.n_bins = math.ceil(window_n / self.bin_size)
        self.bin_s = self.bin_size / fs_hz
        self._mins = np.full((self.n_bins, n_channels), np.nan)
        self._maxs = np.full((self.n_bins, n_channels), np.nan)
        self._envs = np.full((self.n_bins, n_channels), np.nan)
        self._head = 0  # complete bins written (monotonic)
        self._carry_f = np.zeros((0, n_channels))
        self._carry_e = np.zeros((0, n_channels))
        self.next_index: int | None = None
        n_pts = self.n_bins + 1  # + the bin still filling
        # x is fixed: seconds before the newest sample.
        centres = (np.arange(n_pts) - self.n_bins) * self.bin_s
        self.x_peak = np.repeat(centres, 2)
        self.x_env = centres.copy()
        self.y_peak = np.full((n_channels, 2 * n_pts), np.nan)
        self.y_env = np.full((n_channels, n_pts), np.nan)

    @property
    def end_index(self) -> int | None:
        """Absolute index one past the newest sample pushed."""
        return self.next_index

    def push(self, first_index: int, filtered_uv: np.ndarray, envelope_uv: np.ndarray) -> None:
        """Add new samples (a jump in ``first_index`` is drawn as a break in the line)."""
        n = len(filtered_uv)
        if n == 0:
            return
        if self.next_index is not None:
            gap = first_index - self.next_index
            if gap < 0:  # already seen (should not happen): drop the overlap
                filtered_uv, envelope_uv = filtered_uv[-gap:], envelope_uv[-gap:]
                first_index -= gap
            elif gap > 0:
                fill = np.full((min(gap, self.n_bins * self.bin_size + self.bin_size),
                                self.n_channels), np.nan)
                self._add(fill, fill)
        self._add(filtered_uv, envelope_uv)
        self.next_index = first_index + len(filtered_uv)

    def _add(self, f: np.ndarray, e: np.ndarray) -> None:
        if len(self._carry_f):
            f = np.concatenate([self._carry_f, f])
            e = np.concatenate([self._carry_e, e])
        full = len(f) // self.bin_size
        if full:
            cut = full * self.bin_size
            if full > self.n_bins:  # more than a window: only the newest bins matter
                skip = (full - self.n_bins) * self.bin_size
                self._head += full - self.n_bins
                full = self.n_bins
            else:
                skip = 0
            shape = (full, self.bin_size, self.n_channels)
            fb = f[skip:cut].reshape(shape)
            eb = e[skip:cut].reshape(shape)
            pos = (self._head + np.arange(full)) % self.n_bins
            self._mins[pos] = fb.min(axis=1)
            self._maxs[pos] = fb.max(axis=1)
            self._envs[pos] = eb.max(axis=1)
            self._head += full
            f, e = f[cut:], e[cut:]
        self._carry_f, self._carry_e = f, e

    def render(self) -> None:
        """Fill ``y_peak`` and ``y_env`` (oldest bin first, the filling bin last)."""
        h = self._head % self.n_bins
        nb = self.n_bins
        for src, dst, step, off in ((self._mins, self.y_peak, 2, 0),
                                    (self._maxs, self.y_peak, 2, 1),
                                    (self._envs, self.y_env, 1, 0)):
            view = dst[:, off:2 * nb:step] if step == 2 else dst[:, :nb]
            view[:, :nb - h] = src[h:].T
            view[:, nb - h:] = src[:h].T
        if len(self._carry_f):
            self.y_peak[:, -2] = self._carry_f.min(axis=0)
            self.y_peak[:, -1] = self._carry_f.max(axis=0)
            self.y_env[:, -1] = self._carry_e.max(axis=0)
        else:  # repeat the newest complete bin so the line reaches "now"
            self.y_peak[:, -2:] = self.y_peak[:, -4:-2]
            self.y_env[:, -1] = self.y_env[:, -2]

    def robust_peak_uv(self) -> np.ndarray:
        """Largest |filtered| per channel over the window (NaN-safe), for the y range."""
        with np.errstate(all="ignore"):
            both = np.fmax(np.abs(self._mins), np.abs(self._maxs))
            # 99th percentile of the bin peaks: one artefact spike does not flatten the view.
            out = np.nanpercentile(both, 99, axis=0) if np.isfinite(both).any() else \
                np.full(self.n_channels, np.nan)
        return out


def nice_ceiling(value: float) -> float:
    """The next 1-2-5 number at or above ``value`` (for axis ranges)."""
    if not np.isfinite(value) or value <= 0:
        return 50.0
    exp = 10 ** math.floor(math.log10(value))
    for m in (1, 2, 5, 10):
        if m * exp >= value:
            return m * exp
    return 10 * exp


def y_ticks(range_uv: float, height_px: float = math.inf, label_px: float = 0.0) -> list:
    """Tick values and labels of a trace's y axis running from ``-range_uv`` to ``range_uv``.

    Plots are stacked without spacing, so a label on a plot's edge (``±range_uv``) would
    run into the next plot's labels: the edges get unlabelled ticks and the labels go at
    ``±range_uv / 2`` and 0, or, on a plot too short for three labels (``height_px``
    against a label's height ``label_px``), at ``±range_uv / 2`` or ``+range_uv / 2`` only.
    """
    half = range_uv / 2
    lo, zero, hi = (-half, f"−{half:g}"), (0.0, "0"), (half, f"{half:g}")
    if height_px / 4 >= 1.2 * label_px:
        major = [lo, zero, hi]
    elif height_px / 2 >= 1.2 * label_px:
        major = [lo, hi]
    else:
        major = [hi]
    minor = [(-range_uv, ""), (range_uv, "")] + ([] if zero in major else [(0.0, "")])
    return [major, minor]


class _ViewCurve(pg.PlotCurveItem):
    """A curve whose bounding rectangle is its plot's fixed view rectangle.

    pyqtgraph recomputes a curve's bounds from its data (NaN-aware min/max plus pen
    padding) after every ``setData``, three times per paint: ~1.5 ms per frame for 16
    curves. The view box clips its children anyway, so the visible range is the honest
    bound; it also keeps the repainted region inside the plots (the axes are not redrawn).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._view_rect = QtCore.QRectF(-10.0, -100.0, 10.0, 200.0)

    def set_view_rect(self, x0: float, x1: float, y0: float, y1: float) -> None:
        rect = QtCore.QRectF(x0, y0, x1 - x0, y1 - y0)
        if rect != self._view_rect:
            self.prepareGeometryChange()
            self._view_rect = rect

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802 - Qt override
        return self._view_rect


class _FrameView(pg.GraphicsLayoutWidget):
    """A layout widget that reports when a frame has been painted (for latency)."""

    def __init__(self, on_painted, **kwargs) -> None:
        super().__init__(**kwargs)
        self._on_painted = on_painted
        self.on_resized = None

    def paintEvent(self, ev) -> None:  # noqa: N802 - Qt override
        super().paintEvent(ev)
        self._on_painted(time.monotonic())

    def resizeEvent(self, ev) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(ev)
        callback = getattr(self, "on_resized", None)  # None during construction
        if callback is not None:
            callback(ev.size().width())


class TracePanel(QtCore.QObject):
    """Stacked per-channel plots of the filtered signal and envelope.

    Parameters
    ----------
    channel_names : sequence of str
        One plot per channel.
    fs_hz : float
        Sample rate.
    window_s : float
        Initial window length, seconds (2-30).
    on_painted : callable, optional
        ``f(t_monotonic_s)`` after each painted frame.
    """

    def __init__(self, channel_names, fs_hz: float, window_s: float = 10.0,
                 on_painted=None) -> None:
        super().__init__()
        self.channel_names = list(channel_names)
        self.n_channels = len(self.channel_names)
        self.fs_hz = float(fs_hz)
        self._painted_cb = on_painted
        self.widget = _FrameView(self._painted, show=False)
        self.widget.on_resized = self._resized
        self.widget.setBackground(palette.PANEL)
        self.widget.ci.setSpacing(0)
        self.widget.ci.setContentsMargins(4, 4, 8, 4)
        self.plots: list[pg.PlotItem] = []
        self.peak_curves: list[pg.PlotCurveItem] = []
        self.env_curves: list[pg.PlotCurveItem] = []
        self.mark_curves: list[pg.PlotCurveItem] = []
        self.goal_lines: list[pg.InfiniteLine] = []
        self._y_range = np.full(self.n_channels, np.nan)
        self._goals = [math.nan] * self.n_channels
        self._onsets: list[tuple[int, int]] = []  # (channel, index)
        self._markers: list[int] = []
        self._last_range_check = 0.0
        self._tick_keys: dict[int, tuple] = {}  # y-tick layout per plot (range, height)
        self._build()
        self.decimator: PeakDecimator | None = None
        self.set_window(window_s)

    def _build(self) -> None:
        for c, name in enumerate(self.channel_names):
            plot = self.widget.addPlot(row=c, col=0)
            plot.setMenuEnabled(False)
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            plot.disableAutoRange()
            # No grid: grid lines belong to the axes, which would then repaint every frame.
            zero = pg.InfiniteLine(pos=0.0, angle=0, movable=False,
                                   pen=pg.mkPen(palette.GRID, width=1))
            plot.addItem(zero)
            left = plot.getAxis("left")
            left.setWidth(64)
            left.setLabel(f"{name}", units=None, **{"color": palette.TEXT, "font-size": "11pt"})
            left.setTextPen(palette.MUTED)
            bottom = plot.getAxis("bottom")
            bottom.setTextPen(palette.MUTED)
            if c < self.n_channels - 1:
                bottom.setStyle(showValues=False)
                bottom.setHeight(6)
            else:
                plot.setLabel("bottom", "time before now (s)", color=palette.MUTED)
            colour = QtGui.QColor(palette.trace_colour(c))
            light = QtGui.QColor(colour)
            light.setAlpha(110)
            # Bare PlotCurveItems, not PlotDataItems: the latter's per-call dataset
            # bookkeeping (bounds, downsampling, log/fft checks) cost ~1 ms per frame for
            # 16 curves and is all unused here (fixed ranges, own decimation).
            peak = _ViewCurve(pen=pg.mkPen(light, width=1), skipFiniteCheck=True,
                                    antialias=False)
            # A cosmetic 1-px pen: a 2-px pen goes through Qt's stroker and doubled the
            # paint time of the traces (benchmarks/bench_gui.py).
            env = _ViewCurve(pen=pg.mkPen(colour.darker(150), width=1),
                                   skipFiniteCheck=True, antialias=False)
            marks = _ViewCurve(pen=pg.mkPen(palette.TEXT, width=1.5), connect="pairs",
                                     skipFiniteCheck=True, antialias=False)
            goal = pg.InfiniteLine(angle=0, movable=False,
                                   pen=pg.mkPen(palette.GOAL_LINE, width=1.5,
                                                style=QtCore.Qt.DashLine))
            goal.setVisible(False)
            for item in (peak, env, marks, goal):
                plot.addItem(item)
            if self.plots:
                plot.setXLink(self.plots[0])
            self.plots.append(plot)
            self.peak_curves.append(peak)
            self.env_curves.append(env)
            self.mark_curves.append(marks)
            self.goal_lines.append(goal)
        if self.n_channels:
            self.plots[0].setLabel("top", "filtered signal and envelope, µV",
                                   color=palette.MUTED)
            self.plots[0].getAxis("top").setStyle(showValues=False)

    # ------------------------------------------------------------------ settings
    @property
    def window_s(self) -> float:
        return self.decimator.window_s

    def set_window(self, window_s: float) -> None:
        """Change the window (2-30 s); the traces restart from the display ring's history."""
        window_s = float(min(30.0, max(2.0, window_s)))
        # One bin per pixel = two points (min, max) per pixel.
        width = max(300, self.widget.width() - 80)
        self.decimator = PeakDecimator(self.n_channels, self.fs_hz, window_s, width)
        for plot in self.plots:
            plot.setXRange(-window_s, 0.0, padding=0.0)
        for c in range(self.n_channels):
            self._set_curve_rects(c)
        self.needs_history = True

    def _set_curve_rects(self, c: int) -> None:
        y = self._y_range[c] if np.isfinite(self._y_range[c]) else 100.0
        w = self.decimator.window_s if self.decimator is not None else 30.0
        for curve in (self.peak_curves[c], self.env_curves[c], self.mark_curves[c]):
            curve.set_view_rect(-w, 0.0, -y, y)

    def _resized(self, width: int) -> None:
        # Keep about one bin per pixel: rebuild the summary (from the display ring's
        # history) when the plots get much wider or narrower.
        want = max(300, width - 80)
        dec = getattr(self, "decimator", None)  # None during construction
        if dec is not None and not 0.8 < want / dec.n_bins < 1.25:
            self.set_window(dec.window_s)

    def set_goal(self, channel: int, level_uv: float) -> None:
        """Show a channel's goal as a dashed line (NaN hides it)."""
        if channel >= self.n_channels:
            return
        same = (math.isnan(level_uv) and math.isnan(self._goals[channel])) or \
            level_uv == self._goals[channel]
        if same:
            return
        self._goals[channel] = level_uv
        line = self.goal_lines[channel]
        line.setVisible(math.isfinite(level_uv))
        if math.isfinite(level_uv):
            line.setPos(level_uv)

    def add_onsets(self, events) -> None:
        """Remember onset events (drawn as ticks while inside the window)."""
        for ev in events:
            if ev.kind == "on":
                self._onsets.append((int(ev.channel), int(ev.index)))
        del self._onsets[:-256]

    def add_marker(self, index: int) -> None:
        """A user marker, drawn across every channel."""
        self._markers.append(int(index))
        del self._markers[:-64]

    # ------------------------------------------------------------------ frames
    def push(self, block) -> None:
        """Add a display block (new samples)."""
        self.decimator.push(block.first_index, block.filtered_uv, block.envelope_uv)

    def draw(self) -> None:
        """Update the curves from the summary (call once per frame, GUI thread)."""
        dec = self.decimator
        if dec.end_index is None:
            return
        dec.render()
        now = time.monotonic()
        if now - self._last_range_check > 0.5:
            self._last_range_check = now
            self._update_ranges(dec.robust_peak_uv())
        end = dec.end_index
        lo = end - int(dec.window_s * self.fs_hz)
        marks_x = [(m - end) / self.fs_hz for m in self._markers if m >= lo]
        for c in range(self.n_channels):
            self.peak_curves[c].setData(dec.x_peak, dec.y_peak[c])
            self.env_curves[c].setData(dec.x_env, dec.y_env[c])
            xs = [(i - end) / self.fs_hz for ch, i in self._onsets if ch == c and i >= lo]
            xs += marks_x
            y = self._y_range[c] if np.isfinite(self._y_range[c]) else 100.0
            if xs:
                x = np.repeat(np.asarray(xs), 2)
                yy = np.tile([-y, y], len(xs))
                self.mark_curves[c].setData(x, yy)
            elif self.mark_curves[c].xData is not None and len(self.mark_curves[c].xData):
                self.mark_curves[c].setData([], [])

    def _update_ranges(self, peaks: np.ndarray) -> None:
        for c in range(self.n_channels):
            goal = self._goals[c]
            want = nice_ceiling(max(np.nan_to_num(peaks[c], nan=0.0) * 1.1,
                                    goal * 1.3 if math.isfinite(goal) else 0.0, 20.0))
            cur = self._y_range[c]
            # Grow at once; shrink only when far too large (no jumpy axes).
            if not np.isfinite(cur) or want > cur or want < cur / 4:
                self._y_range[c] = want
                self.plots[c].setYRange(-want, want, padding=0.0)
                self._set_curve_rects(c)
            self._update_ticks(c)

    def _update_ticks(self, c: int) -> None:
        # Labelled ticks that fit the plot's height in pixels (8 channels on a short screen).
        if not np.isfinite(self._y_range[c]):
            return
        label_px = QtGui.QFontMetrics(self.plots[c].getAxis("left").font()).height()
        key = (self._y_range[c], int(self.plots[c].vb.height() // 4))
        if self._tick_keys.get(c) != key:
            self._tick_keys[c] = key
            self.plots[c].getAxis("left").setTicks(
                y_ticks(self._y_range[c], self.plots[c].vb.height(), label_px))

    def _painted(self, t: float) -> None:
        if self._painted_cb is not None:
            self._painted_cb(t)
