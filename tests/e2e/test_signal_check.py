"""The signal check (#20) as users run it: the real CLI on the simulator, a pty device, a store.

Every fault is produced by the simulator (``sim://?fault=...``) or ``simulate-device
--signal-fault``, on the last channel, and the check must name it with the right grade,
while the clean channel next to it stays ``good``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from emgfeedback.cli import main

CLI = [sys.executable, "-m", "emgfeedback"]
#: A clean set-up: 12-bit board (4 µV per count), 0.5 µV of hum, no fault.
CLEAN = "sim://?scenario=check&channels=2&pace=fast&board=esp32-myoware2&hum=0.5"


def check_json(capsys, url: str, *extra: str) -> tuple[int, dict]:
    code = main(["check", "--source", url, "--json", *extra])
    out = capsys.readouterr().out
    return code, json.loads(out)


def problems(channel: dict) -> dict[str, dict]:
    return {r["code"]: r for r in channel["reasons"] if r["severity"] != "info"}


def test_clean_signal_is_good_with_contraction_measured(capsys):
    code, check = check_json(capsys, CLEAN, "--contraction")
    assert code == 0
    assert check["grade"] == "good" and check["contraction"] is True
    for ch in check["channels"]:
        assert ch["grade"] == "good", ch["reasons"]
        assert problems(ch) == {}
        assert ch["measures"]["snr_db"] > 15
        assert ch["measures"]["tone_valid"] is True


@pytest.mark.parametrize("fault, code, grade, words", [
    ("off", "off", "not usable", "electrode off"),
    ("rail", "rail", "not usable", "stuck at full scale (4095)"),
    ("flat", "flat", "not usable", "flat line"),
    ("drift", "drift", "usable", "baseline drifts"),
    ("hum", "mains", "usable", "heavy mains hum at 50 Hz"),
])
def test_each_fault_is_named_on_its_channel(capsys, fault, code, grade, words):
    status, check = check_json(capsys, f"{CLEAN}&fault={fault}", "--contraction")
    clean, faulty = check["channels"]
    assert clean["grade"] == "good", clean["reasons"]
    found = problems(faulty)
    assert list(found) == [code], faulty["reasons"]
    assert words in found[code]["verdict"]
    assert found[code]["action"]
    assert faulty["grade"] == grade and check["grade"] == grade
    assert status == (1 if grade == "not usable" else 0)


def test_ecg_is_named_on_every_channel(capsys):
    _, check = check_json(capsys, f"{CLEAN}&fault=ecg", "--contraction")
    for ch in check["channels"]:
        assert list(problems(ch)) == ["ecg"]
        assert ch["grade"] == "usable"
        assert 60 <= ch["measures"]["ecg_rate_bpm"] <= 85  # the simulator's 72/min ± 4 %


def test_a_board_too_coarse_for_the_muscle(capsys):
    # Uno + MyoWare RAW: 24.4 µV per count against a 3-4.5 µV resting tone.
    url = CLEAN.replace("esp32-myoware2", "uno-myoware2")
    _, check = check_json(capsys, url, "--contraction")
    for ch in check["channels"]:
        found = problems(ch)
        assert list(found) == ["floor"], ch["reasons"]
        assert "cannot resolve this muscle's resting tone" in found["floor"]["verdict"]
        assert found["floor"]["action"] == "use RAW with a 12-bit ADC, or ENV"
        assert ch["grade"] == "usable"
    # ENV on the same Uno resolves it (gain 10,200: 0.48 µV per count).
    _, env = check_json(capsys, CLEAN.replace("esp32-myoware2", "uno-myoware2-env"),
                        "--contraction")
    assert env["grade"] == "good"
    output = next(r for r in env["channels"][0]["reasons"] if r["code"] == "output")
    assert "potentiometer" in output["verdict"] and "10,200" in output["verdict"]


def test_clipping_during_the_contraction(capsys):
    # A contraction 75 dB over rest drives a gain-200 RAW channel into both rails.
    _, check = check_json(capsys, f"{CLEAN}&snr=75", "--contraction")
    for ch in check["channels"]:
        found = problems(ch)
        assert "clipping_contraction" in found
        assert ch["grade"] == "not usable"


def test_no_terminal_skips_the_contraction(capsys):
    code, check = check_json(capsys, CLEAN)
    assert code == 0 and check["contraction"] is False
    for ch in check["channels"]:
        assert "snr_db" not in ch["measures"]
        assert any(r["code"] == "contraction_skipped" for r in ch["reasons"])


def test_text_output_shows_placements_and_actions(capsys):
    code = main(["check", "--source", f"{CLEAN}&fault=off", "--no-contraction",
                 "--protocol", "dissociation_glute_med"])
    out = capsys.readouterr().out
    assert code == 1
    assert "Where the electrodes go" in out
    assert "gluteus medius" in out and "tensor fasciae latae" in out
    assert re.search(r"top of the iliac crest o-+\[\+\+\]-+o greater trochanter", out)
    assert "NOT USABLE" in out and "→ press the electrodes on" in out


def test_protocol_needs_enough_channels(capsys):
    url = CLEAN.replace("channels=2", "channels=1")
    code = main(["check", "--source", url, "--protocol", "dissociation_glute_med"])
    err = capsys.readouterr().err
    assert code == 2 and "uses 2 channels but the source has 1" in err
    assert "Traceback" not in err


def test_pty_device_with_a_lifted_electrode(tmp_path):
    """simulate-device on a pty, check over serial:// in another process."""
    dev = subprocess.Popen([*CLI, "simulate-device", "--channels", "2", "--board",
                            "esp32-myoware2", "--scenario", "check", "--hum", "0.5",
                            "--signal-fault", "off", "--seconds", "120"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        path = dev.stdout.readline().strip()
        assert path, dev.stderr.read()
        done = subprocess.run([*CLI, "check", "--source",
                               f"serial://{path}?framing=emgf&board=esp32-myoware2", "--json",
                               "--contraction"], capture_output=True, text=True, timeout=120)
    finally:
        dev.terminate()
        dev.wait(30)
    assert done.returncode == 1, done.stderr
    check = json.loads(done.stdout)
    clean, faulty = check["channels"]
    assert clean["grade"] == "good", clean["reasons"]
    assert clean["measures"]["snr_db"] > 15  # the sim contracts when the check asks
    assert list(problems(faulty)) == ["off"]


def test_every_wiring_placement_is_known():
    from emgfeedback.analysis.placements import PLACEMENTS, placement_for

    wiring = (Path(__file__).parents[2] / "hardware" / "WIRING.md").read_text()
    rows = re.findall(r"^\| [^|]+ \| \*\*([^*]+)\*\*", wiring, flags=re.M)
    assert len(rows) >= 10
    muscles = {p.muscle for p in PLACEMENTS}
    for row in rows:
        name = row.split(":")[0].split("(")[0].strip()
        assert placement_for(name) is not None, name
    assert placement_for("glute_med_l").muscle == "gluteus medius"
    assert placement_for("upper_trap_r").muscle == "upper trapezius"
    assert placement_for("lower trap").muscle == "lower trapezius"
    assert placement_for("quadratus_lumborum") is None
    assert "masseter" in muscles


@pytest.mark.parametrize("answer, done", [("\n", True), ("n\n", False)])
def test_on_a_terminal_the_contraction_is_asked_for(answer, done):
    """stdin and stderr on a pty (a terminal): check asks; Enter means yes."""
    import os
    import select
    import time

    master, slave = os.openpty()
    try:
        proc = subprocess.Popen([*CLI, "check", "--source", CLEAN, "--json"], stdin=slave,
                                stderr=slave, stdout=subprocess.PIPE, text=True)
        seen, deadline = b"", time.monotonic() + 120
        while b"[Y/n]" not in seen and time.monotonic() < deadline:
            if select.select([master], [], [], 1.0)[0]:
                seen += os.read(master, 4096)
        assert b"Do a short test contraction after the rest? [Y/n]" in seen
        os.write(master, answer.encode())
        while proc.poll() is None and time.monotonic() < deadline:
            # Keep reading the terminal: a full pty buffer would block the progress bar.
            if select.select([master], [], [], 0.2)[0]:
                os.read(master, 4096)
        out, _ = proc.communicate(timeout=60)
    finally:
        os.close(slave)
        os.close(master)
    check = json.loads(out)
    assert check["contraction"] is done
    assert ("snr_db" in check["channels"][0]["measures"]) is done


def test_unknown_fault_is_a_clear_error(capsys):
    assert main(["check", "--source", "sim://?fault=lifted"]) == 2
    err = capsys.readouterr().err
    assert "unknown fault 'lifted'" in err and "off, rail, flat, drift, hum, ecg" in err
    from emgfeedback.acquisition.simulator import Simulator

    truth = Simulator("check", 2, faults="drift,off").truth
    faults = [a for a in truth.artefacts if a["kind"] == "fault"]
    assert [(a["fault"], a["channels"]) for a in faults] == [("off", (1,)), ("drift", (1,))]
