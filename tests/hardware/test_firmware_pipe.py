"""The firmware in a simulated ATmega328P, UART to a pipe, decoded by the project's decoder.

Each run feeds the ADC inputs voltages from the project's simulator and checks that the
decoded stream holds every sample, with the value the ADC must have converted.
"""

from __future__ import annotations

import numpy as np
import pytest

from emgfeedback.acquisition import avrsim
from emgfeedback.acquisition.simulator import Simulator

START_S = 0.02  # when the test sends `b` (simulated seconds after reset)
RECORD_S = 2.0


def _input_mv(n_channels: int, fs_hz: int, n_rows: int, seed: int) -> np.ndarray:
    """Simulated MyoWare RAW voltages around a contraction, plus seeded random steps.

    Resting sEMG moves a 10-bit ADC by only 1-3 counts, which a swapped channel or a
    sample shifted by one period could match within 1 LSB; the ±400 mV steps make every
    sample of every channel distinct, so only the right channel at the right sample passes.
    """
    sim = Simulator(scenario="drill", n_channels=n_channels, fs_hz=float(fs_hz), seed=seed)
    onset = sim.truth.activations[0][0][0]
    sim.next_adc_mv(max(onset - fs_hz // 2, 0))
    emg = sim.next_adc_mv(n_rows)
    steps = np.random.default_rng(seed).uniform(-400.0, 400.0, size=emg.shape)
    return emg + steps


def _alignment(got: np.ndarray, expected: np.ndarray, max_offset: int) -> tuple[int, int, int]:
    """Best row offset of one channel: (offset, max error there, min max-error elsewhere)."""
    errors = [int(np.abs(got - expected[o:o + len(got)]).max()) for o in range(max_offset)]
    best = int(np.argmin(errors))
    others = errors[:best] + errors[best + 1:]
    return best, errors[best], min(others)


@pytest.mark.parametrize(
    ("board", "n_channels", "fs_hz"),
    [("uno", 4, 2000), ("nano", 8, 1000)],
    ids=["4ch-2kHz-uno", "8ch-1kHz-nano"],
)
def test_supported_config_streams_every_sample_exactly(board, n_channels, fs_hz, request,
                                                       harness, decode):
    elf = request.getfixturevalue(f"{board}_elf")
    n_rows = int((START_S + RECORD_S + 0.2) * fs_hz)
    mv = _input_mv(n_channels, fs_hz, n_rows, seed=3)
    sends = [(0.005, f"c{n_channels}\nf{fs_hz}\nk8\n?\n"), (START_S, "b\n"),
             (START_S + RECORD_S, "s\n")]
    run = decode(avrsim.run_pipe(elf, mv, rate_hz=fs_hz, seconds=START_S + RECORD_S + 0.05,
                                 sends=sends, harness=harness))

    assert [s["code"] for s in run.statuses()[:3]] == [3, 3, 3]
    info = run.infos()[-1]
    assert (info["ch"], info["fs"], info["k"], info["baud"]) == (n_channels, fs_hz, 8, 1_000_000)
    stopped = run.statuses(2)[-1]
    n = stopped["next_index"]
    assert abs(n - RECORD_S * fs_hz) <= 1
    assert stopped["tx_dropped"] == 0 and stopped["overruns"] == 0
    # the periodic status about once a second
    assert len(run.statuses(0)) == 2

    samples = run.samples
    assert samples.shape == (n, n_channels)
    assert run.blocks[0].first_index == 0 and run.lost == 0
    assert run.counters["crc_errors"] == 0 and run.counters["format_errors"] == 0
    assert run.counters["bytes_skipped"] == 0

    # Each conversion reads the input row of the sample period it falls into; the timer
    # starts when `b` arrives, so find that row per channel (the later channels of a
    # sample convert later, at most one period later) and demand every value within 1 LSB.
    expected = avrsim.adc_counts(mv)
    offsets = []
    for ch in range(n_channels):
        offset, error, other = _alignment(samples[:, ch], expected[:, ch],
                                          max_offset=int(0.1 * fs_hz))
        assert error <= 1, f"A{ch}: max error {error} LSB"
        assert other > 1, f"A{ch}: alignment not unique"
        offsets.append(offset)
    assert abs(offsets[0] - START_S * fs_hz) <= 2
    assert max(offsets) - min(offsets) <= 1


def _refusal(run) -> str:
    refused = run.statuses(4)
    assert refused, "expected a refusal (status code 4)"
    return refused[0]["message"]


@pytest.mark.parametrize(
    ("commands", "reason"),
    [
        ("c8\nf4000\n", "ADC"),   # 8 conversions do not fit in 250 us
        ("f4000\nk1\n", "UART"),  # 4 ch @ 4 kHz, a frame per sample: > 80% of the line
        ("c3\nf4000\nk1\n", "CPU"),  # UART fits, but a frame per sample costs too much
        ("c9\n", "channels"),
        ("f3000\n", "whole number"),
        ("k31\n", "k: 1..30"),
    ],
)
def test_over_budget_config_is_refused_with_a_reason(commands, reason, nano_elf, harness,
                                                     decode):
    cmd_lines = commands.strip().split("\n")
    run = decode(avrsim.run_pipe(nano_elf, None, seconds=0.3, harness=harness,
                                 sends=[(0.005, commands + "?\n"), (0.05, "b\n")]))
    assert reason in _refusal(run)
    # the accepted part of the sequence is kept and the device streams with it
    assert len(run.statuses(3)) + len(run.statuses(4)) == len(cmd_lines)
    assert len(run.samples) > 0 and run.lost == 0


def test_config_is_refused_while_running(uno_elf, harness, decode):
    run = decode(avrsim.run_pipe(uno_elf, None, seconds=0.2, harness=harness,
                                 sends=[(0.01, "b\n"), (0.05, "f1000\n"), (0.1, "s\nf1000\n")]))
    assert [s["message"] for s in run.statuses(4)] == ["running"]
    assert len(run.statuses(3)) == 1


def test_unknown_commands_get_status_5(uno_elf, harness, decode):
    run = decode(avrsim.run_pipe(uno_elf, None, seconds=0.05, harness=harness,
                                 sends=[(0.005, "x\n"), (0.01, "b" * 20 + "\n")]))
    messages = [s["message"] for s in run.statuses(5)]
    assert len(messages) == 2 and "'x'" in messages[0] and "too long" in messages[1]
    assert run.statuses(1) == []  # the long line of b's did not start anything


def test_stop_start_continues_the_index_and_a_new_rate_restarts_it(uno_elf, harness, decode):
    run = decode(avrsim.run_pipe(uno_elf, None, seconds=0.5, harness=harness, sends=[
        (0.01, "b\n"), (0.11, "s\n"), (0.2, "b\n"), (0.3, "s\n"), (0.35, "f1000\n?\n"),
        (0.4, "b\n"), (0.45, "s\n")]))
    stops = [s["next_index"] for s in run.statuses(2)]
    assert abs(stops[0] - 200) <= 1 and abs(stops[1] - stops[0] - 200) <= 1
    assert abs(stops[2] - 50) <= 1  # f1000 started a new stream at index 0
    assert run.counters["index_restarts"] == 1 and run.lost == 0
    assert len(run.samples) == stops[1] + stops[2]


@pytest.mark.parametrize(
    ("baud", "commands", "counter"),
    [(250_000, "c8\nf2000\n?\n", "tx_dropped"),  # 35 kB/s for a 25 kB/s line
     (1_000_000, "c8\nf4000\n?\n", "overruns")],   # 8 conversions take longer than 250 us
    ids=["uart", "adc"],
)
def test_overload_shows_up_as_counted_gaps_never_silent(baud, commands, counter, avr_build_dir,
                                                        harness, decode):
    # A firmware built with the budget checks disabled accepts what the real one refuses;
    # every sample it could not take or send must reach the host as an index gap, and the
    # host's count must agree with the device's own counters.
    elf = avrsim.build_firmware("nano", baud=baud, build_dir=avr_build_dir / f"unchecked-{baud}",
                                extra_cflags="-Werror -DEMGF_UNCHECKED_BUDGETS=1")
    run = decode(avrsim.run_pipe(elf, None, seconds=0.35, harness=harness,
                                 sends=[(0.005, commands), (0.05, "b\n"), (0.3, "s\n")]))
    stopped = run.statuses(2)[-1]
    assert stopped[counter] > 0
    assert run.lost > 0
    assert run.counters["crc_errors"] == 0 and run.counters["format_errors"] == 0
    last = run.blocks[-1]
    after_last = stopped["next_index"] - (last.first_index + len(last.samples))
    assert 0 <= after_last <= 8  # only the very end can be lost without a later frame
    assert run.blocks[0].first_index == 0
    assert len(run.samples) + run.lost + after_last == stopped["next_index"]
    device_lost = stopped["overruns"] + 8 * stopped["tx_dropped"]  # k = 8: whole frames
    assert run.lost + after_last == device_lost


@pytest.mark.parametrize(("n_channels", "fs_hz", "k"), [
    (1, 8000, 2),    # 1 ch, 8 kHz, small frames: CPU-heavy
    (2, 4000, 1),    # a frame per sample, 64 kB/s
    (4, 4000, 8),    # 4 ch, 4 kHz
    (8, 2500, 8),    # 8 ch, 2.5 kHz: ADC near its limit
    (6, 2000, 20),   # 6 ch (all of an Arduino Shield), long frames
    (2, 100, 4),     # a slow rate: timer1 runs from the /8 prescaler
])
def test_every_accepted_config_near_the_limits_streams_without_loss(n_channels, fs_hz, k,
                                                                     nano_elf, harness, decode):
    run = decode(avrsim.run_pipe(nano_elf, None, seconds=0.45, harness=harness, sends=[
        (0.005, f"c{n_channels}\nf{fs_hz}\nk{k}\n?\n"), (0.05, "b\n"), (0.4, "s\n")]))
    assert run.statuses(4) == [], run.statuses(4)
    stopped = run.statuses(2)[-1]
    assert stopped["tx_dropped"] == 0 and stopped["overruns"] == 0
    assert abs(stopped["next_index"] - 0.35 * fs_hz) <= 1  # the timer runs at fs_hz
    assert run.lost == 0 and len(run.samples) == stopped["next_index"]
    assert run.samples.shape[1] == n_channels
    assert run.counters["crc_errors"] == 0 and run.counters["bytes_skipped"] == 0
