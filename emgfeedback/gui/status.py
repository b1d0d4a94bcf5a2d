"""Status: source state, rate, losses, quality, recording, and the latency budget."""

from __future__ import annotations

import math

from pyqtgraph.Qt import QtWidgets

from emgfeedback.gui import palette

STATE_TEXT = {
    "streaming": ("● streaming", palette.OK),
    "reconnecting": ("● device lost: reconnecting", palette.WARN),
    "no_data": ("● no data", palette.WARN),
    "open": ("● opening", palette.MUTED),
    "stopped": ("● stopped", palette.MUTED),
    "finished": ("● source finished", palette.MUTED),
    "closed": ("● closed", palette.MUTED),
}
QUALITY_WORDS = {"mains": "hum", "clipping": "clipping", "electrode_off": "electrode off",
                 "ecg": "ECG", "lost": "losses"}
#: Seconds without a new sample before a streaming source is shown as "no data".
NO_DATA_AFTER_S = 1.0


def banner_text(state: str, silent_s: float, recording: bool) -> str:
    """The warning banner for a source state ("" when all is well)."""
    rec = " Recording continues; the gap is recorded." if recording else ""
    if state == "reconnecting":
        return "Device lost — reconnecting…" + rec
    if state == "no_data" or (state == "streaming" and silent_s > NO_DATA_AFTER_S):
        return f"No data from the device for {silent_s:.0f} s — check the cable and power." \
            + rec
    return ""


def quality_text(entry) -> tuple[str, bool]:
    """(short text, problem?) for one channel's quality assessment."""
    if not isinstance(entry, dict):
        return "quality —", False
    flags = [QUALITY_WORDS.get(f, f) for f in entry.get("flags", [])]
    if flags:
        return ", ".join(flags), True
    # The SNR of a 2 s window mixes rest and work, so it is not shown live (the session
    # report gives activity over rest); the chip says only whether something is wrong.
    return "ok", False


class StatusBar(QtWidgets.QFrame):
    """A strip of status chips plus the warning banner."""

    def __init__(self, channel_names, fs_hz: float, parent=None) -> None:
        super().__init__(parent)
        self.channel_names = list(channel_names)
        self.fs_hz = fs_hz
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(4)
        self.banner = QtWidgets.QLabel("")
        self.banner.setObjectName("banner")
        self.banner.setVisible(False)
        outer.addWidget(self.banner)
        row = QtWidgets.QHBoxLayout()
        row.setSpacing(8)
        self.state = self._chip(row)
        self.rate = self._chip(row)
        self.lost = self._chip(row)
        self.recording = self._chip(row)
        self.latency = self._chip(row)
        row.addStretch(1)
        outer.addLayout(row)
        qrow = QtWidgets.QHBoxLayout()
        qrow.setSpacing(8)
        self.quality = [self._chip(qrow) for _ in self.channel_names]
        qrow.addStretch(1)
        outer.addLayout(qrow)
        self.banner_shown = ""

    @staticmethod
    def _chip(layout) -> QtWidgets.QLabel:
        label = QtWidgets.QLabel("")
        label.setObjectName("chip")
        layout.addWidget(label)
        return label

    @staticmethod
    def _set(label: QtWidgets.QLabel, text: str, colour: str | None = None) -> None:
        if label.text() != text:
            label.setText(text)
        style = f"color: {colour};" if colour else ""
        if label.styleSheet() != style:
            label.setStyleSheet(style)

    def update_status(self, *, state: str, silent_s: float, health: dict, quality,
                      recording: bool, session_id, recorder_error, envelope_delay_ms: float,
                      screen_p95_ms: float, fps: float) -> None:
        """Refresh every chip (cheap: labels change only when their text does)."""
        text, colour = STATE_TEXT.get(state, (f"● {state}", palette.MUTED))
        if state == "streaming" and silent_s > NO_DATA_AFTER_S:
            text, colour = "● no data", palette.WARN
        self._set(self.state, text, colour)
        rate = health.get("arrival_rate_hz", float("nan"))
        rate_txt = f"{rate:,.0f} Hz" if isinstance(rate, float) and math.isfinite(rate) else "–"
        self._set(self.rate, f"rate {rate_txt} (nominal {self.fs_hz:,.0f})")
        lost = int(health.get("lost_samples", 0))
        over = int(health.get("display_overruns", 0))
        causes = ", ".join(f"{k} {v}" for k, v in (health.get("lost_by_cause") or {}).items()
                           if v)
        lost_txt = f"lost {lost} samples ({health.get('lost_percent', 0.0):.2f} %)"
        if causes:
            lost_txt += f": {causes}"
        lost_txt += f" · display skipped {over}"
        self._set(self.lost, lost_txt, palette.WARN if lost else None)
        if recorder_error:
            self._set(self.recording, f"● recorder error: {recorder_error}", palette.WARN)
        elif recording:
            self._set(self.recording, f"● REC session {session_id}", palette.WARN)
        else:
            self._set(self.recording, "○ not recording", palette.MUTED)
        total = envelope_delay_ms + (screen_p95_ms if math.isfinite(screen_p95_ms) else 0.0)
        screen = f"{screen_p95_ms:.0f}" if math.isfinite(screen_p95_ms) else "–"
        fps_txt = f"{fps:.0f} fps" if math.isfinite(fps) else "– fps"
        self._set(self.latency, f"latency: envelope {envelope_delay_ms:.0f} ms + to screen "
                                f"p95 {screen} ms = {total:.0f} ms · {fps_txt}",
                  palette.WARN if total > 100 else None)
        for c, label in enumerate(self.quality):
            entry = quality[c] if quality and c < len(quality) else None
            qtext, bad = quality_text(entry)
            self._set(label, f"{self.channel_names[c]}: {qtext}", palette.WARN if bad else None)
        banner = banner_text(state, silent_s, recording)
        if banner != self.banner_shown:
            self.banner_shown = banner
            self.banner.setText(banner)
            self.banner.setVisible(bool(banner))
