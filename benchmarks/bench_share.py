"""Sample-to-browser-paint latency of the shared client view, per number of screens.

The real path: the simulator streams in real time into the live window (Qt, offscreen),
which publishes the client view's state every frame to the share server; headless Chromium
(the system's ``chromium``) opens 1, 2, then 4 pages with the pairing code and reports each
painted frame's time on the host's clock. The *share latency* of a state is the paint time
minus the host arrival time of the newest sample it shows (``Chunk.arrival_s``); a state
replaced before it was painted is charged to the paint that replaced it (see
:mod:`emgfeedback.share.server`). Target: p95 <= 100 ms with 4 screens on the loopback.

    python benchmarks/bench_share.py [--seconds 10] [--json] [--viewers 1 2 4]

Also reported: the window's own sample-to-screen p95, frames per second, and the counters
that show whether the screens slowed anything down (engine display overruns, lost samples,
states the server or a screen skipped).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

TARGET_P95_MS = 100.0
SOURCE = "sim://?scenario=drill&channels=2&seed=7"


async def _phone_picture(page, path: str) -> None:
    """Wait (generous deadline) until the bar is well up, then save the phone's screen."""
    await page.wait_for("(() => { const b = document.querySelector('#bars .bar');"
                        " return b && Number(b.dataset.levelUv) > 35; })()", 120.0)
    with open(path, "wb") as f:
        f.write(await page.screenshot())


async def _measure(server, url: str, counts, seconds: float, warmup_s: float,
                   screenshot: str | None = None) -> list[dict]:
    from emgfeedback.share.chromium import HeadlessChromium

    rows = []
    async with HeadlessChromium() as browser:
        pages = []
        for n in counts:
            while len(pages) < n:
                pages.append(await browser.open(url, width=390, height=844, mobile=True,
                                                scale=2.0 if screenshot else 1.0))
            for page in pages:
                await page.wait_for("document.body.dataset.state === 'live'", 60.0)
            await asyncio.sleep(warmup_s)
            before = server.stats()
            server.reset_latencies()
            await asyncio.sleep(seconds)
            after = server.stats()
            per_viewer = {k: v for k, v in server.latencies_ms().items() if v}
            every = np.concatenate([np.asarray(v) for v in per_viewer.values()]) \
                if per_viewer else np.array([])
            rows.append({
                "viewers": n,
                "connected": len(after["viewers"]),
                "states_published": after["published"] - before["published"],
                "publish_dropped": after["publish_dropped"] - before["publish_dropped"],
                "paints": int(every.size),
                "p50_ms": float(np.percentile(every, 50)) if every.size else None,
                "p95_ms": float(np.percentile(every, 95)) if every.size else None,
                "max_ms": float(every.max()) if every.size else None,
                "per_viewer_p95_ms": [float(np.percentile(v, 95))
                                      for v in per_viewer.values()],
                "viewer_dropped": sum(v["dropped"] for v in after["viewers"]),
                "closed_slow": after["closed_slow"],
            })
        if screenshot:
            await _phone_picture(pages[0], screenshot)
    return rows


def run(counts=(1, 2, 4), seconds: float = 10.0, warmup_s: float = 2.0,
        screenshot: str | None = None) -> dict:
    """Measure with the real window; returns the report dict."""
    from emgfeedback.gui.app import application, build_window
    from emgfeedback.gui.share_panel import start_sharing
    from emgfeedback.share.chromium import BackgroundLoop, chromium_path
    from emgfeedback.share.options import ShareOptions

    if chromium_path() is None:
        raise SystemExit("chromium is not installed: sudo apt-get install -y chromium")
    app = application()
    win = build_window(SOURCE, window_s=5.0, mode="uptraining")
    win.session.goals.mvc_uv = [100.0, 100.0]  # a goal line at 40 % MVC = 40 µV
    url = start_sharing(win, ShareOptions())
    win.show()
    win.start()
    browser = BackgroundLoop()
    future = browser.submit(_measure(win.share.server, url, counts, seconds, warmup_s,
                                     screenshot))
    deadline = time.monotonic() + 120.0 + len(counts) * (seconds + warmup_s) * 3
    from pyqtgraph.Qt import QtCore

    def check() -> None:
        if future.done() or time.monotonic() > deadline:
            app.quit()

    poll = QtCore.QTimer()
    poll.timeout.connect(check)
    poll.start(50)
    try:
        app.exec_()  # the window's real event loop while the browser measures
        poll.stop()
        rows = future.result(timeout=1.0)
        health = win.session.engine.health.as_dict()
        window = {"screen_p95_ms": win.latency.latency_ms(95), "fps": win.latency.fps(1e9)}
    finally:
        win.shutdown()
        win.close()
        browser.close()
    worst = max((r["p95_ms"] for r in rows if r["p95_ms"] is not None), default=None)
    return {"benchmark": "share", "source": SOURCE, "seconds_per_count": seconds,
            "target_p95_ms": TARGET_P95_MS, "rows": rows,
            "passed": worst is not None and worst <= TARGET_P95_MS,
            "window": window,
            "engine": {k: health[k] for k in ("samples_in", "lost_samples",
                                              "display_overruns", "sample_age_ms_p95")},
            "cpu_count": os.cpu_count()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="measured seconds per count")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    ap.add_argument("--viewers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    ap.add_argument("--phone-screenshot", default=None, metavar="FILE.png",
                    help="also save what the first (390x844 CSS px) phone shows, e.g. "
                         "docs/screenshots/share_phone.png")
    args = ap.parse_args(argv)
    report = run(sorted(set(args.viewers)), args.seconds, args.warmup, args.phone_screenshot)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for r in report["rows"]:
            print(f"{r['viewers']} screen(s): p50 {r['p50_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms"
                  f" over {r['paints']} paints; skipped: server {r['publish_dropped']}, "
                  f"screens {r['viewer_dropped']}")
        print(f"window: screen p95 {report['window']['screen_p95_ms']:.1f} ms, "
              f"{report['window']['fps']:.0f} fps; engine: {report['engine']}")
        print("PASS" if report["passed"] else f"FAIL: p95 above {TARGET_P95_MS:g} ms")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
