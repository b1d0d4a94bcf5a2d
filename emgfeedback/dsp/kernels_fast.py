"""Pipeline kernels written with explicit SIMD vectors: one lane per channel.

How they are fast
    Every channel runs the same recurrence, so the kernel keeps the state of all C channels
    of one filter section as one vector ``<C x double>`` (C = 1, 2, 4, 6, 8, 16) and applies
    each operation to the whole vector: with 8 channels one AVX-512 register holds a section's
    ``z0`` of every channel. Per lane, the operations and their order are exactly those of
    ``scipy.signal.sosfilt`` (``w = b0 u + z0; z0 = (b1 u - a1 w) + z1; z1 = b2 u - a2 w``),
    and LLVM does not reassociate or contract floating-point operations without fast-math
    flags, so the result is bit-identical to it. The chunk runs in blocks of :data:`BLOCK`
    rows that stay in L1; within a block the cascade runs in groups of up to five sections
    with the time loop outside (five independent recurrences in flight hide the latency of
    one; see :data:`GROUP_SIZES`). Channel counts above :data:`MAX_LANES` (8; so 16) run as
    passes of 8 lanes over the same arrays.

How they are built
    The vector loops are Numba intrinsics (:func:`numba.extending.intrinsic`, Numba's public
    extension API) that emit LLVM IR through llvmlite's IR builder; the channel count reaches
    them as a compile-time constant (the ``lanes`` value captured by the closure that
    :func:`compile_kernel` compiles). The entry point itself is ordinary Numba code
    (:func:`_make_process`). Nothing is generated from strings, no global compiler setting is
    touched, and Numba's own vectorisers are not needed: the vectors are in the IR.

Why (issue 16, measured on the 2-core AVX-512 VM): the previous kernels spelled every lane
out as its own scalar in Python source generated per channel count and relied on LLVM's SLP
vectoriser (switched on through ``numba.core.config`` while they compiled) to pack them
back. Numba's front end (typing, SSA, lowering: ~75 % of the time) scaled with the unrolled
statements: a cold compile took 4-12 s CPU per channel count, against 1.1-1.4 s now. The
new kernels are as fast on long chunks and faster on 16-sample blocks (8 channels 0.95-1.13
-> 0.72-0.76 µs per kernel call, 16 channels 1.66 -> 1.15), mostly because they read the
coefficients and state in place instead of through views (see docs/dsp.md).

What was tried and not kept: coefficients held in registers across the time loop (LLVM
hoists their broadcasts: 25 vectors for a group of five sections, so the filter state was
spilled to the stack, 8 channels 33.5 instead of 27 ns per row); they are loaded in the loop
as broadcast memory operands instead. Earlier formulations (scalar array loops, one time
loop over all sections, skewed groups) are in docs/dsp.md.

Compilation is lazy (per channel count, on first use) with an explicit signature and
``cache=True``. More than :data:`MAX_SPECIALISED_CHANNELS` channels use
:func:`kernels.process_generic`. Chunks containing
NaN/inf also go to the generic kernel (the fast kernel reports it without touching the
state); both kernels share one state layout.
"""

from __future__ import annotations

import threading

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

# Every count a board or a BrainFlow/LSL source is likely to give. Each is compiled on first
# use (about a second of CPU, then loaded from the cache); 3, 5, 7... channels used to take
# the generic kernel, about 5x slower and 3 s to compile. More channels than this use the
# generic kernel rather than compile a kernel nobody else will use.
MAX_SPECIALISED_CHANNELS = 32
SPECIALISED_CHANNEL_COUNTS = tuple(range(1, MAX_SPECIALISED_CHANNELS + 1))
BLOCK = 256
# Sections run in groups of these sizes (greedy, largest first): 13 sections (the default
# chain at 50 Hz) = 5 + 5 + 3, 11 (60 Hz) = 5 + 5 + 1, 23 = 4 x 5 + 3, 7 = 5 + 1 + 1. Five
# recurrences in flight hide the latency of one. Measured on AVX-512 (Zen 4, CPU cycles per
# section and 8-channel row over 256-row blocks, with the previous generated kernels, whose
# vector code was the same): group of 1: 12.5 (one recurrence's latency); 2: 7.1; 3: 6.0;
# 4: 5.6; 5: 5.4; 6: 6.0; 7: 6.2; 8: 6.3. The bound is 5 (five 512-bit multiplies, one per
# cycle). Groups of (4, 3, 1) were slower at 16 channels (65 against 57-58 ns per row).
GROUP_SIZES = (5, 3, 1)
# Lanes per pass: one AVX-512 register of doubles. 16 channels as one <16 x double> vector
# (two registers per operation) were 5-10 % slower than two 8-lane passes, also with groups
# of 3 or 4 sections.
MAX_LANES = 8

# process(state, x, y, e, rms) -> finite; state as in kernels.pack_state. Two output arrays
# rather than one (2, n, C) array: two np.empty calls cost less in Python than one plus the
# two views the caller needs.
SIGNATURE = "boolean(float64[::1], float64[:, ::1], float64[:, ::1], float64[:, ::1], boolean)"
HEADER = 4  # must equal kernels.HEADER (not imported, so this module compiles on its own)

_lock = threading.Lock()
_kernels: dict = {}
_F64 = ir.DoubleType()
_I32 = ir.IntType(32)


def lane_plan(n_ch: int) -> list[tuple[int, int]]:
    """Split channels into passes ``(first_column, lanes)`` of at most MAX_LANES lanes."""
    return [(col, min(MAX_LANES, n_ch - col)) for col in range(0, n_ch, MAX_LANES)]


class _Vec:
    """Emits ``<lanes x double>`` code for the columns ``col .. col + lanes - 1`` of
    C-contiguous arrays with ``stride`` columns."""

    def __init__(self, context, builder, lanes: int, stride: int, col: int):
        self.ctx, self.b = context, builder
        self.lanes, self.stride, self.col = lanes, stride, col
        self.ty = ir.VectorType(_F64, lanes)

    def data(self, aryty, value, offset=None):
        """The data pointer (double*) of an array argument, plus ``offset`` elements."""
        ptr = self.ctx.make_array(aryty)(self.ctx, self.b, value).data
        return ptr if offset is None else self.b.gep(ptr, [offset])

    def row(self, base, row):
        """Pointer to this pass's vector in row ``row`` (an integer value) of ``base``."""
        off = self.b.mul(row, ir.Constant(row.type, self.stride))
        if self.col:
            off = self.b.add(off, ir.Constant(row.type, self.col))
        return self.b.bitcast(self.b.gep(base, [off]), self.ty.as_pointer())

    def load(self, ptr):
        # align=8: rows are only 8-byte aligned (the vector type's own alignment is 64).
        return self.b.load(ptr, align=8)

    def store(self, value, ptr):
        self.b.store(value, ptr, align=8)

    def splat(self, scalar):
        undef = ir.Constant(self.ty, ir.Undefined)
        v = self.b.insert_element(undef, scalar, ir.Constant(_I32, 0))
        return self.b.shuffle_vector(v, undef, ir.Constant(ir.VectorType(_I32, self.lanes),
                                                           [0] * self.lanes))

    def zero(self):
        return ir.Constant(self.ty, [0.0] * self.lanes)

    def var(self, init):
        """A stack slot holding a vector (promoted to a register by LLVM)."""
        slot = cgutils.alloca_once(self.b, self.ty)
        self.b.store(init, slot)
        return slot

    def unary(self, name: str):
        """The LLVM intrinsic ``llvm.<name>`` on this vector type (sqrt, fabs)."""
        fnty = ir.FunctionType(self.ty, [self.ty])
        return cgutils.get_or_insert_function(self.b.module, fnty,
                                              f"llvm.{name}.v{self.lanes}f64")

    def loop(self, start, stop):
        """``for i in range(start, stop)`` (a context manager giving ``i``)."""
        return cgutils.for_range_slice(self.b, start, stop, ir.Constant(start.type, 1))


def _passes(lanes_ty, context, builder):
    """One :class:`_Vec` per pass over the ``lanes_ty`` channels (a literal integer type)."""
    n = lanes_ty.literal_value
    return [_Vec(context, builder, width, n, col) for col, width in lane_plan(n)]


def _lanes_known(lanes) -> bool:
    # The channel count must be a compile-time constant (the closure's ``lanes``).
    return isinstance(lanes, types.IntegerLiteral)


def _emit_group(v: _Vec, sos_p, s0, z_p, src_p, dst_p, i0, i1, n_sec: int) -> None:
    """Sections ``s0 .. s0 + n_sec - 1`` over rows ``i0 .. i1 - 1`` (``n_sec`` 0: copy)."""
    b = v.b
    i64 = s0.type
    coef, slots = [], []
    for k in range(n_sec):
        sec = b.add(s0, ir.Constant(i64, k))
        row6 = b.mul(sec, ir.Constant(i64, 6))
        # b0, b1, b2, (a0 = 1), a1, a2
        coef.append([b.gep(sos_p, [b.add(row6, ir.Constant(i64, j))]) for j in (0, 1, 2, 4, 5)])
        z0 = v.row(z_p, b.mul(sec, ir.Constant(i64, 2)))
        z1 = v.row(z_p, b.add(b.mul(sec, ir.Constant(i64, 2)), ir.Constant(i64, 1)))
        slots.append((z0, z1, v.var(v.load(z0)), v.var(v.load(z1))))
    with v.loop(i0, i1) as (t, _):
        u = v.load(v.row(src_p, t))
        for k in range(n_sec):
            # Coefficients are loaded in the loop (broadcast memory operands): hoisted, a
            # group of five sections' 25 coefficient vectors crowd out the filter state.
            b0, b1, b2, a1, a2 = (v.splat(b.load(c)) for c in coef[k])
            p_slot, q_slot = slots[k][2], slots[k][3]
            p, q = b.load(p_slot), b.load(q_slot)
            # sosfilt, per lane and in its order: w = b0 u + z0; z0 = (b1 u - a1 w) + z1;
            # z1 = b2 u - a2 w.
            w = b.fadd(b.fmul(b0, u), p)
            b.store(b.fadd(b.fsub(b.fmul(b1, u), b.fmul(a1, w)), q), p_slot)
            b.store(b.fsub(b.fmul(b2, u), b.fmul(a2, w)), q_slot)
            u = w
        v.store(u, v.row(dst_p, t))
    for z0, z1, p_slot, q_slot in slots:
        v.store(b.load(p_slot), z0)
        v.store(b.load(q_slot), z1)


def _emit_cascade(v: _Vec, sig, args) -> None:
    """All sections over a block, in groups of GROUP_SIZES (src, then dst in place)."""
    b = v.b
    state_v, sos_o, n_sections, z_o, src_v, dst_v, i0, i1 = args[:8]
    i64 = n_sections.type
    sos_p, z_p = v.data(sig.args[0], state_v, sos_o), v.data(sig.args[0], state_v, z_o)
    src_p, dst_p = v.data(sig.args[4], src_v), v.data(sig.args[5], dst_v)
    zero = ir.Constant(i64, 0)
    with b.if_then(b.icmp_signed("==", n_sections, zero)):
        _emit_group(v, sos_p, zero, z_p, src_p, dst_p, i0, i1, 0)
    s_slot = cgutils.alloca_once_value(b, zero)
    a_slot = cgutils.alloca_once_value(b, src_p)
    for g in GROUP_SIZES:
        # while n_sections - s >= g: group(s .. s + g - 1); s += g; the input is now dst
        cond, body, done = (b.append_basic_block(f"g{g}_{name}")
                            for name in ("cond", "body", "done"))
        b.branch(cond)
        b.position_at_end(cond)
        s = b.load(s_slot)
        b.cbranch(b.icmp_signed(">=", b.sub(n_sections, s), ir.Constant(i64, g)), body, done)
        b.position_at_end(body)
        _emit_group(v, sos_p, s, z_p, b.load(a_slot), dst_p, i0, i1, g)
        b.store(b.add(s, ir.Constant(i64, g)), s_slot)
        b.store(dst_p, a_slot)
        b.branch(cond)
        b.position_at_end(done)


@intrinsic
def _cascade(typingctx, state, sos_o, n_sections, z_o, src, dst, i0, i1, lanes):
    """Filter rows ``i0 .. i1 - 1`` of ``src`` through the cascade into ``dst``.

    The coefficients ``sos`` (n_sections, 6) and the state ``z`` (n_sections, 2, lanes,
    updated) are read in place from the packed state at offsets ``sos_o`` and ``z_o``;
    ``src``/``dst`` are (n, lanes), possibly the same array.
    """
    if not _lanes_known(lanes):
        return None

    def codegen(context, builder, sig, args):
        for v in _passes(sig.args[8], context, builder):
            _emit_cascade(v, sig, args)
        return context.get_dummy_value()

    return types.void(state, sos_o, n_sections, z_o, src, dst, i0, i1, lanes), codegen


@intrinsic
def _all_finite(typingctx, x, lanes):
    """True if every value of ``x`` (n, lanes) is finite."""
    if not _lanes_known(lanes):
        return None

    def codegen(context, builder, sig, args):
        ok = ir.Constant(ir.IntType(1), 1)
        for v in _passes(sig.args[1], context, builder):
            ary = context.make_array(sig.args[0])(context, builder, args[0])
            n = builder.extract_value(ary.shape, 0)
            zero = v.zero()
            acc = v.var(zero)
            with v.loop(ir.Constant(n.type, 0), n) as (t, _):
                # x * 0 is 0 for finite x and NaN for NaN/inf; the sum stays 0 only if all are.
                row = v.load(v.row(ary.data, t))
                builder.store(builder.fadd(builder.load(acc), builder.fmul(row, zero)), acc)
            eq = builder.fcmp_ordered("==", builder.load(acc), zero)
            for c in range(v.lanes):
                ok = builder.and_(ok, builder.extract_element(eq, ir.Constant(_I32, c)))
        return ok

    return types.boolean(x, lanes), codegen


@intrinsic
def _rms_run(typingctx, state, ring_o, acc_o, p, y, e, t, m, inv_window, lanes):
    """Moving RMS of rows ``t .. t + m - 1`` of ``y`` into ``e``, through ring rows
    ``p .. p + m - 1`` (no wrap inside); same arithmetic as :func:`kernels.process_generic`.
    The ring (window, lanes) and the running sums (lanes,) are in the packed state at
    offsets ``ring_o`` and ``acc_o``.

    The running sum (a latency-bound recurrence) and the square root (throughput-bound)
    share one loop so they overlap.
    """
    if not _lanes_known(lanes):
        return None

    def codegen(context, builder, sig, args):
        state_v, ring_o, acc_o, p_v, y_v, e_v, t_v, m_v, inv_v = args[:9]
        b = builder
        for v in _passes(sig.args[9], context, builder):
            ring_p = v.data(sig.args[0], state_v, ring_o)
            y_p, e_p = v.data(sig.args[4], y_v), v.data(sig.args[5], e_v)
            acc_ptr = v.row(v.data(sig.args[0], state_v, acc_o), ir.Constant(p_v.type, 0))
            inv, zero, sqrt = v.splat(inv_v), v.zero(), v.unary("sqrt")
            a_slot = v.var(v.load(acc_ptr))
            with v.loop(ir.Constant(m_v.type, 0), m_v) as (j, _):
                row = b.add(t_v, j)
                ring_row = v.row(ring_p, b.add(p_v, j))
                u = v.load(v.row(y_p, row))
                old = v.load(ring_row)
                square = b.fmul(u, u)
                a = b.fadd(b.fsub(b.load(a_slot), old), square)
                b.store(a, a_slot)
                v.store(square, ring_row)
                # max(a, 0.0) exactly as Numba lowers it: select(0.0 > a, 0.0, a).
                positive = b.select(b.fcmp_ordered(">", zero, a), zero, a)
                v.store(b.call(sqrt, [b.fmul(positive, inv)]), v.row(e_p, row))
            v.store(b.load(a_slot), acc_ptr)
        return context.get_dummy_value()

    return types.void(state, ring_o, acc_o, p, y, e, t, m, inv_window, lanes), codegen


@intrinsic
def _rms_wrap(typingctx, state, ring_o, acc_o, window, lanes):
    """Running sums = the sums of the ring's ``window`` rows, added in row order (as the
    generic kernel does)."""
    if not _lanes_known(lanes):
        return None

    def codegen(context, builder, sig, args):
        state_v, ring_o, acc_o, window = args[:4]
        for v in _passes(sig.args[4], context, builder):
            ring_p = v.data(sig.args[0], state_v, ring_o)
            acc_ptr = v.row(v.data(sig.args[0], state_v, acc_o), ir.Constant(window.type, 0))
            a_slot = v.var(v.zero())
            with v.loop(ir.Constant(window.type, 0), window) as (k, _):
                row = v.load(v.row(ring_p, k))
                builder.store(builder.fadd(builder.load(a_slot), row), a_slot)
            v.store(builder.load(a_slot), acc_ptr)
        return context.get_dummy_value()

    return types.void(state, ring_o, acc_o, window, lanes), codegen


@intrinsic
def _abs_rows(typingctx, y, e, i0, i1, lanes):
    """``e[i0:i1] = abs(y[i0:i1])`` (the rectifier before the linear envelope)."""
    if not _lanes_known(lanes):
        return None

    def codegen(context, builder, sig, args):
        for v in _passes(sig.args[4], context, builder):
            y_p, e_p = v.data(sig.args[0], args[0]), v.data(sig.args[1], args[1])
            fabs = v.unary("fabs")
            with v.loop(args[2], args[3]) as (t, _):
                v.store(builder.call(fabs, [v.load(v.row(y_p, t))]), v.row(e_p, t))
        return context.get_dummy_value()

    return types.void(y, e, i0, i1, lanes), codegen


def _make_process(lanes: int):
    """The entry point's Python function for ``lanes`` channels (compiled by compile_kernel).

    ``lanes`` is a closure constant, so Numba types it as a literal and the intrinsics
    emit code for that channel count; Numba's cache keys the compiled code on it.
    """

    def process(state, x, y, e, rms):
        n = x.shape[0]
        if not _all_finite(x, lanes):
            return False
        # Offsets into the layout of kernels.pack_state: the intrinsics read coefficients
        # and state in place (views would cost ~0.2 µs per call in reference counting).
        ns = int(state[0])
        ne = int(state[1])
        window = int(state[2])
        p = int(state[3])
        sos_o = HEADER
        env_o = sos_o + 6 * ns
        z_o = env_o + 6 * ne
        ez_o = z_o + 2 * lanes * ns
        ring_o = ez_o + 2 * lanes * ne
        acc_o = ring_o + lanes * window
        # Multiplying by 1/W, as the generic kernel does (W is 0 for the linear envelope).
        inv_window = 1.0 / window if rms else 0.0
        for i0 in range(0, n, BLOCK):
            i1 = min(n, i0 + BLOCK)
            # One call site of the cascade for both envelopes: each site is a copy of the
            # cascade's code, and code size is what the compile time scales with.
            _cascade(state, sos_o, ns, z_o, x, y, i0, i1, lanes)
            if rms:
                # The block is cut at the ring's wrap points, where the running sums are
                # recomputed from the ring (the wrap points depend only on the sample count).
                t = i0
                while t < i1:
                    m = min(i1 - t, window - p)
                    _rms_run(state, ring_o, acc_o, p, y, e, t, m, inv_window, lanes)
                    t += m
                    p += m
                    if p == window:
                        p = 0
                        _rms_wrap(state, ring_o, acc_o, window, lanes)
            else:
                _abs_rows(y, e, i0, i1, lanes)
                _cascade(state, env_o, ne, ez_o, e, e, i0, i1, lanes)
        state[3] = p
        return True

    return process


def compile_kernel(n_channels: int, cache: bool = True):
    """Compile the kernel for ``n_channels`` (any count >= 1).

    Parameters
    ----------
    n_channels : int
        Channel count (vector lanes) the code is compiled for.
    cache : bool
        Use Numba's on-disk cache. The tests compile without it to read the assembly
        (Numba cannot show the assembly of cached code).

    Returns
    -------
    numba dispatcher
        The entry point, compiled for :data:`SIGNATURE`.
    """
    return njit(SIGNATURE, cache=cache, nogil=True)(_make_process(int(n_channels)))


def get_kernel(n_channels: int):
    """The specialised kernel for ``n_channels``, compiled (or loaded from cache) on first use.

    Parameters
    ----------
    n_channels : int
        One of :data:`SPECIALISED_CHANNEL_COUNTS`.

    Returns
    -------
    numba dispatcher or None
        ``process(state, x, y, e, rms) -> bool`` (False, state untouched, when the chunk
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
