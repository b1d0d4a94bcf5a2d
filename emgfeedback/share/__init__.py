"""Share the client view with browsers in the room (phone, tablet, TV).

Pure Python, no Qt: :mod:`emgfeedback.share.state` turns the feedback model into a small
JSON-ready state (levels, goals, cue, countdown, reps, result; never raw samples),
:mod:`emgfeedback.share.pairing` holds the short-lived pairing codes, and
:mod:`emgfeedback.share.server` serves the page and streams the state over WebSockets from
its own asyncio thread. The Qt hooks (button, code, QR, revoke) live in
:mod:`emgfeedback.gui.share_panel`. Needs the ``share`` extra (aiohttp, qrcode).
See ``docs/share.md``.
"""

from __future__ import annotations

from emgfeedback.share.pairing import PairingBook
from emgfeedback.share.state import build_state

__all__ = ["PairingBook", "build_state"]
