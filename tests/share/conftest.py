"""Fixtures for the share tests: a share server fed by a real feedback model, Chromium."""

from __future__ import annotations

import os
import threading

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


class FakeClock:
    """Monotonic seconds that move only when told (for code expiry)."""

    def __init__(self, start_s: float = 1000.0) -> None:
        self.now_s = start_s

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds


class Goals:
    """The session's captured goals, as :class:`emgfeedback.runtime.live_session.Goals` answers."""

    def up_goal_uv(self, channel: int) -> float:
        return 40.0

    def down_goal_uv(self, channel: int) -> float:
        return 10.0


class Feeder:
    """Drives a real FeedbackModel and publishes its state, like the window's frame does.

    Publishing runs on its own thread; it stops after ``stop()``. The envelope follows a
    slow ramp so the level changes every state.
    """

    def __init__(self, server, names=("L biceps", "R biceps"), fs_hz: float = 1000.0,
                 subject: str = "") -> None:
        from emgfeedback.gui.feedback import FeedbackModel

        self.server = server
        self.model = FeedbackModel(list(names), fs_hz)
        self.model.set_mode("uptraining")
        self.model.instruction = "Squeeze the ball"
        self.subject = subject
        self.index = 0
        #: More keyword arguments of build_state (countdown_s, result).
        self.state_kwargs: dict = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self) -> dict:
        from emgfeedback.share.server import now_ms
        from emgfeedback.share.state import build_state

        self.index += 16
        level = 25.0 + 20.0 * np.sin(self.index / 500.0)
        self.model.update_levels(np.array([level, 6.0]), self.index, Goals())
        state = build_state(self.model, t_ms=now_ms(), subject=self.subject,
                            allow_names=self.server.allow_names, **self.state_kwargs)
        self.server.publish(state)
        return state

    def start(self, period_s: float = 1 / 60) -> Feeder:
        def run() -> None:
            while not self._stop.wait(period_s):
                self.step()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30.0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_server(clock):
    """Start share servers on 127.0.0.1 (free ports); stopped after the test."""
    from emgfeedback.share.server import ShareServer

    servers = []

    def make(**kwargs):
        kwargs.setdefault("clock", clock)
        server = ShareServer(**kwargs)
        servers.append(server)
        url = server.start()
        return server, url

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def feeder():
    feeders = []

    def make(server, **kwargs) -> Feeder:
        f = Feeder(server, **kwargs)
        feeders.append(f)
        return f

    yield make
    for f in feeders:
        f.stop()


@pytest.fixture(scope="module")
def chromium_exe() -> str:
    """The system's Chromium; CI must have it (fails with the install line), elsewhere the
    browser tests are skipped with the reason."""
    from emgfeedback.share.chromium import INSTALL_HINT, chromium_path

    path = chromium_path()
    if path is None:
        message = f"chromium is needed for the browser tests: {INSTALL_HINT}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def browser(chromium_exe):
    """A headless Chromium driven from a background asyncio loop: ``browser.run(coro_fn)``
    runs ``coro_fn(chromium)`` and returns its result."""
    from emgfeedback.share.chromium import BackgroundLoop, HeadlessChromium

    loop = BackgroundLoop()
    chrome = HeadlessChromium(chromium_exe)
    loop.run(chrome.start())

    class Runner:
        chromium = chrome
        background = loop

        def run(self, coro_fn, timeout_s: float = 180.0):
            return loop.run(coro_fn(chrome), timeout_s)

        def submit(self, coro_fn):
            return loop.submit(coro_fn(chrome))

    yield Runner()
    loop.run(chrome.close())
    loop.close()
