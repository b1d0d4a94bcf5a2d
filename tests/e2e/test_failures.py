"""Failures are data (#13.1, #13.3, #13.4): a silent board, an unplug, a replug at another
path, a full database and stop signals, through the real CLI, real ptys, real SQLite.

Each scenario must leave a session that says what happened (status ``incomplete`` with its
reason, a gap with its cause, alarm markers), print it, and exit with the documented status
(``emgfeedback.commands._common.EXIT_CODES``). On b47e085 every one of them was reported as
a ``complete`` session, "lost 0", exit 0 (or, for SIGTERM, no summary at all).

Nothing here races the wall clock: the device's faults are timed from the host's first open
and the assertions are about what was stored, not about when; waits poll a condition with a
generous deadline.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from emgfeedback.acquisition.virtual_device import Faults, VirtualDevice
from emgfeedback.cli import main
from emgfeedback.commands._common import (
    EXIT_CODES,
    EXIT_INCOMPLETE,
    EXIT_OK,
    EXIT_SIGNAL_BASE,
    EXIT_STORAGE,
)
from emgfeedback.storage import SessionStore

FS = 1000.0


def record_args(url: str, db, seconds: float, *more: str) -> list[str]:
    return [sys.executable, "-m", "emgfeedback", "record", "--source", url, "--seconds",
            str(seconds), "--db", str(db), *more]


def start_record(url: str, db, seconds: float, *more: str) -> subprocess.Popen:
    """Start ``emgfeedback record`` as a user would."""
    return subprocess.Popen(record_args(url, db, seconds, *more), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout_s: float = 120.0) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout_s)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out, err


def session_of(out: str) -> int:
    return int(out.strip().splitlines()[-1])


def marker_kinds(store, sid) -> list[str]:
    return [m.kind for m in store.markers(sid)]


def wait_for(condition, deadline_s: float = 90.0, what: str = "condition", proc=None):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the command ended before {what}: {proc.communicate()}")
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached within {deadline_s} s")


def query(db, sql: str) -> int:
    """One number from the database, read-only (0 while it does not exist yet)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            return int(conn.execute(sql).fetchone()[0] or 0)
    except sqlite3.Error:
        return 0


def stored_samples(db) -> int:
    return query(db, "SELECT coalesce(sum(n_samples), 0) FROM chunks")


def has_marker(db, kind: str) -> bool:
    return query(db, f"SELECT count(*) FROM markers WHERE kind = '{kind}'") > 0


def check_short_session(db, sid, asked: int, cause: str) -> int:
    """The session holds what arrived; the rest of what was asked is a gap with ``cause``."""
    with SessionStore(db) as store:
        meta = store.session(sid)
        gaps = store.gaps(sid)
        stored = store.sample_count(sid)
        kinds = marker_kinds(store, sid)
    assert (meta.status, meta.end_reason) == ("incomplete", cause)
    assert stored >= 200
    assert gaps and gaps[-1].cause == cause
    assert stored + sum(g.n_samples for g in gaps) == asked
    assert f"alarm:{cause}" in kinds and f"end:{cause}" in kinds
    return stored


def record_with_fault(tmp_path, faults: Faults, framing: str = "emgf", seconds: float = 600,
                      give_up_s: float = 2.0, link: bool = False):
    """Record from a virtual board; once samples are stored, inject ``faults``; returns
    ``(device, returncode, stdout, stderr, db)``."""
    device = VirtualDevice(framing=framing, channels=2, fs_hz=FS, reset_on_open=False,
                           link=str(tmp_path / "board") if link else None).start()
    db = tmp_path / "s.sqlite"
    try:
        proc = start_record(f"serial://{device.path}?framing={framing}&reset_wait=0.2&"
                            "channels=2", db, seconds, "--give-up", str(give_up_s))
        wait_for(lambda: stored_samples(db) >= 200, what="samples stored", proc=proc)
        device.faults = faults  # the device applies it at once (fault times are past)
        code, out, err = finish(proc)
    finally:
        device.stop()
    return device, code, out, err, db


# ----------------------------------------------------------------------------- the board


@pytest.mark.timeout(240)
def test_unplugged_for_good_ends_early_incomplete_with_the_rest_a_gap(tmp_path):
    _, code, out, err, db = record_with_fault(tmp_path, Faults(unplug_after_s=0.0), link=True)
    assert code == EXIT_INCOMPLETE, err
    sid = session_of(out)
    check_short_session(db, sid, asked=600_000, cause="unplug")
    assert "alarm:" in err and "disconnected" in err
    assert f"session {sid} is incomplete (unplug)" in err
    assert "lost 0 " not in err


@pytest.mark.timeout(240)
@pytest.mark.parametrize("framing", ["emgf", "text"])
def test_a_board_that_goes_silent_ends_early_with_a_no_data_gap(tmp_path, framing):
    _, code, out, err, db = record_with_fault(tmp_path, Faults(pauses=((0.0, 1e6),)),
                                              framing=framing)
    assert code == EXIT_INCOMPLETE, err
    sid = session_of(out)
    check_short_session(db, sid, asked=600_000, cause="no_data")
    assert "alarm: no samples for" in err
    assert f"session {sid} is incomplete (no_data)" in err


@pytest.mark.timeout(240)
def test_a_replug_at_another_path_is_an_unplug_that_ends_the_session(tmp_path):
    # The host opens the board as "ttyACM0"; it comes back as another pty and the old name
    # is gone (as /dev/ttyACM0 -> /dev/ttyACM1). Without a USB identity (a pty has none) the
    # host cannot know the new port is the board: it is an unplug for good.
    device = VirtualDevice(framing="emgf", channels=2, fs_hz=FS, reset_on_open=False).start()
    name = tmp_path / "ttyACM0"
    name.symlink_to(device.path)
    db = tmp_path / "s.sqlite"
    try:
        proc = start_record(f"serial://{name}?framing=emgf&reset_wait=0.2", db, 600,
                            "--give-up", "2")
        wait_for(lambda: stored_samples(db) >= 200, what="samples stored", proc=proc)
        name.unlink()  # first, so a pty number reused by another process is never opened
        device.faults = Faults(unplug_after_s=0.0, replug_after_s=0.2, new_path=True)
        wait_for(lambda: len(device.log.paths) >= 2, what="the replug", proc=proc)
        code, out, err = finish(proc)
    finally:
        device.stop()
    assert device.log.paths[-1] != device.log.paths[0]
    assert code == EXIT_INCOMPLETE, err
    check_short_session(db, session_of(out), asked=600_000, cause="unplug")


@pytest.mark.timeout(240)
def test_a_silence_that_ends_is_marked_and_the_session_completes(tmp_path):
    # The board falls silent once samples are stored (the host reads it), 7+ s of signal
    # before the recording could end; the recording counts stored samples, so the silence
    # itself never shortens it.
    device = VirtualDevice(framing="emgf", channels=2, fs_hz=FS, reset_on_open=False).start()
    db = tmp_path / "s.sqlite"
    try:
        proc = start_record(f"serial://{device.path}?framing=emgf&reset_wait=0.2", db, 8,
                            "--give-up", "120")
        wait_for(lambda: stored_samples(db) >= 200, what="samples stored", proc=proc)
        device.faults = Faults(pauses=((0.0, 1e6),))
        wait_for(lambda: has_marker(db, "alarm:no_data"), what="the no-data alarm", proc=proc)
        device.faults = Faults()  # the board talks again
        code, out, err = finish(proc)
    finally:
        device.stop()
    assert code == EXIT_OK, err
    sid = session_of(out)
    with SessionStore(db) as store:
        meta = store.session(sid)
        kinds = marker_kinds(store, sid)
        gaps = store.gaps(sid)
        stored = store.sample_count(sid)
    assert meta.status == "complete" and meta.end_reason is None
    assert stored == 8_000
    assert kinds.index("alarm:no_data") < kinds.index("event:data_resumed")
    assert sum(g.n_samples for g in gaps) >= 1000  # the silent second at least is a gap
    assert gaps[0].start_index >= 200  # samples came before the silence
    assert "alarm: no samples for" in err and "samples are arriving again" in err


@pytest.mark.timeout(120)
def test_capture_json_counts_the_unplug_and_the_time_without_data(tmp_path):
    device = VirtualDevice(framing="emgf", channels=2, fs_hz=FS, reset_on_open=False,
                           link=str(tmp_path / "board")).start()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "emgfeedback", "capture", "--source",
             f"serial://{device.path}?framing=emgf&reset_wait=0.2", "--seconds", "8",
             "--json", "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for(lambda: device.log.samples_sent >= 500, what="streaming", proc=proc)
        device.faults = Faults(unplug_after_s=0.0)
        code, out, err = finish(proc)
    finally:
        device.stop()
    assert out.strip(), f"exit {code}: {err}"
    summary = json.loads(out)
    assert code == 0, err
    assert summary["unplugs"] == 1
    assert summary["state"] == "reconnecting"
    assert summary["no_data_s"] > 0
    assert summary["samples"] > 0


# ----------------------------------------------------------------------------- storage


def limit_database(monkeypatch, extra_pages: int) -> None:
    """Cap every writer's database at its size now + ``extra_pages`` pages: SQLite itself then
    fails with SQLITE_FULL ("database or disk is full"), as on a full disk."""
    from emgfeedback.storage import store as store_module

    real = store_module.SessionStore.open_writer

    def open_writer(self, session_id, **options):
        pages = self.conn.execute("PRAGMA page_count").fetchone()[0]
        return real(self, session_id, max_pages=pages + extra_pages, **options)

    monkeypatch.setattr(store_module.SessionStore, "open_writer", open_writer)


@pytest.mark.timeout(120)
def test_a_full_database_is_a_storage_gap_an_incomplete_session_and_exit_4(
        tmp_path, monkeypatch, capsys):
    limit_database(monkeypatch, extra_pages=12)
    db = tmp_path / "s.sqlite"
    code = main(["record", "--source", "sim://?channels=8&fs=2000&seed=2", "--seconds", "3",
                 "--db", str(db)])
    out, err = capsys.readouterr()
    assert code == EXIT_STORAGE, err
    sid = int(out.strip().splitlines()[-1])
    assert "alarm: session store" in err and "full" in err  # shown while it happened
    assert "received 6000 samples" in err  # acquisition went on to the end
    assert f"session {sid} is incomplete (storage)" in err
    with SessionStore(db) as store:
        meta = store.session(sid)
        gaps = store.gaps(sid)
        stored = store.sample_count(sid)
        kinds = marker_kinds(store, sid)
    assert (meta.status, meta.end_reason) == ("incomplete", "storage")
    assert 0 < stored < 6000
    assert {g.cause for g in gaps} == {"storage"}
    assert stored + sum(g.n_samples for g in gaps) == 6000
    assert f"not stored: {6000 - stored} samples" in err
    del kinds  # the alarm marker itself may not fit in a full database


def test_exit_codes_are_in_every_recording_commands_help(capsys):
    for command in ("record", "baseline", "run"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        assert "exit status:" in text
        for code in EXIT_CODES:
            assert f"  {code:>3}  " in text, (command, code)


# ----------------------------------------------------------------------------- signals


@pytest.mark.timeout(180)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_stop_signals_end_the_recording_like_ctrl_c(tmp_path, signum):
    db = tmp_path / "s.sqlite"
    # The child starts with the signal's default action whatever this process inherited:
    # a suite started in the background by a non-interactive shell ignores SIGINT, and a
    # signal ignored at start rightly stays ignored (the nohup test below).
    proc = subprocess.Popen(
        [sys.executable, "-m", "emgfeedback", "record", "--source",
         "sim://?channels=2&fs=2000", "--seconds", "600", "--db", str(db)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signum, signal.SIG_DFL))
    try:
        wait_for(lambda: stored_samples(db) >= 400, 90, "samples in the database")
        os.kill(proc.pid, signum)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == EXIT_SIGNAL_BASE + signum, err
    sid = int(out.strip().splitlines()[-1])
    name = signal.Signals(signum).name
    label = "Ctrl-C (SIGINT)" if name == "SIGINT" else name
    with SessionStore(db) as store:
        meta = store.session(sid)
        stored = store.sample_count(sid)
    assert (meta.status, meta.end_reason) == ("incomplete", f"stopped by {label}")
    assert stored >= 400
    assert f"stopped by {label}: session {sid} kept, {stored} samples" in err
    assert "Traceback" not in err


# ----------------------------------------------------------------------------- the GUI


@pytest.fixture
def window(make_window):
    """Main windows offscreen, settings in a temporary folder, always shut down (the shared
    ``make_window`` of tests/conftest.py)."""
    return make_window


@pytest.mark.timeout(120)
def test_gui_shows_a_storage_failure_at_once_and_keeps_the_live_view(
        qtbot, window, tmp_path, monkeypatch):
    limit_database(monkeypatch, extra_pages=12)
    db = tmp_path / "s.sqlite"
    win = window("sim://?channels=8&fs=2000&seed=4", db_path=db)
    win.show()
    win.start()
    sid = win.session.start_recording(db)
    qtbot.waitUntil(lambda: "Storage failing" in win.status.banner.text(), timeout=60000)
    assert win.status.banner.isVisible()
    assert "full" in win.status.banner.text()
    assert "STORAGE FAILING" in win.status.recording.text()
    # The live view goes on: samples keep arriving and the status keeps refreshing.
    before = win.session.engine.health.samples_in
    qtbot.waitUntil(lambda: win.session.engine.health.samples_in > before + 4000,
                    timeout=60000)
    alarms = [e.kind for e in win.session.alarms_since(0)[0]]
    assert "storage" in alarms
    win.close()
    assert win.session.recorder.last_status == "incomplete"
    assert win.session.recorder.last_reason == "storage"
    with SessionStore(db) as store:
        meta = store.session(sid)
        gaps = store.gaps(sid)
    assert (meta.status, meta.end_reason) == ("incomplete", "storage")
    assert gaps and {g.cause for g in gaps} == {"storage"}


@pytest.mark.timeout(120)
def test_gui_unplug_shows_the_banner_records_on_and_marks_the_gap(qtbot, window, tmp_path):
    link = tmp_path / "emg-board"
    device = VirtualDevice(framing="emgf", channels=2, fs_hz=FS, link=str(link),
                           reset_on_open=False).start()
    db = tmp_path / "s.sqlite"
    try:
        win = window(f"serial://{link}?framing=emgf&reset_wait=0.2", db_path=db)
        win.show()
        win.start()
        sid = win.session.start_recording(db)
        # Unplug once the recording has samples (not at a fixed time after the port opened:
        # building the window may take longer than that on a loaded machine). The device
        # reads its faults on every tick; an unplug due "0 s after the open" happens now.
        qtbot.waitUntil(lambda: win.session.engine.health.samples_in > 200, timeout=60000)
        device.faults = Faults(unplug_after_s=0.0, replug_after_s=0.5)
        qtbot.waitUntil(lambda: "Device lost" in win.status.banner.text(), timeout=60000)
        assert "Recording continues" in win.status.banner.text()
        assert win.session.recorder.recording
        qtbot.waitUntil(lambda: "reconnected" in [
            e.kind for e in win.session.alarms_since(0)[0]], timeout=60000)
        before = win.session.engine.health.samples_in
        qtbot.waitUntil(lambda: win.session.source_state == "streaming"
                        and not win.status.banner.isVisible()
                        and win.session.engine.health.samples_in > before + 1000,
                        timeout=60000)
        win.close()
    finally:
        device.stop()
    with SessionStore(db) as store:
        kinds = marker_kinds(store, sid)
        meta = store.session(sid)
        gaps = store.gaps(sid)
        index, samples = store.read_samples(sid)
    assert kinds.index("alarm:unplug") < kinds.index("event:reconnected")
    assert [g.cause for g in gaps] == ["unplug"]
    assert (index > gaps[0].start_index).sum() >= 1000  # recorded after the replug
    assert samples.shape[1] == 2
    assert meta.status == "complete"  # a live session the user ended: nothing is missing


def test_a_source_that_ends_before_the_time_asked_is_incomplete_without_a_gap(
        tmp_path, capsys):
    first, second = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    assert main(["record", "--source", "sim://?channels=2&seed=3&pace=fast", "--seconds", "2",
                 "--db", str(first)]) == EXIT_OK
    sid = int(capsys.readouterr().out.split()[-1])
    code = main(["record", "--source", f"file://{first}?session={sid}&pace=fast",
                 "--seconds", "5", "--db", str(second)])
    out, err = capsys.readouterr()
    assert code == EXIT_INCOMPLETE, err
    replay = int(out.split()[-1])
    with SessionStore(second) as store:
        meta = store.session(replay)
        assert (meta.status, meta.end_reason) == ("incomplete", "source_ended")
        assert store.sample_count(replay) == 4000
        assert store.gaps(replay) == []  # nothing was lost: the recording was shorter
    assert f"session {replay} is incomplete (source_ended)" in err


@pytest.mark.timeout(120)
def test_gui_banner_shows_a_device_alarm_that_has_no_state_of_its_own(qtbot, window, tmp_path):
    from emgfeedback.acquisition.source import SourceEvent

    db = tmp_path / "s.sqlite"
    win = window("sim://?channels=2&fs=2000&seed=5", db_path=db)
    win.show()
    win.start()
    sid = win.session.start_recording(db)
    qtbot.waitUntil(lambda: win.session.engine.health.samples_in > 200, timeout=60000)
    win.session.engine.report(SourceEvent(time.monotonic(), "channel_mismatch",
                                          "device sends 3 channels, the session has 2"))
    qtbot.waitUntil(lambda: "Device alarm: device sends 3 channels" in
                    win.status.banner.text(), timeout=60000)
    assert win.status.banner.isVisible()
    win.close()
    with SessionStore(db) as store:
        markers = [(m.kind, m.text) for m in store.markers(sid)]
    assert ("alarm:channel_mismatch", "device sends 3 channels, the session has 2") in markers


def test_a_baseline_that_ends_early_stores_no_baseline_and_exits_3(tmp_path, capsys):
    first, second = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    assert main(["record", "--source", "sim://?channels=2&scenario=rest&seed=3&pace=fast",
                 "--seconds", "2", "--db", str(first)]) == EXIT_OK
    sid = int(capsys.readouterr().out.split()[-1])
    code = main(["baseline", "--source", f"file://{first}?session={sid}&pace=fast",
                 "--seconds", "10", "--db", str(second)])
    err = capsys.readouterr().err
    assert code == EXIT_INCOMPLETE, err
    assert "no baseline stored" in err
    with SessionStore(second) as store:
        (meta,) = store.sessions()
        assert (meta.status, meta.end_reason) == ("incomplete", "source_ended")
        assert store.results(meta.id, "baseline") == []


@pytest.mark.timeout(180)
def test_a_signal_ignored_at_start_stays_ignored_like_nohup(tmp_path):
    db = tmp_path / "s.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-m", "emgfeedback", "record", "--source",
         "sim://?channels=2&fs=2000", "--seconds", "600", "--db", str(db)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    try:
        wait_for(lambda: stored_samples(db) >= 400, what="samples in the database", proc=proc)
        os.kill(proc.pid, signal.SIGHUP)  # nohup: the terminal closed, keep recording
        after_hup = stored_samples(db)
        wait_for(lambda: stored_samples(db) >= after_hup + 2000, what="recording goes on",
                 proc=proc)
        os.kill(proc.pid, signal.SIGTERM)
        code, _, err = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == EXIT_SIGNAL_BASE + signal.SIGTERM, err
    assert "stopped by SIGTERM" in err


@pytest.mark.timeout(120)
def test_gui_shows_a_silent_board_in_chip_and_banner_and_records_it(qtbot, window, tmp_path):
    device = VirtualDevice(framing="emgf", channels=2, fs_hz=FS, reset_on_open=False).start()
    db = tmp_path / "s.sqlite"
    try:
        win = window(f"serial://{device.path}?framing=emgf&reset_wait=0.2", db_path=db)
        win.show()
        win.start()
        sid = win.session.start_recording(db)
        qtbot.waitUntil(lambda: win.session.engine.health.samples_in > 200, timeout=60000)
        device.faults = Faults(pauses=((0.0, 1e6),))
        qtbot.waitUntil(lambda: "No data from the device" in win.status.banner.text(),
                        timeout=60000)
        assert win.status.banner.isVisible()
        assert "Recording continues" in win.status.banner.text()
        assert "no data" in win.status.state.text()
        qtbot.waitUntil(lambda: win.session.source_state == "no_data", timeout=60000)
        device.faults = Faults()
        qtbot.waitUntil(lambda: not win.status.banner.isVisible(), timeout=60000)
        win.close()
    finally:
        device.stop()
    with SessionStore(db) as store:
        kinds = marker_kinds(store, sid)
        meta = store.session(sid)
    assert kinds.index("alarm:no_data") < kinds.index("event:data_resumed")
    assert meta.status == "complete"
