"""Tiny inline-SVG charts for the HTML report (no plotting library needed).

Each function returns an ``<svg>`` element as text, sized in CSS pixels, with axes, ticks
and labels; data are decimated to about one min/max pair per pixel column.
"""

from __future__ import annotations

import math
from html import escape

import numpy as np

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
           "#17becf")


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering ``[lo, hi]``."""
    if not math.isfinite(lo) or not math.isfinite(hi) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [round(first + i * step, 10) for i in range(int((hi - first) / step + 1e-9) + 1)]


def _fmt(v: float) -> str:
    return f"{v:g}" if abs(v) < 1e5 else f"{v:.2e}"


class Frame:
    """A plotting area with data → pixel transforms and axes."""

    def __init__(self, width, height, xlim, ylim, margin=(55, 12, 10, 28)):
        self.w, self.h = width, height
        self.left, self.right, self.top, self.bottom = margin
        self.x0, self.x1 = xlim
        self.y0, self.y1 = ylim
        if self.x1 <= self.x0:
            self.x1 = self.x0 + 1
        if self.y1 <= self.y0:
            self.y1 = self.y0 + 1
        self.parts: list[str] = []

    def px(self, x):
        return self.left + (np.asarray(x, float) - self.x0) / (self.x1 - self.x0) * (
            self.w - self.left - self.right)

    def py(self, y):
        return self.h - self.bottom - (np.asarray(y, float) - self.y0) / (self.y1 - self.y0) * (
            self.h - self.top - self.bottom)

    def axes(self, xlabel="", ylabel="", xticks=None, yticks=None):
        x_a, x_b = self.left, self.w - self.right
        y_a, y_b = self.top, self.h - self.bottom
        p = self.parts
        p.append(f'<rect x="{x_a}" y="{y_a}" width="{x_b - x_a}" height="{y_b - y_a}" '
                 'fill="none" stroke="#888" stroke-width="0.8"/>')
        for t in (nice_ticks(self.y0, self.y1, 4) if yticks is None else yticks):
            y = float(self.py(t))
            p.append(f'<line x1="{x_a}" x2="{x_b}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
            p.append(f'<text x="{x_a - 4}" y="{y + 3:.1f}" text-anchor="end">{_fmt(t)}</text>')
        if xticks is None:
            xticks = [(t, _fmt(t)) for t in nice_ticks(self.x0, self.x1, 8)]
        for t, label in xticks:
            x = float(self.px(t))
            p.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y_b}" y2="{y_b + 4}" stroke="#888"/>')
            p.append(f'<text x="{x:.1f}" y="{y_b + 15}" text-anchor="middle">'
                     f'{escape(label)}</text>')
        if xlabel:
            p.append(f'<text x="{(x_a + x_b) / 2:.0f}" y="{self.h - 2}" '
                     f'text-anchor="middle">{escape(xlabel)}</text>')
        if ylabel:
            p.append(f'<text x="12" y="{(y_a + y_b) / 2:.0f}" text-anchor="middle" '
                     f'transform="rotate(-90 12 {(y_a + y_b) / 2:.0f})">{escape(ylabel)}</text>')

    def band(self, xa, xb, color, opacity=0.15, title=""):
        a, b = float(self.px(max(xa, self.x0))), float(self.px(min(xb, self.x1)))
        if b <= a:
            return
        tip = f"<title>{escape(title)}</title>" if title else ""
        self.parts.append(f'<rect x="{a:.1f}" y="{self.top}" width="{b - a:.1f}" '
                          f'height="{self.h - self.top - self.bottom}" fill="{color}" '
                          f'fill-opacity="{opacity}">{tip}</rect>')

    def vline(self, x, color, dash="", title="", label=""):
        if not self.x0 <= x <= self.x1:
            return
        xp = float(self.px(x))
        d = f' stroke-dasharray="{dash}"' if dash else ""
        tip = f"<title>{escape(title)}</title>" if title else ""
        self.parts.append(f'<line x1="{xp:.1f}" x2="{xp:.1f}" y1="{self.top}" '
                          f'y2="{self.h - self.bottom}" stroke="{color}" stroke-width="1.2"{d}>'
                          f'{tip}</line>')
        if label:
            self.parts.append(f'<text x="{xp + 2:.1f}" y="{self.top + 10}" fill="{color}">'
                              f'{escape(label)}</text>')

    def hline(self, y, color, dash="4 3", label=""):
        if not self.y0 <= y <= self.y1:
            return
        yp = float(self.py(y))
        self.parts.append(f'<line x1="{self.left}" x2="{self.w - self.right}" y1="{yp:.1f}" '
                          f'y2="{yp:.1f}" stroke="{color}" stroke-dasharray="{dash}"/>')
        if label:
            self.parts.append(f'<text x="{self.w - self.right - 3}" y="{yp - 3:.1f}" '
                              f'text-anchor="end" fill="{color}">{escape(label)}</text>')

    def line(self, x, y, color, width=1.2, points=False):
        x, y = np.asarray(x, float), np.asarray(y, float)
        if x.size == 0:
            return
        xs, ys = self.px(x), self.py(np.clip(y, self.y0, self.y1))
        pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(xs, ys, strict=True))
        self.parts.append(f'<polyline points="{pts}" fill="none" stroke="{color}" '
                          f'stroke-width="{width}"/>')
        if points:
            for a, b in zip(xs, ys, strict=True):
                self.parts.append(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{color}"/>')

    def rect(self, xa, xb, ya, yb, color, title=""):
        x_a, x_b = sorted((float(self.px(xa)), float(self.px(xb))))
        y_a, y_b = sorted((float(self.py(ya)), float(self.py(yb))))
        tip = f"<title>{escape(title)}</title>" if title else ""
        self.parts.append(f'<rect x="{x_a:.1f}" y="{y_a:.1f}" width="{x_b - x_a:.1f}" '
                          f'height="{max(0.5, y_b - y_a):.1f}" fill="{color}">{tip}</rect>')

    def text(self, x, y, s, color="#333", anchor="middle"):
        self.parts.append(f'<text x="{float(self.px(x)):.1f}" y="{float(self.py(y)):.1f}" '
                          f'text-anchor="{anchor}" fill="{color}">{escape(s)}</text>')

    def svg(self, title: str = "") -> str:
        label = f' aria-label="{escape(title)}"' if title else ""
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.w}" height="{self.h}" '
                f'viewBox="0 0 {self.w} {self.h}" role="img"{label} font-family="sans-serif" '
                f'font-size="10">' + "".join(self.parts) + "</svg>")


def minmax_decimate(x: np.ndarray, y: np.ndarray, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep the min and max of ``y`` in each of ``columns`` bins (peaks stay visible)."""
    n = x.size
    if n <= 2 * columns:
        return x, y
    edges = np.linspace(0, n, columns + 1).astype(int)
    xs, ys = [], []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        if b <= a:
            continue
        seg = y[a:b]
        i, j = int(np.argmin(seg)), int(np.argmax(seg))
        for k in sorted((i, j)):
            xs.append(x[a + k])
            ys.append(seg[k])
    return np.asarray(xs), np.asarray(ys)
