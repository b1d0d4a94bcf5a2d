"""Set-up: choose the source (detected port with its guessed board, or the simulator), name
the channels from common muscles with side, and the guided baseline/MVC captures."""

from __future__ import annotations

import math

from pyqtgraph.Qt import QtCore, QtWidgets

from emgfeedback.gui.settings import COMMON_MUSCLES, SIDES, channel_label
from emgfeedback.runtime.live_session import ChannelSetup

SIM_CHOICE = "Simulator (no hardware)"
#: The device entry for a source URL that is none of the listed ones (remembered or typed).
OTHER_CHOICE = "Source URL below"
_KIND_BY_SCHEME = {"sim": "Simulator", "serial": "Serial port", "file": "Recording"}


def other_choice_label(url: str) -> str:
    """The device entry's text for a URL that is not in the list, e.g. "Serial port (URL below)"."""
    kind = _KIND_BY_SCHEME.get(url.split("://", 1)[0]) if "://" in url else None
    return f"{kind} (URL below)" if kind else OTHER_CHOICE
#: Rows of the channel table shown without scrolling.
TABLE_ROWS_SHOWN = 8


def port_choices() -> list[tuple[str, str]]:
    """``(label, url)`` for every serial port found, with the guessed board."""
    from emgfeedback.acquisition.ports import list_ports

    out = []
    for port in list_ports():
        board = port.boards[0] if port.boards else None
        guess = board or port.vendor or port.description or "unknown device"
        url = f"serial://{port.device}?framing=auto"
        if board:
            url += f"&board={board}"
        out.append((f"{port.device} — {guess}", url))
    return out


class SetupDialog(QtWidgets.QDialog):
    """Source, subject and channel names; ``result_setup()`` after ``exec_()``."""

    def __init__(self, settings, parent=None, ports=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("emgfeedback — set-up")
        self.settings = settings
        form = QtWidgets.QFormLayout()
        self.source = QtWidgets.QComboBox()
        self.source.addItem(SIM_CHOICE, "sim://?scenario=drill&channels=2")
        for label, url in (ports if ports is not None else port_choices()):
            self.source.addItem(label, url)
        self.url = QtWidgets.QLineEdit(settings.last_source)
        self.url.setToolTip("Any source URL: serial://PATH?framing=..., sim://?..., file://...")
        self.url.setMinimumWidth(self.url.fontMetrics().horizontalAdvance("x" * 48))
        # The device list shows the source that will really be opened: the remembered or
        # typed URL selects its entry, or "Source URL below" when it is none of them.
        self._show_source(settings.last_source)
        self.source.currentIndexChanged.connect(self._choice_changed)
        self.url.textEdited.connect(self._show_source)
        self.subject = QtWidgets.QLineEdit(settings.last_subject)
        self.subject.setPlaceholderText("an id, not a name")
        self.n_channels = QtWidgets.QSpinBox()
        self.n_channels.setRange(1, 16)
        self.n_channels.setValue(2)
        self.n_channels.valueChanged.connect(self._resize_table)
        form.addRow("Device", self.source)
        form.addRow("Source URL", self.url)
        form.addRow("Subject", self.subject)
        form.addRow("Channels", self.n_channels)
        self.table = QtWidgets.QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["muscle / placement", "side"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setColumnWidth(0, 280)
        self.table.verticalHeader().setVisible(False)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.Ok
                                             | QtWidgets.QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.table)
        lay.addWidget(buttons)
        self._resize_table(2)

    def _show_source(self, url: str) -> None:
        """Select the device entry whose URL is ``url`` (else the "URL below" entry)."""
        url = (url or "").strip()
        self.source.blockSignals(True)
        try:
            found = next((i for i in range(self.source.count())
                          if self.source.itemData(i) == url), -1)
            other = next((i for i in range(self.source.count())
                          if self.source.itemData(i) is None), -1)
            if found < 0 and url:
                if other < 0:
                    self.source.addItem(OTHER_CHOICE, None)
                    other = self.source.count() - 1
                self.source.setItemText(other, other_choice_label(url))
                found = other
            self.source.setCurrentIndex(max(0, found))
        finally:
            self.source.blockSignals(False)
        if not url and self.source.currentData():
            self.url.setText(self.source.currentData())

    def showEvent(self, ev) -> None:  # noqa: N802 - Qt override
        self._fit()  # the style sheet is applied now: fit to the real row heights
        super().showEvent(ev)

    def _choice_changed(self, _index: int) -> None:
        data = self.source.currentData()
        if data:  # the "URL below" entry keeps what is typed
            self.url.setText(data)

    def _fit(self) -> None:
        """Size the table to its columns and rows (up to :data:`TABLE_ROWS_SHOWN`)."""
        t = self.table
        for r in range(t.rowCount()):
            cells = [t.cellWidget(r, c) for c in range(t.columnCount())]
            t.setRowHeight(r, max([t.rowHeight(r)] + [w.sizeHint().height() + 2
                                                      for w in cells if w is not None]))
        header = t.horizontalHeader()
        side = max(90, t.cellWidget(0, 1).sizeHint().width() + 8) if t.rowCount() else 90
        t.setColumnWidth(1, side)
        width = t.columnWidth(0) + side + 2 * t.frameWidth() + \
            t.verticalScrollBar().sizeHint().width()
        rows = min(t.rowCount(), TABLE_ROWS_SHOWN)
        height = header.sizeHint().height() + 2 * t.frameWidth() + \
            sum(t.rowHeight(r) for r in range(rows))
        t.setMinimumWidth(width)
        t.setFixedHeight(height)
        self.adjustSize()

    def _resize_table(self, n: int) -> None:
        old = self.table.rowCount()
        self.table.setRowCount(n)
        for r in range(old, n):
            muscle = QtWidgets.QComboBox()
            muscle.setEditable(True)
            muscle.addItems(COMMON_MUSCLES)
            muscle.setCurrentIndex(r % len(COMMON_MUSCLES))
            side = QtWidgets.QComboBox()
            side.addItems(["—", "left", "right"])
            self.table.setCellWidget(r, 0, muscle)
            self.table.setCellWidget(r, 1, side)
        self._fit()

    def set_channels(self, setups) -> None:
        self.n_channels.setValue(len(setups))
        for r, s in enumerate(setups):
            self.table.cellWidget(r, 0).setCurrentText(s.placement or s.name)
            self.table.cellWidget(r, 1).setCurrentIndex(max(0, SIDES.index(s.side)
                                                            if s.side in SIDES else 0))

    def result_setup(self) -> tuple[str, list[ChannelSetup], str]:
        """(source URL, channel set-ups, subject id)."""
        channels = []
        for r in range(self.table.rowCount()):
            muscle = self.table.cellWidget(r, 0).currentText().strip()
            side = SIDES[self.table.cellWidget(r, 1).currentIndex()]
            channels.append(ChannelSetup(channel_label(muscle, side), muscle, side))
        return self.url.text().strip(), channels, self.subject.text().strip()


class CaptureDialog(QtWidgets.QDialog):
    """Guided capture: an instruction, a countdown, then the session's envelope is measured.

    Parameters
    ----------
    session : LiveSession
        Where the envelope comes from.
    kind : str
        ``"baseline"`` (relax, mean envelope) or ``"mvc"`` (strongest 0.5 s mean).
    seconds : float
        Length of the capture.
    """

    def __init__(self, session, kind: str, seconds: float, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self.kind = kind
        self.seconds = seconds
        self.values: list[float] | None = None
        self.setWindowTitle("Resting baseline" if kind == "baseline" else "MVC capture")
        text = ("Relax completely and breathe normally." if kind == "baseline" else
                "Contract as strongly as you safely can, steadily, until the bar is full.")
        self.label = QtWidgets.QLabel(text)
        self.label.setObjectName("big")
        self.label.setWordWrap(True)
        self.bar = QtWidgets.QProgressBar()
        self.bar.setRange(0, 1000)
        self.result = QtWidgets.QLabel("")
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(self.label)
        lay.addWidget(self.bar)
        lay.addWidget(self.result)
        self.buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.Ok
                                                  | QtWidgets.QDialogButtonBox.Cancel)
        self.buttons.button(QtWidgets.QDialogButtonBox.Ok).setEnabled(False)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)
        self._start_index = session.end_index
        self._timer = QtCore.QTimer(self)
        self._timer.timeout.connect(self._tick)
        self._timer.start(100)

    def _tick(self) -> None:
        done = (self.session.end_index - self._start_index) / self.session.fs_hz
        self.bar.setValue(int(1000 * min(1.0, done / self.seconds)))
        if done >= self.seconds:
            self._timer.stop()
            self.finish()

    def finish(self) -> None:
        env = self.session.capture(self.seconds)
        if self.kind == "baseline":
            self.values = self.session.set_baseline_from(env)
        else:
            self.values = self.session.set_mvc_from(env)
        names = self.session.channel_names
        self.result.setText("  ".join(
            f"{n}: {v:.1f} µV" if math.isfinite(v) else f"{n}: –"
            for n, v in zip(names, self.values, strict=True)))
        self.buttons.button(QtWidgets.QDialogButtonBox.Ok).setEnabled(True)
