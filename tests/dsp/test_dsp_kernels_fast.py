"""The explicit-vector kernels: vector instructions in the hot loop, cache reuse, fallback."""

from __future__ import annotations

import platform
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from emgfeedback.dsp import kernels, kernels_fast


def cpu_flags() -> set[str]:
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def test_hot_loop_is_vectorised():
    # Numba cannot show the assembly of cached code: compile an uncached copy (4 channels,
    # the smallest count that fills a 256-bit register).
    kernel = kernels_fast.compile_kernel(4, cache=False)
    sig = kernel.signatures[0]
    llvm = kernel.inspect_llvm(sig)
    # Whatever the CPU, the channels are one vector (the kernels emit <C x double> IR) ...
    assert re.search(r"fmul <4 x double>", llvm)
    # ... and no fast-math flag lets LLVM reassociate or fuse (bit-identity with sosfilt).
    assert not re.search(r"\bf(?:mul|add|sub) (?:fast|contract|reassoc)", llvm)
    flags = cpu_flags()
    if platform.machine() in ("x86_64", "AMD64") and "avx" in flags:
        asm = kernel.inspect_asm(sig)
        packed = re.findall(r"\bv(?:mul|add|sub|fmadd\w*)pd\s+[^\n]*%(ymm|zmm)", asm)
        assert len(packed) >= 10, "expected packed AVX arithmetic on ymm/zmm registers"
    elif platform.machine() in ("x86_64", "AMD64"):
        asm = kernel.inspect_asm(sig)
        assert re.search(r"\b(mul|add|sub)pd\s", asm), "expected packed SSE2 arithmetic"


def test_kernel_is_loaded_from_cache_in_a_fresh_process():
    code = (
        "from emgfeedback.dsp import kernels, kernels_fast as k\n"
        "d = k.get_kernel(2)\n"
        "print(sum(d.stats.cache_hits.values()), sum(d.stats.cache_misses.values()))\n"
    )
    run = lambda: subprocess.run(  # noqa: E731
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    run()  # may compile (cold) and write the cache
    hits, misses = map(int, run().stdout.split())
    assert hits == 1 and misses == 0


def test_more_channels_than_specialised_use_the_generic_kernel():
    n = kernels_fast.MAX_SPECIALISED_CHANNELS
    assert kernels_fast.get_kernel(n + 1) is None
    assert kernels_fast.get_kernel(3) is not None  # odd counts have their own kernel too
    assert kernels_fast.get_kernel(8) is kernels_fast.get_kernel(8)


def test_fast_kernel_refuses_non_finite_chunks_without_touching_state():
    kernel = kernels_fast.get_kernel(2)
    sos = np.array([[0.5, 0.2, 0.1, 1.0, -0.3, 0.1]])
    state = kernels.pack_state(sos, np.zeros((0, 6)), 3, 2)
    z = kernels.state_views(state, 2)["z"]
    z[:] = 7.0
    before = state.copy()
    x = np.ones((20, 2))
    x[13, 1] = np.nan
    y, e = np.empty((20, 2)), np.empty((20, 2))
    assert kernel(state, x, y, e, True) is False
    np.testing.assert_array_equal(state, before)
    x[13, 1] = 0.0
    assert kernel(state, x, y, e, True) is True
    assert not np.all(z == 7.0)
    assert kernels.state_views(state, 2)["pos"] == 20 % 3
