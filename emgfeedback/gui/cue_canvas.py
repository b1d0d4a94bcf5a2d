"""Painting a :class:`~emgfeedback.gui.feedback.FeedbackModel`: bars, goals, countdown, reward.

:class:`CueCanvas` is used twice: small in the therapist's panel and large in the client's
view. Every text it draws is recorded with its rectangle in :attr:`CueCanvas.drawn`, so the
layout can be checked (nothing overlaps, nothing is cut) at any window size.

Layout rules that keep labels apart at every size:

* a goal's label ("▲ goal 17 µV") sits in a gutter *beside* its bar, at the height of the
  goal line, so it never covers the bar's fill or base; only when the view is too narrow
  for gutters does it go inside the column (:func:`goal_label_rect`);
* the reward badge has its own band under the bars and stays opaque while it fades: its
  colour blends from green to the panel's colour and the text switches between white and
  black, whichever contrasts more (:func:`badge_colours`, contrast >= 4.5:1 throughout);
* the client view shows the current cue (the instruction) and the countdown of the current
  part of the phase, in stream time (:meth:`FeedbackModel.countdown_s`).
"""

from __future__ import annotations

import math

from pyqtgraph.Qt import QtCore, QtGui, QtWidgets

from emgfeedback.gui import palette
from emgfeedback.gui.feedback import MODE_LABELS, Bar, FeedbackModel, scale_caption
from emgfeedback.gui.order_timeline import OrderTimeline

#: Qt's raster engine draws glyphs larger than this (pixels) as paths, about 20x slower
#: than from its glyph cache (the client view's title and names on a big screen). The
#: canvas now renders every text once into an image and copies it (``_text_image``).
CACHED_GLYPH_MAX_PX = 64
#: Minimum contrast ratio (WCAG 2 definition) of the reward badge's text on its background.
BADGE_MIN_CONTRAST = 4.5
#: The badge's background at full strength (a darker Okabe-Ito green: white text on it
#: has a contrast above 5:1).
BADGE_GREEN = "#00745A"


def relative_luminance(colour: QtGui.QColor) -> float:
    """WCAG 2 relative luminance of an sRGB colour (0 black .. 1 white)."""
    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return (0.2126 * lin(colour.redF()) + 0.7152 * lin(colour.greenF())
            + 0.0722 * lin(colour.blueF()))


def contrast_ratio(a: QtGui.QColor, b: QtGui.QColor) -> float:
    """WCAG 2 contrast ratio of two colours (1 .. 21)."""
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def badge_colours(strength: float, panel: str = palette.PANEL
                  ) -> tuple[QtGui.QColor, QtGui.QColor]:
    """(background, text) of the reward badge at ``strength`` 1 (solid) .. 0 (gone).

    The background is opaque: the green blended into the panel's colour, so the badge
    fades without turning translucent; the text is white or black, whichever contrasts
    more with it (at least :data:`BADGE_MIN_CONTRAST` at every strength).
    """
    s = min(1.0, max(0.0, strength))
    g, p = QtGui.QColor(BADGE_GREEN), QtGui.QColor(panel)
    bg = QtGui.QColor.fromRgbF(p.redF() + (g.redF() - p.redF()) * s,
                               p.greenF() + (g.greenF() - p.greenF()) * s,
                               p.blueF() + (g.blueF() - p.blueF()) * s)
    white, black = QtGui.QColor("#FFFFFF"), QtGui.QColor("#000000")
    fg = white if contrast_ratio(bg, white) >= contrast_ratio(bg, black) else black
    return bg, fg


def goal_label_rect(col: QtCore.QRectF, line_y: float, width: float, height: float,
                    direction: str, pad: float) -> QtCore.QRectF:
    """Where a goal's label goes inside the bar's column (when there is no gutter beside it).

    The label sits on the side the goal points to (above the line for "above", below it
    for "below"); when that side has no room (a line near the top or the bottom of the
    column) it goes on the other side, so it never covers the value or the channel name.

    Parameters
    ----------
    col : QRectF
        The bar's column.
    line_y : float
        Height of the goal line in pixels.
    width, height : float
        Size of the label.
    direction : str
        ``"above"`` or ``"below"``.
    pad : float
        Gap between the line and the label in pixels.

    Returns
    -------
    QRectF
    """
    above = line_y - pad - height
    below = line_y + pad
    top = above if direction == "above" else below
    if top < col.top():
        top = below
    if top + height > col.bottom():
        top = above
    top = min(max(top, col.top()), col.bottom() - height)
    return QtCore.QRectF(col.center().x() - width / 2, top, width, height)


def goal_label_text(bar: Bar) -> str:
    """A goal's label, e.g. ``"▲ goal 17 µV"``."""
    arrow = "▲" if bar.direction == "above" else "▼"
    return f"{arrow} goal {bar.goal_uv:.0f} µV"


def _only_levels_moved(old_bars: tuple, new_bars: tuple) -> bool:
    """Whether two signatures' bars differ only in their levels (same channels, goals,
    directions, goal states and scales): then only the bars' area needs repainting."""
    return len(old_bars) == len(new_bars) and all(
        a[0] == b[0] and a[2:] == b[2:] for a, b in zip(old_bars, new_bars, strict=True))


class CueCanvas(QtWidgets.QWidget):
    """Paints a :class:`FeedbackModel`: bars, goals, hold timer, reps, countdown, reward.

    Parameters
    ----------
    model : FeedbackModel
        What to show.
    large : bool
        Client view: only the cue, sized to be read from two metres.

    Attributes
    ----------
    drawn : dict
        After each paint: name -> ``(QRectF, text)`` of every text, bar and badge drawn
        (names such as ``"title"``, ``"countdown"``, ``"value:0"``, ``"goal:0"``,
        ``"bar:0"``, ``"reward"``), in the canvas's coordinates.
    """

    def __init__(self, model: FeedbackModel, large: bool = False, parent=None) -> None:
        super().__init__(parent)
        self.model = model
        self.large = large
        self.setMinimumSize(240, 140)
        self.setAutoFillBackground(False)
        # paint() fills the whole canvas: opaque, so Qt does not repaint the style-sheet
        # panel behind it first at every repaint.
        self.setAttribute(QtCore.Qt.WA_OpaquePaintEvent, True)
        self._drawn: tuple | None = None
        # Where the bars, their values and names were drawn by the last whole paint (None
        # before it or in symmetry mode): a frame where only levels moved repaints that.
        self._bars_area: QtCore.QRect | None = None
        self.drawn: dict[str, tuple[QtCore.QRectF, str]] = {}
        # Fonts by (pixel size, bold) and fitted fonts by (text, width, size, bold): the
        # canvas repaints up to 60 times a second with mostly the same texts, so a new
        # QFont and its metrics per text and paint are not needed.
        self._fonts: dict[tuple, QtGui.QFont] = {}
        self._fitted: dict[tuple, QtGui.QFont] = {}
        # Texts drawn once into images, with their boxes (see _text_image).
        self._text_images: dict[tuple, tuple[QtGui.QImage, QtCore.QRectF]] = {}

    def signature(self) -> tuple:
        """What the canvas shows, rounded to what can be seen (repaint only on change)."""
        m = self.model
        # Only the bars drawn: the client view repaints for its own bars, not for every
        # channel's level (the shared scale is in each bar).
        shown = m.bars if m.mode == "symmetry" else self._shown_bars()
        bars = tuple((b.channel, round(b.level_uv, 0) if math.isfinite(b.level_uv) else None,
                      round(b.goal_uv, 1) if math.isfinite(b.goal_uv) else None, b.direction,
                      b.met, b.scale_uv) for b in shown)
        return (m.mode, m.instruction, m.rep, m.reps, m.reps_passed, m.met, m.holding,
                round(m.held_s, 1), round(m.time_in_zone_s, 1), round(m.reward_visible, 2),
                round(m.symmetry_index_pct, 0) if math.isfinite(m.symmetry_index_pct) else None,
                m.countdown_text(), bars)

    def refresh(self) -> None:
        """Schedule a repaint if anything visible changed."""
        sig = self.signature()
        if sig == self._drawn:
            return
        old, self._drawn = self._drawn, sig
        area = self._bars_area
        if area is not None and old is not None and old[:-1] == sig[:-1] \
                and _only_levels_moved(old[-1], sig[-1]):
            # Only bar levels (and values) changed: repaint the bars, not the whole canvas
            # with its texts (about half its paint, at up to 60 Hz; issue 16).
            self.update(area)
        else:
            self.update()

    # ------------------------------------------------------------------ painting
    def paintEvent(self, ev) -> None:  # noqa: N802 - Qt override
        p = QtGui.QPainter(self)
        area = self._bars_area
        only_bars = area is not None and area.contains(ev.rect())
        try:
            if only_bars:
                p.setClipRect(area)
            self.paint(p, QtCore.QRectF(self.rect()), only_bars=only_bars)
        finally:
            p.end()

    def paint(self, p: QtGui.QPainter, rect: QtCore.QRectF, only_bars: bool = False) -> None:
        """Paint the whole canvas into ``rect`` (also used to lay out without a screen).

        ``only_bars``: repaint the bars' area only (its clip is set: see :meth:`refresh`);
        the other entries of :attr:`drawn` are kept from the last whole paint.
        """
        if not only_bars:
            self.drawn = {}
            self._bars_area = None
        p.setRenderHint(QtGui.QPainter.Antialiasing, True)
        p.fillRect(self._bars_area if only_bars else rect,
                   QtGui.QColor(palette.PANEL if not self.large else palette.BACKGROUND))
        m = self.model
        unit = rect.height() / 22.0 if self.large else max(13.0, rect.height() / 17.0)
        unit = min(unit, rect.width() / (18.0 if self.large else 22.0))
        inner = rect.adjusted(unit, unit * 0.5, -unit, -unit * 0.5)
        title_h = unit * (2.6 if self.large else 1.7)
        count_h = unit * 2.2 if self.large and m.protocol_active else 0.0
        info_h = unit * (1.4 if self.large else 1.2)
        reward_h = unit * (2.4 if self.large else 1.9)
        top = inner.top()
        if not only_bars:
            self._draw_title(p, QtCore.QRectF(inner.left(), top, inner.width(), title_h))
        top += title_h
        if count_h:
            if not only_bars:
                self._draw_countdown(p, QtCore.QRectF(inner.left(), top, inner.width(),
                                                      count_h))
            top += count_h
        if not only_bars:
            self._draw_info(p, QtCore.QRectF(inner.left(), top, inner.width(), info_h))
        top += info_h + unit * 0.5
        body = QtCore.QRectF(inner.left(), top, inner.width(),
                             inner.bottom() - reward_h - top)
        if m.mode == "symmetry":
            self._draw_symmetry(p, body, unit)
        else:
            area = self._draw_bars(p, body, unit)
            if not only_bars and area is not None:
                # Clipped to the body: nothing else is drawn there but the bars.
                self._bars_area = area.intersected(body).toAlignedRect()
        if m.reward_visible > 0 and not only_bars:
            self._draw_reward(p, QtCore.QRectF(inner.left(), inner.bottom() - reward_h,
                                               inner.width(), reward_h), m.reward_visible)

    def _text(self, p: QtGui.QPainter, key: str, rect: QtCore.QRectF, flags, text: str) -> None:
        if not text:
            return
        dpr = p.device().devicePixelRatioF() if p.device() is not None else 1.0
        image, box = self._text_image(p, rect, flags, text, dpr)
        p.drawImage(rect.topLeft(), image)
        self.drawn[key] = (box.translated(rect.topLeft()), text)

    def _text_image(self, p: QtGui.QPainter, rect: QtCore.QRectF, flags, text: str,
                    dpr: float) -> tuple[QtGui.QImage, QtCore.QRectF]:
        """A text rendered into an image once per text, font, colour and box size, and its
        bounding box relative to the box's corner.

        Every text, not only large ones (which Qt's raster engine draws as paths, about 20x
        slower than from its glyph cache: see :data:`CACHED_GLYPH_MAX_PX`): both canvases
        repaint at up to 60 Hz with mostly the same texts, and copying an image costs a
        fraction of laying a text out and measuring it again (issue 16, GUI thread CPU).
        """
        key = (text, p.font().key(), p.pen().color().rgba(), int(flags), rect.width(),
               rect.height(), dpr)
        cached = self._text_images.get(key)
        if cached is None:
            image = QtGui.QImage(max(1, math.ceil(rect.width() * dpr)),
                                 max(1, math.ceil(rect.height() * dpr)),
                                 QtGui.QImage.Format_ARGB32_Premultiplied)
            image.setDevicePixelRatio(dpr)
            image.fill(QtCore.Qt.transparent)
            q = QtGui.QPainter(image)
            q.setRenderHints(p.renderHints())
            q.setFont(p.font())
            q.setPen(p.pen())
            local = QtCore.QRectF(0.0, 0.0, rect.width(), rect.height())
            q.drawText(local, flags, text)
            q.end()
            box = QtGui.QFontMetricsF(p.font()).boundingRect(local, int(flags), text)
            # Levels change every frame (values 0-999 µV per channel): bounded, not LRU.
            if len(self._text_images) > 512:
                self._text_images.clear()
            cached = self._text_images[key] = (image, box)
        return cached

    def changeEvent(self, ev) -> None:  # noqa: N802 - Qt override
        if ev.type() == QtCore.QEvent.FontChange:  # the cached fonts derive from ours
            self._fonts.clear()
            self._fitted.clear()
            self._text_images.clear()
        super().changeEvent(ev)

    def _font(self, size: float, bold: bool = False) -> QtGui.QFont:
        key = (max(8, int(size)), bold)
        f = self._fonts.get(key)
        if f is None:
            f = QtGui.QFont(self.font())
            f.setPixelSize(key[0])
            f.setBold(bold)
            self._fonts[key] = f
        return f

    def _fitted_font(self, text: str, width: float, size: float,
                     bold: bool = False) -> QtGui.QFont:
        """The largest font up to ``size`` px in which ``text`` fits ``width``."""
        key = (text, width, size, bold)
        font = self._fitted.get(key)
        if font is not None:
            return font
        font = self._font(size, bold)
        w = QtGui.QFontMetricsF(font).horizontalAdvance(text)
        if w > width > 0:
            font = self._font(size * width / w * 0.95, bold)
        if len(self._fitted) > 1024:  # values change; keep the cache small
            self._fitted.clear()
        self._fitted[key] = font
        return font

    def _align(self):
        return QtCore.Qt.AlignHCenter if self.large else QtCore.Qt.AlignLeft

    def _draw_title(self, p: QtGui.QPainter, r: QtCore.QRectF) -> None:
        m = self.model
        text = m.instruction or MODE_LABELS.get(m.mode, "")
        p.setPen(QtGui.QColor(palette.TEXT))
        p.setFont(self._fitted_font(text, r.width(), r.height() * 0.8, True))
        self._text(p, "title", r, self._align() | QtCore.Qt.AlignVCenter, text)

    def _draw_countdown(self, p: QtGui.QPainter, r: QtCore.QRectF) -> None:
        m = self.model
        left = m.countdown_text()
        if not left:
            return
        word = {"work": "work", "rest": "rest", "release": "let go"}.get(m.segment, "")
        text = f"{word} · {left} left" if word else f"{left} left"
        p.setPen(QtGui.QColor(palette.WORKING))
        p.setFont(self._fitted_font(text, r.width(), r.height() * 0.8, True))
        self._text(p, "countdown", r, QtCore.Qt.AlignHCenter | QtCore.Qt.AlignVCenter, text)

    def _draw_info(self, p: QtGui.QPainter, r: QtCore.QRectF) -> None:
        m = self.model
        parts = []
        if not self.large and m.countdown_text():
            parts.append(f"{m.countdown_text()} left")
        if m.reps:
            parts.append(f"rep {m.rep} of {m.reps} · {m.reps_passed} ✓")
        if m.mode == "downtraining":
            parts.append(f"in zone {m.time_in_zone_s:.1f} s")
        if m.met:
            parts.append(f"goal held {m.held_s:.1f} s")
        elif m.holding:
            parts.append("hold it…")
        if m.bars:
            parts.append(scale_caption(m.scale_uv, len(m.bars)))
        line = "   ·   ".join(parts)
        p.setFont(self._fitted_font(line, r.width(), r.height() * 0.75))
        p.setPen(QtGui.QColor(palette.MUTED))
        self._text(p, "info", r, self._align() | QtCore.Qt.AlignVCenter, line)

    def _shown_bars(self) -> list[Bar]:
        """The bars :meth:`_draw_bars` draws: the client sees only those with a goal."""
        bars = self.model.bars
        if self.large:
            bars = [b for b in bars if b.direction] or bars[:1]
        return bars

    def _draw_bars(self, p: QtGui.QPainter, r: QtCore.QRectF,
                   unit: float) -> QtCore.QRectF | None:
        """Draw the bars; returns the area of their columns, values and names."""
        bars = self._shown_bars()
        if not bars or r.height() <= 0:
            return None
        area = QtCore.QRectF()
        n = len(bars)
        gap = unit * (2.0 if self.large else 1.0)
        pill_size = unit * (0.95 if self.large else 0.85)
        pill_h = unit * (1.4 if self.large else 1.2)
        goals = [b for b in bars if b.direction and math.isfinite(b.goal_uv)]
        pill_font = self._font(pill_size, True)
        pill_w = max((QtGui.QFontMetricsF(pill_font).horizontalAdvance(goal_label_text(b))
                      for b in goals), default=0.0)
        gutter = pill_w + unit * 1.3 if goals else 0.0
        width = (r.width() - gap * (n - 1) - gutter * n) / n
        if width < unit * 2.5:  # too narrow for gutters: labels go inside the columns
            gutter = 0.0
            width = (r.width() - gap * (n - 1)) / n
        width = min(width, unit * (14 if self.large else 7))
        total = (width + gutter) * n + gap * (n - 1)
        x = r.left() + (r.width() - total) / 2  # each slot: the bar, then its gutter
        label_h = unit * (1.6 if self.large else 1.4)
        value_h = unit * (2.6 if self.large else 1.6)
        for b in bars:
            col = QtCore.QRectF(x, r.top() + value_h, width, r.height() - value_h - label_h)
            self._draw_bar(p, b, col, unit, gutter, pill_h, pill_size)
            p.setPen(QtGui.QColor(palette.TEXT))
            value = f"{b.level_uv:.0f} µV" if math.isfinite(b.level_uv) else "– µV"
            if b.met:
                value += "  ✓"
            # Value and name are centred on the bar; they may use the gutter's width too.
            spare = min(gutter, gap / 2 + gutter / 2)
            slot = QtCore.QRectF(x - spare, r.top(), width + 2 * spare, value_h)
            slot = slot.intersected(QtCore.QRectF(r.left(), r.top(), r.width(), value_h))
            p.setFont(self._fitted_font(value, slot.width(), unit * (2.0 if self.large
                                                                     else 1.2), True))
            self._text(p, f"value:{b.channel}", slot, QtCore.Qt.AlignCenter, value)
            name = QtCore.QRectF(slot.left(), col.bottom() + unit * 0.2, slot.width(), label_h)
            p.setFont(self._fitted_font(b.label, name.width(),
                                        unit * (1.2 if self.large else 0.85)))
            p.setPen(QtGui.QColor(palette.MUTED))
            self._text(p, f"name:{b.channel}", name,
                       QtCore.Qt.AlignHCenter | QtCore.Qt.AlignTop, b.label)
            area = area.united(slot).united(col.adjusted(-2, -2, 2, 2))
            x += width + gutter + gap
        return area

    def _draw_bar(self, p: QtGui.QPainter, b: Bar, col: QtCore.QRectF, unit: float,
                  gutter: float, pill_h: float, pill_size: float) -> None:
        p.setPen(QtGui.QPen(QtGui.QColor(palette.GRID), 1))
        p.setBrush(QtGui.QColor("#EFEFEA"))
        p.drawRoundedRect(col, unit * 0.3, unit * 0.3)
        self.drawn[f"bar:{b.channel}"] = (QtCore.QRectF(col), "")
        frac = 0.0 if not math.isfinite(b.level_uv) else min(1.0, b.level_uv / b.scale_uv)
        fill = QtCore.QRectF(col.left(), col.bottom() - frac * col.height(), col.width(),
                             frac * col.height())
        colour = palette.MET if b.met else palette.WORKING
        p.setPen(QtCore.Qt.NoPen)
        p.setBrush(QtGui.QColor(colour))
        p.drawRoundedRect(fill, unit * 0.3, unit * 0.3)
        if not (b.direction and math.isfinite(b.goal_uv)):
            return
        y = col.bottom() - min(1.0, b.goal_uv / b.scale_uv) * col.height()
        label = goal_label_text(b)
        if gutter > 0:  # the label beside the bar, at the line's height
            room = QtCore.QRectF(col.right() + unit * 0.5, col.top(), gutter - unit * 0.7,
                                 col.height())
            font = self._fitted_font(label, room.width() - unit * 0.4, pill_size, True)
            tw = min(room.width(), QtGui.QFontMetricsF(font).horizontalAdvance(label)
                     + unit * 0.4)
            top = min(max(y - pill_h / 2, col.top()), col.bottom() - pill_h)
            pill = QtCore.QRectF(room.left(), top, tw, pill_h)
            line_end = pill.left()
        else:
            room_w = col.width() + unit * 0.9
            font = self._fitted_font(label, room_w - unit * 0.6, pill_size, True)
            tw = QtGui.QFontMetricsF(font).horizontalAdvance(label) + unit * 0.6
            pill = goal_label_rect(col, y, tw, pill_h, b.direction, unit * 0.2)
            line_end = col.right() + unit * 0.4
        pen = QtGui.QPen(QtGui.QColor(palette.GOAL_LINE), max(2.0, unit * 0.18),
                         QtCore.Qt.DashLine)
        p.setPen(pen)
        p.drawLine(QtCore.QPointF(col.left() - unit * 0.4, y), QtCore.QPointF(line_end, y))
        p.setFont(font)
        p.setPen(QtGui.QPen(QtGui.QColor(palette.GOAL_LINE), 1))
        p.setBrush(QtGui.QColor(255, 255, 255, 235))
        p.drawRoundedRect(pill, pill_h / 3, pill_h / 3)
        p.setPen(QtGui.QColor(palette.TEXT))
        dpr = p.device().devicePixelRatioF() if p.device() is not None else 1.0
        p.drawImage(pill.topLeft(), self._text_image(p, pill, QtCore.Qt.AlignCenter, label,
                                                     dpr)[0])
        self.drawn[f"goal:{b.channel}"] = (QtCore.QRectF(pill), label)

    def _draw_symmetry(self, p: QtGui.QPainter, r: QtCore.QRectF, unit: float) -> None:
        m = self.model
        bars = {b.channel: b for b in m.bars}
        left, right = bars.get(m.left), bars.get(m.right)
        if left is None or right is None or r.height() <= 0:
            return
        # Vertical budget: gap, bars, their labels, the index and the side in words.
        label_h, index_h, words_h = unit * 2.0, unit * 3.0, unit * 1.6
        fixed = unit * 0.5 + unit * 0.3 + label_h + unit * 0.3 + index_h + words_h
        h = max(unit * 0.8, min(r.height() - fixed, unit * (6 if self.large else 3.5)))
        y = r.top() + max(unit * 0.5, (r.height() - fixed - h) / 2)
        mid = r.center().x()
        scale = m.scale_uv  # the one scale of both sides
        half = r.width() / 2 - unit
        for b, sign in ((left, -1), (right, 1)):
            frac = 0.0 if not math.isfinite(b.level_uv) else min(1.0, b.level_uv / scale)
            w = frac * half
            box = QtCore.QRectF(mid if sign > 0 else mid - half, y, half, h)
            p.setPen(QtGui.QPen(QtGui.QColor(palette.GRID), 1))
            p.setBrush(QtGui.QColor("#EFEFEA"))
            p.drawRect(box)
            fill = QtCore.QRectF(mid if sign > 0 else mid - w, y, w, h)
            p.setPen(QtCore.Qt.NoPen)
            p.setBrush(QtGui.QColor(palette.WORKING if sign < 0 else palette.OKABE_ITO["sky"]))
            p.drawRect(fill)
            p.setPen(QtGui.QColor(palette.TEXT))
            value = f"{b.level_uv:.0f} µV" if math.isfinite(b.level_uv) else "–"
            text = f"{b.label}  {value}"
            slot = QtCore.QRectF(box.left() + 2, y + h + unit * 0.3, half - 4, label_h)
            p.setFont(self._fitted_font(text, slot.width(), unit * (1.6 if self.large
                                                                    else 1.1), True))
            self._text(p, f"value:{b.channel}", slot, QtCore.Qt.AlignCenter, text)
        p.setPen(QtGui.QPen(QtGui.QColor(palette.TEXT), 2))
        p.drawLine(QtCore.QPointF(mid, y - unit * 0.4), QtCore.QPointF(mid, y + h + unit * 0.2))
        idx = m.symmetry_index_pct
        ok = math.isfinite(idx) and abs(idx) <= m.symmetry_max_pct
        p.setPen(QtGui.QColor(palette.TEXT))
        text = f"symmetry index {idx:+.0f} %" if math.isfinite(idx) else "symmetry index –"
        if ok:
            text += "  ✓"
        row = QtCore.QRectF(r.left(), y + h + unit * 0.6 + label_h, r.width(), index_h)
        p.setFont(self._fitted_font(text, row.width(), unit * (2.4 if self.large else 1.6),
                                    True))
        self._text(p, "index", row, QtCore.Qt.AlignCenter, text)
        if math.isfinite(idx) and round(idx) != 0:
            # The sign follows (R − L) / mean: say which side in words, smaller, below.
            p.setFont(self._font(unit * (1.2 if self.large else 0.9), False))
            self._text(p, "side", QtCore.QRectF(r.left(), row.bottom(), r.width(), words_h),
                       QtCore.Qt.AlignCenter,
                       "right side stronger" if idx > 0 else "left side stronger")

    def _draw_reward(self, p: QtGui.QPainter, band: QtCore.QRectF, strength: float) -> None:
        text = f"✓ {self.model.reward_text}"
        font = self._fitted_font(text, band.width() - band.height(), band.height() * 0.55,
                                 True)
        width = QtGui.QFontMetricsF(font).horizontalAdvance(text) + band.height()
        box = QtCore.QRectF(band.center().x() - width / 2, band.top() + band.height() * 0.1,
                            width, band.height() * 0.8)
        bg, fg = badge_colours(strength, palette.PANEL if not self.large
                               else palette.BACKGROUND)
        p.setPen(QtGui.QPen(QtGui.QColor(BADGE_GREEN), 1.5))
        p.setBrush(bg)
        p.drawRoundedRect(box, box.height() / 3, box.height() / 3)
        p.setPen(fg)
        p.setFont(font)
        p.drawText(box, QtCore.Qt.AlignCenter, text)
        self.drawn["reward"] = (QtCore.QRectF(box), text)


class FeedbackPanel(QtWidgets.QFrame):
    """The therapist's feedback panel: the cue canvas plus the firing-order timeline."""

    def __init__(self, model: FeedbackModel, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("panel")
        self.model = model
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        self.canvas = CueCanvas(model)
        self.timeline = OrderTimeline(model)
        self.timeline.setMinimumHeight(56)  # the window fits 1920x1080 at 200 % scaling
        self._rows_drawn = -1
        layout.addWidget(self.canvas, 3)
        layout.addWidget(self.timeline, 2)

    def refresh(self) -> None:
        self.timeline.setVisible(self.model.mode == "firing_order")
        self.canvas.refresh()
        rows = len(self.model.order_rows)
        if self.timeline.isVisible() and rows != self._rows_drawn:
            self._rows_drawn = rows
            self.timeline.update()
