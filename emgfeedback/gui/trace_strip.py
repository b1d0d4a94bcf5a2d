"""The trace panel's strips: each plot's traces as an image scrolled as a ring.

Used by :mod:`emgfeedback.gui.traces`. Each frame paints only the pixel columns of the
bins that changed (a few), and the view copies the image pixel for pixel (issue 16: the
GUI thread's share of a core). The pure NumPy part (:func:`column_spans`,
:func:`paint_columns`) and its plain-Python twin for a frame's few columns give the same
pixels (``tests/gui/test_gui_trace_strip.py``).
"""

from __future__ import annotations

import math

import numpy as np
from pyqtgraph.Qt import QtCore, QtGui


def rgb_pixel(colour: QtGui.QColor, over: QtGui.QColor | None = None) -> int:
    """``colour`` as an opaque 0xffRRGGBB pixel, composited over ``over`` if translucent."""
    a = colour.alphaF() if over is not None else 1.0
    under = over if over is not None else colour
    rgb = [round(a * c + (1.0 - a) * u) for c, u in
           zip(colour.getRgb()[:3], under.getRgb()[:3], strict=True)]
    return 0xFF000000 | (rgb[0] << 16) | (rgb[1] << 8) | rgb[2]


def column_spans(columns: np.ndarray, px_per_bin: float, base: int, y_peak: np.ndarray,
                 y_env: np.ndarray) -> tuple[np.ndarray, ...]:
    """What each pixel column of one channel shows: its zig-zag's and envelope's extent.

    Bin ``a`` (absolute number) is drawn at pixel ``a * px_per_bin``, as the zig-zag and
    the envelope line put their points. Pixel column ``j`` shows the bins drawn in it: the
    lowest minimum to the highest maximum, joined to the previous bin's maximum (the
    zig-zag's link, so every peak reaches its row), and the envelope from the previous
    bin's value to its last. A column in which no bin starts (more pixels than bins)
    repeats the column before it. A column without data is NaN (drawn blank).

    Parameters
    ----------
    columns : numpy.ndarray
        Absolute pixel columns (int).
    px_per_bin : float
        Device pixels per bin.
    base : int
        Absolute number of display position 0 (the oldest bin in ``y_env``).
    y_peak, y_env : numpy.ndarray
        One channel's zig-zag (min, max per bin) and envelope, oldest bin first.

    Returns
    -------
    top, bottom, env_top, env_bottom : numpy.ndarray
        Values (µV) per column.
    """
    n_pts = len(y_env)
    p1 = np.ceil((columns + 1) / px_per_bin).astype(np.intp) - 1 - base
    p0 = np.minimum(np.ceil(columns / px_per_bin).astype(np.intp) - base, p1)
    nan = np.full(len(columns), np.nan)
    top, bottom, env_top, env_bottom = nan.copy(), nan.copy(), nan.copy(), nan.copy()
    with np.errstate(invalid="ignore"):
        for off in range(int((p1 - p0).max(initial=0)) + 1):
            p = p0 + off
            ok = (p <= p1) & (p >= 0) & (p < n_pts)
            q = np.clip(p, 0, n_pts - 1)
            bottom = np.fmin(bottom, np.where(ok, y_peak[2 * q], np.nan))
            top = np.fmax(top, np.where(ok, y_peak[2 * q + 1], np.nan))
            env = np.where(ok, y_env[q], np.nan)
            env_top, env_bottom = np.fmax(env_top, env), np.fmin(env_bottom, env)
        prev = p0 - 1
        ok = (prev >= 0) & (prev < n_pts)
        q = np.clip(prev, 0, n_pts - 1)
        link = np.where(ok, y_peak[2 * q + 1], np.nan)
        has = np.isfinite(top)
        top = np.where(has, np.fmax(top, link), np.nan)
        bottom = np.where(has, np.fmin(bottom, link), np.nan)
        link = np.where(ok, y_env[q], np.nan)
        has = np.isfinite(env_top)
        env_top = np.where(has, np.fmax(env_top, link), np.nan)
        env_bottom = np.where(has, np.fmin(env_bottom, link), np.nan)
    return top, bottom, env_top, env_bottom


def paint_columns(px: np.ndarray, ring: np.ndarray, spans: tuple, range_uv: float,
                  colours: dict) -> None:
    """Paint pixel columns (from :func:`column_spans`) into a strip image.

    Parameters
    ----------
    px : numpy.ndarray
        ``(height, width)`` uint32 pixels (0xffRRGGBB), written in place.
    ring : numpy.ndarray
        The image column of each span.
    spans : tuple
        ``(top, bottom, env_top, env_bottom)`` per column, µV.
    range_uv : float
        The plot shows ``-range_uv`` (bottom row) to ``range_uv`` (top row).
    colours : dict
        Pixels ``"bg"`` and ``"peak"`` (per row: the zero row differs), ``"env"``.
    """
    height = px.shape[0]
    scale = height / (2.0 * range_uv)
    rows = np.arange(height)[:, None]
    masks = []
    with np.errstate(invalid="ignore"):
        for top, bottom in (spans[:2], spans[2:]):
            ok = np.isfinite(top)
            # Rows from the top; a span wholly outside the plot paints nothing (clipped).
            r0 = np.where(ok, np.clip(np.floor((range_uv - top) * scale), -1, height), height)
            r1 = np.where(ok, np.clip(np.floor((range_uv - bottom) * scale), -1, height), -1)
            masks.append((rows >= r0) & (rows <= r1))
    out = np.where(masks[0], colours["peak"][:, None], colours["bg"][:, None])
    out[masks[1]] = colours["env"]
    px[:, ring] = out


def _paint_few(px: np.ndarray, columns: list, px_per_bin: float, base: int,
               y_peak: np.ndarray, y_env: np.ndarray, range_uv: float,
               colours: dict) -> None:
    """:func:`column_spans` and :func:`paint_columns` for a frame's few new columns, in
    plain Python: the same pixels without the NumPy calls a vectorised pass costs."""
    height, width = px.shape
    scale = height / (2.0 * range_uv)
    bg, peak, env_px = colours["bg"], colours["peak"], int(colours["env"])
    n_pts = len(y_env)
    floor, ceil = math.floor, math.ceil
    for j in columns:
        column = px[:, j % width]
        column[:] = bg
        p1 = ceil((j + 1) / px_per_bin) - 1 - base
        p0 = min(ceil(j / px_per_bin) - base, p1)
        lo = hi = e_lo = e_hi = math.nan
        for p in range(max(p0, 0), min(p1, n_pts - 1) + 1):
            a, b, e = float(y_peak[2 * p]), float(y_peak[2 * p + 1]), float(y_env[p])
            if a == a:  # not NaN
                lo, hi = (a, b) if lo != lo else (min(lo, a), max(hi, b))
            if e == e:
                e_lo, e_hi = (e, e) if e_lo != e_lo else (min(e_lo, e), max(e_hi, e))
        if 0 < p0 <= n_pts:
            link, e = float(y_peak[2 * p0 - 1]), float(y_env[p0 - 1])
            if hi == hi and link == link:
                lo, hi = min(lo, link), max(hi, link)
            if e_hi == e_hi and e == e:
                e_lo, e_hi = min(e_lo, e), max(e_hi, e)
        if hi == hi:
            r0, r1 = floor((range_uv - hi) * scale), floor((range_uv - lo) * scale)
            if r1 >= 0 and r0 < height:
                r0, r1 = max(r0, 0), min(r1, height - 1) + 1
                column[r0:r1] = peak[r0:r1]
        if e_hi == e_hi:
            r0, r1 = floor((range_uv - e_hi) * scale), floor((range_uv - e_lo) * scale)
            if r1 >= 0 and r0 < height:
                column[max(r0, 0):min(r1, height - 1) + 1] = env_px


class Strip:
    """One plot's traces as an image at device resolution, scrolled as a ring.

    Pixel column ``j`` (absolute, ``j / px_per_bin`` bins since the stream's start) lives
    in image column ``j % width``. Each frame paints only the columns of the bins that
    completed or changed since the last paint (and the bin still filling), and the view
    copies the ring in two pieces, pixel for pixel: drawing every bin's line again each
    frame cost most of the trace view's time (about 2.5 ms a frame at 8 channels), and a
    scaled copy costs 5x an unscaled one. A new y range, size or window paints it whole.
    """

    def __init__(self) -> None:
        self.image: QtGui.QImage | None = None
        self.px: np.ndarray | None = None
        self.key: tuple | None = None
        self.head = 0  # the decimator's complete bins when the strip was last painted
        self.newest = -1  # the newest pixel column painted (absolute)
        self.px_per_bin = 1.0

    def update(self, dec, channel: int, head: int, width_px: float,
               height: int, range_uv: float, colours: dict) -> None:
        """Paint what changed; ``width_px`` is the plot's width in device pixels."""
        # The plot's width shows window_s: bins per pixel follow from the bin length.
        px_per_bin = width_px * dec.bin_s / dec.window_s
        n_ring = math.ceil(width_px) + 2
        key = (n_ring, height, range_uv, px_per_bin, dec.n_bins)
        newest = math.ceil((head + 1) * px_per_bin) - 1  # the filling bin's last column
        oldest = newest - n_ring + 1
        if key != self.key or not 0 <= head - self.head <= dec.n_bins:
            if self.image is None or (self.image.width(), self.image.height()) != \
                    (n_ring, height):
                self.image = QtGui.QImage(n_ring, height, QtGui.QImage.Format_RGB32)
                ptr = self.image.bits()
                ptr.setsize(self.image.sizeInBytes())
                self.px = np.frombuffer(ptr, np.uint32).reshape(
                    height, self.image.bytesPerLine() // 4)[:, :n_ring]
            self.key = key
            first = oldest
        else:  # the columns of the bins completed since the last paint, and the newest
            first = max(oldest, math.floor(self.head * px_per_bin))
        self.head, self.newest, self.px_per_bin = head, newest, px_per_bin
        base = head - dec.n_bins
        y_peak, y_env = dec.y_peak[channel], dec.y_env[channel]
        if newest - first < 8:
            _paint_few(self.px, list(range(first, newest + 1)), px_per_bin, base, y_peak,
                       y_env, range_uv, colours)
        else:
            columns = np.arange(first, newest + 1)
            paint_columns(self.px, columns % n_ring,
                          column_spans(columns, px_per_bin, base, y_peak, y_env),
                          range_uv, colours)

    def draw(self, p: QtGui.QPainter, right_px: float, top_px: float) -> None:
        """Copy the ring, oldest column first, so that "now" is at ``right_px`` (device
        pixels; the painter maps them one to one)."""
        n = self.image.width()
        # The filling bin ends at "now": its end is (head + 1) * px_per_bin columns.
        left = round(right_px - (self.head + 1) * self.px_per_bin + self.newest - n + 1)
        top = round(top_px)
        split = (self.newest + 1) % n  # the oldest column's place in the ring
        p.drawImage(QtCore.QPoint(left, top), self.image,
                    QtCore.QRect(split, 0, n - split, self.image.height()))
        if split:
            p.drawImage(QtCore.QPoint(left + n - split, top), self.image,
                        QtCore.QRect(0, 0, split, self.image.height()))
