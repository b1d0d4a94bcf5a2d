"""Status: source state, rate, losses, quality, recording, and the latency budget."""

from __future__ import annotations

import math

from pyqtgraph.Qt import QtWidgets

from emgfeedback.acquisition.boards import OUTPUT_TITLES
from emgfeedback.gui import palette
from emgfeedback.gui.flow_layout import FlowLayout
from emgfeedback.gui.quality_chips import QualityHysteresis

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


def banner_text(state: str, silent_s: float, recording: bool,
                storage_error: str | None = None, device_alarm: str | None = None) -> str:
    """The warning banner ("" when all is well): the source's state, and a storage failure.

    Parameters
    ----------
    state : str
        The source's state.
    silent_s : float
        Seconds since the newest sample arrived.
    recording : bool
        A session is being recorded.
    storage_error : str, optional
        The recorder's error while it cannot store (disk full, I/O error).
    device_alarm : str, optional
        A recent device alarm without a state of its own (channel mismatch, rejected bytes).
    """
    lines = []
    rec = " Recording continues; the gap is recorded." if recording else ""
    if state == "reconnecting":
        lines.append("Device lost — reconnecting…" + rec)
    elif state == "no_data" or (state == "streaming" and silent_s > NO_DATA_AFTER_S):
        lines.append(f"No data from the device for {silent_s:.0f} s — check the cable and "
                     "power." + rec)
    if device_alarm:
        lines.append(f"Device alarm: {device_alarm}")
    if storage_error:
        lines.append(f"Storage failing: {storage_error}. The live view continues; samples "
                     "wait in memory and are written when storage works again, else they "
                     "are recorded as a gap (cause storage).")
    return "\n".join(lines)


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


def output_kind_text(channel_names, kinds) -> str:
    """The output chip: ``"RAW"`` when every channel is RAW, else kinds per channel."""
    upper = [("µV" if k == "uv" else k.upper()) for k in kinds]
    if len(set(upper)) == 1:
        return f"output {upper[0]}"
    return "output " + ", ".join(f"{n} {u}" for n, u in zip(channel_names, upper,
                                                            strict=False))


def _grow_only(label: QtWidgets.QLabel) -> None:
    """Give a chip a fixed size that only grows with its text.

    A label whose text changes asks its layout to re-arrange the whole row of chips;
    a fixed-size label does not (Qt skips the layout request), so the 10 Hz refresh of
    the rate and latency chips no longer re-lays out the status row each time.
    """
    hint = label.sizeHint()
    if hint.width() > label.minimumWidth() or hint.height() != label.minimumHeight():
        label.setFixedSize(max(hint.width(), label.minimumWidth()), hint.height())


class StatusBar(QtWidgets.QFrame):
    """A strip of status chips plus the warning banner."""

    def __init__(self, channel_names, fs_hz: float, parent=None, output_kinds=None) -> None:
        super().__init__(parent)
        self.channel_names = list(channel_names)
        self.fs_hz = fs_hz
        self.output_kinds = list(output_kinds or ["raw"] * len(self.channel_names))
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(4)
        self.banner = QtWidgets.QLabel("")
        self.banner.setObjectName("banner")
        self.banner.setVisible(False)
        outer.addWidget(self.banner)
        row = FlowLayout()  # H12: the chips wrap on a narrow window
        row.setSpacing(8)
        self.state = self._chip(row)
        self.rate = self._chip(row)
        self.rate.setProperty("grow_only", True)  # changes at nearly every refresh
        # which output each channel is (RAW, RECT, ENV, µV): it decides its processing
        self.output = self._chip(row)
        self._set(self.output, output_kind_text(self.channel_names, self.output_kinds))
        self.output.setToolTip("\n".join(
            f"{n}: {OUTPUT_TITLES.get(k, k)}"
            for n, k in zip(self.channel_names, self.output_kinds, strict=False)))
        self.lost = self._chip(row)
        self.recording = self._chip(row)
        self.latency = self._chip(row)
        self.latency.setProperty("grow_only", True)
        # H12: the quality chips follow in the same wrapping row (one row less when short).
        self.quality = [self._chip(row) for _ in self.channel_names]
        # H12: debounced flags, so a chip does not flicker ok <-> hum (quality_chips.py).
        self.quality_filter = QualityHysteresis(len(self.channel_names))
        outer.addLayout(row)
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
            if label.property("grow_only"):
                _grow_only(label)
        style = f"color: {colour};" if colour else ""
        if label.styleSheet() != style:
            label.setStyleSheet(style)

    def update_status(self, *, state: str, silent_s: float, health: dict, quality,
                      recording: bool, session_id, recorder_error, envelope_delay_ms: float,
                      screen_p95_ms: float, fps: float, storage_failing: bool = False,
                      device_alarm: str | None = None) -> None:
        """Refresh every chip (cheap: labels change only when their text does).

        ``storage_failing`` (the recorder cannot store right now) adds a banner line and
        turns the recording chip into a storage alarm.
        """
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
        if recorder_error and storage_failing:
            self._set(self.recording, f"● REC session {session_id}: STORAGE FAILING",
                      palette.WARN)
        elif recorder_error:
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
        quality = self.quality_filter.update(quality)  # H12: hysteresis
        for c, label in enumerate(self.quality):
            entry = quality[c] if quality and c < len(quality) else None
            qtext, bad = quality_text(entry)
            self._set(label, f"{self.channel_names[c]}: {qtext}", palette.WARN if bad else None)
        banner = banner_text(state, silent_s, recording,
                             recorder_error if storage_failing else None, device_alarm)
        if banner != self.banner_shown:
            self.banner_shown = banner
            self.banner.setText(banner)
            self.banner.setVisible(bool(banner))
