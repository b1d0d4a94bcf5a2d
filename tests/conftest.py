"""Shared test configuration: headless Qt, LSL on loopback only, data paths.

LSL: liblsl reads its configuration before its first network use. ``ResolveScope =
machine`` keeps stream discovery on 127.0.0.1 (no multicast to the local network),
``KnownPeers`` asks the loopback address directly. Set here, for every test and the
subprocesses they start, so no test anywhere sends LSL traffic off this machine.
"""

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

LSL_API_CFG = """\
[ports]
IPv6 = disable
[multicast]
ResolveScope = machine
MachineAddresses = {127.0.0.1}
AddressesOverride = {127.0.0.1}
TTLOverride = 0
[lab]
KnownPeers = {127.0.0.1}
[log]
level = -2
"""

_cfg = Path(tempfile.gettempdir()) / f"emgfeedback-tests-lsl_api-{os.getpid()}.cfg"
_cfg.write_text(LSL_API_CFG)
# Set before any test runs (conftest files are imported at collection), and inherited by
# subprocesses such as `python -m emgfeedback record`.
os.environ["LSLAPICFG"] = str(_cfg)

DATA_DIR = Path(__file__).parent / "data"


@pytest.fixture
def data_dir() -> Path:
    """Folder of the real recordings excerpted for tests (see tests/data/SOURCES.md)."""
    return DATA_DIR


@pytest.fixture(autouse=True)
def _private_config_dir(tmp_path_factory, monkeypatch):
    """Subject set-ups saved by ``record --subject S --names ...`` (and the GUI) go to a
    temporary directory per test, never the user's, and never leak from one test to the
    next (a saved set-up changes the names a later session stores)."""
    monkeypatch.setenv("EMGFEEDBACK_CONFIG", str(tmp_path_factory.mktemp("config")))


@pytest.fixture
def make_window(qtbot, tmp_path, monkeypatch):
    """Build live main windows offscreen; each is shut down after the test.

    ``make_window(url, **kwargs)`` takes :func:`emgfeedback.gui.app.build_window`'s
    arguments. Settings and the default session store go to the test's temporary
    directory, never the user's. The one copy for tests/gui, tests/share and tests/e2e.
    """
    monkeypatch.setenv("EMGFEEDBACK_CONFIG", str(tmp_path / "config"))
    monkeypatch.setenv("EMGFEEDBACK_DB", str(tmp_path / "default.sqlite"))
    from emgfeedback.gui.app import build_window

    windows = []

    def make(url: str, **kwargs):
        win = build_window(url, **kwargs)
        qtbot.addWidget(win)
        windows.append(win)
        return win

    yield make
    for win in windows:
        win.shutdown()
