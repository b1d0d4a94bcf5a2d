"""Pipeline kernels written with explicit SIMD vectors: one lane per channel.

How they are fast
    Every channel runs the same recurrence, so the kernel keeps the state of all C channels
    of one filter section as one vector ``<C x double>`` and applies each operation to the
    whole vector: with 8 channels one AVX-512 register holds a section's ``z0`` of every
    channel. Per lane, the operations and their order are exactly those of
    ``scipy.signal.sosfilt`` (``w = b0 u + z0; z0 = (b1 u - a1 w) + z1; z1 = b2 u - a2 w``),
    and LLVM does not reassociate or contract floating-point operations without fast-math
    flags, so the result is bit-identical to it. Where a section has ``b2 == b0`` bit for
    bit (every section of the default chain: Butterworth sections are ``[g, 2g, g]`` or
    ``[1, ±2, 1]``, notches ``g [1, -2 cos w0, 1]``), ``b2 u`` *is* the product ``b0 u``
    already computed, so it is used twice: four multiplies per section instead of five,
    same bits. The chunk runs in blocks of :data:`BLOCK` rows; within a block the cascade
    runs in groups of up to five sections with the time loop outside (five independent
    recurrences in flight hide the latency of one; see :data:`GROUP_SIZES`), and the moving
    RMS runs inside the last group's loop, where the square roots (a unit of their own)
    overlap that group's multiplies. Channel counts above :data:`MAX_LANES` (8; so 16) run
    as passes of 8 lanes over the same arrays; 1 and 2 channels run as a wavefront with the
    sections as lanes (:func:`_wave`).

How they are built
    The vector loops are Numba intrinsics (:func:`numba.extending.intrinsic`, Numba's public
    extension API) that emit LLVM IR through llvmlite's IR builder; the channel count reaches
    them as a compile-time constant (the ``lanes`` value captured by the closure that
    :func:`compile_kernel` compiles). The entry point itself is ordinary Numba code
    (:func:`_make_process`). Nothing is generated from strings, no global compiler setting is
    touched, and Numba's own vectorisers are not needed: the vectors are in the IR.

Why (issue 16, 2-core AVX-512 VM): the kernels before session 5 were Python source generated
per channel count, packed back into vectors by LLVM's SLP vectoriser (switched on through
``numba.core.config``); a cold compile took 4-12 s CPU, against about 1 s now. Session 6's
changes and their gains are in docs/dsp.md ("Session 6").

What was tried and not kept is in docs/dsp.md.

Compilation is lazy (per channel count, on first use) with an explicit signature and
``cache=True``. More than :data:`MAX_SPECIALISED_CHANNELS` channels, and chunks containing
NaN/inf (reported without touching the state), use :func:`kernels.process_generic`; both
kernels share one state layout.
"""

from __future__ import annotations

import threading

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, register_jitable

# Every count a board or a BrainFlow/LSL source is likely to give. Each is compiled on first
# use (about a second of CPU, then loaded from the cache); 3, 5, 7... channels used to take
# the generic kernel, about 5x slower and 3 s to compile. More channels than this use the
# generic kernel rather than compile a kernel nobody else will use.
MAX_SPECIALISED_CHANNELS = 32
SPECIALISED_CHANNEL_COUNTS = tuple(range(1, MAX_SPECIALISED_CHANNELS + 1))
BLOCK = 256
# Sections run in groups of these sizes, planned from the end of the chain: the last five
# sections are one group (with the RMS inside), and so on backwards; the first group takes
# the remainder (13 sections = 3 + 5 + 5; 11 = 1 + 5 + 5; 23 = 3 + 4 x 5; remainders of 4
# and 2 as 3 + 1 and 1 + 1). Five recurrences in flight hide the latency of one; a group of
# five runs ~5 cycles per section and 8-channel row against a bound of 4 (measurements of
# other sizes and plans in docs/dsp.md).
GROUP_SIZES = (5, 3, 1)
# Remainder of the sections left (modulo the largest group) -> size of the next group.
_GROUP_OF_REMAINDER = {0: 5, 1: 1, 2: 1, 3: 3, 4: 3}
# Lanes per pass: one AVX-512 register of doubles (16 channels as one <16 x double> vector
# were slower than two 8-lane passes).
MAX_LANES = 8

# process(state, x, y, e, rms) -> finite; state as in kernels.pack_state. Two output arrays
# rather than one (2, n, C): two np.empty cost less than one plus the caller's two views.
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


def _emit_group(v: _Vec, sos_p, s0, z_p, src_p, dst_p, i0, i1, n_sec: int,
                sym: bool = False, rms: _Rms | None = None) -> None:
    """Sections ``s0 .. s0 + n_sec - 1`` over rows ``i0 .. i1 - 1`` (``n_sec`` 0: copy).

    ``sym``: every section of the group has ``b2 == b0`` bit for bit (true of every
    section of the default chain), so ``b2 u`` is the product ``b0 u`` already computed:
    one multiply fewer per section, same bits. ``rms``: the moving RMS of each output row
    is computed in the same loop (see :class:`_Rms`).
    """
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
    if rms is not None:
        rms.begin()
    with v.loop(i0, i1) as (t, _):
        u = v.load(v.row(src_p, t))
        for k in range(n_sec):
            # Coefficients are loaded in the loop (broadcast memory operands): hoisted, a
            # group of five sections' coefficient vectors crowd out the filter state.
            c0, c1, c2, c4, c5 = coef[k]
            b0, b1, a1, a2 = (v.splat(b.load(c)) for c in (c0, c1, c4, c5))
            p_slot, q_slot = slots[k][2], slots[k][3]
            p, q = b.load(p_slot), b.load(q_slot)
            # sosfilt, per lane and in its order: w = b0 u + z0; z0 = (b1 u - a1 w) + z1;
            # z1 = b2 u - a2 w.
            m0 = b.fmul(b0, u)
            m2 = m0 if sym else b.fmul(v.splat(b.load(c2)), u)
            w = b.fadd(m0, p)
            b.store(b.fadd(b.fsub(b.fmul(b1, u), b.fmul(a1, w)), q), p_slot)
            b.store(b.fsub(m2, b.fmul(a2, w)), q_slot)
            u = w
        v.store(u, v.row(dst_p, t))
        if rms is not None:
            rms.row(u, t)
    if rms is not None:
        rms.end()
    for z0, z1, p_slot, q_slot in slots:
        v.store(b.load(p_slot), z0)
        v.store(b.load(q_slot), z1)


class _Rms:
    """Emits the moving RMS of output rows, one row at a time, for one pass of lanes.

    Same arithmetic as :func:`kernels.process_generic`: ``acc = (acc - ring[p]) + u*u;
    ring[p] = u*u; e = sqrt(max(acc, 0) / W)`` (as ``* (1/W)``); when the position wraps to
    0 the running sums are recomputed from the ring, rows added in order. ``pos`` is a
    stack slot holding the ring position (i64), shared by the passes and read back after.
    """

    def __init__(self, v: _Vec, ring_p, acc_p, e_p, inv, window, pos):
        self.v, self.ring_p, self.e_p, self.window, self.pos = v, ring_p, e_p, window, pos
        self.acc_ptr = v.row(acc_p, ir.Constant(window.type, 0))
        self.inv = v.splat(inv)

    def begin(self):
        v = self.v
        self.acc = v.var(v.load(self.acc_ptr))

    def row(self, u, t):
        v, b = self.v, self.v.b
        i64 = self.window.type
        pos = b.load(self.pos)
        ring_row = v.row(self.ring_p, pos)
        old = v.load(ring_row)
        square = b.fmul(u, u)
        a = b.fadd(b.fsub(b.load(self.acc), old), square)
        b.store(a, self.acc)
        v.store(square, ring_row)
        zero = v.zero()
        # max(a, 0.0) exactly as Numba lowers it: select(0.0 > a, 0.0, a).
        positive = b.select(b.fcmp_ordered(">", zero, a), zero, a)
        v.store(b.call(v.unary("sqrt"), [b.fmul(positive, self.inv)]), v.row(self.e_p, t))
        nxt = b.add(pos, ir.Constant(i64, 1))
        wrap = b.icmp_signed("==", nxt, self.window)
        b.store(b.select(wrap, ir.Constant(i64, 0), nxt), self.pos)
        with b.if_then(wrap, likely=False):
            # The running sums are recomputed from the ring (bounded rounding error over
            # hours; the wrap points depend only on the sample count).
            total = v.var(v.zero())
            with v.loop(ir.Constant(i64, 0), self.window) as (k, _):
                b.store(b.fadd(b.load(total), v.load(v.row(self.ring_p, k))), total)
            b.store(b.load(total), self.acc)

    def end(self):
        self.v.store(self.v.b.load(self.acc), self.acc_ptr)


def _sym_sections(b, sos_p, s, n_sec: int):
    """i1: ``b2 == b0`` bit for bit in each of sections ``s .. s + n_sec - 1``."""
    i64 = s.type
    ok = ir.Constant(ir.IntType(1), 1)
    for k in range(n_sec):
        row6 = b.mul(b.add(s, ir.Constant(i64, k)), ir.Constant(i64, 6))
        b0, b2 = (b.load(b.bitcast(b.gep(sos_p, [b.add(row6, ir.Constant(i64, j))]),
                                   ir.IntType(64).as_pointer())) for j in (0, 2))
        ok = b.and_(ok, b.icmp_unsigned("==", b0, b2))
    return ok


def _emit_cascade(v: _Vec, sig, args, pos) -> None:
    """All sections over a block (src, then dst in place), then the moving RMS if asked.

    Groups as in :data:`GROUP_SIZES`; a group whose sections are not all symmetric
    (``_sym_sections``) runs its first section alone with the general arithmetic. A last
    group of five computes the RMS (if asked) in its own loop, so the square roots run
    beside its multiplies; otherwise the RMS gets a loop of its own.
    """
    b = v.b
    (state_v, sos_o, n_sections, z_o, src_v, dst_v, i0, i1,
     rms_v, ring_o, acc_o, _p, e_v, inv_v, window) = args[:15]
    i64 = n_sections.type
    sos_p, z_p = v.data(sig.args[0], state_v, sos_o), v.data(sig.args[0], state_v, z_o)
    src_p, dst_p = v.data(sig.args[4], src_v), v.data(sig.args[5], dst_v)
    rms = _Rms(v, v.data(sig.args[0], state_v, ring_o), v.data(sig.args[0], state_v, acc_o),
               v.data(sig.args[12], e_v), inv_v, window, pos)
    zero = ir.Constant(i64, 0)
    with b.if_then(b.icmp_signed("==", n_sections, zero)):
        _emit_group(v, sos_p, zero, z_p, src_p, dst_p, i0, i1, 0)
    s_slot = cgutils.alloca_once_value(b, zero)
    a_slot = cgutils.alloca_once_value(b, src_p)
    fused = cgutils.alloca_once_value(b, ir.Constant(ir.IntType(1), 0))
    top, done = b.append_basic_block("sec_top"), b.append_basic_block("sec_done")
    b.branch(top)
    b.position_at_end(top)
    s = b.load(s_slot)
    plan = b.append_basic_block("sec_plan")
    b.cbranch(b.icmp_signed("<", s, n_sections), plan, done)
    b.position_at_end(plan)
    rem = b.srem(b.sub(n_sections, s), ir.Constant(i64, GROUP_SIZES[0]))
    general = b.append_basic_block("g1_general")

    def run(block, g, sym, with_rms=False):
        b.position_at_end(block)
        _emit_group(v, sos_p, s, z_p, b.load(a_slot), dst_p, i0, i1, g, sym,
                    rms if with_rms else None)
        b.store(b.add(s, ir.Constant(i64, g)), s_slot)
        b.store(dst_p, a_slot)
        if with_rms:
            b.store(ir.Constant(ir.IntType(1), 1), fused)
        b.branch(top)

    # rem -> group size (_GROUP_OF_REMAINDER); a group is checked for symmetric sections
    # first, else its first section runs alone with the general arithmetic.
    big = GROUP_SIZES[0]
    checks = {g: b.append_basic_block(f"g{g}_check") for g in GROUP_SIZES}
    sw = b.switch(rem, checks[1])
    for r, g in _GROUP_OF_REMAINDER.items():
        if g != 1:
            sw.add_case(ir.Constant(i64, r), checks[g])
    for g, chk in checks.items():
        b.position_at_end(chk)
        body = b.append_basic_block(f"g{g}_sym")
        b.cbranch(_sym_sections(b, sos_p, s, g), body, general)
        if g == big:
            # The last group of the chain computes the RMS (when asked) in its own loop.
            last = b.append_basic_block(f"g{g}_sym_last")
            b.position_at_end(body)
            is_last = b.icmp_signed("==", b.add(s, ir.Constant(i64, g)), n_sections)
            plain = b.append_basic_block(f"g{g}_sym_plain")
            b.cbranch(b.and_(is_last, rms_v), last, plain)
            run(last, g, True, with_rms=True)
            body = plain
        run(body, g, True)
    run(general, 1, False)
    b.position_at_end(done)
    with b.if_then(b.and_(rms_v, b.not_(b.load(fused)))):
        # The RMS as a loop of its own (chains that do not end with five symmetric
        # sections: the RECT/ENV pass-through, short custom chains).
        rms.begin()
        with v.loop(i0, i1) as (t, _):
            rms.row(v.load(v.row(dst_p, t)), t)
        rms.end()


@intrinsic
def _cascade(typingctx, state, sos_o, n_sections, z_o, src, dst, i0, i1,
             rms, ring_o, acc_o, p, e, inv_window, window, lanes):
    """Filter rows ``i0 .. i1 - 1`` of ``src`` through the cascade into ``dst``; with
    ``rms``, also the moving RMS of ``dst`` into ``e``. Returns the new ring position.

    The coefficients ``sos`` (n_sections, 6) and the state ``z`` (n_sections, 2, lanes,
    updated) are read in place from the packed state at offsets ``sos_o`` and ``z_o``, the
    RMS ring (window, lanes) and running sums (lanes,) at ``ring_o`` and ``acc_o``;
    ``src``/``dst`` are (n, lanes), possibly the same array.
    """
    if not _lanes_known(lanes):
        return None

    def codegen(context, builder, sig, args):
        pos = cgutils.alloca_once(builder, args[11].type)
        for v in _passes(sig.args[15], context, builder):
            builder.store(args[11], pos)  # every pass starts at the same ring position
            _emit_cascade(v, sig, args, pos)
        return builder.load(pos)

    return types.int64(state, sos_o, n_sections, z_o, src, dst, i0, i1, rms, ring_o, acc_o,
                       p, e, inv_window, window, lanes), codegen


@intrinsic
def _all_finite(typingctx, x, lanes):
    """True if every value of ``x`` (n, lanes) is finite."""
    if not _lanes_known(lanes):
        return None

    def codegen(context, builder, sig, args):
        b = builder
        vs = _passes(sig.args[1], context, builder)
        ary = context.make_array(sig.args[0])(context, builder, args[0])
        n = b.extract_value(ary.shape, 0)
        i64 = n.type
        # x * 0 is 0 for finite x and NaN for NaN/inf; a sum of them stays 0 only if all
        # are. Four sums per pass, so that the additions do not wait for each other, and
        # one loop for all passes: each row's cache lines are requested together (on a
        # chunk that is not in the cache yet, this is its first touch).
        accs = [[v.var(v.zero()) for _ in range(_FINITE_SUMS)] for v in vs]

        def add_row(t, j):
            for v, acc in zip(vs, accs, strict=True):
                row = v.load(v.row(ary.data, t))
                b.store(b.fadd(b.load(acc[j]), b.fmul(row, v.zero())), acc[j])

        quads = b.sdiv(n, ir.Constant(i64, _FINITE_SUMS))
        with vs[0].loop(ir.Constant(i64, 0), quads) as (q, _):
            t0 = b.mul(q, ir.Constant(i64, _FINITE_SUMS))
            for j in range(_FINITE_SUMS):
                add_row(b.add(t0, ir.Constant(i64, j)), j)
        with vs[0].loop(b.mul(quads, ir.Constant(i64, _FINITE_SUMS)), n) as (t, _):
            add_row(t, 0)
        ok = ir.Constant(ir.IntType(1), 1)
        for v, acc in zip(vs, accs, strict=True):
            total = b.load(acc[0])
            for j in range(1, _FINITE_SUMS):
                total = b.fadd(total, b.load(acc[j]))
            eq = b.fcmp_ordered("==", total, v.zero())
            for c in range(v.lanes):
                ok = b.and_(ok, b.extract_element(eq, ir.Constant(_I32, c)))
        return ok

    return types.boolean(x, lanes), codegen


_FINITE_SUMS = 4


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


# The wavefront ("section lanes") for 1-2 channels, where a vector of channels is mostly
# empty and the cascade waits on each section's recurrence: one vector holds every section
# (x channel), and in step T section s works on row T - s with section s - 1's output of
# step T - 1 (a lane shift). 1 channel 14.7 -> 5.9 ns per row, 2 channels 14.6 -> 8.9; the
# measurements and what did not work (3-4 channels) are in docs/dsp.md, "Session 6".
WAVE_SECTIONS = 16
WAVE_MAX_LANES = 2
# Fewer rows than this per call take the channel lanes: the wavefront's set-up (gathering
# coefficients and state into section lanes: ~0.05 µs at 1 channel, ~0.2 at 2) is not repaid.
WAVE_MIN_ROWS = {1: 16, 2: 48}


@intrinsic
def _wave(typingctx, state, sos_o, n_sections, z_o, x, y, n, rms, ring_o, acc_o, p, e,
          inv_window, window, lanes):
    """The cascade over rows ``0 .. n - 1`` of ``x`` into ``y`` as a wavefront (at most
    :data:`WAVE_SECTIONS` sections), with the moving RMS into ``e`` if ``rms``; returns
    the new ring position. Same arithmetic per section and row as :func:`_cascade`."""
    if not _lanes_known(lanes):
        return None

    def codegen(context, builder, sig, args):
        b = builder
        (state_v, sos_o, ns, z_o, x_v, y_v, n, rms_v, ring_o, acc_o, p_v, e_v, inv_v,
         window) = args[:14]
        c_n = sig.args[14].literal_value
        if c_n > WAVE_MAX_LANES:  # never called (process() tests lanes); keep the IR small
            return p_v
        i64 = ns.type
        width = WAVE_SECTIONS * c_n
        vt = ir.VectorType(_F64, width)
        one_row = _Vec(context, b, c_n, c_n, 0)  # the C channels of one row
        st = one_row.data(sig.args[0], state_v)
        sos_p, z_p = b.gep(st, [sos_o]), b.gep(st, [z_o])
        x_p, y_p = one_row.data(sig.args[4], x_v), one_row.data(sig.args[5], y_v)

        def const(k):
            return ir.Constant(i64, k)

        def gather(base, stride, col):
            # lane s * C + c <- base[min(s, ns - 1) * stride + col(c)], 0 for s >= ns
            vec = ir.Constant(vt, [0.0] * width)
            for s_ in range(WAVE_SECTIONS):
                s_eff = b.select(b.icmp_signed("<", const(s_), ns), const(s_),
                                 b.sub(ns, const(1)))
                keep = b.icmp_signed("<", const(s_), ns)
                for c in range(c_n):
                    val = b.load(b.gep(base, [b.add(b.mul(s_eff, const(stride)), col(c))]))
                    val = b.select(keep, val, ir.Constant(_F64, 0.0))
                    vec = b.insert_element(vec, val, ir.Constant(_I32, s_ * c_n + c))
            return vec

        coef = [gather(sos_p, 6, lambda c, j=j: const(j)) for j in (0, 1, 2, 4, 5)]
        z0_col = lambda c: const(c)  # noqa: E731  (z[s, 0, c] at (2 s) C + c)
        z1_col = lambda c: const(c_n + c)  # noqa: E731
        p_slot = cgutils.alloca_once_value(b, gather(z_p, 2 * c_n, z0_col))
        q_slot = cgutils.alloca_once_value(b, gather(z_p, 2 * c_n, z1_col))
        w_slot = cgutils.alloca_once_value(b, ir.Constant(vt, [0.0] * width))
        # Section index of every lane, to mask the steps where a section has no row.
        lane_sec = ir.Constant(ir.VectorType(i64, width),
                               [j // c_n for j in range(width)])
        shift = ir.Constant(ir.VectorType(_I32, width),
                            [width + j if j < c_n else j - c_n for j in range(width)])
        pos = cgutils.alloca_once_value(b, p_v)
        rms = _Rms(one_row, b.gep(st, [ring_o]), b.gep(st, [acc_o]),
                   one_row.data(sig.args[11], e_v), inv_v, window, pos)
        out_lane = b.mul(b.sub(ns, const(1)), const(c_n))
        out_part = b.sdiv(out_lane, const(8))
        out_in_part = b.sub(out_lane, b.mul(out_part, const(8)))
        part_slot = cgutils.alloca_once(b, ir.VectorType(_F64, 8))
        part_ptr = b.bitcast(part_slot, _F64.as_pointer())
        with b.if_then(rms_v):
            rms.begin()
        last = b.sub(b.add(n, ns), const(1))  # steps 0 .. n + ns - 2

        def step(t, masked):
            # Input: row t of x in lanes 0 .. C-1 (a clamped row once t >= n: masked).
            t_in = b.select(b.icmp_signed("<", t, n), t, b.sub(n, const(1))) if masked else t
            row = one_row.load(one_row.row(x_p, t_in))
            wide = b.shuffle_vector(row, ir.Constant(row.type, ir.Undefined),
                                    ir.Constant(ir.VectorType(_I32, width),
                                                [j if j < c_n else 0 for j in range(width)]))
            u = b.shuffle_vector(b.load(w_slot), wide, shift)
            pv, qv = b.load(p_slot), b.load(q_slot)
            b0, b1, b2, a1, a2 = coef
            w = b.fadd(b.fmul(b0, u), pv)
            p_new = b.fadd(b.fsub(b.fmul(b1, u), b.fmul(a1, w)), qv)
            q_new = b.fsub(b.fmul(b2, u), b.fmul(a2, w))
            if masked:
                # Section s works on row t - s: only if 0 <= t - s < n.
                lo = b.icmp_signed("<=", lane_sec, _splat_i(b, t, width))
                hi = b.icmp_signed(">", lane_sec, _splat_i(b, b.sub(t, n), width))
                valid = b.and_(lo, hi)
                p_new, q_new = b.select(valid, p_new, pv), b.select(valid, q_new, qv)
            b.store(p_new, p_slot)
            b.store(q_new, q_slot)
            b.store(w, w_slot)
            r = b.sub(t, b.sub(ns, const(1)))  # the row the last section finished

            def emit_out():
                # The last section's lanes lie in one 8-lane part of w (8 is a multiple of
                # C): pick that part by selects and read the lanes from it in memory.
                # (Extracting at a run-time index from all of w spilled all of w, per lane.)
                part = ir.Constant(ir.VectorType(_F64, 8), ir.Undefined)
                for k in range(width // 8):
                    sub = b.shuffle_vector(w, ir.Constant(vt, ir.Undefined),
                                           ir.Constant(ir.VectorType(_I32, 8),
                                                       list(range(8 * k, 8 * k + 8))))
                    part = sub if k == 0 else b.select(
                        b.icmp_signed("==", out_part, const(k)), sub, part)
                b.store(part, part_slot)
                out = ir.Constant(one_row.ty, ir.Undefined)
                for c in range(c_n):
                    val = b.load(b.gep(part_ptr, [b.add(out_in_part, const(c))]))
                    out = b.insert_element(out, val, ir.Constant(_I32, c))
                one_row.store(out, one_row.row(y_p, r))
                with b.if_then(rms_v):
                    rms.row(out, r)

            if masked:
                with b.if_then(b.icmp_signed(">=", r, const(0))):
                    emit_out()
            else:
                emit_out()

        # Steps ns - 1 .. n - 1 have a row for every section: no mask. Before and after
        # (filling and draining the wavefront) some sections have none.
        a = b.select(b.icmp_signed("<", b.sub(ns, const(1)), n), b.sub(ns, const(1)), n)
        with cgutils.for_range_slice(b, const(0), a, const(1)) as (t, _):
            step(t, True)
        with cgutils.for_range_slice(b, a, n, const(1)) as (t, _):
            step(t, False)
        with cgutils.for_range_slice(b, b.select(b.icmp_signed("<", a, n), n, a), last,
                                     const(1)) as (t, _):
            step(t, True)
        with b.if_then(rms_v):
            rms.end()
        # State back: lane s * C + c -> z[s, 0/1, c] for s < ns.
        pv, qv = b.load(p_slot), b.load(q_slot)
        for s_ in range(WAVE_SECTIONS):
            with b.if_then(b.icmp_signed("<", const(s_), ns)):
                for c in range(c_n):
                    lane = ir.Constant(_I32, s_ * c_n + c)
                    b.store(b.extract_element(pv, lane), b.gep(z_p, [const(2 * s_ * c_n + c)]))
                    b.store(b.extract_element(qv, lane),
                            b.gep(z_p, [const((2 * s_ + 1) * c_n + c)]))
        return b.load(pos)

    return types.int64(state, sos_o, n_sections, z_o, x, y, n, rms, ring_o, acc_o, p, e,
                       inv_window, window, lanes), codegen


def _splat_i(b, value, width):
    vt = ir.VectorType(value.type, width)
    v = b.insert_element(ir.Constant(vt, ir.Undefined), value, ir.Constant(_I32, 0))
    return b.shuffle_vector(v, ir.Constant(vt, ir.Undefined),
                            ir.Constant(ir.VectorType(_I32, width), [0] * width))


@register_jitable
def _rows_ok(a, n, lanes):
    """``a`` is (n, lanes) and element (t, c) is at t * lanes + c (C order)."""
    # NumPy leaves the strides of a dimension of size 0 or 1 free (an empty array's may be 0).
    return (a.shape[0] == n and a.shape[1] == lanes
            and (n == 0 or ((n == 1 or a.strides[0] == 8 * lanes)
                            and (lanes == 1 or a.strides[1] == 8))))


def _make_process(lanes: int):
    """The entry point's Python function for ``lanes`` channels (compiled by compile_kernel).

    ``lanes`` is a closure constant, so Numba types it as a literal and the intrinsics
    emit code for that channel count; Numba's cache keys the compiled code on it.
    """

    wave_min_rows = WAVE_MIN_ROWS.get(lanes, 0)

    def process(state, x, y, e, rms):
        n = x.shape[0]
        # The intrinsics address row t, channel c at t * lanes + c: the arrays must be
        # (n, lanes) with C-ordered rows. Numba's entry point checks only the item size,
        # so this is checked here, before anything is touched (the pipeline's fast path
        # leaves it to this check and falls back to its checked path on the error).
        if not (_rows_ok(x, n, lanes) and _rows_ok(y, n, lanes) and _rows_ok(e, n, lanes)):
            raise ValueError("kernel: x, y and e must be C-ordered (n, channels) arrays "
                             "of one shape")
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
        stages = 1 if rms else 2
        first_stage = 0
        if lanes <= WAVE_MAX_LANES and 0 < ns <= WAVE_SECTIONS and n >= wave_min_rows:
            p = _wave(state, sos_o, ns, z_o, x, y, n, rms, ring_o, acc_o, p, e, inv_window,
                      window, lanes)
            if rms:
                state[3] = p
                return True
            first_stage = 1  # only the linear envelope's stage below
        for i0 in range(0, n, BLOCK):
            i1 = min(n, i0 + BLOCK)
            # One call site of the cascade for both stages of the linear envelope: each
            # site is a copy of the cascade's code, and code size is what the compile time
            # scales with.
            for stage in range(first_stage, stages):
                if stage == 0:
                    so, nsec, zo, src, dst = sos_o, ns, z_o, x, y
                else:
                    _abs_rows(y, e, i0, i1, lanes)
                    so, nsec, zo, src, dst = env_o, ne, ez_o, e, e
                p = _cascade(state, so, nsec, zo, src, dst, i0, i1, rms, ring_o, acc_o, p, e,
                             inv_window, window, lanes)
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
        contains NaN/inf; ValueError, nothing touched, when the arrays are not all
        C-ordered ``(n, n_channels)``), or None for other channel counts. ``state`` comes from
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
