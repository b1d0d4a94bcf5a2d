"""Board matrix: every registered board × every output its sensor offers, end to end.

For each case the simulator (``sim://?board=B&output=K``, drill scenario, identical
repetitions) runs through the real path the user's data takes:

    sim:// source → Engine (Processor: chain chosen by output kind) → SessionStore (SQLite)
    → ``emgfeedback analyze DB --session ID --json``

and the live feedback values (the engine's envelope, what the bars show) and the analysis
of the stored session must give back the simulator's ground truth:

* **contraction**: the live envelope's mean over each plateau, and ``analyze``'s APDF p90
  (the level exceeded 10 % of the time; 40 % of this run is contraction, so it sits on the
  plateaus), within ±TOLERANCE (15 %) of the truth's plateau level
  (:meth:`GroundTruth.active_level_uv`);
* **rest**: the live envelope's RMS over rest and ``analyze``'s resting tone within ±15 %
  of the truth's rest level (:meth:`GroundTruth.rest_level_uv`: the notched band for
  RAW/µV, band plus hum for RECT/ENV, which cannot be notched), *where the board resolves
  it*. Where it does not (RAW/RECT: rest below twice the channel's floor, the analysis'
  own validity rule; ENV: half a quantisation step, the largest rounding error of a smooth
  envelope, above 15 % of the rest level), ``analyze`` must flag the tone as not a
  measurement (or still measure it to within the tolerance or one ADC step) and the live
  rest must not read above the floor-limited level;
* the onset detector finds each contraction, live and in ``analyze`` (extra detections are
  not counted here: at 500 Hz the detector adds one after some offsets, on RAW as on ENV,
  and a coarse ENV step at rest can trip it; that is the detector's business, not the
  chain's); quality reports the
  channel's output kind, runs no mains check on RECT/ENV, and raises no clipping or
  electrode-off flag on this clean signal.

A board added to the registry is covered automatically.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from emgfeedback.acquisition import open_source
from emgfeedback.acquisition.boards import BOARDS, RMS_PER_ARV
from emgfeedback.cli import main
from emgfeedback.runtime import Engine, Processor, default_pipeline_config
from emgfeedback.storage import SessionMeta, SessionStore

#: Relative tolerance on every level compared with the simulator's truth.
TOLERANCE = 0.15
#: Stream length: rest, contraction (4.25-7.25 s), rest, contraction (11.25-14.25 s).
SECONDS = 15.0
#: Envelope settling excluded at the start of each plateau (moving RMS + ENV low-pass), s.
PLATEAU_SETTLE_S = 0.3
#: A detected onset counts as the contraction's if it is at most this late, s.
ONSET_LATE_S = 0.25
#: Rest is taken this far from any activation of the channel, and after the stream start, s.
REST_MARGIN_S = 1.0

CASES = [(name, kind) for name, board in sorted(BOARDS.items()) for kind in board.sensor.gains]


def _url(board: str, kind: str) -> str:
    return (f"sim://?board={board}&output={kind}&channels=2&scenario=drill&seed=4"
            f"&variation=0&pace=fast&seconds={SECONDS:g}")


def _record(db, url):
    """Run the source through the engine into the store; return what the user would see."""
    source = open_source(url)
    source.open()
    info = source.info
    n = int(round(SECONDS * info.fs_hz))
    live = np.full((n, info.n_channels), np.nan)
    onsets = []

    def collect(processed):
        a = processed.chunk.first_index
        live[a:a + len(processed.envelope_uv)] = processed.envelope_uv
        onsets.extend(e for e in processed.onsets if e.kind == "on")

    with SessionStore(db) as store:
        session = store.create_session(SessionMeta(
            fs_hz=float(info.fs_hz), channel_names=tuple(info.channel_names),
            calibration=tuple(info.calibration), board=info.board, source_url=url))
        writer = store.open_writer(session)
        engine = Engine(source, processor_factory=lambda i: Processor(
            i, default_pipeline_config(i.fs_hz, 50.0), mains_hz=50.0),
            writer=writer, stop_after_s=SECONDS)
        engine.add_listener(collect)
        try:
            engine.run_to_end()
        finally:
            writer.close(status="complete")
    return info, live, onsets, engine.snapshot(), session


def _analyze(db, session, capsys) -> dict:
    capsys.readouterr()
    assert main(["analyze", str(db), "--session", str(session), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _resolves_rest(cal, rest_uv: float) -> bool:
    """Whether the channel's ADC can measure ``rest_uv`` to the tolerance (see module doc)."""
    if cal.output == "env":
        return 0.5 * cal.uv_per_count * RMS_PER_ARV <= TOLERANCE * rest_uv
    return rest_uv >= 2.0 * cal.wideband_floor_uv


def _close(measured: float, truth: float) -> bool:
    return measured is not None and abs(measured - truth) <= TOLERANCE * truth


@pytest.mark.parametrize(("board", "kind"), CASES, ids=[f"{b}-{k}" for b, k in CASES])
def test_truth_comes_back_live_and_through_the_store(board, kind, tmp_path, capsys):
    db = tmp_path / "matrix.sqlite"
    info, live, live_onsets, snapshot, session = _record(db, _url(board, kind))
    truth = info.extra["truth"]
    fs = info.fs_hz
    n = live.shape[0]
    assert not np.isnan(live).any(), "every sample reached the live envelope"
    assert [c.output for c in info.calibration] == [kind, kind]
    np.testing.assert_array_equal(snapshot.envelope_uv, live[-1])
    assert [q["output"] for q in snapshot.quality] == [kind, kind]
    result = _analyze(db, session, capsys)

    for c, cal in enumerate(info.calibration):
        where = f"{board} {kind} ch{c}"
        spans = [(on, off, k) for k, (on, off) in enumerate(truth.activations[c]) if off <= n]
        assert len(spans) == 2, where
        # Contraction: mean live envelope over each plateau vs the truth's plateau level.
        live_levels, truth_levels = [], []
        for on, off, k in spans:
            rise, fall = truth.ramps[c][k]
            a, b = on + rise + int(PLATEAU_SETTLE_S * fs), off - fall
            live_levels.append(float(np.mean(live[a:b, c])))
            truth_levels.append(truth.active_level_uv(c, truth.amplitudes_uv[c][k]))
        active = float(np.mean(truth_levels))
        assert _close(float(np.mean(live_levels)), active), \
            f"{where}: live contraction {live_levels} µV vs truth {active:.1f} µV"

        rest_mask = np.ones(n, dtype=bool)
        rest_mask[:int(REST_MARGIN_S * fs)] = False
        for on, off, _ in spans:
            rest_mask[max(on - int(REST_MARGIN_S * fs), 0):off + int(REST_MARGIN_S * fs)] = False
        live_rest = math.sqrt(float(np.mean(live[rest_mask, c] ** 2)))
        rest = truth.rest_level_uv(c)

        ch = result["channels"][c]
        assert ch["output"] == kind
        assert _close(ch["apdf_p90_uv"], active), \
            f"{where}: analyze p90 {ch['apdf_p90_uv']} µV vs truth {active:.1f} µV"
        live_on_s = [e.index / fs for e in live_onsets if e.channel == c]
        for on, _off, _k in spans:
            # Each contraction is found, live and in analyze. ENV onsets may come late by
            # the sensor's envelope low-pass, never early.
            for found, path in ((live_on_s, "live"), (ch["onsets_s"], "analyze")):
                assert any(-0.05 <= t - on / fs <= ONSET_LATE_S for t in found), \
                    f"{where}: {path} onsets {found} s miss the contraction at {on / fs:.3f} s"

        if _resolves_rest(cal, rest):
            assert _close(live_rest, rest), \
                f"{where}: live rest {live_rest:.2f} µV vs truth {rest:.2f} µV"
            assert ch["tone_valid"], f"{where}: {ch['tone_note']}"
            assert _close(ch["resting_tone_uv"], rest), \
                f"{where}: analyze tone {ch['resting_tone_uv']} µV vs truth {rest:.2f} µV"
        else:
            bound = math.hypot(rest, 2.0 * cal.wideband_floor_uv, cal.uv_per_count)
            assert live_rest <= (1 + TOLERANCE) * bound, \
                f"{where}: live rest {live_rest:.2f} µV above the floor-limited {bound:.2f}"
            # Flagged as not a measurement, or right to within one ADC step.
            step = cal.uv_per_count * (RMS_PER_ARV if kind == "env" else 1.0)
            assert not ch["tone_valid"] or (
                abs(ch["resting_tone_uv"] - rest) <= max(TOLERANCE * rest, step)), \
                f"{where}: tone {ch['resting_tone_uv']} µV passed as valid, truth {rest:.2f}"

        q = ch["quality"]
        assert q["output"] == kind
        assert ("mains" in q["checks"]) == (kind in ("raw", "uv"))
        assert not {"clipping", "electrode_off"} & set(q["flags"]), f"{where}: {q['flags']}"


def test_every_board_and_output_is_in_the_matrix():
    """The matrix is built from the registry: each board with each output of its sensor."""
    assert {b for b, _ in CASES} == set(BOARDS)
    assert ("uno-myoware2-env", "env") in CASES and ("uno-myoware2", "rect") in CASES
    assert all(k in ("raw", "rect", "env", "uv") for _, k in CASES)
