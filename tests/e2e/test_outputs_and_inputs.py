"""Issue 13, items 2, 6 (bounds), 7, 8 and 9: safe outputs, bounded inputs, read-only and
damaged databases. Every test drives the real command line (``emgfeedback.cli.main`` in
process, or ``python -m emgfeedback`` in a subprocess where a terminal, a umask or a
read-only mount is needed) and checks the exit status, the message, that no traceback is
printed and that nothing was written or lost.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import stat
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from emgfeedback.cli import main

SIM = "sim://?fs=2000&channels=2&pace=fast&seed=3"


def cli(capsys, *args) -> tuple[int, str, str]:
    """Run ``emgfeedback ARGS`` in process: (status, stdout, stderr); argparse errors too."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # argparse refuses a bad option before any work
        code = exc.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "Traceback" not in out, err
    return code, out, err


def run(*args, env_extra=None, **kwargs) -> subprocess.CompletedProcess:
    """Run ``python -m emgfeedback ARGS`` as a user would."""
    env = dict(os.environ, **(env_extra or {}))
    env.pop("EMGFEEDBACK_DB", None)
    done = subprocess.run([sys.executable, "-m", "emgfeedback", *map(str, args)],
                          capture_output=True, text=True, timeout=300, env=env, check=False,
                          **kwargs)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def session_ids(db: Path) -> list[int]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM sessions ORDER BY id")]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Path:
    """A store with three 4 s sessions recorded by ``record`` (subjects p01, p02, p03)."""
    db = tmp_path_factory.mktemp("store") / "s.sqlite"
    for subject in ("p01", "p02", "p03"):
        assert main(["record", "--source", SIM, "--seconds", "4", "--db", str(db),
                     "--subject", subject]) == 0
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return db


@pytest.fixture
def store_copy(recorded, tmp_path) -> Path:
    db = tmp_path / "s.sqlite"
    shutil.copy(recorded, db)
    return db


# ------------------------------------------------------------------ 2. outputs never destroy


@pytest.mark.parametrize("command", ["report", "export"])
@pytest.mark.parametrize("suffix", ["", "-wal", "-shm"])
def test_no_command_writes_its_own_database_even_with_force(capsys, store_copy, command,
                                                            suffix):
    target = Path(str(store_copy) + suffix)
    before = digest(store_copy)
    for force in ([], ["--force"]):
        code, _, err = cli(capsys, command, "--session", "1", "--db", store_copy,
                           "--out", target, "--format" if command == "export" else "--force",
                           *(["csv"] if command == "export" else []), *force)
        assert code == 2
        assert "session database" in err and "Choose another file name" in err
    assert digest(store_copy) == before
    assert session_ids(store_copy) == [1, 2, 3]


def test_a_symlink_to_the_database_is_refused(capsys, store_copy, tmp_path):
    link = tmp_path / "innocent.html"
    link.symlink_to(store_copy)
    code, _, err = cli(capsys, "report", "--session", "1", "--db", store_copy, "--out", link,
                       "--force")
    assert code == 2 and "session database" in err
    assert session_ids(store_copy) == [1, 2, 3]


@pytest.mark.parametrize("command", ["report", "export"])
def test_devices_fifos_and_folders_are_never_replaced(capsys, store_copy, tmp_path, command):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    fmt = ["--format", "csv"] if command == "export" else []
    for target, words in (("/dev/null", "not a regular file"), (fifo, "not a regular file"),
                          (folder, "is a folder")):
        code, _, err = cli(capsys, command, "--session", "1", "--db", store_copy, "--out",
                           target, "--force", *fmt)
        assert code == 2 and words in err, err
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)  # as root this was replaced before
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and folder.is_dir()
    assert list(folder.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.csv", "pipe.csv",
                                                         "s.sqlite"]  # no temp files left


def test_export_replaces_an_existing_file_only_with_force(capsys, store_copy, tmp_path):
    out = tmp_path / "one.csv"
    out.write_text("my notes, not an export\n")
    code, _, err = cli(capsys, "export", "--session", "1", "--db", store_copy, "--out", out)
    assert code == 2 and "exists; add --force" in err
    assert out.read_text() == "my notes, not an export\n"
    code, stdout, _ = cli(capsys, "export", "--session", "1", "--db", store_copy, "--out", out,
                          "--force")
    assert code == 0 and "exported session 1" in stdout
    assert out.read_text().startswith("# emgfeedback")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_deleting_needs_yes_without_a_terminal(capsys, store_copy):
    for args in (["--delete", "2"], ["--delete-subject", "p02"]):
        code, _, err = cli(capsys, "sessions", "--db", store_copy, *args)
        assert code == 2 and "--yes" in err
        assert session_ids(store_copy) == [1, 2, 3]
    code, out, _ = cli(capsys, "sessions", "--db", store_copy, "--delete-subject", "p02",
                       "--yes")
    assert code == 0 and "deleted subject 'p02' and 1 session(s)" in out
    assert session_ids(store_copy) == [1, 3]


def _on_terminal(args, answer: str) -> tuple[int, str]:
    """Run a command with a pseudo-terminal as stdin/stderr, typing ``answer``."""
    import pty
    import select

    master, slave = pty.openpty()
    env = dict(os.environ)
    env.pop("EMGFEEDBACK_DB", None)
    proc = subprocess.Popen([sys.executable, "-m", "emgfeedback", *map(str, args)],
                            stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    seen = b""
    answered = False
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 60.0)
            assert ready, f"no output from the command: {seen!r}"
            try:
                data = os.read(master, 4096)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            seen += data
            if not answered and b"Type 'yes'" in seen:
                os.write(master, answer.encode() + b"\n")
                answered = True
    finally:
        os.close(master)
        code = proc.wait(timeout=120)
    assert answered, seen
    return code, seen.decode(errors="replace")


def test_deleting_asks_on_a_terminal(store_copy):
    code, text = _on_terminal(["sessions", "--db", store_copy, "--delete", "3"], "no")
    assert code == 2 and "not confirmed; nothing was deleted" in text
    assert session_ids(store_copy) == [1, 2, 3]
    code, text = _on_terminal(["sessions", "--db", store_copy, "--delete", "3"], "yes")
    assert code == 0 and "deleted session 3" in text
    assert session_ids(store_copy) == [1, 2]


# ------------------------------------------------------------------ 6. unbounded memory


def _protocol(tmp_path, phase: str) -> Path:
    path = tmp_path / "p.toml"
    path.write_text('name = "p"\ntitle = "P"\nversion = 1\ndescription = "d"\n\n'
                    '[[channels]]\nid = "a"\nrole = "target"\n\n'
                    f'[[phases]]\nname = "w"\nkind = "work"\n{phase}\n')
    return path


def test_a_trillion_reps_are_refused_before_any_memory_is_used(capsys, tmp_path):
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    code, _, err = cli(capsys, "protocols", "check",
                       _protocol(tmp_path, "reps = 1000000000000\nwork_s = 1"))
    assert code == 2 and "reps: must be at most 1000" in err
    # The trillion-segment list was 16 GB; now nothing is built (allow 50 MB of noise).
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000
    code, out, _ = cli(capsys, "protocols", "check",
                       _protocol(tmp_path, "reps = 1000\nwork_s = 1\nrest_s = 1"))
    assert code == 0 and "2000 s" in out


def test_capture_at_a_gigahertz_is_refused_before_opening(capsys, tmp_path):
    out = tmp_path / "c.csv"
    code, _, err = cli(capsys, "capture", "--source", "sim://?fs=1e9", "--seconds", "1",
                       "--out", out)
    assert code == 2 and "fs='1e9': out of range; expected 100 to 20000 Hz" in err
    assert not out.exists()


# ------------------------------------------------------------------ 7. privacy of outputs


def test_capture_and_plot_are_private_under_umask_000(tmp_path, store_copy):
    pytest.importorskip("matplotlib")
    capture = run("capture", "--source", SIM, "--seconds", "2", "--out", tmp_path / "c.csv",
                  "--quiet", umask=0)
    assert capture.returncode == 0, capture.stderr
    plot = run("analyze", store_copy, "--session", "1", "--plot", tmp_path / "p.png",
               umask=0)
    assert plot.returncode == 0, plot.stderr
    for name in ("c.csv", "p.png"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
    assert (tmp_path / "c.csv").read_text().startswith(("index,", "#"))
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_planted_symlinks_are_not_followed(capsys, tmp_path, store_copy):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    for name, args in (("c.csv", ["capture", "--source", SIM, "--seconds", "1", "--quiet"]),
                       ("p.png", ["analyze", store_copy, "--session", "1"])):
        link = tmp_path / name
        link.symlink_to(victim)
        opt = "--out" if args[0] == "capture" else "--plot"
        for force in ([], ["--force"]):
            code, _, err = cli(capsys, *args, opt, link, *force)
            assert code == 2 and "symbolic link" in err, err
        assert link.is_symlink()
    assert victim.read_text() == "precious\n"


def test_screenshots_are_private_and_never_follow_links(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    link = tmp_path / "shot.png"
    link.symlink_to(victim)
    env = {"QT_QPA_PLATFORM": "offscreen"}
    refused = run("demo", "--seconds", "2", "--screenshot", link, "--force",
                  env_extra=env)
    assert refused.returncode == 2 and "symbolic link" in refused.stderr
    assert victim.read_text() == "precious\n"
    png = tmp_path / "real.png"
    done = run("demo", "--seconds", "2", "--screenshot", png, umask=0, env_extra=env)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(png.stat().st_mode) == 0o600
    assert png.read_bytes()[:4] == b"\x89PNG"


# ------------------------------------------------------------------ 8. errors, not tracebacks


@pytest.mark.parametrize("url, words", [
    ("sim://?fs=inf", "fs='inf': expected a positive finite float"),
    ("sim://?fs=nan", "fs='nan': expected a positive finite float"),
    ("sim://?channels=100000", "channels='100000': out of range; expected 1 to 64"),
    ("file://db.sqlite?session=99999999999999999999999",
     "session='99999999999999999999999': out of range"),
])
def test_absurd_url_values_are_clear_errors(capsys, tmp_path, url, words):
    code, _, err = cli(capsys, "capture", "--source", url, "--seconds", "1")
    assert code == 2 and words in err, err


def test_a_protocol_nested_100k_deep_is_a_clear_error(capsys, tmp_path):
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * 100_000 + "]" * 100_000 + "\n")
    code, _, err = cli(capsys, "protocols", "check", deep)
    assert code == 2 and "nested too deeply" in err
    deep.write_text("x = " + "{a=" * 100_000 + "1" + "}" * 100_000 + "\n")
    code, _, err = cli(capsys, "protocols", "check", deep)
    assert code == 2 and "nested too deeply" in err


def test_plot_into_a_missing_folder_is_refused_before_the_analysis(capsys, store_copy):
    code, out, err = cli(capsys, "analyze", store_copy, "--session", "1", "--plot",
                         "/nonexistent_dir/x.png")
    assert code == 2 and "the folder /nonexistent_dir does not exist" in err
    assert out == ""  # refused before any analysis was printed


@pytest.mark.parametrize("command", ["export", "report"])
def test_out_a_folder_is_a_clear_error(capsys, store_copy, tmp_path, command):
    code, _, err = cli(capsys, command, "--session", "1", "--db", store_copy, "--out",
                       tmp_path, *(["--format", "csv"] if command == "export" else []))
    assert code == 2 and "is a folder" in err


def _read_only_run(folder: Path, *args) -> subprocess.CompletedProcess:
    """Run the CLI while ``folder`` is read-only, in a way that binds root too.

    As root, permissions are bypassed: the folder is bind-mounted read-only in a private
    mount namespace (``unshare -m``), so writes fail with EROFS as on read-only media.
    Otherwise the folder and its files lose their write permission for the run.
    """
    if os.geteuid() == 0:
        assert shutil.which("unshare"), "read-only tests as root need util-linux's unshare"
        script = ('mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && '
                  'exec "$@"')
        return run_raw(["unshare", "-m", "sh", "-c", script, str(folder), sys.executable,
                        "-m", "emgfeedback", *map(str, args)])
    modes = {p: stat.S_IMODE(p.stat().st_mode) for p in [folder, *folder.iterdir()]}
    try:
        for p in modes:
            p.chmod(0o555 if p.is_dir() else 0o444)
        return run(*args)
    finally:
        for p, mode in modes.items():
            p.chmod(mode)


def run_raw(argv) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("EMGFEEDBACK_DB", None)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env,
                          check=False)
    assert "Traceback" not in done.stderr, done.stderr
    return done


@pytest.mark.parametrize("command", ["export", "report"])
def test_writing_into_a_read_only_folder_is_a_clear_error(store_copy, tmp_path, command):
    folder = tmp_path / "ro"
    folder.mkdir()
    done = _read_only_run(folder, command, "--session", "1", "--db", store_copy, "--out",
                          folder / "x.out", *(["--format", "csv"] if command == "export"
                                              else []))
    assert done.returncode == 2, done.stderr
    assert f"cannot write in the folder {folder}" in done.stderr
    assert list(folder.iterdir()) == []


def test_a_read_only_database_opens_read_only(recorded, tmp_path):
    folder = tmp_path / "media"
    folder.mkdir()
    db = folder / "s.sqlite"
    shutil.copy(recorded, db)
    before = digest(db)
    listing = _read_only_run(folder, "sessions", "--db", db)
    assert listing.returncode == 0, listing.stderr
    assert [int(line.split()[0]) for line in listing.stdout.splitlines()] == [1, 2, 3]
    assert "read-only" in listing.stderr
    export = _read_only_run(folder, "export", "--session", "2", "--db", db, "--out",
                            tmp_path / "two.csv")
    assert export.returncode == 0, export.stderr
    assert len((tmp_path / "two.csv").read_text().splitlines()) > 8000
    report = _read_only_run(folder, "report", "--session", "2", "--db", db, "--out",
                            tmp_path / "two.html")
    assert report.returncode == 0, report.stderr
    analysis = _read_only_run(folder, "analyze", db, "--session", "3", "--json")
    assert analysis.returncode == 0, analysis.stderr
    record = _read_only_run(folder, "record", "--source", SIM, "--seconds", "1", "--db", db)
    assert record.returncode == 2 and "readonly" in record.stderr.replace("-", "")
    assert digest(db) == before
    assert sorted(p.name for p in folder.iterdir()) == ["s.sqlite"]


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for i in range(9):
        byte = buf[pos + i]
        if i == 8:
            return (value << 8) | byte, pos + 9
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, pos + i + 1
    raise AssertionError("bad varint")


def leaf_pages(db: Path, table: str) -> dict[int, list[int]]:
    """``{page number: [rowid, ...]}`` of a table's b-tree leaves, read from the file."""
    with sqlite3.connect(db) as conn:
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?",
                            (table,)).fetchone()[0]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    data = db.read_bytes()
    leaves, stack = {}, [root]
    while stack:
        number = stack.pop()
        page = data[(number - 1) * page_size: number * page_size]
        off = 100 if number == 1 else 0
        kind = page[off]
        cells = struct.unpack(">H", page[off + 3: off + 5])[0]
        header = 12 if kind == 0x05 else 8
        if kind == 0x05:
            stack.append(struct.unpack(">I", page[off + 8: off + 12])[0])
        pointers = [struct.unpack(">H", page[off + header + 2 * i: off + header + 2 * i + 2])[0]
                    for i in range(cells)]
        if kind == 0x05:
            stack.extend(struct.unpack(">I", page[p: p + 4])[0] for p in pointers)
        else:
            assert kind == 0x0D, kind
            leaves[number] = [_varint(page, _varint(page, p)[1])[0] for p in pointers]
    return leaves


def damage_one_page_of(db: Path, session_id: int) -> int:
    """Overwrite with garbage one page that holds only ``session_id``'s samples."""
    with sqlite3.connect(db) as conn:
        owner = dict(conn.execute("SELECT id, session_id FROM chunks"))
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = [n for n, rows in sorted(leaf_pages(db, "chunks").items())
             if rows and {owner[r] for r in rows} == {session_id}]
    assert len(pages) >= 3, pages
    victim = pages[len(pages) // 2]
    with open(db, "r+b") as fh:
        fh.seek((victim - 1) * page_size)
        fh.write(bytes([0xA5]) * page_size)
    return victim


def test_a_damaged_page_hides_only_its_own_session(capsys, store_copy, tmp_path):
    damage_one_page_of(store_copy, 2)
    code, out, err = cli(capsys, "sessions", "--db", store_copy)
    assert code == 1
    lines = out.splitlines()
    assert [int(line.split()[0]) for line in lines] == [1, 2, 3]
    assert "DAMAGED" in lines[1] and "DAMAGED" not in lines[0] + lines[2]
    assert "4.0 s" in lines[0] and "4.0 s" in lines[2]
    assert "session(s) 2 cannot be read in full" in err
    for sid in (1, 3):
        code, _, err = cli(capsys, "export", "--session", sid, "--db", store_copy, "--out",
                           tmp_path / f"{sid}.csv")
        assert code == 0, err
        rows = [r for r in (tmp_path / f"{sid}.csv").read_text().splitlines()
                if not r.startswith("#")]
        assert len(rows) == 1 + 8000  # header + 4 s at 2 kHz: nothing of it lost
        code, _, err = cli(capsys, "report", "--session", sid, "--db", store_copy, "--out",
                           tmp_path / f"{sid}.html")
        assert code == 0, err
    for command, out_name in (("export", "2.csv"), ("report", "2.html")):
        code, _, err = cli(capsys, command, "--session", "2", "--db", store_copy, "--out",
                           tmp_path / out_name)
        assert code == 2 and "session 2 is damaged" in err and "nothing was written" in err
        assert not (tmp_path / out_name).exists()
    code, out, err = cli(capsys, "sessions", "--db", store_copy, "--check")
    assert code == 1 and "session(s) 2 cannot" in err
    code, _, err = cli(capsys, "analyze", store_copy, "--session", "2")
    assert code == 2 and "session 2 is damaged" in err


def test_a_damaged_sessions_table_is_reported_not_a_traceback(capsys, store_copy, tmp_path):
    with sqlite3.connect(store_copy) as conn:
        page = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'sessions'"
                            ).fetchone()[0]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    with open(store_copy, "r+b") as fh:
        fh.seek((page - 1) * page_size)
        fh.write(bytes([0xA5]) * page_size)
    code, out, err = cli(capsys, "sessions", "--db", store_copy)
    assert code == 1 and "no session can be read" in err
    assert [line.split()[:2] for line in out.splitlines()] == [[str(i), "DAMAGED"]
                                                               for i in (1, 2, 3)]
    code, _, err = cli(capsys, "export", "--session", "1", "--db", store_copy, "--out",
                       tmp_path / "1.csv")
    assert code == 2 and "session 1 is damaged" in err
    assert not (tmp_path / "1.csv").exists()


def test_check_finds_damage_that_listing_does_not_touch(capsys, store_copy):
    code, _, _ = cli(capsys, "sessions", "--db", store_copy, "--check")
    assert code == 0  # a sound store passes the full check
    with sqlite3.connect(store_copy) as conn:  # an index the listing never reads
        page = conn.execute("SELECT rootpage FROM sqlite_master "
                            "WHERE name = 'sessions_by_subject'").fetchone()[0]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    with open(store_copy, "r+b") as fh:
        fh.seek((page - 1) * page_size)
        fh.write(bytes([0xA5]) * page_size)
    code, out, _ = cli(capsys, "sessions", "--db", store_copy)
    assert code == 0 and len(out.splitlines()) == 3
    code, out, err = cli(capsys, "sessions", "--db", store_copy, "--check")
    assert code == 1 and len(out.splitlines()) == 3
    assert "integrity check reports" in err and f"Page {page}" in err


# ------------------------------------------------------------------ 9. consistent validation


def test_record_with_negative_seconds_stores_nothing(capsys, tmp_path):
    db = tmp_path / "s.sqlite"
    code, _, err = cli(capsys, "record", "--source", SIM, "--seconds", "-1", "--db", db)
    assert code == 2 and "--seconds: -1: out of range; expected > 0 and <= 86400 s" in err
    assert not db.exists()


@pytest.mark.parametrize("args, words", [
    (["demo", "--seconds", "-1"], "--seconds: -1: out of range"),
    (["demo", "--seconds", "inf"], "--seconds: inf: not a finite number"),
    (["demo", "--window", "100"], "--window: 100: out of range; expected 2 to 30 s"),
    (["live", "--source", SIM, "--window", "1"], "--window: 1: out of range"),
    (["capture", "--source", SIM, "--seconds", "1e9"], "--seconds: 1e9: out of range"),
])
def test_window_and_duration_options_are_checked_before_anything_opens(capsys, args, words):
    code, _, err = cli(capsys, *args)
    assert code == 2 and words in err, err


def test_baseline_too_short_is_refused_before_recording(capsys, tmp_path):
    db = tmp_path / "s.sqlite"
    code, _, err = cli(capsys, "baseline", "--source", SIM, "--seconds", "0.1", "--db", db)
    assert code == 2 and "--seconds: 0.1: out of range; expected 5 to 86400 s" in err
    assert not db.exists()  # no interrupted junk session


def test_a_1e308_second_phase_is_refused(capsys, tmp_path):
    code, _, err = cli(capsys, "protocols", "check", _protocol(tmp_path, "duration_s = 1e308"))
    assert code == 2 and "duration_s: must be at most 86400" in err
    code, _, err = cli(capsys, "protocols", "check",
                       _protocol(tmp_path, "reps = 1000\nwork_s = 80000"))
    assert code == 2 and "the protocol lasts" in err


@pytest.mark.parametrize("option, value, words", [
    ("--subject", "x" * 100_000, "100000 characters is too long"),
    ("--subject", "p01\nforged,line", "contains '\\n'"),
    ("--subject", "\x1b[2J\x1b[31mred", "contains '\\x1b'"),
    ("--names", "\x1b[31mleft,right", "contains '\\x1b'"),
    ("--note", "a\rb", "contains '\\r'"),
])
def test_identifiers_are_bounded_printable_text(capsys, tmp_path, option, value, words):
    db = tmp_path / "s.sqlite"
    code, _, err = cli(capsys, "record", "--source", SIM, "--seconds", "1", "--db", db,
                       option, value)
    assert code == 2 and words in err, err
    assert "\x1b" not in err  # the message shows escapes, never sends them
    assert not db.exists()


def test_names_stored_by_older_versions_are_printed_escaped(capsys, store_copy):
    with sqlite3.connect(store_copy) as conn:
        conn.execute("INSERT INTO subjects (id, created_utc) VALUES (?, '2026-01-01')",
                     ("\x1b[31mevil\nline",))
        conn.execute("UPDATE sessions SET subject = ?, note = ? WHERE id = 2",
                     ("\x1b[31mevil\nline", "\x1b]0;title\x07"))
    code, out, _ = cli(capsys, "sessions", "--db", store_copy)
    assert code == 0
    assert "\x1b" not in out and "\x07" not in out
    assert len(out.splitlines()) == 3 and "subject=\\x1b[31mevil\\nline" in out


def test_a_subject_with_a_newline_cannot_break_the_csv_export(capsys, store_copy, tmp_path):
    code, _, err = cli(capsys, "record", "--source", SIM, "--seconds", "1", "--db", store_copy,
                       "--subject", "p01\nsample_index,time_s")
    assert code == 2 and "contains '\\n'" in err
    assert session_ids(store_copy) == [1, 2, 3]


def test_every_way_of_recording_refuses_control_characters(tmp_path):
    """The GUI and the protocol runner create sessions through the store: it checks too."""
    from emgfeedback.errors import ConfigError
    from emgfeedback.storage import SessionMeta, SessionStore

    with SessionStore(tmp_path / "s.sqlite") as store:
        for meta in (SessionMeta(2000.0, ("a", "b"), subject="p01\nx"),
                     SessionMeta(2000.0, ("a\x1b[31m", "b")),
                     SessionMeta(2000.0, ("a",), note="\x1b]0;title\x07")):
            with pytest.raises(ConfigError, match="not allowed"):
                store.create_session(meta)
        assert store.sessions() == []


# ------------------------------------------------------------------ the outputs module


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    from emgfeedback import outputs

    target = tmp_path / "report.html"
    target.write_text("old")
    with pytest.raises(RuntimeError), outputs.open_output(target, force=True) as fh:
        fh.write(b"half a report")
        raise RuntimeError("the writer failed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_a_file_that_appears_while_writing_is_not_replaced_without_force(tmp_path):
    from emgfeedback import outputs

    target = tmp_path / "capture.csv"
    pending = outputs.start_output(target, text=True)
    pending.write("index,a\n0,1\n")
    target.write_text("someone else's file")  # created meanwhile
    with pytest.raises(outputs.OutputError, match="add --force"):
        pending.commit()
    assert target.read_text() == "someone else's file"
    assert [p.name for p in tmp_path.iterdir()] == ["capture.csv"]


def test_the_limits_table_covers_the_documented_options():
    from emgfeedback import bounds

    rows = dict(bounds.ranges_table())
    assert rows["--window (live, demo)"] == "2 to 30 s"
    assert rows["protocol reps"] == "1 to 1000"
    assert rows["URL option fs (sim://)"] == "100 to 20000 Hz"
    docs = (Path(__file__).parents[2] / "docs" / "storage.md").read_text(encoding="utf-8")
    for what, rng in rows.items():
        assert f"| {what} | {rng} |" in docs, what


@pytest.mark.parametrize("command, words", [
    ("record", ["> 0 and <= 86400 s", "printable text of at most 64 characters"]),
    ("baseline", ["5 to 86400 s"]),
    ("capture", ["> 0 and <= 86400 s", "--force"]),
    ("live", ["2 to 30 s", "> 0 and <= 86400 s"]),
    ("demo", ["2 to 30 s"]),
    ("analyze", ["1 to 1e+06 Hz", "--force"]),
    ("export", ["--force", "0600"]),
    ("report", ["--force"]),
    ("sessions", ["--yes", "--check", "damaged", "read-only"]),
])
def test_each_help_states_its_ranges_and_safety_options(capsys, command, words):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for word in words:
        assert word in text, (command, word)
