"""Output memory of the pipeline: ``out=``, reused ``buffers``, ``iter_chunks`` and chunked
``process_offline``, each bit-identical to the sosfilt chain and to plain streaming."""

from __future__ import annotations

import numpy as np
import pytest

from emgfeedback.dsp import KindPipeline, Pipeline, process_offline
from emgfeedback.dsp.pipeline import CHUNK_VALUES, chunk_rows
from tests.dsp.test_dsp_pipeline import LINEAR, RMS, assert_matches_reference, random_emg

COUNTS = [1, 2, 3, 8, 16]  # 3 takes the generic kernel


def streamed(cfg, x, parts=7):
    """Fresh-array streaming of ``x`` in uneven parts: the behaviour everything must match."""
    pipe = Pipeline(cfg, x.shape[1])
    outs = [pipe.process(c) for c in np.array_split(x, parts)]
    return np.vstack([o[0] for o in outs]), np.vstack([o[1] for o in outs])


@pytest.mark.parametrize("n_ch", COUNTS)
@pytest.mark.parametrize("chunk", [1, 7, 256, 1000, None])
def test_chunked_offline_is_bit_identical_to_sosfilt_and_streaming(n_ch, chunk):
    x = random_emg(2 * chunk_rows(n_ch) + 45 if chunk is None else 2600, n_ch, seed=n_ch)
    y, e = process_offline(x, RMS, chunk_samples=chunk)
    assert_matches_reference(x, RMS, y, e)
    y_s, e_s = streamed(RMS, x)
    np.testing.assert_array_equal(y, y_s)
    np.testing.assert_array_equal(e, e_s)


@pytest.mark.parametrize("n_ch", [1, 8])
def test_offline_into_callers_arrays_and_a_memmap(n_ch, tmp_path):
    x = random_emg(3000, n_ch, seed=5)
    want = streamed(LINEAR, x)
    y = np.full(x.shape, 7.0)
    e = np.memmap(tmp_path / "env.f8", dtype=np.float64, mode="w+", shape=x.shape)
    got = process_offline(x, LINEAR, out=(y, e), chunk_samples=512)
    assert got[0] is y and got[1] is e
    assert_matches_reference(x, LINEAR, y, np.asarray(e))
    np.testing.assert_array_equal(y, want[0])
    np.testing.assert_array_equal(e, want[1])
    # The same arrays again (a batch reusing its buffers): overwritten with the same result.
    process_offline(x, LINEAR, out=(y, e))
    np.testing.assert_array_equal(y, want[0])


@pytest.mark.parametrize("n_ch", COUNTS)
@pytest.mark.parametrize("block", [1, 16, 300])
def test_stream_into_reused_buffers_equals_fresh_streaming(n_ch, block):
    x = random_emg(20 * block + block // 2, n_ch, seed=block)
    pipe, fresh = Pipeline(RMS, n_ch), Pipeline(RMS, n_ch)
    bufs = pipe.buffers(block)
    assert pipe.buffers(block) is bufs  # one pair per block size
    ys, es = [], []
    for a in range(0, x.shape[0], block):
        chunk = x[a:a + block]
        out = bufs if chunk.shape[0] == block else pipe.buffers(chunk.shape[0])
        y, e = pipe.process(chunk, out=out)
        assert y is out[0] and e is out[1]
        y_f, e_f = fresh.process(chunk)
        np.testing.assert_array_equal(y, y_f)
        np.testing.assert_array_equal(e, e_f)
        ys.append(y.copy())
        es.append(e.copy())
    assert_matches_reference(x, RMS, np.vstack(ys), np.vstack(es))


def test_buffers_are_overwritten_by_the_next_call_and_fresh_outputs_are_not():
    x = random_emg(64, 4, seed=2)
    pipe = Pipeline(RMS, 4)
    bufs = pipe.buffers(32)
    first = pipe.process(x[:32], out=bufs)
    kept = first[0].copy()
    second = pipe.process(x[32:], out=bufs)
    assert second[0] is first[0]  # the documented reuse: copy what you keep
    assert not np.array_equal(first[0], kept)
    new = Pipeline(RMS, 4)
    a, b = new.process(x[:32]), new.process(x[32:])
    assert not np.shares_memory(a[0], b[0])


def test_reshaping_returned_buffers_cannot_misdirect_the_kernel():
    # The kernel skips Numba's checks; it writes private arrays, the caller gets views.
    x = random_emg(32, 8, seed=3)
    pipe, fresh = Pipeline(RMS, 8), Pipeline(RMS, 8)
    y, e = bufs = pipe.buffers(16)
    y.shape = (8, 16)  # legal on a view, and would put kernel writes out of bounds
    e.shape = (128,)
    for chunk in (x[:16], x[16:]):
        pipe.process(chunk, out=bufs)
        y_f, e_f = fresh.process(chunk)
        np.testing.assert_array_equal(y.reshape(16, 8), y_f)
        np.testing.assert_array_equal(e.reshape(16, 8), e_f)


def test_non_finite_chunk_only_restarts_its_channel_in_chunked_offline():
    x = random_emg(5000, 8, seed=9)
    x[1234, 2] = np.nan
    x[4000:4100, 5] = np.inf
    for chunk in (None, 100, 4096):
        y, e = process_offline(x, RMS, chunk_samples=chunk)
        assert_matches_reference(x, RMS, y, e)
        y_s, e_s = streamed(RMS, x)
        np.testing.assert_array_equal(y, y_s)
        np.testing.assert_array_equal(e, e_s)


@pytest.mark.parametrize("n_ch", [1, 8, 16])
def test_iter_chunks_covers_the_input_in_reused_buffers(n_ch):
    n = 3 * chunk_rows(n_ch) + 101
    x = random_emg(n, n_ch, seed=1)
    pipe = Pipeline(RMS, n_ch)
    firsts, ys, es, ids = [], [], [], set()
    for a, y, e in pipe.iter_chunks(x):
        firsts.append(a)
        ids.add(id(y))
        ys.append(y.copy())
        es.append(e.copy())
    assert firsts == [0, *range(chunk_rows(n_ch), n, chunk_rows(n_ch))]
    assert len(ids) == 2  # one pair for the full chunks, one for the shorter last chunk
    assert chunk_rows(n_ch) == max(256, CHUNK_VALUES // n_ch)
    y_s, e_s = streamed(RMS, x)
    np.testing.assert_array_equal(np.vstack(ys), y_s)
    np.testing.assert_array_equal(np.vstack(es), e_s)
    # The state carries on: a later process() continues the stream.
    more = random_emg(50, n_ch, seed=2)
    both = np.vstack([x, more])
    np.testing.assert_array_equal(pipe.process(more)[0], streamed(RMS, both)[0][n:])
    assert list(Pipeline(RMS, n_ch).iter_chunks(np.empty((0, n_ch)))) == []
    one = list(Pipeline(RMS, n_ch).iter_chunks(x[:10], chunk_samples=64))
    assert len(one) == 1 and one[0][1].shape == (10, n_ch)


def test_kind_pipeline_out_buffers_chunks_and_offline_match_plain_process():
    kinds = ["raw", "env", "raw", "rect"]
    x = np.abs(random_emg(3000, 4, seed=6))
    want = KindPipeline(RMS, kinds).process(x)
    pipe = KindPipeline(RMS, kinds)
    y, e = np.empty(x.shape), np.empty(x.shape)
    got = pipe.process(x[:1000], out=(y[:1000], e[:1000]))
    assert np.shares_memory(got[0], y)
    bufs = pipe.buffers(500)
    for a in range(1000, 3000, 500):
        yb, eb = pipe.process(x[a:a + 500], out=bufs)
        y[a:a + 500], e[a:a + 500] = yb, eb
    np.testing.assert_array_equal(y, want[0])
    np.testing.assert_array_equal(e, want[1])
    chunks = list(KindPipeline(RMS, kinds).iter_chunks(x, chunk_samples=700))
    assert [c[0] for c in chunks] == [0, 700, 1400, 2100, 2800]
    y2, e2 = process_offline(x, RMS, kinds=kinds, chunk_samples=333)
    np.testing.assert_array_equal(y2, want[0])
    np.testing.assert_array_equal(e2, want[1])
    single = KindPipeline(RMS, ["raw"] * 4)  # one kind: straight to its Pipeline
    assert single.buffers(16) is single.buffers(16)


def test_bad_out_arrays_are_refused_with_what_is_wrong():
    x = random_emg(16, 4, seed=0)
    pipe = Pipeline(RMS, 4)
    ok = np.empty((16, 4))
    cases = {
        "pair": ok,
        "shape": (ok, np.empty((15, 4))),
        "float64": (ok, np.empty((16, 4), dtype=np.float32)),
        "C-contiguous": (ok, np.empty((4, 16)).T),
        "writeable": (ok, np.lib.stride_tricks.as_strided(np.empty((16, 4)), writeable=False)),
        "overlap": (ok, ok),
        "overlap ": (ok, x),
        "array": (ok, [[0.0] * 4] * 16),
    }
    for word, out in cases.items():
        with pytest.raises(ValueError, match=word.strip()):
            pipe.process(x, out=out)
    with pytest.raises(ValueError, match="overlap"):
        pipe.process(x, out=(x, ok))
    with pytest.raises(ValueError, match=r"buffers\(16\) given for 8 samples"):
        pipe.process(x[:8], out=pipe.buffers(16))
    with pytest.raises(ValueError, match="shape"):
        process_offline(x, RMS, out=(np.empty(16), np.empty(16)))
    with pytest.raises(ValueError, match="chunk_samples"):
        process_offline(x, RMS, chunk_samples=0)
    with pytest.raises(ValueError, match="n_samples"):
        pipe.buffers(-1)
    with pytest.raises(ValueError, match="chunk_samples"):
        pipe.iter_chunks(x, chunk_samples=0)  # on the call, not at the first iteration
    with pytest.raises(ValueError, match=r"shape \(n_samples, 4\)"):
        pipe.iter_chunks(x[:, :3])
    # A refused call leaves the state untouched: the stream goes on as if it never happened.
    np.testing.assert_array_equal(pipe.process(x)[0], Pipeline(RMS, 4).process(x)[0])
