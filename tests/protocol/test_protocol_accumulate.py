"""Phase measures reduced block by block while the samples arrive (issue 16, item 1).

The reductions must give what the whole-envelope functions of ``protocol.metrics`` give (to
rounding; goal counts exactly), and the same bits whatever the chunk sizes, so that paced,
fast and replayed runs agree.
"""

from __future__ import annotations

import numpy as np
import pytest

from emgfeedback.protocol import Features, ProtocolRunner, load_protocol
from emgfeedback.protocol import accumulate as A
from emgfeedback.protocol import metrics as M


def _envelope(n: int, n_ch: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None] / 2000.0
    x = np.abs(10.0 + 8.0 * np.sin(2 * np.pi * t / 3.0 + np.arange(n_ch))
               + rng.normal(0.0, 3.0, (n, n_ch)))
    x[n // 3:n // 3 + 50] = np.nan  # lost samples
    return x


def _reduce(x: np.ndarray, chunks, decline: bool = True) -> dict:
    acc = A.SegmentMeasures(len(x), x.shape[1], 2000.0, decline=decline, apdf=True)
    filled, k = 0, 0
    while filled < len(x):
        filled = min(len(x), filled + chunks[k % len(chunks)])
        k += 1
        acc.advance(x, filled)
    return acc.totals(x, len(x))


@pytest.mark.parametrize("n", [2, 5, 100, A.BLOCK, A.BLOCK + 1, 5 * A.BLOCK - 7, 50_000])
def test_block_sums_give_the_whole_envelope_measures(n):
    x = _envelope(n, 3, seed=n)
    tot = _reduce(x, [16])
    for k in range(3):
        for got, want in ((A.level_stats(tot, k), M.level_stats(x[:, k])),
                          (A.peak(tot, k), M.peak(x[:, k])),
                          (A.decline(tot, k, n), M.decline(x[:, k], 2000.0))):
            assert got.keys() == want.keys()
            for key in want:
                if want[key] is None:
                    assert got[key] is None, key
                else:
                    assert got[key] == pytest.approx(want[key], rel=1e-9, abs=1e-12), key


def test_block_sums_do_not_depend_on_the_chunk_sizes():
    x = _envelope(3 * A.BLOCK + 123, 2, seed=1)
    ref = _reduce(x, [16])
    for chunks in ([1, 7, 333], [A.BLOCK], [len(x)], [5000, 3]):
        got = _reduce(x, chunks)
        for key in ref:
            if key == "apdf":
                assert [A.apdf(got, k) for k in (0, 1)] == [A.apdf(ref, k) for k in (0, 1)]
            else:
                assert np.array_equal(got[key], ref[key]), key
    # Part-way: the unreduced tail is included, nothing is reduced twice.
    acc = A.SegmentMeasures(len(x), 2, 2000.0)
    acc.advance(x, A.BLOCK + 10)
    part = acc.totals(x, A.BLOCK + 10)
    assert part["n"][0] == A.BLOCK + 10
    assert A.level_stats(part, 0)["mean_uv"] == pytest.approx(
        M.level_stats(x[:A.BLOCK + 10, 0])["mean_uv"], rel=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_goal_counts_give_the_time_in_zone_over_joined_segments(seed):
    rng = np.random.default_rng(seed)
    # Long runs, short runs, all-true and all-false segments.
    p = [0.5, 0.97, 0.03][seed % 3]
    lengths = [int(v) for v in rng.integers(1, 400, 4)] + [50, 50]
    conds = [rng.random(n) < p for n in lengths]
    conds[-2][:] = True
    conds[-1][:] = seed % 2 == 0
    counters = []
    for cond in conds:
        c = A.GoalCounter()
        cuts = np.sort(rng.integers(0, len(cond), 3))
        for piece in np.split(cond, cuts):
            c.add(piece)
        counters.append(c)
    assert A.in_zone(counters, 200.0) == M.in_zone(np.concatenate(conds), 200.0)
    assert A.in_zone(counters[:1], 200.0) == M.in_zone(conds[0], 200.0)


def _run(name: str, env: np.ndarray, chunk: int, stop: int | None = None):
    runner = ProtocolRunner(load_protocol(name), 2000.0, ["a", "b"][:env.shape[1]],
                            baseline_uv=5.0, mvc_uv=100.0)
    cues = []
    end = len(env) if stop is None else stop
    for start in range(0, end, chunk):
        cues += runner.step(Features(start, env[start:min(start + chunk, end)]))
    return runner, cues


@pytest.mark.parametrize("name", ["resting_baseline", "hold_short", "uptraining"])
def test_runner_results_match_the_whole_envelope_and_any_chunking(name):
    proto = load_protocol(name)
    n = round(proto.total_s * 2000.0)
    env = _envelope(n, 1, seed=3)
    runner, cues = _run(name, env, 16)
    again, cues_again = _run(name, env, 331)
    assert runner.results() == again.results() and cues == cues_again
    first = runner.results()["phases"][0]
    s, e = first["start_index"], first["end_index"]
    want = M.level_stats(env[s:e, 0])
    got = first["channels"][proto.phases[0].channels[0]]
    assert got["mean_uv"] == pytest.approx(want["mean_uv"], rel=1e-12)
    assert got["sd_uv"] == pytest.approx(want["sd_uv"], rel=1e-9)
    for goal in first["goals"]:
        level = first["goals_spec"][goal["goal"]]["level_uv"]
        col = env[s:e, 0]
        cond = col >= level if goal["type"] == "above" else col < level
        assert {k: goal[k] for k in ("in_zone_s", "in_zone_pct", "longest_s")} == \
            M.in_zone(cond, 2000.0)


def test_partial_results_part_way_through_a_long_phase():
    env = _envelope(round(load_protocol("resting_baseline").total_s * 2000.0), 1, seed=4)
    stop = 3 * A.BLOCK + 77
    runner, _ = _run("resting_baseline", env, 16, stop=stop)
    phase = runner.results()["phases"][0]
    assert not phase["completed"] and phase["end_index"] == stop
    ch = next(iter(phase["channels"].values()))
    assert ch["mean_uv"] == pytest.approx(M.level_stats(env[:stop, 0])["mean_uv"], rel=1e-12)


@pytest.mark.parametrize("case", ["noise", "ties", "negative", "constant", "tiny", "zeros",
                                  "wide"])
def test_sorted_blocks_give_numpys_percentiles_exactly(case):
    rng = np.random.default_rng(len(case))
    n = {"tiny": 3}.get(case, 3 * A.BLOCK + 555)
    x = {
        "noise": lambda: np.abs(rng.normal(10.0, 5.0, n)),
        "ties": lambda: np.round(rng.normal(10.0, 5.0, n)),
        "negative": lambda: rng.normal(0.0, 5.0, n),
        "constant": lambda: np.full(n, 7.25),
        "tiny": lambda: np.array([3.0, 1.0, 2.0]),
        "zeros": lambda: np.where(rng.random(n) < 0.5, 0.0, -0.0) + (rng.random(n) < 0.1),
        "wide": lambda: rng.lognormal(0.0, 12.0, n) * np.sign(rng.normal(size=n)),
    }[case]()
    x[::97] = np.nan
    env = x[:, None]
    for chunks in ([16], [1000, 7]):
        tot = _reduce(env, chunks)
        assert A.apdf(tot, 0) == M.apdf(env[:, 0])  # the same floats, not just close
    acc = A.SegmentMeasures(n, 1, 2000.0, apdf=True)
    acc.advance(env, n // 2)  # part-way: blocks so far and the unreduced tail
    assert A.apdf(acc.totals(env, n // 2), 0) == M.apdf(env[:n // 2, 0])
