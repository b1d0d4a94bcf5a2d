"""Drive a headless Chromium over the DevTools protocol (for tests, benchmarks and docs).

No Selenium or Playwright: the system's ``chromium`` is started with
``--remote-debugging-port=0`` and driven through its WebSocket with aiohttp's client. One
browser, several pages (one per simulated screen), each a separate top-level target that
keeps rendering at the display rate in headless mode.

Usage (inside an asyncio coroutine)::

    async with HeadlessChromium() as browser:
        page = await browser.open(url, width=390, height=844)
        await page.wait_for("document.body.dataset.state === 'live'")
        png = await page.screenshot()
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading

from emgfeedback.errors import EmgFeedbackError

#: What CI installs for the browser tests (Debian/Ubuntu).
INSTALL_HINT = "sudo apt-get install -y chromium fonts-dejavu-core"


class BrowserError(EmgFeedbackError):
    """Chromium is missing or did not answer."""


def chromium_path() -> str | None:
    """The Chromium executable (``EMGFEEDBACK_CHROMIUM`` or the usual names), or None."""
    env = os.environ.get("EMGFEEDBACK_CHROMIUM")
    if env:
        return env if os.path.exists(env) else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Page:
    """One browser tab attached over a flattened DevTools session."""

    def __init__(self, browser: HeadlessChromium, target_id: str, session_id: str) -> None:
        self.browser = browser
        self.target_id = target_id
        self.session_id = session_id

    async def send(self, method: str, params: dict | None = None) -> dict:
        """A DevTools command in this page's session."""
        return await self.browser.send(method, params, session_id=self.session_id)

    async def evaluate(self, expression: str):
        """Evaluate a JavaScript expression; returns its JSON value."""
        reply = await self.send("Runtime.evaluate", {"expression": expression,
                                                     "returnByValue": True,
                                                     "awaitPromise": True})
        if "exceptionDetails" in reply:
            raise BrowserError(f"page script failed: {reply['exceptionDetails']}")
        return reply.get("result", {}).get("value")

    async def wait_for(self, expression: str, timeout_s: float = 60.0,
                       poll_s: float = 0.05):
        """Poll ``expression`` until it is truthy; returns its value.

        Raises
        ------
        TimeoutError
            Not true after ``timeout_s`` seconds (a generous deadline, not a measurement).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        problem = ""
        while True:
            try:  # while the page loads, its elements may not exist yet
                value = await self.evaluate(expression)
            except BrowserError as exc:
                value, problem = None, f" (last error: {exc})"
            if value:
                return value
            if loop.time() > deadline:
                raise TimeoutError(f"page never satisfied {expression!r} in {timeout_s} s"
                                   + problem)
            await asyncio.sleep(poll_s)

    async def navigate(self, url: str) -> None:
        """Load ``url`` in this page."""
        await self.send("Page.navigate", {"url": url})

    async def screenshot(self) -> bytes:
        """A PNG of the page's viewport."""
        reply = await self.send("Page.captureScreenshot", {"format": "png"})
        return base64.b64decode(reply["data"])

    async def close(self) -> None:
        """Close the tab."""
        await self.browser.send("Target.closeTarget", {"targetId": self.target_id})


class HeadlessChromium:
    """A headless Chromium process with a DevTools connection.

    Parameters
    ----------
    executable : str, optional
        Path of the browser (default: :func:`chromium_path`).
    extra_args : sequence of str
        More command-line switches.
    """

    def __init__(self, executable: str | None = None, extra_args=()) -> None:
        self.executable = executable or chromium_path()
        if not self.executable:
            raise BrowserError(f"chromium is not installed; install it with: {INSTALL_HINT}")
        self.extra_args = list(extra_args)
        self._proc: subprocess.Popen | None = None
        self._profile: tempfile.TemporaryDirectory | None = None
        self._session = None
        self._ws = None
        self._reader: asyncio.Task | None = None
        self._next_id = 0
        self._waiting: dict[int, asyncio.Future] = {}
        self._drainer: threading.Thread | None = None

    async def __aenter__(self) -> HeadlessChromium:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def start(self, timeout_s: float = 60.0) -> None:
        """Start the browser and connect to its DevTools endpoint."""
        import aiohttp

        self._profile = tempfile.TemporaryDirectory(prefix="emgf-chromium-")
        args = [self.executable, "--headless=new", "--remote-debugging-port=0",
                f"--user-data-dir={self._profile.name}", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions", "--disable-sync",
                "--disable-background-networking", "--disable-component-update",
                "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
                "--disable-backgrounding-occluded-windows", "--mute-audio",
                "--hide-scrollbars", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                *self.extra_args, "about:blank"]
        self._proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      text=True)
        endpoint = await asyncio.wait_for(asyncio.to_thread(self._read_endpoint), timeout_s)
        self._session = aiohttp.ClientSession()
        self._ws = await self._session.ws_connect(endpoint, max_msg_size=0)
        self._reader = asyncio.get_running_loop().create_task(self._read())

    def _read_endpoint(self) -> str:
        lines = []
        for line in self._proc.stderr:
            lines.append(line)
            match = re.search(r"DevTools listening on (ws://\S+)", line)
            if match:
                # keep draining stderr so the browser never blocks on a full pipe
                self._drainer = threading.Thread(target=self._drain, daemon=True)
                self._drainer.start()
                return match.group(1)
        raise BrowserError("chromium exited before opening DevTools: " + "".join(lines[-20:]))

    def _drain(self) -> None:
        for _line in self._proc.stderr:
            pass

    async def _read(self) -> None:
        import aiohttp

        async for msg in self._ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            future = self._waiting.pop(data.get("id"), None)
            if future is not None and not future.done():
                if "error" in data:
                    future.set_exception(BrowserError(str(data["error"])))
                else:
                    future.set_result(data.get("result", {}))
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(BrowserError("the DevTools connection closed"))

    async def send(self, method: str, params: dict | None = None, *,
                   session_id: str | None = None, timeout_s: float = 60.0) -> dict:
        """One DevTools command; returns its result."""
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params or {}}
        if session_id:
            msg["sessionId"] = session_id
        future = asyncio.get_running_loop().create_future()
        self._waiting[self._next_id] = future
        await self._ws.send_str(json.dumps(msg))
        return await asyncio.wait_for(future, timeout_s)

    async def open(self, url: str, width: int = 1024, height: int = 700,
                   mobile: bool = False, scale: float = 1.0) -> Page:
        """Open ``url`` in a new tab of ``width`` x ``height`` CSS pixels."""
        target = await self.send("Target.createTarget", {"url": "about:blank",
                                                         "newWindow": True,
                                                         "width": width, "height": height})
        attached = await self.send("Target.attachToTarget", {"targetId": target["targetId"],
                                                             "flatten": True})
        page = Page(self, target["targetId"], attached["sessionId"])
        await page.send("Page.enable")
        await page.send("Runtime.enable")
        await page.send("Emulation.setDeviceMetricsOverride",
                        {"width": width, "height": height, "deviceScaleFactor": scale,
                         "mobile": mobile})
        await page.navigate(url)
        return page

    async def close(self) -> None:
        """Close the connection and end the browser process."""
        if self._ws is not None:
            try:
                await asyncio.wait_for(self.send("Browser.close"), 10.0)
            except (BrowserError, asyncio.TimeoutError, ConnectionError):
                pass
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
        if self._session is not None:
            await self._session.close()
        if self._proc is not None:
            try:
                self._proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=20)
            if self._drainer is not None:
                self._drainer.join(20)  # it ends at the pipe's end of file
            self._proc.stderr.close()
        if self._profile is not None:
            self._profile.cleanup()


class BackgroundLoop:
    """An asyncio loop on a daemon thread, for driving the browser from Qt code.

    ``submit(coro)`` returns a :class:`concurrent.futures.Future`; a Qt test waits for it with
    ``qtbot.waitUntil(future.done)`` so the window keeps drawing meanwhile.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever,
                                        name="emgfeedback-browser", daemon=True)
        self._thread.start()

    def submit(self, coro):
        """Run ``coro`` on the loop; returns a concurrent future."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro, timeout_s: float = 120.0):
        """Run ``coro`` on the loop and wait for its result (blocks the caller)."""
        return self.submit(coro).result(timeout_s)

    def close(self) -> None:
        """Cancel what still runs, let closing sockets finish, stop the loop and its thread."""
        async def settle() -> None:
            me = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not me]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for _ in range(3):  # transports close in callbacks scheduled for the next turns
                await asyncio.sleep(0)

        if self.loop.is_running():
            self.run(settle(), 30.0)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(30.0)
        if not self.loop.is_running():
            self.loop.close()
