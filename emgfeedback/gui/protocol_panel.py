"""Protocol panel: phase, instruction, countdown, progress and per-phase results."""

from __future__ import annotations

import math

from pyqtgraph.Qt import QtCore, QtWidgets

#: The instruction's and countdown's font size, px, and below :data:`NARROW_PANEL_PX` of
#: panel width.
BIG_FONT_PX = 28
SMALL_BIG_FONT_PX = 20
NARROW_PANEL_PX = 520


def summarise_phase(result: dict) -> str:
    """One line about a finished phase's result (what a therapist reads first)."""
    parts = []
    if result.get("reps_passed") is not None and result.get("reps"):
        parts.append(f"{result['reps_passed']}/{len(result['reps'])} reps passed")
    order = result.get("order")
    if order:
        lag = order.get("mean_lag_ms")
        parts.append(f"order right {order.get('right', 0)}, wrong {order.get('wrong', 0)}"
                     + (f", mean lag {lag:+.0f} ms" if lag is not None else ""))
    sym = result.get("symmetry")
    if isinstance(sym, dict):
        idx = sym.get("index_pct")
        if isinstance(idx, dict):
            idx = idx.get("mean")
        if isinstance(idx, (int, float)):
            parts.append(f"symmetry index {idx:.0f} %")
    for cid, ch in (result.get("channels") or {}).items():
        mean = ch.get("mean_uv")
        if isinstance(mean, dict):
            mean = mean.get("mean")
        if isinstance(mean, (int, float)):
            parts.append(f"{cid} {mean:.1f} µV")
    for g in result.get("goals") or []:
        if "in_zone_pct" in g and isinstance(g["in_zone_pct"], (int, float)):
            parts.append(f"in zone {g['in_zone_pct']:.0f} %")
    return "; ".join(parts[:4])


def verdict(passed) -> str:
    return {True: "✓ passed", False: "✗ not passed"}.get(passed, "—")


class ProtocolPanel(QtWidgets.QFrame):
    """Shows the running protocol; fed with cues and the snapshot's progress dict."""

    def __init__(self, fs_hz: float, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("panel")
        self.fs_hz = fs_hz
        self._segment_end: int | None = None
        self.phase_results: list[dict] = []
        self.finished = False
        self.final_passed = None
        self.total_s = 0.0
        self._start_index: int | None = None
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(10, 8, 10, 8)
        self.title = QtWidgets.QLabel("No protocol running")
        self.title.setObjectName("title")
        self.phase = QtWidgets.QLabel("Free training: goals from the captured baseline/MVC")
        self.phase.setObjectName("muted")
        self.phase.setWordWrap(True)
        row = QtWidgets.QHBoxLayout()
        self.instruction = QtWidgets.QLabel("")
        self.instruction.setObjectName("big")
        self.instruction.setWordWrap(True)
        self.countdown = QtWidgets.QLabel("")
        self.countdown.setObjectName("big")
        self.countdown.setAlignment(QtCore.Qt.AlignRight | QtCore.Qt.AlignVCenter)
        self.countdown.setMinimumWidth(90)
        row.addWidget(self.instruction, 1)
        row.addWidget(self.countdown)
        self.phase_bar = QtWidgets.QProgressBar()
        self.phase_bar.setFormat("phase %p%")
        self.total_bar = QtWidgets.QProgressBar()
        self.total_bar.setFormat("protocol %p%")
        for bar in (self.phase_bar, self.total_bar):
            bar.setRange(0, 1000)
            bar.setValue(0)
        self.table = QtWidgets.QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["phase", "result", "details"])
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.NoSelection)
        # Phase and verdict as wide as their text; the details get the rest of the width.
        for c in (0, 1):
            self.table.horizontalHeader().setSectionResizeMode(
                c, QtWidgets.QHeaderView.ResizeToContents)
        # Results are read, not guessed from "mean …": long details wrap onto more lines,
        # and rows grow to fit them whenever the columns change width.
        self.table.setWordWrap(True)
        self.table.setTextElideMode(QtCore.Qt.ElideNone)
        self.table.horizontalHeader().sectionResized.connect(
            lambda *_a: self.table.resizeRowsToContents())
        lay.addWidget(self.title)
        lay.addWidget(self.phase)
        lay.addLayout(row)
        bars = QtWidgets.QHBoxLayout()  # side by side: the panel fits a short window
        bars.addWidget(self.phase_bar)
        bars.addWidget(self.total_bar)
        lay.addLayout(bars)
        lay.addWidget(self.table, 1)

    def resizeEvent(self, ev) -> None:  # noqa: N802 - Qt override
        # A narrow panel (a small screen, or 200 % scaling) gets a smaller instruction, so
        # the results table keeps its room.
        size_px = BIG_FONT_PX if ev.size().width() >= NARROW_PANEL_PX else SMALL_BIG_FONT_PX
        style = f"font-size: {size_px}px;"
        for label in (self.instruction, self.countdown):
            if label.styleSheet() != style:
                label.setStyleSheet(style)
        super().resizeEvent(ev)
        self._fit_wrapped()
        self.table.resizeRowsToContents()

    def _fit_wrapped(self) -> None:
        # Wrapped labels keep the height their text needs (the table gives way instead).
        for label in (self.phase, self.instruction):
            need = label.heightForWidth(max(1, label.width()))
            if need > 0 and label.minimumHeight() != need:
                label.setMinimumHeight(need)

    def start(self, title: str, total_s: float = 0.0) -> None:
        self.title.setText(title)
        self.total_s = total_s
        self._start_index = None
        self.phase_results = []
        self.finished = False
        self.final_passed = None
        self.table.setRowCount(0)
        self.phase.setText("")
        self.instruction.setText("")

    def apply_cues(self, cues) -> None:
        for cue in cues:
            d = cue.data
            if cue.kind == "phase_start":
                if self._start_index is None:
                    self._start_index = cue.index
                kind = d.get("kind", "")
                dur = d.get("duration_s") or 0.0
                goals = "; ".join(g.get("description", "") for g in d.get("goals") or [])
                text = f"Phase {cue.phase + 1}: {cue.phase_name} ({kind}, {dur:.0f} s)"
                if goals:
                    text += f" — goals: {goals}"
                self.phase.setText(text)
                self.instruction.setText(cue.text or cue.phase_name)
                self._segment_end = cue.index + int(round(dur * self.fs_hz))
            elif cue.kind == "segment_start":
                if cue.text:
                    self.instruction.setText(cue.text)
                dur = d.get("duration_s") or 0.0
                self._segment_end = cue.index + int(round(dur * self.fs_hz))
            elif cue.kind == "phase_end":
                result = d.get("result") or {}
                self.phase_results.append(result)
                self._add_row(cue.phase_name, d.get("passed"), summarise_phase(result))
            elif cue.kind == "protocol_end":
                self.finished = True
                self.final_passed = d.get("passed")
                self.phase_bar.setValue(1000)
                self.total_bar.setValue(1000)
                self.instruction.setText("Done")
                self.countdown.setText("")
                self._segment_end = None
                self._add_row("protocol", d.get("passed"), "finished")
        self._fit_wrapped()

    def _add_row(self, name: str, passed, details: str) -> None:
        r = self.table.rowCount()
        self.table.insertRow(r)
        for c, text in enumerate((name, verdict(passed), details)):
            item = QtWidgets.QTableWidgetItem(text)
            item.setToolTip(text)
            self.table.setItem(r, c, item)
        self.table.resizeRowToContents(r)
        self.table.scrollToBottom()

    def update_progress(self, progress: dict | None, end_index: int) -> None:
        if not progress:
            return
        if self._segment_end is not None and not self.finished:
            left = max(0.0, (self._segment_end - end_index) / self.fs_hz)
            self.countdown.setText(f"{math.ceil(left - 1e-9):d} s")
        if self.total_s > 0 and self._start_index is not None:
            done = (end_index - self._start_index) / self.fs_hz
            _set_bar(self.total_bar, int(1000 * min(1.0, max(0.0, done / self.total_s))))
        ptotal = progress.get("phase_total_s") or 0.0
        if ptotal > 0:
            _set_bar(self.phase_bar, int(1000 * min(1.0, progress.get("phase_done_s", 0.0)
                                                    / ptotal)))
        if progress.get("finished"):
            self.phase_bar.setValue(1000)
            self.total_bar.setValue(1000)


def _set_bar(bar: QtWidgets.QProgressBar, value: int) -> None:
    """``bar.setValue(value)``, painted with the window's next update.

    ``QProgressBar.setValue`` repaints at once (synchronously, ~0.3 ms) whenever its
    percentage text or a pixel of the bar changes, outside the frame's one batched update of
    the window; with updates off for the call it only records the value, and ``update()``
    schedules the paint with the rest of the frame.
    """
    if bar.value() == value:
        return
    bar.setUpdatesEnabled(False)
    bar.setValue(value)
    bar.setUpdatesEnabled(True)
    bar.update()
