"""A write that fails half-way (disk full, file size limit) is a clear error, not a traceback.

``export`` and ``report`` hand a temporary path to their writer
(:func:`emgfeedback.outputs.output_path`); a disk error inside the writer used to escape as
an ``OSError`` traceback with exit status 1. Here the real CLI runs in its own process under
a file size limit (``RLIMIT_FSIZE``: writes past it fail with ``EFBIG``, as a full disk fails
with ``ENOSPC``): the command must exit 2 with one line saying what happened, leave the file
it was asked to replace as it was, and leave no temporary file behind.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys

import pytest

from emgfeedback.cli import main

resource = pytest.importorskip("resource")  # POSIX only

LIMIT_BYTES = 16_000


@pytest.fixture(scope="module")
def session_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("trust_x_out") / "s.sqlite"
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(["record", "--source", "sim://?channels=2&fs=2000&seed=3&pace=fast",
                     "--seconds", "2", "--db", str(db)])
    assert code == 0
    return db, int(out.getvalue().strip().splitlines()[-1])


def _limited(*argv):
    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT_BYTES, LIMIT_BYTES))

    return subprocess.run([sys.executable, "-m", "emgfeedback", *map(str, argv)],
                          capture_output=True, text=True, timeout=120, preexec_fn=limit)


@pytest.mark.parametrize("command", [["export", "--format", "csv"], ["export", "--format", "edf"],
                                     ["report"]])
def test_a_write_that_fails_half_way_is_a_clear_error_and_replaces_nothing(
        session_db, tmp_path, command):
    db, sid = session_db
    target = tmp_path / "out.file"
    target.write_bytes(b"an earlier export the user keeps")
    proc = _limited(*command, "--db", db, "--session", sid, "--out", target, "--force")
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"emgfeedback {command[0]}: error: --out {target}: ")
    assert "file size limit" in line and line.endswith("nothing was written")
    assert target.read_bytes() == b"an earlier export the user keeps"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.file"]  # no temporary file


def _cli(*argv) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, err.getvalue()


def _session_ids(db) -> list[int]:
    from emgfeedback.storage import SessionStore

    with SessionStore(db, create=False) as store:
        return [m.id for m in store.sessions()]


def test_capture_out_never_replaces_the_session_store(session_db, monkeypatch):
    """``capture`` opens no store, so it protected none: ``--out`` naming the store (the
    default one, from $EMGFEEDBACK_DB) with ``--force`` replaced every session with CSV."""
    db, sid = session_db
    monkeypatch.setenv("EMGFEEDBACK_DB", str(db))
    for name in (db, f"{db}-wal"):
        code, err = _cli("capture", "--source", "sim://?channels=2&pace=fast", "--seconds",
                         "0.2", "--out", name, "--force")
        assert code == 2, err
        assert "session database" in err
    assert _session_ids(db) == [sid]


def test_no_output_replaces_any_sqlite_database(session_db, tmp_path):
    """A store used with ``--db`` elsewhere is not the default one: any SQLite file is refused."""
    db, sid = session_db
    import sqlite3

    other = tmp_path / "clinic.sqlite"
    with contextlib.closing(sqlite3.connect(db)) as src, \
            contextlib.closing(sqlite3.connect(other)) as dst:
        src.backup(dst)  # a second store, WAL content included
    csv = tmp_path / "s.csv"
    assert _cli("export", "--db", db, "--session", sid, "--out", csv)[0] == 0
    code, err = _cli("analyze", csv, "--plot", other, "--force")
    assert code == 2, err
    assert "SQLite database" in err
    code, err = _cli("export", "--db", db, "--session", sid, "--out", other, "--format", "csv",
                     "--force")
    assert code == 2, err
    assert _session_ids(other) == [sid]
