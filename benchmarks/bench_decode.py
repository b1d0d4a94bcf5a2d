"""Decode throughput of each framing relative to real time for 8 channels at 2 kHz.

The real-time reference of a framing is the byte rate that framing needs to carry
8 x 2000 = 16,000 values/s (emgf: 8-sample frames; P2: 6 values per 17-byte packet;
byb: 2 bytes per value; text: the Serial Plotter lines the encoder writes). The ratio is
(bytes decoded per second of CPU) / (that byte rate); target >= 200x for emgf, p2, byb.

Usage::

    python benchmarks/bench_decode.py [--seconds 20] [--chunk 4096]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from emgfeedback.acquisition.framing import (
    encode_byb,
    encode_emgf_data_frames,
    encode_p2,
    encode_text,
    get_decoder,
)

CHANNELS = 8
FS_HZ = 2000
VALUES_PER_S = CHANNELS * FS_HZ


def make_stream(framing: str, seconds: float, rng: np.random.Generator) -> tuple[bytes, int]:
    """Bytes carrying ``seconds`` worth of 8 ch @ 2 kHz, and the values they carry."""
    n = int(seconds * FS_HZ)
    x = rng.integers(0, 1024, (n, CHANNELS))
    if framing == "emgf":
        return encode_emgf_data_frames(0, x, 8), x.size
    if framing == "p2":
        values = x.reshape(-1, 6) if x.size % 6 == 0 else x.ravel()[: x.size // 6 * 6].reshape(
            -1, 6)
        return b"".join(encode_p2(i, row) for i, row in enumerate(values.tolist())), values.size
    if framing == "byb":
        return encode_byb(x), x.size
    labels = [f"ch{i}" for i in range(CHANNELS)]
    return encode_text(x, labels, "plotter"), x.size


def bench(framing: str, data: bytes, n_values: int, chunk: int, repeat: int = 3) -> dict:
    best = float("inf")
    samples = 0
    for _ in range(repeat):
        dec = get_decoder(framing, n_channels=CHANNELS if framing == "byb" else None)
        t0 = time.perf_counter()
        for i in range(0, len(data), chunk):
            dec.feed(data[i:i + chunk])
        dec.flush()
        best = min(best, time.perf_counter() - t0)
        samples = dec.counters["samples"]
    realtime_bytes_per_s = len(data) * VALUES_PER_S / n_values
    return {
        "framing": framing,
        "bytes": len(data),
        "realtime_Bps": realtime_bytes_per_s,
        "decode_Bps": len(data) / best,
        "ratio": len(data) / best / realtime_bytes_per_s,
        "samples": samples,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="stream length per framing")
    parser.add_argument("--chunk", type=int, nargs="+", default=[4096, 256],
                        help="bytes per feed() call (serial reads)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"decode throughput vs real time for {CHANNELS} ch @ {FS_HZ} Hz "
          f"({args.seconds:g} s of data per framing)")
    print(f"{'framing':8} {'chunk':>6} {'real-time B/s':>14} {'decoded B/s':>14} "
          f"{'x real time':>12}")
    for framing in ("emgf", "p2", "byb", "text"):
        data, n_values = make_stream(framing, args.seconds, rng)
        for chunk in args.chunk:
            r = bench(framing, data, n_values, chunk)
            print(f"{framing:8} {chunk:6d} {r['realtime_Bps']:14,.0f} {r['decode_Bps']:14,.0f} "
                  f"{r['ratio']:11,.0f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
