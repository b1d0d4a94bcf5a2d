"""Share the client view with browsers: the window's Share button, code, QR code and revoke.

:class:`ShareController` owns the :class:`~emgfeedback.share.server.ShareServer` and is called
once per frame by the main window (:meth:`ShareController.frame`): it builds the state from
the window's feedback model and publishes it (never blocking the Qt thread). The
:class:`SharePanel` dialog shows the address, the pairing code in large letters, a QR code
of the address, the connected screens, and buttons for a new code and to revoke.
"""

from __future__ import annotations

import math

from pyqtgraph.Qt import QtCore, QtGui, QtWidgets

from emgfeedback.errors import EmgFeedbackError
from emgfeedback.share.options import ShareOptions
from emgfeedback.share.pairing import display_code
from emgfeedback.share.state import build_state


def qr_image(text: str, module_px: int = 6, border: int = 2) -> QtGui.QImage:
    """A QR code of ``text`` as a black-on-white QImage (error correction M).

    Parameters
    ----------
    text : str
        What the code holds (the viewer's URL).
    module_px : int
        Pixels per QR module.
    border : int
        Quiet zone in modules.
    """
    import qrcode

    qr = qrcode.QRCode(border=border, error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(text)
    qr.make(fit=True)
    matrix = qr.get_matrix()
    n = len(matrix)
    image = QtGui.QImage(n * module_px, n * module_px, QtGui.QImage.Format_RGB32)
    image.fill(QtGui.QColor("white"))
    painter = QtGui.QPainter(image)
    black = QtGui.QColor("black")
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                painter.fillRect(x * module_px, y * module_px, module_px, module_px, black)
    painter.end()
    return image


class ShareController:
    """The window's side of sharing: start/stop the server, publish one state per frame.

    Parameters
    ----------
    win : MainWindow
        The window whose client view is shared (its ``model``, ``protocol_panel``,
        ``session``).
    options : ShareOptions
        Network and privacy choices.
    """

    def __init__(self, win, options: ShareOptions) -> None:
        from emgfeedback.share.server import ShareServer

        self.win = win
        self.options = options
        self.server = ShareServer(**options.server_kwargs())
        self.url: str | None = None
        self.code: str | None = None
        self._last_shown: dict | None = None

    def start(self) -> str:
        """Start serving; returns the viewer URL with its pairing code."""
        self.url = self.server.start()
        self.code = self.url.rsplit("=", 1)[1]
        return self.url

    def new_code(self) -> str:
        """A new pairing code (the old ones stay valid until revoked); returns its URL."""
        self.code = self.server.new_code()
        self.url = self.server.url_for(self.code)
        return self.url

    def revoke_all(self) -> int:
        """Revoke every code and close every screen, then make a fresh code."""
        closed = self.server.revoke_all()
        self.new_code()
        return closed

    def stop(self) -> None:
        self.server.stop()

    def countdown_s(self) -> float | None:
        """Seconds left in the protocol's segment, as the protocol panel counts them."""
        panel = self.win.protocol_panel
        end = getattr(panel, "_segment_end", None)
        since = getattr(self.win, "_since", None)
        if end is None or since is None or getattr(panel, "finished", False):
            return None
        return max(0.0, (end - since) / self.win.session.fs_hz)

    def frame(self, block=None) -> None:
        """Publish the client view's state (called by the window once per frame).

        Parameters
        ----------
        block : DisplayBlock, optional
            The samples this frame drew; its newest sample's arrival stamps the state.
        """
        win = self.win
        panel = win.protocol_panel
        result = panel.final_passed if getattr(panel, "finished", False) else None
        state = build_state(win.model, countdown_s=self.countdown_s(), result=result,
                            subject=getattr(win.session, "subject", ""),
                            allow_names=self.options.allow_names)
        fresh = block is not None and len(block.filtered_uv) > 0 \
            and math.isfinite(block.newest_arrival_s)
        if not fresh and state == self._last_shown:
            return  # nothing new to show
        self._last_shown = dict(state)
        if fresh:
            state["t_ms"] = round(block.newest_arrival_s * 1000.0, 3)
        self.server.publish(state)


class SharePanel(QtWidgets.QDialog):
    """The therapist's sharing dialog: address, code, QR code, screens, revoke."""

    def __init__(self, controller: ShareController, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Share the client view")
        self.controller = controller
        lay = QtWidgets.QVBoxLayout(self)
        self.code_label = QtWidgets.QLabel()
        font = self.code_label.font()
        font.setPixelSize(40)
        font.setBold(True)
        self.code_label.setFont(font)
        self.code_label.setAlignment(QtCore.Qt.AlignCenter)
        self.qr_label = QtWidgets.QLabel()
        self.qr_label.setAlignment(QtCore.Qt.AlignCenter)
        self.url_label = QtWidgets.QLabel()
        self.url_label.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        self.url_label.setAlignment(QtCore.Qt.AlignCenter)
        self.screens_label = QtWidgets.QLabel()
        self.note = QtWidgets.QLabel(self._privacy_note())
        self.note.setWordWrap(True)
        buttons = QtWidgets.QHBoxLayout()
        self.new_button = QtWidgets.QPushButton("New code")
        self.new_button.clicked.connect(self.new_code)
        self.revoke_button = QtWidgets.QPushButton("Revoke all screens")
        self.revoke_button.clicked.connect(self.revoke_all)
        buttons.addWidget(self.new_button)
        buttons.addWidget(self.revoke_button)
        for w in (self.code_label, self.qr_label, self.url_label, self.screens_label,
                  self.note):
            lay.addWidget(w)
        lay.addLayout(buttons)
        self.timer = QtCore.QTimer(self)
        self.timer.timeout.connect(self.refresh_screens)
        self.timer.start(1000)
        self.show_code()

    def _privacy_note(self) -> str:
        o = self.controller.options
        where = ("the local network (any device in the room's network can try a code)"
                 if o.lan else "this computer only (127.0.0.1)")
        crypto = ("encrypted (TLS)" if o.encrypted else
                  "NOT encrypted: others on the network can read the levels and cues"
                  if o.lan else "not encrypted (it does not leave this computer)")
        names = "the subject id is shown" if o.allow_names else "no names are sent"
        return (f"Listening on {where}; traffic {crypto}. Screens see the live cue and "
                f"levels only; {names}. A code pairs new screens for "
                f"{o.ttl_s / 60:g} min.")

    def show_code(self) -> None:
        c = self.controller
        self.code_label.setText(display_code(c.code or ""))
        self.url_label.setText(c.url or "")
        if c.url:
            self.qr_label.setPixmap(QtGui.QPixmap.fromImage(qr_image(c.url)))
        self.refresh_screens()

    def refresh_screens(self) -> None:
        stats = self.controller.server.stats()
        n = len(stats["viewers"])
        dropped = sum(v["dropped"] for v in stats["viewers"])
        self.screens_label.setText(f"{n} screen{'s' if n != 1 else ''} connected · "
                                   f"{stats['refused']} refused · {dropped} frames skipped "
                                   "for slow screens")

    def new_code(self) -> None:
        self.controller.new_code()
        self.show_code()

    def revoke_all(self) -> None:
        self.controller.revoke_all()
        self.show_code()


def start_sharing(win, options: ShareOptions | None = None) -> str:
    """Start sharing ``win``'s client view (idempotent); returns the viewer URL.

    Raises
    ------
    EmgFeedbackError
        The share extra is missing, the port is taken or the certificate is unreadable.
    """
    if win.share is None:
        controller = ShareController(win, options or getattr(win, "share_options", None)
                                     or ShareOptions())
        controller.start()
        win.share = controller
    return win.share.url


def toggle_share_panel(win) -> None:
    """The Share button: start sharing if needed and show the dialog with code and QR."""
    try:
        start_sharing(win)
    except EmgFeedbackError as exc:
        QtWidgets.QMessageBox.warning(win, "Share the client view", str(exc))
        return
    panel = getattr(win, "share_panel", None)
    if panel is None:
        panel = win.share_panel = SharePanel(win.share, win)
    panel.show_code()
    panel.show()
    panel.raise_()


def add_share_action(win, bar: QtWidgets.QToolBar) -> QtWidgets.QAction:
    """Add the Share button to the window's toolbar."""
    action = bar.addAction("Share…", lambda: toggle_share_panel(win))
    action.setToolTip("Show the client view on a phone, tablet or TV in the room (browser, "
                      "paired with a code). Off until pressed; this computer only unless "
                      "started with --share-lan.")
    win.act_share = action
    return action
