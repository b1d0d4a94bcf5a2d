"""Sharing from the live window: the Share button, code, QR, revoke; engine undisturbed;
and the real command line (`live --share` prints the viewer's URL)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys

import aiohttp
import pytest

from emgfeedback.share.pairing import display_code

WAIT_MS = 90000
SIM = "sim://?scenario=drill&channels=2&seed=5"


@pytest.fixture(autouse=True)
def _private_config(tmp_path, monkeypatch):
    monkeypatch.setenv("EMGFEEDBACK_CONFIG", str(tmp_path / "config"))
    monkeypatch.setenv("EMGFEEDBACK_DB", str(tmp_path / "default.sqlite"))


def _ws(url: str) -> str:
    code = url.rsplit("=", 1)[1]
    return url.split("?")[0].replace("http", "ws", 1) + f"ws?code={code}"


async def _receive(ws, kind: str) -> dict:
    async def wait():
        while True:
            msg = await ws.receive()
            assert msg.type == aiohttp.WSMsgType.TEXT, (msg.type, msg.data)
            data = json.loads(msg.data)
            if data["t"] == kind:
                return data

    return await asyncio.wait_for(wait(), WAIT_MS / 1000)


@pytest.fixture
def background():
    from emgfeedback.share.chromium import BackgroundLoop

    loop = BackgroundLoop()
    yield loop
    loop.close()


def test_the_share_button_shows_code_and_qr_and_revoke_ends_the_screens(qtbot, make_window,
                                                                         background):
    from emgfeedback.gui.share_panel import toggle_share_panel

    win = make_window(SIM, window_s=5.0, mode="uptraining")
    win.show()
    win.start()
    assert win.share is None and win.act_share.text() == "Share…"  # off by default
    win.act_share.trigger()
    panel = win.share_panel
    url = win.share.url
    assert url.startswith("http://127.0.0.1:")
    assert panel.code_label.text() == display_code(url.rsplit("=", 1)[1])
    pixmap = panel.qr_label.pixmap()
    assert pixmap is not None and not pixmap.isNull() and pixmap.width() == pixmap.height()
    assert "this computer only" in panel.note.text() and "no names" in panel.note.text()

    async def view():
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(_ws(url)) as ws:
                await _receive(ws, "hello")
                state = (await _receive(ws, "state"))["s"]
                while not state["bars"] or state["bars"][0]["level_uv"] is None:
                    state = (await _receive(ws, "state"))["s"]
                win_revoke.set_result(None)  # let the Qt side press "Revoke all"
                await _receive(ws, "revoked")
                return state

    win_revoke = asyncio.Future(loop=background.loop)  # set once the screen sees levels
    future = background.submit(view())
    qtbot.waitUntil(win_revoke.done, timeout=WAIT_MS)
    old_code = panel.code_label.text()
    panel.revoke_button.click()
    qtbot.waitUntil(future.done, timeout=WAIT_MS)
    state = future.result()
    assert state["bars"][0]["label"] == win.model.bars[0].label
    assert state["instruction"] == "Uptraining" and state["subject"] is None
    assert panel.code_label.text() != old_code  # a fresh code after revoking
    qtbot.waitUntil(lambda: win.share.server.viewers == {}, timeout=WAIT_MS)
    toggle_share_panel(win)  # pressing Share again keeps the same server
    assert win.share.url == panel.url_label.text()


def _run_until(qtbot, win, samples: int) -> dict:
    qtbot.waitUntil(lambda: win.session.engine.health.samples_in >= samples,
                    timeout=WAIT_MS)
    return win.session.engine.health.as_dict()


def test_screens_attached_and_one_stalled_do_not_disturb_the_engine_or_window(
        qtbot, make_window, browser):
    """Counters, not durations: no sample lost, no display overrun, frames keep coming."""
    from emgfeedback.gui.share_panel import start_sharing

    alone = make_window(SIM, window_s=5.0)
    alone.show()
    alone.start()
    base = _run_until(qtbot, alone, 6000)
    base_frames = alone.frames
    alone.shutdown()

    win = make_window(SIM, window_s=5.0)
    url = start_sharing(win)
    win.show()
    win.start()
    server = win.share.server
    port = server.port
    stalled = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(("127.0.0.1", port))
    stalled.sendall((f"GET /ws?code={url.rsplit('=', 1)[1]} HTTP/1.1\r\nHost: 127.0.0.1:"
                     f"{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n").encode())

    async def open_pages(chrome):
        pages = [await chrome.open(url, width=390, height=844) for _ in range(4)]
        for page in pages:
            await page.wait_for("document.body.dataset.state === 'live'", WAIT_MS / 1000)
        return len(pages)

    try:
        future = browser.submit(open_pages)
        qtbot.waitUntil(future.done, timeout=WAIT_MS)
        assert future.result() == 4
        start = win.session.engine.health.samples_in
        frames = win.frames
        shared = _run_until(qtbot, win, start + 6000)
        stats = server.stats()
    finally:
        stalled.close()
    for health in (base, shared):
        assert health["lost_samples"] == 0, health
        assert health["display_overruns"] == 0, health
    assert win.frames > frames and base_frames > 0
    assert len(stats["viewers"]) == 5
    assert stats["published"] > 0
    assert all(v["sent"] > 0 for v in stats["viewers"])


def test_live_share_prints_the_url_and_serves_the_view(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen",
               EMGFEEDBACK_CONFIG=str(tmp_path / "cfg"),
               EMGFEEDBACK_DB=str(tmp_path / "db.sqlite"))
    proc = subprocess.Popen([sys.executable, "-m", "emgfeedback", "live", "--source", SIM,
                             "--share", "--seconds", "20", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = None
        lines = []
        for line in proc.stdout:  # the URL comes on a line of its own, before the run ends
            lines.append(line)
            match = re.fullmatch(r"share: (http://127\.0\.0\.1:\d+/\?code=[A-Z0-9]{6})\n",
                                 line)
            if match:
                url = match.group(1)
                break
        assert url, lines

        async def view():
            async with aiohttp.ClientSession() as s:
                async with s.ws_connect(_ws(url)) as ws:
                    await _receive(ws, "hello")
                    state = (await _receive(ws, "state"))["s"]
                    while not state["bars"]:  # the first frames may come before any sample
                        state = (await _receive(ws, "state"))["s"]
                    return state

        state = asyncio.run(view())
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert state["bars"] and state["mode"] == "uptraining"
    report = json.loads(out.strip().splitlines()[-1])
    assert report["share"]["url"] == url and report["share"]["published"] > 0
    assert report["health"]["lost_samples"] == 0


@pytest.mark.parametrize("argv, message", [
    (["--share-names"], "only apply when sharing"),
    (["--tls-cert", "c.pem"], "only apply when sharing"),
    (["--share", "--tls-cert", "c.pem"], "go together"),
    (["--share", "--tls-cert", "missing.pem", "--tls-key", "missing.pem"], "no such file"),
    (["--share", "--share-port", "70000"], "0-65535"),
])
def test_share_options_are_checked_before_any_window_opens(argv, message, capsys, tmp_path,
                                                           monkeypatch):
    from emgfeedback.cli import main

    monkeypatch.chdir(tmp_path)
    code = main(["live", "--source", SIM, *argv])
    err = capsys.readouterr().err
    assert code != 0
    assert message in err and "Traceback" not in err


def test_a_taken_port_is_a_clear_error_and_the_window_is_closed(tmp_path, capsys):
    from emgfeedback.cli import main

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        code = main(["live", "--source", SIM, "--share", "--share-port",
                     str(taken.getsockname()[1]), "--seconds", "5"])
    finally:
        taken.close()
    err = capsys.readouterr().err
    assert code != 0
    assert "cannot serve the shared view" in err and "--share-port" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("allow", [False, True])
def test_the_subject_id_reaches_the_screens_only_when_names_are_allowed(qtbot, make_window,
                                                                        allow):
    from emgfeedback.gui.share_panel import start_sharing
    from emgfeedback.share.options import ShareOptions

    win = make_window(SIM, window_s=5.0, subject="S-017")
    url = start_sharing(win, ShareOptions(allow_names=allow))
    win.show()
    win.start()

    async def view():
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(_ws(url)) as ws:
                await _receive(ws, "hello")
                return (await _receive(ws, "state"))["s"]

    from emgfeedback.share.chromium import BackgroundLoop

    loop = BackgroundLoop()
    try:
        future = loop.submit(view())
        qtbot.waitUntil(future.done, timeout=WAIT_MS)
        state = future.result()
    finally:
        loop.close()
    assert state["subject"] == ("S-017" if allow else None)


def test_without_the_share_extra_the_button_says_how_to_install_it(qtbot, make_window,
                                                                   monkeypatch):
    from pyqtgraph.Qt import QtWidgets

    from emgfeedback.gui.share_panel import toggle_share_panel

    win = make_window(SIM, window_s=5.0)
    shown = []
    monkeypatch.setitem(sys.modules, "aiohttp", None)  # as if the extra were not installed
    monkeypatch.setattr(QtWidgets.QMessageBox, "warning",
                        lambda parent, title, text: shown.append(text))
    toggle_share_panel(win)
    assert win.share is None
    assert len(shown) == 1 and "emgfeedback[share]" in shown[0]


def test_a_protocol_run_shows_reps_countdown_and_the_result_on_the_screen(qtbot, make_window,
                                                                          background):
    """The demo protocol (fast replay) through the window: the screen's states carry the
    instruction, rep count, countdown and, at the end, the same result as the panel."""
    from emgfeedback.gui.share_panel import start_sharing

    win = make_window(SIM, protocol="demo", fast=True)
    url = start_sharing(win)
    seen = []
    connected = asyncio.Future(loop=background.loop)

    async def view():
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(_ws(url)) as ws:
                await _receive(ws, "hello")
                connected.set_result(True)
                while True:
                    state = (await _receive(ws, "state"))["s"]
                    seen.append(state)
                    if state["result"] is not None:
                        return state

    future = background.submit(view())
    qtbot.waitUntil(connected.done, timeout=WAIT_MS)
    win.show()
    win.start()
    qtbot.waitUntil(future.done, timeout=WAIT_MS)
    final = future.result()
    assert final["result"] == ("passed" if win.protocol_panel.final_passed else "not passed")
    assert final["instruction"] == "Done"
    assert any(s["reps"] == 8 and s["rep"] >= 1 for s in seen)
    assert any(s["countdown_s"] is not None and s["countdown_s"] > 0 for s in seen)
    assert {s["instruction"] for s in seen} - {"Done", "Uptraining"}  # the protocol's cues


def test_the_qr_image_has_the_modules_of_the_url(qtbot):
    import qrcode

    from emgfeedback.gui.share_panel import qr_image

    url = "http://192.168.1.20:41235/?code=K7MQ2X"
    image = qr_image(url, module_px=4, border=2)
    qr = qrcode.QRCode(border=2, error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(url)
    qr.make(fit=True)
    matrix = qr.get_matrix()
    assert image.width() == image.height() == 4 * len(matrix)
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            grey = image.pixelColor(4 * x + 2, 4 * y + 2).value()
            assert grey == (0 if dark else 255), (x, y)
