"""The shared view in a real browser (headless Chromium over the DevTools protocol)."""

from __future__ import annotations

import numpy as np
import pytest
from pyqtgraph.Qt import QtGui

WAIT_S = 90.0  # generous: the machine may be busy; these are deadlines, not measurements


def _bar_fill_pixels(png: bytes) -> dict:
    """Pixels of the bar colours (Okabe-Ito blue / orange) in a screenshot."""
    image = QtGui.QImage.fromData(png, "PNG").convertToFormat(QtGui.QImage.Format_RGB32)
    ptr = image.constBits()
    ptr.setsize(image.sizeInBytes())
    bgra = np.frombuffer(ptr, np.uint8).reshape(image.height(), image.bytesPerLine() // 4, 4)
    rgb = bgra[:, : image.width(), 2::-1].astype(int)

    def count(hex_colour: str) -> int:
        target = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
        return int(np.sum(np.all(np.abs(rgb - target) <= 6, axis=2)))

    return {"size": (image.width(), image.height()), "working": count("#0072B2"),
            "met": count("#E69F00")}


def test_a_phone_with_the_code_shows_the_cue_the_bars_and_the_goal(make_server, feeder,
                                                                      browser):
    server, url = make_server()
    feed = feeder(server)
    feed.model.reps, feed.model.rep, feed.model.reps_passed = 5, 2, 1
    feed.state_kwargs = {"countdown_s": 3.2}
    feed.start()

    async def go(chrome):
        page = await chrome.open(url, width=390, height=844, mobile=True)
        await page.wait_for("document.body.dataset.state === 'live' && "
                            "document.querySelectorAll('#bars .bar').length === 1", WAIT_S)
        dom = await page.evaluate("""(() => {
            const bar = document.querySelector('#bars .bar');
            return {instruction: document.getElementById('instruction').textContent,
                    reps: document.getElementById('reps').textContent,
                    countdown: document.getElementById('countdown').textContent,
                    value: bar.querySelector('.value').textContent,
                    label: bar.querySelector('.label').textContent,
                    goal: bar.querySelector('.goal-label').textContent,
                    goalHidden: bar.querySelector('.goal').hidden,
                    fill: parseFloat(bar.querySelector('.fill').style.transform.slice(7)),
                    level: Number(bar.dataset.levelUv),
                    scale: document.getElementById('scale').textContent,
                    status: document.getElementById('status').textContent,
                    subject: document.getElementById('subject').textContent,
                    separator: getComputedStyle(document.getElementById('countdown'),
                                                '::before').content};
        })()""")
        png = await page.screenshot()
        return dom, png

    dom, png = browser.run(go)
    assert dom["instruction"] == "Squeeze the ball"
    assert dom["reps"] == "rep 2 of 5 · 1 ✓"
    assert dom["countdown"] == "4 s"
    assert dom["separator"] == '"  ·  "'  # "rep 2 of 5 · 1 ✓  ·  4 s"
    assert dom["label"] == "L biceps"
    assert dom["value"].endswith(("µV", "µV  ✓"))
    assert dom["goal"] == "▲ goal 40 µV" and not dom["goalHidden"]
    scale_uv = float(dom["scale"].split("–")[1].split()[0])  # "scale 0–100 µV"
    assert dom["fill"] == pytest.approx(min(1.0, dom["level"] / scale_uv), abs=1e-3)
    assert 0 < dom["fill"] <= 1
    assert dom["status"].startswith("live") and dom["subject"] == ""
    pixels = _bar_fill_pixels(png)
    assert pixels["size"] == (390, 844)
    assert pixels["working"] + pixels["met"] > 2000  # the bar is painted, not just in the DOM
    assert len(server.viewers) == 1


def test_the_paint_reports_arrive_after_the_samples(make_server, feeder, browser):
    """Latency accounting works end to end: every paint is later than its sample."""
    server, url = make_server()
    feeder(server).start()

    async def go(chrome):
        page = await chrome.open(url)
        await page.wait_for("document.body.dataset.state === 'live'", WAIT_S)
        for _ in range(int(WAIT_S / 0.1)):
            if sum(len(v) for v in server.latencies_ms().values()) >= 30:
                break
            await page.evaluate("1")  # keep the page busy with a harmless round trip
            import asyncio

            await asyncio.sleep(0.1)
        return server.latencies_ms()

    latencies = [x for v in browser.run(go).values() for x in v]
    assert len(latencies) >= 30
    assert min(latencies) > 0  # causality: the clock offset estimate is right


def test_a_wrong_code_is_refused_in_the_page(make_server, feeder, browser):
    server, url = make_server()
    feeder(server).start()
    code = url.rsplit("=", 1)[1]
    wrong = url.replace(code, ("C" if code[0] != "C" else "D") + code[1:])

    async def go(chrome):
        page = await chrome.open(wrong, width=390, height=844, mobile=True)
        await page.wait_for("document.body.dataset.state === 'refused'", WAIT_S)
        return await page.evaluate("[document.getElementById('instruction').textContent, "
                                   "document.getElementById('status').textContent, "
                                   "document.querySelectorAll('#bars .bar').length]")

    instruction, status, n_bars = browser.run(go)
    assert instruction == "Not paired"
    assert "wrong, expired or was revoked" in status and "new code" in status
    assert n_bars == 0 and server.viewers == {}


def test_an_expired_code_is_refused_in_the_page(make_server, feeder, browser, clock):
    server, url = make_server(ttl_s=120.0)
    feeder(server).start()
    clock.advance(121.0)

    async def go(chrome):
        page = await chrome.open(url)
        await page.wait_for("document.body.dataset.state === 'refused'", WAIT_S)
        return await page.evaluate("document.querySelectorAll('#bars .bar').length")

    assert browser.run(go) == 0
    assert server.stats()["refused"] == 1


def test_after_a_network_drop_or_a_reload_the_view_resumes_until_revoked(make_server, feeder,
                                                                        browser, clock):
    server, url = make_server(ttl_s=120.0)
    feeder(server).start()
    seq_js = "Number(document.body.dataset.seq || -1)"

    async def go(chrome):
        page = await chrome.open(url)
        await page.wait_for("document.body.dataset.state === 'live' && "
                            "document.body.dataset.seq", WAIT_S)
        clock.advance(600.0)  # the code has expired: only the screen's token still works
        assert server.disconnect_all() == 1
        await page.wait_for("document.body.dataset.state === 'reconnecting'", WAIT_S)
        before = await page.evaluate(seq_js)
        await page.wait_for(f"document.body.dataset.state === 'live' && {seq_js} > {before}",
                            WAIT_S)
        await page.navigate(url)  # a reload: the tab keeps its token
        await page.wait_for("document.body.dataset.state === 'live' && "
                            "document.body.dataset.seq", WAIT_S)
        resumed = await page.evaluate(seq_js)
        await page.wait_for(f"{seq_js} > {resumed}", WAIT_S)
        server.revoke(url.rsplit("=", 1)[1])
        await page.wait_for("document.body.dataset.state === 'revoked'", WAIT_S)
        await page.navigate(url)  # the revoked code cannot pair again
        await page.wait_for("document.body.dataset.state === 'refused'", WAIT_S)
        return True

    assert browser.run(go)
    assert server.viewers == {}


def test_over_tls_the_page_and_its_websocket_work(make_server, feeder, chromium_exe,
                                                   tmp_path):
    """HTTPS + WSS under the page's Content-Security-Policy (a throwaway certificate)."""
    import subprocess

    from emgfeedback.share.chromium import BackgroundLoop, HeadlessChromium

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    server, url = make_server(tls_cert=str(cert), tls_key=str(key))
    feeder(server).start()
    loop = BackgroundLoop()
    chrome = HeadlessChromium(chromium_exe, extra_args=["--ignore-certificate-errors"])

    async def go():
        await chrome.start()
        try:
            page = await chrome.open(url)
            await page.wait_for("document.body.dataset.state === 'live' && "
                                "document.querySelectorAll('#bars .bar').length === 1", WAIT_S)
            return await page.evaluate("location.protocol")
        finally:
            await chrome.close()

    try:
        assert loop.run(go(), 180.0) == "https:"
    finally:
        loop.close()


def test_symmetry_mode_and_the_reward_badge_are_drawn(make_server, feeder, browser):
    import time

    server, url = make_server()
    feed = feeder(server)
    feed.model.set_mode("symmetry")
    feed.model.reward_text = "Well done"
    plain_step = feed.step

    def step_with_reward():  # a reward half a second ago, every frame: fully visible
        feed.model.reward_at = time.monotonic() - 0.5
        return plain_step()

    feed.step = step_with_reward
    feed.start()

    async def go(chrome):
        page = await chrome.open(url)
        await page.wait_for("document.body.dataset.mode === 'symmetry' && "
                            "document.getElementById('sym-index').textContent"
                            ".startsWith('symmetry index')", WAIT_S)
        return await page.evaluate("""(() => ({
            barsHidden: document.getElementById('bars').hidden,
            symHidden: document.getElementById('symmetry').hidden,
            left: document.getElementById('sym-left-label').textContent,
            right: document.getElementById('sym-right-label').textContent,
            index: document.getElementById('sym-index').textContent,
            reward: document.getElementById('reward').textContent,
            opacity: document.getElementById('reward').style.opacity}))()""")

    dom = browser.run(go)
    assert dom["barsHidden"] and not dom["symHidden"]
    assert dom["left"].startswith("L biceps") and dom["right"].startswith("R biceps")
    assert dom["index"].startswith("symmetry index ") and "%" in dom["index"]
    assert dom["reward"] == "✓ Well done" and float(dom["opacity"]) == 1.0
