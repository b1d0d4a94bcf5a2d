"""The benchmark command runs end to end and reports what it promises."""

from __future__ import annotations

import json

import pytest

from emgfeedback.cli import main


def test_bench_json_has_the_documented_keys_and_agrees_with_scipy(capsys):
    assert main(["bench", "--json", "--minutes", "0.02", "--repeats", "1",
                 "--engine-minutes", "0.1"]) == 0
    out, err = capsys.readouterr()
    result = json.loads(out)
    for key in ("numba_msps", "scipy_msps", "speedup"):
        assert result["offline"][key] > 0
    for key in ("numba_us", "scipy_us", "speedup"):
        assert result["block"][key] > 0
    assert result["offline"]["speedup"] == pytest.approx(
        result["offline"]["numba_msps"] / result["offline"]["scipy_msps"]
    )
    assert result["offline"]["scipy_variant"] in ("per-stage", "stacked")
    assert result["offline"]["scipy_msps"] == max(
        result["offline"]["scipy_per_stage_msps"], result["offline"]["scipy_stacked_msps"]
    )  # the faster SciPy variant is the one compared
    assert result["block"]["speedup_cpu"] > 0
    # Full-length arrays on both sides, and blocks into new arrays, are reported alongside.
    full = result["offline_full"]
    assert full["speedup"] == pytest.approx(full["numba_msps"] / full["scipy_msps"])
    assert full["scipy_msps"] <= result["offline"]["scipy_msps"]  # chunked SciPy counted too
    assert isinstance(result["offline"]["scipy_chunked"], bool)
    # SciPy chunked at our chunk size or 4x it, or whole (0): whichever was fastest.
    assert result["offline"]["scipy_chunk_samples"] in (0, 2048, 8192)
    assert result["offline"]["scipy_chunked"] == (result["offline"]["scipy_chunk_samples"] > 0)
    assert result["config"]["chunk_samples"] == 2048  # 16384 values at 8 channels
    assert result["block"]["speedup_fresh"] == pytest.approx(
        result["block"]["scipy_us"] / result["block"]["numba_fresh_us"])
    assert result["config"]["n_sections"] == 4 + 9  # default: harmonics up to 450 Hz
    assert result["max_abs_diff_filtered"] == 0.0  # bit-identical cascade
    assert result["max_abs_diff"] < 1e-6
    assert "bench:" in err  # progress on stderr, stdout stays pure JSON
    sweep = result["by_channels"]  # every channel count the targets name, each measured
    assert list(sweep) == ["1", "2", "4", "8", "16"]
    for n, entry in sweep.items():
        assert entry["offline"]["speedup"] > 0 and entry["block"]["speedup"] > 0, n
        assert entry["max_abs_diff_filtered"] == 0.0, n  # bit-identical at every count
        assert entry["kernel"] == "specialised", n
        assert entry["offline_full"]["speedup"] > 0 and entry["block"]["speedup_fresh"] > 0, n
    assert sweep["8"]["block"]["numba_us"] == result["block"]["numba_us"]  # headline reused
    engine = result["engine"]  # the engine's cost per chunk, every stage running
    assert engine["chunks"] == int(0.1 * 60 * 2000) // 16
    assert (engine["n_channels"], engine["fs_hz"], engine["chunk_samples"]) == (8, 2000.0, 16)
    assert 0 < engine["chunk_us_p50"] <= engine["chunk_us_p999"] <= engine["chunk_us_max"]
    assert engine["quality_windows"] >= 2  # 6 s of stream: quality ran on the engine
    assert engine["onsets"] > 0 and engine["cues"] > 0  # the detector and protocol ran


def test_bench_table_and_bad_option(capsys):
    args = ["bench", "--minutes", "0.01", "--repeats", "1", "--channels", "3",
            "--engine-minutes", "0.02"]
    assert main([*args, "--notch-max-hz", "inf"]) == 0
    out, _ = capsys.readouterr()
    assert "Msamples/s" in out and "3 channels" in out and "23 filter sections" in out
    assert "engine per chunk: 8 ch" in out and "p99.9" in out
    assert "    3  specialised" in out and "   16  specialised" in out  # the sweep's table
    assert main(["bench", "--minutes", "0"]) == 2
    assert "--minutes must be > 0" in capsys.readouterr().err
    assert main(["bench", "--minutes", "0.01", "--repeats", "1", "--engine-minutes", "-1"]) == 2
    assert "--engine-minutes must be >= 0" in capsys.readouterr().err
