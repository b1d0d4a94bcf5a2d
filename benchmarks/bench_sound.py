"""Envelope-to-sound latency through a real audio path (a private PulseAudio null sink).

The target pitch changes 60 times a second (as the GUI's frame timer does); for each change
the player records how long until the callback renders it and until that block reaches the
converter, by PortAudio's own timing. Target: the sound changes within 50 ms of the envelope.

    python benchmarks/bench_sound.py [--seconds 10] [--json]

Needs ``pulseaudio``, ``pulseaudio-utils``, ``libportaudio2`` and ``libasound2-plugins``;
with ``--default-device`` it uses the machine's own output instead.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time

import numpy as np

from emgfeedback.sound import SoundPlayer, null_sink
from emgfeedback.sound.synth import GOAL_HZ, HIGH_HZ, LOW_HZ

TARGET_MS = 50.0


def measure(seconds: float, rate_hz: float = 60.0) -> dict:
    player = SoundPlayer()
    if not player.start():
        raise SystemExit(player.problem)
    rng = np.random.default_rng(0)
    try:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            player.set_tone(float(rng.uniform(LOW_HZ, HIGH_HZ)))
            time.sleep(1.0 / rate_hz)
        player.set_tone(GOAL_HZ)
        time.sleep(0.2)
    finally:
        player.stop()
    out = player.latency_ms()
    out.update(updates=len(player.update_delays_s), underflows=player.underflows,
               blocks=player.blocks, target_ms=TARGET_MS,
               met=out["heard_p95_ms"] is not None and out["heard_p95_ms"] <= TARGET_MS)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--default-device", action="store_true",
                    help="use this machine's default output instead of a private null sink")
    args = ap.parse_args()
    with (contextlib.nullcontext() if args.default_device
          else null_sink.private_null_sink()) as env:
        if env is not None:
            import os

            os.environ.update(env)  # PortAudio (via ALSA's pulse plugin) reads it at init
        res = measure(args.seconds)
    if args.json:
        print(json.dumps(res))
        return
    print(f"envelope→sound: callback p50 {res['update_p50_ms']:.1f} ms, p95 "
          f"{res['update_p95_ms']:.1f} ms; heard p50 {res['heard_p50_ms']:.1f} ms, p95 "
          f"{res['heard_p95_ms']:.1f} ms (block {res['block_ms']:.1f} ms, device "
          f"{res['device_ms']:.1f} ms); target ≤ {TARGET_MS:.0f} ms: "
          f"{'met' if res['met'] else 'MISSED'}; {res['underflows']} underflows")


if __name__ == "__main__":
    main()
