"""Shared test configuration: headless Qt, LSL on loopback only, data paths.

LSL: liblsl reads its configuration before its first network use. ``ResolveScope =
machine`` keeps stream discovery on 127.0.0.1 (no multicast to the local network),
``KnownPeers`` asks the loopback address directly. Set here, for every test and the
subprocesses they start, so no test anywhere sends LSL traffic off this machine.
"""

import os
import tempfile
from pathlib import Path

import numpy as np
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


def _write_session(db, meta, counts, gaps=None, chunk: int = 100, markers=()):
    """Write ``counts`` as one session through the real store and writer.

    ``gaps`` maps a stream index to the :class:`~emgfeedback.types.Gap` that starts there:
    the chunk that would have begun at that index follows the gap instead. ``markers``
    are ``(index, kind, label, data)`` tuples. Returns the session id.
    """
    import time

    from emgfeedback.storage.store import SessionStore
    from emgfeedback.types import Chunk

    gaps = gaps or {}
    with SessionStore(db) as store:
        sid = store.create_session(meta)
        with store.open_writer(sid) as w:
            index = 0
            for a in range(0, counts.shape[0], chunk):
                before = ()
                if index in gaps:
                    before = (gaps[index],)
                    index += gaps[index].n_samples
                w.add_chunk(Chunk(counts[a:a + chunk], index, time.monotonic(), before))
                index += counts[a:a + chunk].shape[0]
            for index, kind, label, data in markers:
                w.add_marker(index, kind, label, data)
    return sid


@pytest.fixture
def write_session():
    """The one session-writing loop of the end-to-end tests (see :func:`_write_session`)."""
    return _write_session


def _burst_signal_uv(fs_hz: float, snr_db: float, seed: int, spans_s, duration_s: float,
                     ramp_s: float = 0.0):
    """Raw µV: 5 µV white rest plus 50-150 Hz band-limited bursts over ``spans_s``.

    ``spans_s`` are ``(start, end)`` in seconds; the bursts are ``snr_db`` above the rest.
    A burst that does not start at 0 rises linearly over ``ramp_s``.
    """
    from scipy import signal

    rng = np.random.default_rng(seed)
    n = int(duration_s * fs_hz)
    rest = rng.standard_normal(n) * 5.0
    sos = signal.butter(2, [50.0, 150.0], btype="bandpass", fs=fs_hz, output="sos")
    active = signal.sosfilt(sos, rng.standard_normal(n))
    active *= 5.0 * 10 ** (snr_db / 20) / active.std()
    envelope = np.zeros(n)
    for a, b in spans_s:
        i, j = int(a * fs_hz), int(b * fs_hz)
        envelope[i:j] = 1.0
        k = int(ramp_s * fs_hz)
        if k and a > 0:
            envelope[i:i + k] = np.linspace(0, 1, k)
    return rest + envelope * active


@pytest.fixture
def burst_signal_uv():
    """The one synthetic burst generator of the onset tests (see :func:`_burst_signal_uv`)."""
    return _burst_signal_uv
