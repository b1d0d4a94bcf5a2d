"""Channel-count-specialised pipeline kernels, compiled with LLVM's SLP vectoriser.

Why a separate module
    Numba ships with the SLP (superword) vectoriser off (numba PR #8852, after the
    miscompilations #8705 and #8681) and its on-disk cache does not key on that setting
    (numba #10821). These kernels are compiled with it switched on, scoped through
    ``numba.core.config.SLP_VECTORIZE`` while (and only while) this module compiles, so no
    other module's cached code is ever built with it, and none of these is built without.
    ``tests/dsp`` checks every generated channel count bit for bit against
    :func:`scipy.signal.sosfilt` (which would catch a vectoriser miscompilation) and inspects
    the assembly for vector instructions.

How they are fast
    The code is generated per channel count C (1, 2, 4, 6, 8, 16): every channel's filter
    state is its own local scalar, so the C identical recurrences sit side by side in straight
    code that SLP packs into one SIMD register (8 doubles per AVX-512 register); each
    operation is written for all lanes before the next, which keeps the lanes in memory order
    (see :func:`_section_lines`). The chunk is
    processed in blocks of :data:`BLOCK` samples that stay in L1; within a block the cascade
    runs in groups of up to five sections with the time loop outside, which gives the CPU
    five independent recurrences to overlap (see :data:`GROUP_SIZES`). Per sample, per section
    and per channel the operations and their order are exactly those of ``sosfilt``, so the
    result is bit-identical to it.

What was tried and not kept (measured on the 2-core AVX-512 development VM)
    * One time loop over *all* sections (13 sections x 8 lanes of local scalars): LLVM spills
      and stops packing; ~7x slower per section and 15 s to compile.
    * Skewing a group (section k works on sample t - k, so a group's sections are independent
      within an iteration): SLP packed it worse (15 against 6 cycles per section and row).
    * Addressing coefficients and state in the flat state array by offset instead of reshaped
      views: saved ~0.1 µs per call but the vectoriser lost the packing (3x slower offline).
    * ``inline="always"`` for the helpers: 4-10x the compile time and slower.
    * Statements written lane by lane (each lane's ``w``, ``p``, ``q`` in turn) instead of
      operation by operation across the lanes (:func:`_section_lines`): SLP then packed the
      lanes in a permuted order, assembled each input row with a gather or a masked load and
      a permute, and extracted the state lane by lane after each call: 8 channels, cascade
      30 against 20.6 ns per row, whole kernel 42 against 33.5 (same moving-RMS code), 0.27 µs
      more per 16-sample block.

Compilation is lazy (per channel count, on first use) with an explicit signature and
``cache=True``; a cold compile takes 4-11 s per channel count (16 channels run as two 8-lane
passes over a (2n, 8) view sharing one set of functions: ~10 s instead of ~20 s with
functions per pass, for ~0.7 µs more per 16-sample block), later processes load the machine
code from Numba's cache in well under a second. Other channel counts use
:func:`kernels.process_generic`. Chunks containing NaN/inf also go to the generic kernel (the
fast kernel reports it without touching the state); both kernels share one state layout.
"""

from __future__ import annotations

import math
import threading

from numba import njit
from numba.core import config

SPECIALISED_CHANNEL_COUNTS = (1, 2, 4, 6, 8, 16)
BLOCK = 256
# Sections run in groups of these sizes (greedy, largest first): 13 sections (the default
# chain at 50 Hz) = 5 + 5 + 3, 11 (60 Hz) = 5 + 5 + 1, 23 = 4 x 5 + 3, 7 = 5 + 1 + 1. Five
# recurrences in flight hide the latency of one. Measured on AVX-512 (Zen 4, CPU cycles per
# section and 8-channel row over 256-row blocks, clock calibrated at 3.63 GHz): group of 1:
# 12.5 (one recurrence's latency: p -> w -> a1 w -> b1 u - a1 w -> + q, four dependent
# 3-cycle operations); 2: 7.1; 3: 6.0; 4: 5.6; 5: 5.4; 6: 6.0; 7: 6.2; 8: 6.3. The bound is 5
# (five 512-bit multiplies, one per cycle). Each size costs compile time (one function per
# size and 8-lane pass), so 2 is left out: it would only help counts leaving a remainder of 2.
GROUP_SIZES = (5, 3, 1)

# process_c<N>(state, x, y, e, rms) -> finite; state as in kernels.pack_state. Two output
# arrays rather than one (2, n, N) array: two np.empty calls cost less in Python than one
# plus the two views the caller needs.
SIGNATURE = "boolean(float64[::1], float64[:, ::1], float64[:, ::1], float64[:, ::1], boolean)"
HEADER = 4  # must equal kernels.HEADER (not imported: see the module docstring)

_lock = threading.Lock()
_kernels: dict = {}


# Channel counts above 8 run as several 8-lane passes (one AVX-512 register each); generating
# 16-lane code would only multiply compile time (over a minute) for no gain. Multiples of 8
# (16) share one set of pass functions (see _passes_source); other counts above 8 are not
# specialised, lane_plan only serves them if SPECIALISED_CHANNEL_COUNTS grows.
MAX_LANES = 8


def lane_plan(n_ch: int) -> list[tuple[int, int]]:
    """Split channels into passes ``(first_column, lanes)`` of at most MAX_LANES lanes."""
    return [(col, min(MAX_LANES, n_ch - col)) for col in range(0, n_ch, MAX_LANES)]


def _cascade_group_source(lanes: int, n_sec: int, col: int) -> str:
    """Source of a kernel running ``n_sec`` consecutive sections over a block of rows.

    It filters columns ``col .. col + lanes - 1``; each lane's state is a local scalar. Column
    indices are literals: a variable offset would make Numba emit a negative-index check per
    access, which defeats the vectoriser.
    """
    chans = [col + c for c in range(lanes)]
    secs = range(n_sec)
    lines = [f"def cascade_g{n_sec}_l{lanes}_o{col}(sos, s0, z, src, dst, i0, i1):"]
    for k in secs:
        lines.append(
            f"    b0_{k} = sos[s0 + {k}, 0]; b1_{k} = sos[s0 + {k}, 1]; "
            f"b2_{k} = sos[s0 + {k}, 2]; a1_{k} = sos[s0 + {k}, 4]; a2_{k} = sos[s0 + {k}, 5]"
        )
        lines += [f"    p{k}_{c} = z[s0 + {k}, 0, {c}]" for c in chans]
        lines += [f"    q{k}_{c} = z[s0 + {k}, 1, {c}]" for c in chans]
    lines.append("    for t in range(i0, i1):")
    lines += [f"        u_{c} = src[t, {c}]" for c in chans]
    for k in secs:
        lines += _section_lines(k, chans, "        ")
    lines += [f"        dst[t, {c}] = u_{c}" for c in chans]
    for k in secs:
        lines += [f"    z[s0 + {k}, 0, {c}] = p{k}_{c}" for c in chans]
        lines += [f"    z[s0 + {k}, 1, {c}] = q{k}_{c}" for c in chans]
    return "\n".join(lines)


def _section_lines(k: int, chans, indent: str) -> list[str]:
    """One section's update of every lane, operation by operation across the lanes.

    Exactly sosfilt's expressions and evaluation order per lane (bit-identical results).
    Written operation-major (every lane's ``w``, then every lane's ``p``, then ``q``), not
    lane by lane: with the lane-major order SLP packed the lanes in a permuted order and
    assembled each input row with a gather or a masked load and a permute (AVX-512, 8 lanes:
    12.5 cycles per section and row in groups of 3, 6.9 in groups of 5); operation-major it
    keeps memory order (6.0 and 5.4 cycles; the 5 multiplies bound it at 5).
    """
    lines = [f"{indent}w_{c} = b0_{k} * u_{c} + p{k}_{c}" for c in chans]
    lines += [f"{indent}p{k}_{c} = b1_{k} * u_{c} - a1_{k} * w_{c} + q{k}_{c}" for c in chans]
    lines += [f"{indent}q{k}_{c} = b2_{k} * u_{c} - a2_{k} * w_{c}" for c in chans]
    lines += [f"{indent}u_{c} = w_{c}" for c in chans]
    return lines


def _cascade_source(n_ch: int) -> str:
    """Source running a whole cascade over a block, in groups of GROUP_SIZES sections."""
    lines = [
        f"def cascade_c{n_ch}(sos, z, src, dst, i0, i1):",
        "    n_sections = sos.shape[0]",
        "    if n_sections == 0:",
        "        for t in range(i0, i1):",
    ]
    lines += [f"            dst[t, {c}] = src[t, {c}]" for c in range(n_ch)]
    lines.append("        return")
    for col, lanes in lane_plan(n_ch):
        lines += ["    s = 0", "    a = src"]
        for g in GROUP_SIZES:
            lines += [
                f"    while n_sections - s >= {g}:",
                f"        cascade_g{g}_l{lanes}_o{col}(sos, s, z, a, dst, i0, i1)",
                f"        s += {g}",
                "        a = dst",
            ]
    return "\n".join(lines)


def _rms_source(n_ch: int) -> str:
    """Source of the moving-RMS block kernel (same arithmetic as process_generic).

    The block is cut at the ring's wrap points so the inner loop has no branch. The running
    sums are loaded and stored around each stretch between wrap points by their own function,
    whose loop computes the square root too: the running sum is a latency-bound recurrence
    (two dependent additions per row) and the square root a throughput-bound one, so in one
    loop they overlap (8 channels, AVX-512: 28.5 ns per row for the whole kernel, against
    33.5 with the square root in a second pass over the block).
    """
    chans = range(n_ch)
    lines = [f"def rms_run_c{n_ch}(ring, acc, p, y, e, t, m, inv_window):"]
    lines += [f"    a_{c} = acc[{c}]" for c in chans]
    lines.append("    for j in range(m):")
    # All loads first, then the arithmetic, then all stores, each operation across all lanes
    # before the next (as _section_lines): the arrays carry no no-alias information, so SLP
    # may not move a load above a store, and interleaved per channel they stayed scalar.
    lines += [f"        u_{c} = y[t + j, {c}]" for c in chans]
    lines += [f"        old_{c} = ring[p + j, {c}]" for c in chans]
    lines += [f"        v_{c} = u_{c} * u_{c}" for c in chans]
    lines += [f"        a_{c} = (a_{c} - old_{c}) + v_{c}" for c in chans]
    lines += [f"        ring[p + j, {c}] = v_{c}" for c in chans]
    lines += [f"        s_{c} = math.sqrt(max(a_{c}, 0.0) * inv_window)" for c in chans]
    lines += [f"        e[t + j, {c}] = s_{c}" for c in chans]
    lines += [f"    acc[{c}] = a_{c}" for c in chans]
    lines += ["", "", f"def rms_wrap_c{n_ch}(ring, acc):"]
    lines += [f"    a_{c} = 0.0" for c in chans]
    lines.append("    for k in range(ring.shape[0]):")
    lines += [f"        a_{c} += ring[k, {c}]" for c in chans]
    lines += [f"    acc[{c}] = a_{c}" for c in chans]
    lines += [
        "",
        "",
        f"def rms_c{n_ch}(ring, acc, p, y, e, i0, i1):",
        "    window = ring.shape[0]",
        "    inv_window = 1.0 / window",
        "    t = i0",
        "    while t < i1:",
        "        m = min(i1 - t, window - p)",
        f"        rms_run_c{n_ch}(ring, acc, p, y, e, t, m, inv_window)",
        "        t += m",
        "        p += m",
        "        if p == window:",
        "            p = 0",
        f"            rms_wrap_c{n_ch}(ring, acc)",
    ]
    lines.append("    return p")
    return "\n".join(lines)


def _driver_source(n_ch: int) -> str:
    """Source of the entry point: finiteness check, unpacking, block-wise fused processing."""
    chans = range(n_ch)
    lines = [
        f"def process_c{n_ch}(state, x, y, e, rms):",
        "    n = x.shape[0]",
    ]
    lines += [f"    f_{c} = 0.0" for c in chans]
    lines.append("    for t in range(n):")
    # x * 0 is 0 for finite x and NaN for NaN/inf; the sum stays 0 only if all are finite.
    lines += [f"        f_{c} += x[t, {c}] * 0.0" for c in chans]
    finite = " and ".join(f"f_{c} == 0.0" for c in chans)
    lines += [
        f"    if not ({finite}):",
        "        return False",
        # Same layout as kernels.pack_state / kernels._unpack.
        "    ns = int(state[0])",
        "    ne = int(state[1])",
        "    window = int(state[2])",
        "    p = int(state[3])",
        f"    o = {HEADER}",
        # Only the views this envelope needs: each reshape costs ~25 ns per call.
        "    sos = state[o : o + 6 * ns].reshape((ns, 6))",
        "    eo = o + 6 * ns",
        "    o = eo + 6 * ne",
        f"    z = state[o : o + {2 * n_ch} * ns].reshape((ns, 2, {n_ch}))",
        f"    ezo = o + {2 * n_ch} * ns",
        f"    o = ezo + {2 * n_ch} * ne",
        "    if rms:",
        f"        ring = state[o : o + {n_ch} * window].reshape((window, {n_ch}))",
        f"        o += {n_ch} * window",
        f"        acc = state[o : o + {n_ch}]",
        f"        for i0 in range(0, n, {BLOCK}):",
        f"            i1 = min(n, i0 + {BLOCK})",
        f"            cascade_c{n_ch}(sos, z, x, y, i0, i1)",
        f"            p = rms_c{n_ch}(ring, acc, p, y, e, i0, i1)",
        "        state[3] = p",
        "    else:",
        "        env_sos = state[eo : eo + 6 * ne].reshape((ne, 6))",
        f"        ez = state[ezo : ezo + {2 * n_ch} * ne].reshape((ne, 2, {n_ch}))",
        f"        for i0 in range(0, n, {BLOCK}):",
        f"            i1 = min(n, i0 + {BLOCK})",
        f"            cascade_c{n_ch}(sos, z, x, y, i0, i1)",
        "            for t in range(i0, i1):",
    ]
    lines += [f"                r_{c} = abs(y[t, {c}])" for c in chans]
    lines += [f"                e[t, {c}] = r_{c}" for c in chans]
    lines += [
        f"            cascade_c{n_ch}(env_sos, ez, e, e, i0, i1)",
        "    return True",
    ]
    return "\n".join(lines)


def _passes_source(n_ch: int) -> str:
    """Source for a channel count that is a multiple of MAX_LANES above it (16).

    The (n, n_ch) arrays are viewed as (n * P, MAX_LANES) with P = n_ch / MAX_LANES (row
    ``P * t + h`` holds channels ``8 h .. 8 h + 7`` of sample t), the state as (.., P, 8).
    One set of 8-lane functions then serves every pass ``h`` at a runtime row offset: half the
    code (and cold compile time) of generating functions per pass with literal columns.
    Arithmetic per channel and sample is the same as :func:`_cascade_group_source`.
    """
    lanes, n_pass = MAX_LANES, n_ch // MAX_LANES
    chans = range(lanes)
    parts = []
    for g in GROUP_SIZES:
        lines = [f"def cascade_g{g}_p{n_pass}(sos, s0, z, src, dst, i0, i1, h):"]
        for k in range(g):
            lines.append(
                f"    b0_{k} = sos[s0 + {k}, 0]; b1_{k} = sos[s0 + {k}, 1]; "
                f"b2_{k} = sos[s0 + {k}, 2]; a1_{k} = sos[s0 + {k}, 4]; a2_{k} = sos[s0 + {k}, 5]"
            )
            lines += [f"    p{k}_{c} = z[s0 + {k}, 0, h, {c}]" for c in chans]
            lines += [f"    q{k}_{c} = z[s0 + {k}, 1, h, {c}]" for c in chans]
        lines += ["    for t in range(i0, i1):", f"        r = {n_pass} * t + h"]
        lines += [f"        u_{c} = src[r, {c}]" for c in chans]
        for k in range(g):
            lines += _section_lines(k, chans, "        ")
        lines += [f"        dst[r, {c}] = u_{c}" for c in chans]
        for k in range(g):
            lines += [f"    z[s0 + {k}, 0, h, {c}] = p{k}_{c}" for c in chans]
            lines += [f"    z[s0 + {k}, 1, h, {c}] = q{k}_{c}" for c in chans]
        parts.append("\n".join(lines))
    lines = [
        f"def cascade_c{n_ch}(sos, z, src, dst, i0, i1):",
        "    n_sections = sos.shape[0]",
        "    if n_sections == 0:",
        f"        for r in range({n_pass} * i0, {n_pass} * i1):",
    ]
    lines += [f"            dst[r, {c}] = src[r, {c}]" for c in chans]
    lines += ["        return", f"    for h in range({n_pass}):"]
    lines += ["        s = 0", "        a = src"]
    for g in GROUP_SIZES:
        lines += [
            f"        while n_sections - s >= {g}:",
            f"            cascade_g{g}_p{n_pass}(sos, s, z, a, dst, i0, i1, h)",
            f"            s += {g}",
            "            a = dst",
        ]
    parts.append("\n".join(lines))
    lines = [f"def rms_run_c{n_ch}(ring, acc, p, y, e, t, m, h, inv_window):"]
    lines += [f"    a_{c} = acc[h, {c}]" for c in chans]
    lines += ["    for j in range(m):", f"        r = {n_pass} * (t + j) + h"]
    lines += [f"        u_{c} = y[r, {c}]" for c in chans]
    lines += [f"        old_{c} = ring[p + j, h, {c}]" for c in chans]
    lines += [f"        v_{c} = u_{c} * u_{c}" for c in chans]
    lines += [f"        a_{c} = (a_{c} - old_{c}) + v_{c}" for c in chans]
    lines += [f"        ring[p + j, h, {c}] = v_{c}" for c in chans]
    lines += [f"        s_{c} = math.sqrt(max(a_{c}, 0.0) * inv_window)" for c in chans]
    lines += [f"        e[r, {c}] = s_{c}" for c in chans]
    lines += [f"    acc[h, {c}] = a_{c}" for c in chans]
    parts.append("\n".join(lines))
    lines = [f"def rms_wrap_c{n_ch}(ring, acc, h):"]
    lines += [f"    a_{c} = 0.0" for c in chans]
    lines.append("    for k in range(ring.shape[0]):")
    lines += [f"        a_{c} += ring[k, h, {c}]" for c in chans]
    lines += [f"    acc[h, {c}] = a_{c}" for c in chans]
    parts.append("\n".join(lines))
    lines = [
        f"def rms_c{n_ch}(ring, acc, p, y, e, i0, i1):",
        "    window = ring.shape[0]",
        "    inv_window = 1.0 / window",
        "    t = i0",
        "    while t < i1:",
        "        m = min(i1 - t, window - p)",
        f"        for h in range({n_pass}):",
        f"            rms_run_c{n_ch}(ring, acc, p, y, e, t, m, h, inv_window)",
        "        t += m",
        "        p += m",
        "        if p == window:",
        "            p = 0",
        f"            for h in range({n_pass}):",
        f"                rms_wrap_c{n_ch}(ring, acc, h)",
    ]
    lines.append("    return p")
    parts.append("\n".join(lines))
    lines = [f"def process_c{n_ch}(state, x, y, e, rms):", "    n = x.shape[0]"]
    lines += [f"    f_{c} = 0.0" for c in range(n_ch)]
    lines.append("    for t in range(n):")
    lines += [f"        f_{c} += x[t, {c}] * 0.0" for c in range(n_ch)]
    finite = " and ".join(f"f_{c} == 0.0" for c in range(n_ch))
    lines += [
        f"    if not ({finite}):",
        "        return False",
        "    ns = int(state[0])",
        "    ne = int(state[1])",
        "    window = int(state[2])",
        "    p = int(state[3])",
        f"    o = {HEADER}",
        "    sos = state[o : o + 6 * ns].reshape((ns, 6))",
        "    eo = o + 6 * ns",
        "    o = eo + 6 * ne",
        f"    z = state[o : o + {2 * n_ch} * ns].reshape((ns, 2, {n_pass}, {lanes}))",
        f"    ezo = o + {2 * n_ch} * ns",
        f"    o = ezo + {2 * n_ch} * ne",
        f"    x2 = x.reshape(({n_pass} * n, {lanes}))",
        f"    y2 = y.reshape(({n_pass} * n, {lanes}))",
        f"    e2 = e.reshape(({n_pass} * n, {lanes}))",
        "    if rms:",
        f"        ring = state[o : o + {n_ch} * window].reshape((window, {n_pass}, {lanes}))",
        f"        o += {n_ch} * window",
        f"        acc = state[o : o + {n_ch}].reshape(({n_pass}, {lanes}))",
        f"        for i0 in range(0, n, {BLOCK}):",
        f"            i1 = min(n, i0 + {BLOCK})",
        f"            cascade_c{n_ch}(sos, z, x2, y2, i0, i1)",
        f"            p = rms_c{n_ch}(ring, acc, p, y2, e2, i0, i1)",
        "        state[3] = p",
        "    else:",
        "        env_sos = state[eo : eo + 6 * ne].reshape((ne, 6))",
        f"        ez = state[ezo : ezo + {2 * n_ch} * ne].reshape((ne, 2, {n_pass}, {lanes}))",
        f"        for i0 in range(0, n, {BLOCK}):",
        f"            i1 = min(n, i0 + {BLOCK})",
        f"            cascade_c{n_ch}(sos, z, x2, y2, i0, i1)",
        f"            for r in range({n_pass} * i0, {n_pass} * i1):",
    ]
    lines += [f"                v_{c} = abs(y2[r, {c}])" for c in chans]
    lines += [f"                e2[r, {c}] = v_{c}" for c in chans]
    lines += [f"            cascade_c{n_ch}(env_sos, ez, e2, e2, i0, i1)", "    return True"]
    parts.append("\n".join(lines))
    return "\n\n\n".join(parts) + "\n"


def kernel_source(n_channels: int) -> str:
    """Full generated source for one channel count (for reading and for the tests)."""
    if n_channels > MAX_LANES and n_channels % MAX_LANES == 0:
        return _passes_source(n_channels)
    plan = lane_plan(n_channels)
    parts = [_cascade_group_source(lanes, g, col) for col, lanes in plan for g in GROUP_SIZES]
    parts += [_cascade_source(n_channels), _rms_source(n_channels), _driver_source(n_channels)]
    return "\n\n\n".join(parts) + "\n"


def compile_kernel(n_channels: int, cache: bool = True):
    """Generate and compile the kernel for ``n_channels`` (any count >= 1).

    Parameters
    ----------
    n_channels : int
        Channel count the code is generated for.
    cache : bool
        Use Numba's on-disk cache. The tests compile without it to read the assembly
        (Numba cannot show the assembly of cached code).

    Returns
    -------
    numba dispatcher
        The ``process_c<N>`` entry point, compiled for :data:`SIGNATURE`.
    """
    source = kernel_source(n_channels)
    # Compiled under this file's name so Numba's cache can locate and stamp it (generated
    # functions are cached like ordinary ones; the bytecode hash keys each variant).
    code = compile(source, __file__, "exec")
    namespace = {"__name__": __name__, "math": math}
    exec(code, namespace)
    options = {"cache": cache, "nogil": True}
    for name in [n for n in namespace if n.startswith(("cascade_", "rms_"))]:
        namespace[name] = njit(**options)(namespace[name])
    saved = config.SLP_VECTORIZE
    config.SLP_VECTORIZE = 1
    try:
        return njit(SIGNATURE, **options)(namespace[f"process_c{n_channels}"])
    finally:
        config.SLP_VECTORIZE = saved


def get_kernel(n_channels: int):
    """The specialised kernel for ``n_channels``, compiled (or loaded from cache) on first use.

    Parameters
    ----------
    n_channels : int
        One of :data:`SPECIALISED_CHANNEL_COUNTS`.

    Returns
    -------
    numba dispatcher or None
        ``process_c<N>(state, x, y, e, rms) -> bool`` (False, state untouched, when the chunk
        contains NaN/inf), or None for other channel counts. ``state`` comes from
        :func:`emgfeedback.dsp.kernels.pack_state`; ``y`` (filtered) and ``e`` (envelope)
        are (n, N) outputs.
    """
    if n_channels not in SPECIALISED_CHANNEL_COUNTS:
        return None
    kernel = _kernels.get(n_channels)
    if kernel is None:
        with _lock:
            kernel = _kernels.get(n_channels)
            if kernel is None:
                kernel = compile_kernel(n_channels)
                _kernels[n_channels] = kernel
    return kernel
