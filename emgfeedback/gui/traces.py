"""Scrolling traces: filtered signal and envelope per channel, in µV, 2-30 s window.

Drawing 8 channels x 20,000 points 60 times a second is too slow, so the panel keeps a
*peak-preserving* summary instead: the window is cut into about one bin per screen pixel
column and each bin keeps the minimum and maximum of the filtered signal (drawn as a zig-zag, so
a 1 ms burst still reaches its full height) and the maximum of the envelope. Only the bins
completed since the last frame are computed; the newest, still filling bin is drawn too so
a sample shows on the first frame after it arrives. The x axis is fixed (seconds before
now), so only y data change per frame and no axis is re-laid out.

pyqtgraph's own ``setDownsampling(mode='peak')`` and ``setClipToView(True)`` do the same
job per frame over the whole window; with the summary already at one bin per pixel they
only added about 0.7 ms of CPU per frame (``benchmarks/bench_gui.py``), so they are off.

Each plot draws its frame with one lean item (:class:`_TraceItem`) from a strip image
(:mod:`emgfeedback.gui.trace_strip`): one pixel column per device pixel, holding the
zero line, the zig-zag's extent and the envelope's, kept as a ring; a frame paints only
the few columns whose bins changed and copies the ring pixel for pixel. Onset/marker
ticks and the goal line are drawn over it. A frame that changed only the plots is drawn by
the view's fast path (:class:`_FrameView`): each plot's item and the axis tick marks that
reach into it, without the scene's walk over every item. The axes are cached as pixmaps
(they overlap the plot area by their tick marks and change only with the y range).

Decimation is display work; every number drawn comes from the engine's display ring.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore, QtGui, QtWidgets

from emgfeedback.gui import palette
from emgfeedback.gui.trace_strip import Strip, rgb_pixel

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
        self.rendered_head = 0  # _head when y_peak and y_env were last rendered
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
        self.rendered_head = self._head
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


def finite_runs(y: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` of each run of finite values in ``y`` (a NaN ends a line)."""
    ok = np.isfinite(y)
    n = len(y)
    if n == 0:
        return []
    if ok.all():
        return [(0, n)]
    first = int(ok.argmax())  # the usual gap: no data yet at the window's start
    if ok[first] and ok[first:].all():
        return [(first, n)]
    bounds = np.concatenate(([0], np.flatnonzero(ok[1:] != ok[:-1]) + 1, [n]))
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if ok[a]]


class _TraceItem(QtWidgets.QGraphicsItem):
    """Everything one plot draws per frame: zero line, peak zig-zag, envelope, ticks, goal.

    The zero line, zig-zag and envelope come from the plot's :class:`Strip`; the onset and
    marker ticks and the goal line are drawn over it. Its bounding rectangle is the plot's
    fixed view rectangle (the view box clips its children anyway), so the repainted region
    stays inside the plot and nothing is recomputed from the data after an update.

    Parameters
    ----------
    pens : dict
        ``QPen`` per part: ``"zero"``, ``"peak"``, ``"env"``, ``"mark"``, ``"goal"``.
    """

    def __init__(self, pens: dict) -> None:
        super().__init__()
        self.pens = pens
        self._view_rect = QtCore.QRectF(-10.0, -100.0, 10.0, 200.0)
        self.strip = Strip()
        self.source: tuple | None = None  # (decimator, channel, its head when rendered)
        self.marks: list[QtCore.QLineF] = []  # onset and marker ticks, view coordinates
        self.goal_uv = math.nan
        self._colours: dict = {}

    def set_source(self, dec: PeakDecimator, channel: int, head: int) -> None:
        """What to draw: one channel of a decimator rendered at ``head`` complete bins."""
        self.source = (dec, channel, head)

    def set_view_rect(self, x0: float, x1: float, y0: float, y1: float) -> None:
        rect = QtCore.QRectF(x0, y0, x1 - x0, y1 - y0)
        if rect != self._view_rect:
            self.prepareGeometryChange()
            self._view_rect = rect

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802 - Qt override
        return self._view_rect

    def _pixels(self, height: int) -> dict:
        colours = self._colours.get(height)
        if colours is None:
            bg = QtGui.QColor(palette.PANEL)
            grid = self.pens["zero"].color()
            peak = self.pens["peak"].color()
            zero_row = min(height - 1, height // 2)
            # The zig-zag's strokes overlapped (stroke and link in each column), so its
            # translucent colour showed about twice: composited twice here.
            peak.setAlphaF(1.0 - (1.0 - peak.alphaF()) ** 2)
            colours = {"bg": np.full(height, rgb_pixel(bg), np.uint32),
                       "peak": np.full(height, rgb_pixel(peak, bg), np.uint32),
                       "env": np.uint32(rgb_pixel(self.pens["env"].color()))}
            colours["bg"][zero_row] = rgb_pixel(grid)
            colours["peak"][zero_row] = rgb_pixel(peak, grid)
            self._colours = {height: colours}
        return colours

    def paint(self, p: QtGui.QPainter, option, widget=None) -> None:
        r = self._view_rect
        device = p.deviceTransform()
        box = device.mapRect(r)  # the plot in device pixels
        # A plot not laid out yet (no width or height) has nothing to show.
        if self.source is not None and 1.0 <= box.width() < 1e5 and 1.0 <= box.height() < 1e5:
            dec, channel, head = self.source
            height = round(box.height())
            range_uv = r.bottom()
            self.strip.update(dec, channel, head, box.width(), height, range_uv,
                              self._pixels(height))
            p.save()
            p.setClipRect(r, QtCore.Qt.IntersectClip)
            # One image pixel per device pixel: an unscaled, unflipped copy. World
            # coordinates are made device pixels by undoing whatever the painter applies
            # after its world transform (the view's mapping, a grab's offset into the
            # window, the pixel ratio), not by assuming it is only the pixel ratio: a
            # window grab (--screenshot) drew the strips shifted by that offset.
            inv_world, _ = p.worldTransform().inverted()
            to_device, _ = (inv_world * device).inverted()
            p.setWorldTransform(to_device)
            self.strip.draw(p, box.right(), box.top())
            p.restore()
        else:
            p.setPen(self.pens["zero"])
            p.drawLine(QtCore.QLineF(r.left(), 0.0, r.right(), 0.0))
        if self.marks:
            p.setPen(self.pens["mark"])
            p.drawLines(self.marks)
        if math.isfinite(self.goal_uv):
            p.setPen(self.pens["goal"])
            p.drawLine(QtCore.QLineF(r.left(), self.goal_uv, r.right(), self.goal_uv))


class _Axis(pg.AxisItem):
    """An axis whose bounding rectangle is computed once per geometry and style.

    Qt asks every visible item for its bounding rectangle on every repaint of the view;
    pyqtgraph's axis recomputes it in Python each time (about 0.2 ms per frame at 16
    channels), although it changes only when the layout or the tick style does.
    """

    _bounds: QtCore.QRectF | None = None

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802 - Qt override
        if self.grid is not False:  # then the bounds follow the linked view's
            return super().boundingRect()
        # Qt asks 3 times per axis and frame (72 calls at 8 channels): no geometry query
        # or key per call; a resize or a new style forgets the rectangle instead.
        bounds = self._bounds
        if bounds is None:
            bounds = self._bounds = super().boundingRect()
        return bounds

    def resizeEvent(self, ev=None) -> None:  # noqa: N802 - Qt override
        self._bounds = None  # the bounds are the geometry's size (no transform)
        super().resizeEvent(ev)

    def setStyle(self, **kwds) -> None:  # noqa: N802 - pyqtgraph API
        self._bounds = None  # tickLength and hideOverlappingLabels widen the bounds
        super().setStyle(**kwds)

    #: The axis line and tick marks of the latest drawing, ``[(pen, p1, p2), ...]`` in the
    #: axis's coordinates (a new list at every new drawing): the trace view's fast frames
    #: draw the marks that reach into a plot over its strip (see :class:`_FrameView`).
    lines: list | None = None

    def drawPicture(self, p, axisSpec, tickSpecs, textSpecs) -> None:  # noqa: N802, N803
        self.lines = [axisSpec, *tickSpecs]
        super().drawPicture(p, axisSpec, tickSpecs, textSpecs)


class _FrameView(pg.GraphicsLayoutWidget):
    """A layout widget that reports when a frame has been painted (for latency)."""

    def __init__(self, on_painted, **kwargs) -> None:
        super().__init__(**kwargs)
        self._on_painted = on_painted
        self.on_resized = None

        #: Per plot, set by the panel each frame: ``(item, its transform to the viewport,
        #: its rectangle there, its axes)`` (see :meth:`paintEvent`).
        self.fast_plots: list[tuple] = []
        self._fast_region: QtGui.QRegion | None = None
        self._tick_cache: dict = {}

    def set_fast_plots(self, plots: list[tuple] | None) -> None:
        """The plots whose new frame is to be drawn (None: the same places as before);
        schedules their repaint."""
        if plots is not None:
            self.fast_plots = plots
            region = QtGui.QRegion()
            for _item, _t, rect, _axes in plots:
                region += rect
            self._fast_region = region
        self.viewport().update(self._fast_region)

    def paintEvent(self, ev) -> None:  # noqa: N802 - Qt override
        # A frame that changed only the plots' contents (no axis, layout or other item
        # changed: the scene asked for nothing else) is drawn here, item by item, without
        # the scene's walk over every item, clip and cached axis (about 1.2 ms a frame at
        # 8 channels, 8 % of a core at 66 frames/s); any other repaint goes to the scene.
        fast = self._fast_region
        if fast is not None and self.fast_plots and ev.region().subtracted(fast).isEmpty() \
                and self._paint_fast(ev.region()):
            self._on_painted(time.monotonic())
            return
        super().paintEvent(ev)
        self._on_painted(time.monotonic())

    def _paint_fast(self, region: QtGui.QRegion) -> bool:
        ticks = [self._ticks(axes, rect) for _item, _t, rect, axes in self.fast_plots]
        if any(t is None for t in ticks) or not all(
                item.isVisible() for item, *_ in self.fast_plots):
            return False  # an axis not drawn yet, or a hidden item: the scene draws
        p = QtGui.QPainter(self.viewport())
        try:
            for (item, transform, rect, _axes), lines in zip(self.fast_plots, ticks,
                                                             strict=True):
                if not region.intersects(rect):
                    continue
                p.setClipRect(rect)
                p.setTransform(transform)
                item.paint(p, None)
                p.resetTransform()
                p.setRenderHint(QtGui.QPainter.Antialiasing, False)
                for pen, segments in lines:
                    p.setPen(pen)
                    p.drawLines(segments)
        finally:
            p.end()
        return True

    def _ticks(self, axes, rect: QtCore.QRect) -> list | None:
        """The axes' lines inside ``rect`` in viewport coordinates, grouped by pen."""
        vt = self.viewportTransform()
        key = (tuple(id(a.lines) for a in axes), rect.getRect(), vt.dx(), vt.dy())
        cached = self._tick_cache.get(key)
        if cached is not None:
            return cached
        if any(a.lines is None for a in axes):
            return None
        by_pen: dict = {}
        inside = QtCore.QRectF(rect)
        for axis in axes:
            t = axis.deviceTransform(vt)
            for pen, p1, p2 in axis.lines:
                line = QtCore.QLineF(t.map(QtCore.QPointF(p1)), t.map(QtCore.QPointF(p2)))
                box = QtCore.QRectF(line.p1(), line.p2()).normalized().adjusted(-1, -1, 1, 1)
                if box.intersects(inside):  # one drawLines call per distinct pen
                    style = (pen.color().rgba(), pen.widthF(), int(pen.style()))
                    by_pen.setdefault(style, (pen, []))[1].append(line)
        out = list(by_pen.values())
        if len(self._tick_cache) > 64:
            self._tick_cache.clear()
        self._tick_cache[key] = out
        return out

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
        # The view paints its whole background itself: marked opaque, Qt does not repaint
        # the style-sheet panels behind it first on every frame (about 1 ms per frame).
        self.widget.viewport().setAttribute(QtCore.Qt.WA_OpaquePaintEvent, True)
        self.widget.ci.setSpacing(0)
        self.widget.ci.setContentsMargins(4, 4, 8, 4)
        self._axes: list[list[_Axis]] = []  # per plot: left, bottom, top
        self._fast_key: tuple | None = None  # the plots' places last given to the view
        self.plots: list[pg.PlotItem] = []
        self.items: list[_TraceItem] = []  # one per plot: everything drawn per frame
        self._y_range = np.full(self.n_channels, np.nan)
        self._goals = [math.nan] * self.n_channels
        self._onsets: list[tuple[int, int]] = []  # (channel, index)
        self._markers: list[int] = []
        self._last_range_check = 0.0
        self._tick_keys: dict[int, tuple] = {}  # y-tick layout per plot (range, height)
        self._drawn_key: tuple | None = None  # what the items show (skip unchanged frames)
        self._build()
        self.decimator: PeakDecimator | None = None
        self.set_window(window_s)

    def _build(self) -> None:
        for c, name in enumerate(self.channel_names):
            plot = self.widget.addPlot(row=c, col=0, axisItems={
                side: _Axis(side) for side in ("left", "bottom", "top")})
            # The view box draws no border: nothing to paint for it per frame.
            plot.vb.setFlag(QtWidgets.QGraphicsItem.ItemHasNoContents, True)
            plot.setMenuEnabled(False)
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            plot.disableAutoRange()
            # No grid: grid lines belong to the axes, which would then repaint every frame.
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
            # Cosmetic 1-px pens for the traces: a 2-px pen goes through Qt's stroker and
            # doubled the paint time of the traces (benchmarks/bench_gui.py).
            item = _TraceItem({
                "zero": pg.mkPen(palette.GRID, width=1),
                "peak": pg.mkPen(light, width=1),
                "env": pg.mkPen(colour.darker(150), width=1),
                "mark": pg.mkPen(palette.TEXT, width=1.5),
                "goal": pg.mkPen(palette.GOAL_LINE, width=1.5, style=QtCore.Qt.DashLine)})
            plot.addItem(item, ignoreBounds=True)
            if self.plots:
                plot.setXLink(self.plots[0])
            self.plots.append(plot)
            self.items.append(item)
            self._axes.append([plot.getAxis(n) for n in ("left", "bottom", "top")])
        if self.n_channels:
            self.plots[0].setLabel("top", "filtered signal and envelope, µV",
                                   color=palette.MUTED)
            self.plots[0].getAxis("top").setStyle(showValues=False)
        # The axes change only with the y range, but their tick marks reach into the plot
        # area that every frame repaints: cached, each is a pixmap copy instead of a replay
        # of its text and lines (about 2.5 ms per frame at 16 channels).
        for plot in self.plots:
            for name in ("left", "bottom", "top"):
                plot.getAxis(name).setCacheMode(QtWidgets.QGraphicsItem.DeviceCoordinateCache)

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
            self.items[c].source = None
            self.items[c].strip.key = None  # a new decimator: paint the strip whole
            self.items[c].marks = []
            self.items[c].update()
            self._set_curve_rects(c)
        self._drawn_key = None
        self.needs_history = True

    def _set_curve_rects(self, c: int) -> None:
        y = self._y_range[c] if np.isfinite(self._y_range[c]) else 100.0
        w = self.decimator.window_s if self.decimator is not None else 30.0
        self.items[c].set_view_rect(-w, 0.0, -y, y)

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
        self.items[channel].goal_uv = level_uv
        self.items[channel].update()

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
        """Update the plots from the summary (call once per frame, GUI thread).

        Nothing is redrawn when no sample, onset or marker arrived since the last frame
        (a stalled source costs no painting).
        """
        dec = self.decimator
        if dec.end_index is None:
            return
        end = dec.end_index
        key = (end, len(self._onsets), len(self._markers), self._onsets[-1:],
               self._markers[-1:])
        now = time.monotonic()
        if now - self._last_range_check > 0.5:
            self._last_range_check = now
            dec.render()
            self._update_ranges(dec.robust_peak_uv())
        elif key == self._drawn_key:
            return
        else:
            dec.render()
        self._drawn_key = key
        lo = end - int(dec.window_s * self.fs_hz)
        ticks: list[list[float]] = [[] for _ in range(self.n_channels)]
        for ch, i in self._onsets:
            if i >= lo and ch < self.n_channels:
                ticks[ch].append((i - end) / self.fs_hz)
        marks_x = [(m - end) / self.fs_hz for m in self._markers if m >= lo]
        for c, item in enumerate(self.items):
            item.set_source(dec, c, dec.rendered_head)
            xs = ticks[c] + marks_x
            if xs or item.marks:
                y = self._y_range[c] if np.isfinite(self._y_range[c]) else 100.0
                item.marks = [QtCore.QLineF(x, -y, x, y) for x in xs]

        self._schedule_frame()

    def _schedule_frame(self) -> None:
        """Repaint the plots' areas (drawn by the view's fast path, see :class:`_FrameView`).

        The plots' places are recomputed only when an item's scene transform (layout, y
        range, window) or the view's own changed: finding them costs ~0.3 ms a frame.
        """
        view = self.widget
        vt = view.viewportTransform()
        key = (vt, [item.sceneTransform() for item in self.items])
        if key != self._fast_key:
            self._fast_key = key
            plots = []
            for plot, item, axes in zip(self.plots, self.items, self._axes, strict=True):
                t = item.deviceTransform(vt)
                # The view box clips the item (its range may show less than the window).
                shown = vt.mapRect(plot.vb.sceneBoundingRect())
                rect = t.mapRect(item.boundingRect()).intersected(shown).toAlignedRect()
                plots.append((item, t, rect, [a for a in axes if a.isVisible()]))
            view.set_fast_plots(plots)
        else:
            view.set_fast_plots(None)

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
