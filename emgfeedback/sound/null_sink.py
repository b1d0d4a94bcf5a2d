"""A private PulseAudio server with a null sink: a real audio path with no speaker.

Used by the audio tests and ``benchmarks/bench_sound.py``: the server runs in its own
runtime folder with its own socket (nothing shared with a desktop session), its default
output is a null sink named ``cap``, and ``parec -d cap.monitor`` records exactly what was
played, paced in real time by the server.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

TOOLS = ("pulseaudio", "pactl", "parec")
INSTALL_HINT = "sudo apt-get install pulseaudio pulseaudio-utils libportaudio2 libasound2-plugins"
SINK = "cap"


def missing_tools() -> list[str]:
    """The PulseAudio programs this machine lacks."""
    return [t for t in TOOLS if shutil.which(t) is None]


@contextlib.contextmanager
def private_null_sink(folder: str | os.PathLike | None = None, deadline_s: float = 60.0):
    """Run a private PulseAudio server; yields the environment that plays into it.

    Parameters
    ----------
    folder : path-like, optional
        Where the server's runtime folder and socket go (default: a new temporary folder).
    deadline_s : float
        How long to wait for the server to answer (generous: a loaded machine is slow).

    Yields
    ------
    dict
        ``os.environ`` plus ``PULSE_SERVER``, ``XDG_RUNTIME_DIR`` and ``HOME`` pointing at
        the private server; pass it to the processes that should play or record.
    """
    with contextlib.ExitStack() as stack:
        if folder is None:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="emgf-pulse-"))
        runtime = Path(folder) / "pulse-rt"
        runtime.mkdir(mode=0o700, exist_ok=True)
        sock = runtime / "native"
        env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime), HOME=str(folder),
                   PULSE_SERVER=f"unix:{sock}")
        server = subprocess.Popen(
            ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no",
             "--disallow-exit", "--log-target=stderr",
             f"--load=module-null-sink sink_name={SINK} rate=44100",
             f"--load=module-native-protocol-unix auth-anonymous=1 socket={sock}"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            end = time.monotonic() + deadline_s
            while True:
                if server.poll() is not None:
                    raise RuntimeError("pulseaudio exited: "
                                       + server.stderr.read().decode(errors="replace")[-800:])
                info = subprocess.run(["pactl", "info"], env=env, capture_output=True,
                                      text=True)
                if info.returncode == 0 and f"Default Sink: {SINK}" in info.stdout:
                    break
                if time.monotonic() > end:
                    raise RuntimeError(f"pulseaudio did not answer within {deadline_s} s")
                time.sleep(0.1)
            yield env
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def record_monitor(env: dict, path: str | os.PathLike, fs_hz: int = 44100) -> subprocess.Popen:
    """Start recording the null sink's monitor as raw 16-bit mono to ``path``.

    Returns
    -------
    subprocess.Popen
        Terminate it to stop recording.
    """
    out = open(path, "wb")  # noqa: SIM115 - handed to the child, closed below
    try:
        return subprocess.Popen(["parec", "-d", f"{SINK}.monitor", "--format=s16le",
                                 f"--rate={fs_hz}", "--channels=1", "--raw",
                                 "--latency-msec=20"], env=env, stdout=out)
    finally:
        out.close()
