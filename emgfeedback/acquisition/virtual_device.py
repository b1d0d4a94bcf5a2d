"""A virtual board on a pseudo-terminal: the simulator's samples in a real wire format.

:class:`VirtualDevice` opens a pty (``os.openpty``, raw mode), and while a host has the
slave side open it streams :class:`~emgfeedback.acquisition.simulator.Simulator` counts at
the real rate in one framing, answers that framing's host commands, and injects faults into
the byte stream *above* the pty (a pty never drops or corrupts bytes by itself):

- ``emgf``: the project's frame. Boots stopped, sends its info frame, streams on ``b``;
  answers ``?``, ``b``, ``s``, ``f<Hz>``, ``c<n>``, ``k<n>`` as ``hardware/WIRE_FORMAT.md``
  says; a status frame every second while running.
- ``text``: one line per sample (``plain``, ``csv`` or Arduino ``plotter`` style).
- ``p2``: OpenEEG P2 packets, 6 channels (unused ones read 512), nominally 256 Hz.
- ``byb``: Backyard Brains SpikerShield: ``StartUp!\\n`` then frames at 10 kHz / channels;
  answers ``c:<n>;``, ``b:;``, ``?:;`` with wrapped messages.

Like an Uno, the device resets when the host opens the port (``reset_on_open``): it boots
for ``boot_s`` seconds, then sends its banner; its sample index restarts at 0. With
``reset_on_open=False`` it behaves like a board that keeps running (an ESP32 on native USB):
the index keeps counting while nobody listens or while unplugged, so the host sees exactly
which samples it missed.

Faults (:class:`Faults`) hit data frames (lines for ``text``); info and status replies are
sent intact so that the command exchange stays testable. Every destroyed data frame and
every sample the device threw away is logged in :attr:`VirtualDevice.fault_log`, so a test
can compare what the host counted with what really happened.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
import tty
from dataclasses import dataclass

import numpy as np

from emgfeedback.acquisition.virtual_faults import DeviceLog, FaultRecord, Faults, parse_pause
from emgfeedback.errors import ConfigError

__all__ = ["DeviceLog", "FaultRecord", "Faults", "VirtualDevice", "parse_pause"]

FRAMINGS = ("emgf", "text", "p2", "byb")
BYB_MESSAGE_START = b"\xff\xff\x01\x01\x80\xff"
BYB_MESSAGE_END = b"\xff\xff\x01\x01\x81\xff"
P2_CHANNELS = 6
P2_UNUSED = 512
TICK_S = 0.004
MAX_VALUES_PER_FRAME = 122  # emgf: samples x channels per data frame


@dataclass
class _Frame:
    data: bytes
    first_index: int = -1  # -1: not a data frame
    n_samples: int = 0


class VirtualDevice:
    """A simulated board behind a pty.

    Parameters
    ----------
    framing : str
        ``emgf``, ``text``, ``p2`` or ``byb``.
    channels : int
        Channels (``p2`` always sends 6; ``byb`` defaults to 1).
    fs_hz : float, optional
        Sample rate; defaults: emgf/text 2000, p2 256, byb 10000 / channels.
    scenario, seed, board, mains_hz
        Passed to :class:`~emgfeedback.acquisition.simulator.Simulator` (scenario
        default: ``drill``, ``rest`` for one channel).
    text_style : str
        ``plain``, ``csv`` or ``plotter`` (text framing).
    samples_per_frame : int
        emgf samples per data frame (``k``).
    faults : Faults
        Faults to inject.
    link : str, optional
        Keep a symlink at this path pointing to the current pty (like udev's
        ``/dev/serial/by-id``), removed while unplugged.
    reset_on_open : bool
        Reboot when the host opens the port (an Uno does).
    boot_s : float
        Boot time after a reset before the banner.
    autostart : bool
        emgf: stream after boot without waiting for ``b``.
    on_path : callable, optional
        Called with the path each time the device (re)appears.
    """

    def __init__(self, framing: str = "emgf", channels: int = 2, fs_hz: float | None = None,
                 scenario: str | None = None, seed: int = 1, board: str = "uno-myoware2",
                 mains_hz: float = 50.0, text_style: str = "plain", samples_per_frame: int = 8,
                 faults: Faults | None = None, link: str | None = None,
                 reset_on_open: bool = True, boot_s: float = 0.1, autostart: bool = False,
                 on_path=None, sim_options: dict | None = None) -> None:
        if framing not in FRAMINGS:
            raise ConfigError(f"framing {framing!r}: expected one of {', '.join(FRAMINGS)}")
        if text_style not in ("plain", "csv", "plotter"):
            raise ConfigError(f"text style {text_style!r}: expected plain, csv or plotter")
        self.framing = framing
        # drill needs two channels; a one-channel device rests unless told otherwise
        self.scenario = scenario or ("drill" if int(channels) >= 2 else "rest")
        self.seed = int(seed)
        self.board = board
        self.mains_hz = float(mains_hz)
        # H9 (#20): more Simulator options, e.g. {"faults": ("off",), "hum_uv": 1.0}
        self.sim_options = dict(sim_options or {})
        self.text_style = text_style
        self.faults = faults or Faults()
        self.link = link
        self.reset_on_open = bool(reset_on_open)
        self.boot_s = float(boot_s)
        self.autostart = bool(autostart) or framing != "emgf"
        self.on_path = on_path
        if framing == "p2":
            channels = min(int(channels), P2_CHANNELS)
        self.k = int(samples_per_frame)
        self._set_stream(int(channels), fs_hz)
        if framing == "emgf" and self.k * self.channels > MAX_VALUES_PER_FRAME:
            raise ConfigError(f"k={self.k} x {self.channels} channels exceeds "
                              f"{MAX_VALUES_PER_FRAME} values per emgf frame")
        self.fault_log: list[FaultRecord] = []
        self.log = DeviceLog()
        self.stream = 0
        self.tx_dropped = 0
        self._rng = np.random.default_rng(self.faults.seed)
        self._master: int | None = None
        self._slave_path: str | None = None
        self._thread: threading.Thread | None = None
        self._quit = threading.Event()
        self._lock = threading.Lock()
        self._t_origin: float | None = None  # first host open: fault times count from here
        self._host_open = False
        self._plugged = False
        self._unplugged_at: float | None = None
        self._done_unplug = False
        self._boot_until: float | None = None
        self._banner_due = False
        self._running = False
        self._index = 0  # device index of the next sample
        self._clock = (0.0, 0)  # (time, index) pacing origin while running
        self._pending: np.ndarray = np.zeros((0, self.channels), np.int32)
        self._pending_index = 0
        self._inbuf = b""
        self._next_status_s = 0.0
        self._paused_until: float | None = None
        self._done_pauses: set[int] = set()
        self._noisy = False
        self._noise_s: float | None = None  # noise sent up to this time

    # ------------------------------------------------------------------ public API

    @property
    def path(self) -> str:
        """The path a host should open (the link if one is kept, else the pty)."""
        return self.link or self._slave_path or ""

    @property
    def plugged(self) -> bool:
        """False while the device is unplugged."""
        return self._plugged

    def start(self) -> VirtualDevice:
        """Open the pty and start streaming in a background thread; returns self."""
        if self._thread is not None:
            return self
        self._plug()
        self._power_on(time.monotonic())
        self._thread = threading.Thread(target=self._loop, name="virtual-device", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread and close the pty. Idempotent."""
        self._quit.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self._thread = None
        self._unplug_pty()

    def __enter__(self) -> VirtualDevice:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def lost_samples(self, kinds: tuple[str, ...] | None = None, stream: int | None = None,
                     before_index: int | None = None) -> int:
        """Samples the device destroyed or dropped, filtered by kind, stream and index."""
        total = 0
        for rec in list(self.fault_log):
            if kinds is not None and rec.kind not in kinds:
                continue
            if stream is not None and rec.stream != stream:
                continue
            if before_index is not None and rec.first_index >= before_index:
                continue
            total += rec.n_samples
        return total

    # ------------------------------------------------------------------ stream set-up

    def _set_stream(self, channels: int, fs_hz: float | None) -> None:
        from emgfeedback.acquisition.simulator import Simulator

        if self.framing == "byb":
            fs_hz = fs_hz or 10_000.0 / channels
        elif self.framing == "p2":
            fs_hz = fs_hz or 256.0
        else:
            # The board's nominal rate (2000 Hz for uno-myoware2, 500 Hz for an ENV board).
            from emgfeedback.acquisition.boards import get_board, rate_for_channels

            fs_hz = fs_hz or rate_for_channels(get_board(self.board), channels)
        self.channels = channels
        self.fs_hz = float(fs_hz)
        self.sim = Simulator(scenario=self.scenario, n_channels=channels, fs_hz=self.fs_hz,
                             seed=self.seed, board=self.board, mains_hz=self.mains_hz,
                             **self.sim_options)
        self.channel_names = tuple(f"A{i}" for i in range(channels))
        self._pending = np.zeros((0, channels), np.int32)

    def info_payload(self) -> dict:
        """The emgf info JSON this device sends."""
        b = self.sim.board
        outputs = [c.output for c in self.sim.calibration]
        return {"fw": "1.0.0", "board": "virtual", "mcu": "python", "ch": self.channels,
                "fs": int(self.fs_hz) if float(self.fs_hz).is_integer() else self.fs_hz,
                "adc_bits": b.adc_bits, "vref_mv": int(b.vref_mv), "k": self.k,
                "baud": 1_000_000, "in": [f"{n}:{o}" for n, o in zip(self.channel_names,
                                                                       outputs, strict=True)],
                "run": int(self._running)}

    # ------------------------------------------------------------------ pty handling

    def _plug(self) -> None:
        master, slave = os.openpty()
        path = os.ttyname(slave)
        if self.faults.new_path and path in self.log.paths:
            # the kernel reuses the lowest free number: take another before freeing this one
            master2, slave2 = os.openpty()
            os.close(master)
            os.close(slave)
            master, slave, path = master2, slave2, os.ttyname(slave2)
        tty.setraw(slave)
        # Close our slave fd: the master then reports POLLHUP exactly while no host has
        # the port open, which is how the device notices an open (and resets like an Uno).
        os.close(slave)
        os.set_blocking(master, False)
        with self._lock:
            self._master = master
            self._slave_path = path
            self._plugged = True
            self._host_open = False
        self.log.paths.append(path)
        if self.link:
            tmp = f"{self.link}.tmp{os.getpid()}"
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            os.symlink(path, tmp)
            os.replace(tmp, self.link)
        if self.on_path is not None:
            self.on_path(self.path)

    def _unplug_pty(self) -> None:
        with self._lock:
            master, self._master = self._master, None
            self._plugged = False
            self._host_open = False
            self._slave_path = None
        if self.link:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.link)
        if master is not None:
            with contextlib.suppress(OSError):
                os.close(master)

    def _poll_host(self, now: float) -> None:
        """Notice the host opening or closing the port; read its commands."""
        if self._master is None:
            return
        poller = select.poll()
        poller.register(self._master, select.POLLIN | select.POLLHUP)
        events = poller.poll(0)
        hup = any(ev & select.POLLHUP for _, ev in events)
        if not hup and not self._host_open:
            self._host_open = True
            self.log.host_opens += 1
            if self._t_origin is None:
                self._t_origin = now
            if self.reset_on_open:
                self._power_on(now)
        elif hup and self._host_open:
            self._host_open = False
        if self._host_open and any(ev & select.POLLIN for _, ev in events):
            try:
                data = os.read(self._master, 4096)
            except OSError:
                data = b""
            if data:
                self._on_input(data, now)

    # ------------------------------------------------------------------ device behaviour

    def _power_on(self, now: float) -> None:
        """Reset: index 0, stopped (emgf) or streaming (others) after booting."""
        self.stream += 1
        self._index = 0
        self.sim.reset()  # sample i of every stream is the simulator's sample i
        self._running = False
        self._pending = np.zeros((0, self.channels), np.int32)
        self._boot_until = now + self.boot_s
        self._banner_due = True

    def _boot(self, now: float) -> None:
        self._boot_until = None
        if self._banner_due:
            self._banner_due = False
            if self.framing == "emgf":
                self._send_raw(self._emgf("info"))
            elif self.framing == "byb":
                self._send_raw(b"StartUp!\n")
        if self.autostart:
            self._begin(now)

    def _begin(self, now: float) -> None:
        if not self._running:
            self._running = True
            self._clock = (now, self._index)
            self._next_status_s = now + 1.0

    def _emgf(self, kind: str, code: int = 0, message: str = "") -> bytes:
        from emgfeedback.acquisition.framing import encode_emgf_info, encode_emgf_status

        if kind == "info":
            return encode_emgf_info(self.info_payload())
        return encode_emgf_status(code, self.tx_dropped, 0, self._index, message)

    def _on_input(self, data: bytes, now: float) -> None:
        if self.framing not in ("emgf", "byb"):
            return  # text and P2 devices do not listen
        self._inbuf += data
        terminator = b"\n" if self.framing == "emgf" else b";"
        while terminator in self._inbuf:
            line, self._inbuf = self._inbuf.split(terminator, 1)
            text = line.replace(b"\r", b"").decode("ascii", "replace").strip()
            self.log.commands.append(text)
            if self.framing == "emgf":
                self._emgf_command(text, now)
            else:
                self._byb_command(text)
        self._inbuf = self._inbuf[-64:]

    def _emgf_command(self, cmd: str, now: float) -> None:
        if self._boot_until is not None:
            return  # still in the bootloader: the command is lost, as on an Uno
        if cmd == "?":
            self._send_raw(self._emgf("info"))
        elif cmd == "b":
            self._begin(now)
            self._send_raw(self._emgf("status", 1))
        elif cmd == "s":
            self._flush_pending(now, force=True)
            self._running = False
            self._send_raw(self._emgf("status", 2))
        elif cmd[:1] in ("f", "c", "k") and len(cmd) <= 15:
            refusal = self._configure(cmd)
            if refusal:
                self._send_raw(self._emgf("status", 4, refusal))
            else:
                self._send_raw(self._emgf("status", 3))
        else:
            self._send_raw(self._emgf("status", 5, cmd[:15]))

    def _configure(self, cmd: str) -> str:
        """Apply ``f``/``c``/``k``; return a refusal message or ''."""
        if self._running:
            return "running"
        try:
            value = int(cmd[1:])
        except ValueError:
            return "bad value"
        channels, fs_hz, k = self.channels, self.fs_hz, self.k
        if cmd[0] == "f":
            fs_hz = float(value)
        elif cmd[0] == "c":
            channels = value
        else:
            k = value
        if not 1 <= channels <= self.sim.board.max_channels:
            return f"ch 1..{self.sim.board.max_channels}"
        if not 1 <= fs_hz or fs_hz * channels > 16_000:
            return "fs*ch>16000"
        if not 1 <= k or k * channels > MAX_VALUES_PER_FRAME:
            return "k*ch>122"
        if (channels, fs_hz) != (self.channels, self.fs_hz):
            try:
                self._set_stream(channels, fs_hz)
            except ConfigError as exc:  # e.g. the scenario needs more channels
                return str(exc)[:40]
        self.k = k
        if cmd[0] in ("f", "c"):  # an accepted f or c starts a new stream
            self.sim.reset()
            self._index = 0
            self.stream += 1
        return ""

    def _byb_command(self, cmd: str) -> None:
        name, _, value = cmd.partition(":")
        if name == "c":
            try:
                channels = int(value)
            except ValueError:
                return
            if 1 <= channels <= 6 and channels != self.channels:
                try:
                    self._set_stream(channels, None)
                except ConfigError:
                    return  # the scenario needs more channels: keep the old setting
                self._clock = (time.monotonic(), self._index)
        elif name == "b":
            self._send_raw(BYB_MESSAGE_START + b"HWT:MUSCLESS;" + BYB_MESSAGE_END)
        elif name == "?":
            self._send_raw(BYB_MESSAGE_START + b"FWV:1.0;HWT:MUSCLESS;HWV:1.0;"
                           + BYB_MESSAGE_END)

    # ------------------------------------------------------------------ main loop

    def _loop(self) -> None:
        while not self._quit.is_set():
            now = time.monotonic()
            self._schedule(now)
            if self._plugged:
                self._poll_host(now)
            if self._boot_until is not None and now >= self._boot_until:
                self._boot(now)
            if self._running:
                self._produce(now)
            self._quit.wait(TICK_S)

    def _schedule(self, now: float) -> None:
        f = self.faults
        if self._t_origin is None:
            return
        elapsed = now - self._t_origin
        if (f.unplug_after_s is not None and not self._done_unplug and self._plugged
                and elapsed >= f.unplug_after_s):
            self._done_unplug = True
            self._flush_pending(now, reason="unplug")  # a half-filled frame never goes out
            self._unplug_pty()
            self._unplugged_at = now
            if self.reset_on_open:
                self._running = False  # the board lost power
        if (self._unplugged_at is not None and f.replug_after_s is not None
                and now - self._unplugged_at >= f.replug_after_s):
            self._unplugged_at = None
            if self.reset_on_open:
                self._power_on(now)
            self._plug()
        self._noisy = any(at_s <= elapsed < at_s + duration_s for at_s, duration_s in f.noise)
        if self._noisy:
            self._send_noise(now)
        else:
            self._noise_s = None
        self._paused_until = None
        for i, (at_s, duration_s) in enumerate(f.pauses):
            if at_s <= elapsed < at_s + duration_s:
                self._paused_until = self._t_origin + at_s + duration_s
            elif elapsed >= at_s + duration_s and i not in self._done_pauses:
                self._done_pauses.add(i)
                if self.framing == "emgf" and self._host_open:
                    # tell the host about the frames dropped during the pause
                    self._send_raw(self._emgf("status", 0))

    def _produce(self, now: float) -> None:
        t0, i0 = self._clock
        due = i0 + int((now - t0) * self.fs_hz)
        n = due - self._index
        if n <= 0:
            return
        counts = self.sim.next_counts(n)
        first = self._index
        self._index = due
        reason = None
        if not self._plugged:
            reason = "unplug"
        elif self._paused_until is not None:
            reason = "pause"
        elif self._noisy:
            reason = "noise"
        elif not self._host_open:
            reason = "not_listening"
        if reason is not None:
            # taken but never sent; the index advanced, so the host sees a jump
            self._flush_pending(now, force=True, reason=reason)
            self._record(reason, first, n, now)
            if self.framing == "emgf":
                self.tx_dropped += -(-n // self.k)
            return
        if self._pending.shape[0] == 0:
            self._pending_index = first
        self._pending = np.concatenate([self._pending, counts]) if self._pending.size \
            else counts
        self._flush_pending(now)
        if self.framing == "emgf" and now >= self._next_status_s:
            self._next_status_s = now + 1.0
            self._send_raw(self._emgf("status", 0))

    def _flush_pending(self, now: float, force: bool = False, reason: str | None = None) -> None:
        """Encode and send whole frames from the pending samples."""
        pending = self._pending
        if pending.shape[0] == 0:
            return
        if reason is not None:
            self._record(reason, self._pending_index, pending.shape[0], now)
            self._pending = pending[:0]
            return
        per_frame = self.k if self.framing == "emgf" else 1
        n_frames = pending.shape[0] // per_frame if not force else -(-pending.shape[0]
                                                                      // per_frame)
        if n_frames == 0:
            return
        used = min(pending.shape[0], n_frames * per_frame)
        block, self._pending = pending[:used], pending[used:]
        first = self._pending_index
        self._pending_index += used
        frames = self._encode(first, block)
        self._send_frames(frames, now)

    def _encode(self, first: int, block: np.ndarray) -> list[_Frame]:
        from emgfeedback.acquisition import framing as fr

        frames: list[_Frame] = []
        if self.framing == "emgf":
            for i in range(0, block.shape[0], self.k):
                part = block[i:i + self.k]
                frames.append(_Frame(fr.encode_emgf_data(first + i, part), first + i,
                                     part.shape[0]))
        elif self.framing == "p2":
            values = np.full((block.shape[0], P2_CHANNELS), P2_UNUSED, np.int32)
            values[:, :self.channels] = block
            for i, row in enumerate(values):
                frames.append(_Frame(fr.encode_p2((first + i) & 0xFF, row), first + i, 1))
        elif self.framing == "byb":
            if not self.faults.damages_frames():  # one write; per-frame only to damage it
                return [_Frame(fr.encode_byb(block), first, block.shape[0])]
            for i, row in enumerate(block):
                frames.append(_Frame(fr.encode_byb(row[None, :]), first + i, 1))
        else:
            style = self.text_style
            labels = self.channel_names if style == "plotter" else None
            if style == "csv" and self.log.samples_sent == 0 and first == 0:
                frames.append(_Frame((",".join(self.channel_names) + "\r\n").encode()))
            if not self.faults.damages_frames():
                frames.append(_Frame(fr.encode_text(block, labels, style=style), first,
                                     block.shape[0]))
                return frames
            for i, row in enumerate(block):
                frames.append(_Frame(fr.encode_text(row[None, :], labels, style=style),
                                     first + i, 1))
        return frames

    def _corrupt(self, data: bytes) -> tuple[bytes, str | None]:
        f = self.faults
        rng = self._rng
        arr = np.frombuffer(data, np.uint8).copy()
        kind = None
        if f.bit_flip_rate:
            hits = np.flatnonzero(rng.random(arr.size) < f.bit_flip_rate)
            if hits.size:
                arr[hits] ^= (1 << rng.integers(0, 8, hits.size)).astype(np.uint8)
                kind = "bit_flip"
        if f.byte_drop_rate:
            keep = rng.random(arr.size) >= f.byte_drop_rate
            if not keep.all():
                arr = arr[keep]
                kind = kind or "byte_drop"
        if f.truncate_rate and arr.size > 1 and rng.random() < f.truncate_rate:
            arr = arr[:int(rng.integers(1, arr.size))]
            kind = kind or "truncate"
        return arr.tobytes(), kind

    def _send_frames(self, frames: list[_Frame], now: float) -> None:
        f = self.faults
        out = bytearray()
        if f.garbage_rate_hz:
            bursts = self._rng.poisson(f.garbage_rate_hz * TICK_S)
            for _ in range(int(bursts)):
                garbage = self._rng.integers(0, 256, f.garbage_size, dtype=np.uint8).tobytes()
                out += garbage
                self.log.garbage_bytes += len(garbage)
        sent_samples = 0
        damaged: list[tuple[str, _Frame]] = []
        for frame in frames:
            data = frame.data
            if frame.first_index >= 0 and f.damages_frames():
                data, kind = self._corrupt(data)
                if kind is not None:
                    damaged.append((kind, frame))
            out += data
            sent_samples += frame.n_samples
        if self._send_raw(bytes(out)):
            for kind, frame in damaged:
                self._record(kind, frame.first_index, frame.n_samples, now)
            self.log.samples_sent += sent_samples
            self.log.frames_sent += len(frames)
        else:
            data_frames = [fr for fr in frames if fr.first_index >= 0]
            if data_frames:
                n = sum(fr.n_samples for fr in data_frames)
                self._record("tx_full", data_frames[0].first_index, n, now)
                self.tx_dropped += len(data_frames)

    def _send_noise(self, now: float) -> None:
        """Random bytes at ``noise_bytes_per_s`` since the last call (a noise window)."""
        if self._noise_s is None:
            self._noise_s = now
            return
        n = int((now - self._noise_s) * self.faults.noise_bytes_per_s)
        if n <= 0:
            return
        self._noise_s += n / self.faults.noise_bytes_per_s
        noise = self._rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        if self._send_raw(noise):
            self.log.noise_bytes += n

    def _send_raw(self, data: bytes) -> bool:
        """Write all of ``data`` to the pty, or nothing if the host does not keep up."""
        if self._master is None or not self._host_open or not data:
            return False
        view = memoryview(data)
        deadline = time.monotonic() + 0.05
        while view:
            try:
                written = os.write(self._master, view)
                view = view[written:]
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return False  # a partial frame went out: the decoder resyncs
                time.sleep(0.001)
            except OSError:
                return False
        return True

    def _record(self, kind: str, first: int, n: int, now: float) -> None:
        if n > 0:
            self.fault_log.append(FaultRecord(kind, self.stream, first, n, now))

