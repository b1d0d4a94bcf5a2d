"""The sound card: a low-latency output stream that plays the tone and the cue sounds.

Built on ``sounddevice`` (PortAudio): its wheels carry PortAudio on Windows and macOS, and
on Linux it uses the system's ``libportaudio2`` (through ALSA, which PulseAudio and PipeWire
serve). PortAudio calls :meth:`SoundPlayer._callback` on its own thread every block
(``BLOCK_FRAMES`` samples, 5.8 ms at 44.1 kHz); the callback reads the latest target pitch,
glides to it within the block, and mixes any queued cue sounds. The GUI or the engine only
store a target (no locks held across audio I/O), so sound can never slow acquisition.

Latency from a new envelope value to the speaker is: the wait for the next callback (at
most one block) + the block itself + PortAudio's output latency (``stream.latency``, asked
as ``"low"``). The player measures the first part on every update and reports all of it in
:meth:`SoundPlayer.latency_ms`.
"""

from __future__ import annotations

import collections
import threading
import time

import numpy as np

from emgfeedback.sound.synth import GAIN, LOW_HZ, SAMPLE_RATE_HZ, cue_sound, tone_block

BLOCK_FRAMES = 256
#: Gain changes are ramped over one block; pitch glides over one block too.
_FADE_BLOCKS = 1

INSTALL_HINT = ("install PortAudio and sounddevice: on Debian/Ubuntu "
                "`sudo apt-get install libportaudio2` and `pip install 'emgfeedback[sound]'` "
                "(Windows and macOS need only the pip step)")


def sound_problem() -> str | None:
    """Why sound cannot play here, as one line saying what to do; None when it can.

    Returns
    -------
    str or None
        E.g. ``"sound unavailable: PortAudio is missing: install ..."``.
    """
    try:
        import sounddevice as sd
    except ImportError:
        return f"sound unavailable: the sounddevice package is missing: {INSTALL_HINT}"
    except OSError:
        return f"sound unavailable: the PortAudio library is missing: {INSTALL_HINT}"
    try:
        sd.query_devices(kind="output")
    except Exception:  # noqa: BLE001 - PortAudio reports "no device" in several ways
        return ("sound unavailable: no audio output device (is a sound server such as "
                "PulseAudio or PipeWire running, and is an output selected?)")
    return None


class SoundPlayer:
    """A continuous tone plus cue sounds on the default output device.

    Never raises for a missing library or device: :attr:`available` is False and
    :attr:`problem` says why in one line (print it once, and go on without sound).

    Parameters
    ----------
    fs_hz : int
        Output sample rate.
    block_frames : int
        Samples per PortAudio callback.
    device : int or str, optional
        Output device (default: the system's default output).
    clock : callable
        Monotonic clock in seconds (injectable for tests of the latency accounting).
    """

    def __init__(self, fs_hz: int = SAMPLE_RATE_HZ, block_frames: int = BLOCK_FRAMES,
                 device=None, clock=time.monotonic) -> None:
        self.fs_hz = int(fs_hz)
        self.block_frames = int(block_frames)
        self.device = device
        self._clock = clock
        self._stream = None
        self.problem: str | None = sound_problem()
        # Target written by any thread, read by the callback: one tuple, swapped atomically.
        self._target: tuple[float | None, float, float] = (None, GAIN, clock())
        self._hz = LOW_HZ
        self._gain = 0.0
        self._phase = 0.0
        self._cues: collections.deque = collections.deque(maxlen=8)
        self._playing_cue: list[np.ndarray] = []
        self._cue_cache = {}
        self._lock = threading.Lock()
        self._seen_target_at: float | None = None
        #: Delays (s) between a target update and the callback that first used it.
        self.update_delays_s: collections.deque = collections.deque(maxlen=4096)
        #: Delays (s) between a target update and the moment its first sample reaches the
        #: converter, by PortAudio's own clock for that block.
        self.heard_delays_s: collections.deque = collections.deque(maxlen=4096)
        self._ahead_s: float | None = None
        self.blocks = 0
        self.underflows = 0
        self.cues_played: list[tuple[str, float]] = []
        #: PortAudio's reported output latency of the open stream (s), once started.
        self.device_latency_s: float | None = None

    @property
    def available(self) -> bool:
        """True when the library and an output device exist."""
        return self.problem is None

    @property
    def running(self) -> bool:
        return self._stream is not None

    def start(self) -> bool:
        """Open and start the output stream; False (and :attr:`problem` set) on failure."""
        if self._stream is not None:
            return True
        if self.problem is not None:
            return False
        try:
            import sounddevice as sd

            stream = sd.OutputStream(samplerate=self.fs_hz, blocksize=self.block_frames,
                                     channels=1, dtype="float32", latency="low",
                                     device=self.device, callback=self._callback)
            stream.start()
        except Exception as exc:  # noqa: BLE001 - any PortAudio failure means no sound
            self.problem = f"sound unavailable: the output could not be opened ({exc})"
            return False
        self._stream = stream
        self.device_latency_s = float(stream.latency)
        return True

    def stop(self) -> None:
        """Stop and close the stream (safe to call twice)."""
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()
                stream.close()
            except Exception:  # noqa: BLE001 - closing a broken stream must not raise
                pass

    # ------------------------------------------------------------------ control
    def set_tone(self, pitch_hz: float | None, gain: float = GAIN) -> None:
        """Glide the continuous tone to ``pitch_hz`` (None fades it out)."""
        self._target = (pitch_hz, float(gain), self._clock())

    def play(self, kind: str) -> None:
        """Queue a cue sound (see :data:`emgfeedback.sound.synth.CUES`)."""
        if kind not in self._cue_cache:
            self._cue_cache[kind] = cue_sound(kind, self.fs_hz)
        self._cues.append(kind)

    def latency_ms(self) -> dict:
        """Envelope-to-sound latency, measured per update.

        Returns
        -------
        dict
            ``update_p50_ms`` / ``update_p95_ms``: a new target → the callback that first
            renders it; ``heard_p50_ms`` / ``heard_p95_ms``: a new target → its first sample
            at the converter (PortAudio's timing of that block); ``block_ms``; ``device_ms``
            (the stream's nominal output latency). None where nothing was measured.
        """
        def pct(values, q):
            d = np.asarray(values, float)
            return float(np.percentile(d, q) * 1e3) if d.size else None

        return {"update_p50_ms": pct(self.update_delays_s, 50),
                "update_p95_ms": pct(self.update_delays_s, 95),
                "heard_p50_ms": pct(self.heard_delays_s, 50),
                "heard_p95_ms": pct(self.heard_delays_s, 95),
                "block_ms": 1e3 * self.block_frames / self.fs_hz,
                "device_ms": None if self.device_latency_s is None
                else self.device_latency_s * 1e3}

    # ------------------------------------------------------------------ audio thread
    def render(self, frames: int) -> np.ndarray:
        """The next ``frames`` output samples (what the callback plays)."""
        pitch_hz, gain, set_at = self._target
        if set_at != self._seen_target_at:
            self._seen_target_at = set_at
            wait_s = max(0.0, self._clock() - set_at)
            self.update_delays_s.append(wait_s)
            if self._ahead_s is not None:
                self.heard_delays_s.append(wait_s + self._ahead_s)
        target_hz = pitch_hz if pitch_hz is not None else self._hz
        want = gain if pitch_hz is not None else 0.0
        out, self._phase = tone_block(frames, self._hz, target_hz, self._phase,
                                      fs_hz=self.fs_hz, gain=1.0)
        out *= np.linspace(self._gain, want, frames, endpoint=False, dtype=np.float32)
        self._hz, self._gain = target_hz, want
        while self._cues:
            kind = self._cues.popleft()
            self._playing_cue.append(self._cue_cache[kind])
            self.cues_played.append((kind, self._clock()))
        still = []
        for snd in self._playing_cue:
            k = min(frames, len(snd))
            out[:k] += snd[:k]
            if len(snd) > k:
                still.append(snd[k:])
        self._playing_cue = still
        self.blocks += 1
        return np.clip(out, -1.0, 1.0)

    def _callback(self, outdata, frames, times, status) -> None:
        if status.output_underflow:
            self.underflows += 1
        # When this block's first sample will be heard, relative to now (PortAudio's clock);
        # some host APIs report zeros, then the stream's nominal latency stands in.
        ahead = float(times.outputBufferDacTime - times.currentTime)
        self._ahead_s = ahead if ahead > 0 else self.device_latency_s
        outdata[:, 0] = self.render(frames)
