"""The package's import rules and module sizes, as they stand after issue 17.

docs/design-notes.md ("Layers and import rules") explains each rule. These tests read the
source (``ast``), so they see imports inside functions too: a cycle hidden by a
function-level import (as ``acquisition/playback.py`` ↔ ``storage`` was) fails here.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "emgfeedback"
MAX_LINES = 700
QT_MODULES = ("PyQt5", "PyQt6", "PySide2", "PySide6", "pyqtgraph", "qtpy")


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: Path) -> set[str]:
    """Every module name imported anywhere in the file (top level or inside functions)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            # ``from emgfeedback import x`` names the subpackage x
            if node.module == "emgfeedback":
                names.update(f"emgfeedback.{alias.name}" for alias in node.names)
    return names


def _our_packages(path: Path) -> set[str]:
    """The emgfeedback subpackages/modules a file imports (``acquisition``, ``types``...)."""
    return {name.split(".")[1] for name in _imports(path)
            if name.startswith("emgfeedback.") and name.count(".") >= 1}


def _files(*parts: str) -> list[Path]:
    target = PACKAGE.joinpath(*parts)
    return [target] if target.suffix == ".py" else sorted(target.rglob("*.py"))


def test_no_module_is_over_700_lines():
    long = {str(p.relative_to(PACKAGE)): n for p in _modules()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}, f"split these along their jobs (issue 17): {long}"


def test_only_the_gui_package_imports_qt():
    offenders = {str(p.relative_to(PACKAGE)) for p in _modules()
                 if "gui" not in p.relative_to(PACKAGE).parts[:1]
                 and any(name.split(".")[0] in QT_MODULES for name in _imports(p))}
    assert offenders == set()


@pytest.mark.parametrize("module", ["types.py", "jsonsafe.py", "errors.py"])
def test_the_bottom_modules_import_nothing_of_ours(module):
    ours = _our_packages(PACKAGE / module)
    assert ours <= {"errors"}, ours


def test_dsp_imports_only_errors():
    for path in _files("dsp"):
        assert _our_packages(path) <= {"errors", "dsp"}, path.name


def test_the_session_store_imports_no_layer_above_or_beside_it():
    """storage used to import acquisition types while acquisition's playback imported
    storage (a cycle hidden by a function-level import); its report and export lived in it
    and pulled in analysis and runtime. Now every storage module imports only the bottom."""
    for path in _files("storage"):
        ours = _our_packages(path)
        assert ours <= {"storage", "types", "jsonsafe", "errors", "host", "bounds",
                        "__version__"}, (path.name, ours)


#: Modules named by a call that opens or reads a file.
_FILE_CALLS = {("open",), ("os", "open"), ("os", "fdopen"), ("io", "open"),
               ("sqlite3", "connect")}
_FILE_METHODS = {"read_text", "read_bytes", "write_text", "write_bytes"}
#: The block-wise analysis spills values it must read twice to a private temporary file
#: (bounded memory); it never reads or writes the user's data.
_SCRATCH_FILES = {"blocks.py"}


def _file_io(path: Path) -> list[str]:
    """Calls in the file that open, read or write files (or a database)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Name):
            name: tuple = (f.id,)
        elif isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
            name = (f.value.id, f.attr)
        else:
            name = ()
        if name in _FILE_CALLS or (isinstance(f, ast.Attribute) and f.attr in _FILE_METHODS):
            found.append(f"line {node.lineno}: {'.'.join(name) or f.attr}")
    return found


def test_the_analysis_is_pure():
    """Numbers are computed from arrays or a source's blocks: the analysis reads no file,
    no database, no runtime state, and renders nothing (issue 17: the readers moved to
    ``io``, the report rendering to ``reports``)."""
    for path in _files("analysis"):
        ours = _our_packages(path)
        assert not ours & {"io", "storage", "runtime", "reports", "commands", "gui",
                           "protocol", "interop", "share", "sound", "benchmarking"}, \
            (path.name, ours)
        assert "sqlite3" not in _imports(path), path.name
        if path.name not in _SCRATCH_FILES:
            assert _file_io(path) == [], path.name


def test_the_file_readers_and_writers_sit_below_the_reports():
    """``io`` reads recordings and stored sessions and writes exports: it imports the
    session store, the calibration helpers and the unit table, never what is built on it."""
    for path in _files("io"):
        ours = _our_packages(path)
        assert ours <= {"io", "storage", "acquisition", "analysis", "types", "jsonsafe",
                        "errors", "host", "outputs", "bounds"}, (path.name, ours)
        assert {n for n in _imports(path) if n.startswith("emgfeedback.analysis")} <= \
            {"emgfeedback.analysis.units"}, path.name
        assert {n for n in _imports(path) if n.startswith("emgfeedback.acquisition")} <= \
            {"emgfeedback.acquisition.boards"}, path.name


def test_the_reports_layer_reads_numbers_and_never_measures_live():
    """Reports render what ``analysis`` computes from what ``io`` and ``storage`` read;
    they do not import the runtime, the commands or the GUI."""
    for path in _files("reports"):
        ours = _our_packages(path)
        assert ours <= {"reports", "analysis", "io", "storage", "acquisition", "types",
                        "jsonsafe", "errors", "host", "outputs", "bounds"}, (path.name, ours)


def test_only_the_clients_import_the_reports():
    clients = {"reports", "commands", "gui", "cli.py"}
    offenders = {str(p.relative_to(PACKAGE)) for p in _modules()
                 if p.relative_to(PACKAGE).parts[0] not in clients
                 and "reports" in _our_packages(p)}
    assert offenders == set()


def test_only_the_cli_imports_the_commands():
    """``benchmarking`` took the bench options from ``commands/bench.py`` and ``gui/app.py``
    the stored baseline from ``commands/run.py``; both now live below the commands."""
    offenders = {str(p.relative_to(PACKAGE)) for p in _modules()
                 if p.relative_to(PACKAGE).parts[0] not in ("commands", "cli.py")
                 and "commands" in _our_packages(p)}
    assert offenders == set()


def test_the_shared_types_are_one_definition_reexported():
    from emgfeedback import types
    from emgfeedback.acquisition import boards, source
    from emgfeedback.storage import store, writer

    assert source.Chunk is types.Chunk and writer.Chunk is types.Chunk
    assert source.Gap is types.Gap is store.Gap
    assert source.SourceInfo is types.SourceInfo and source.SourceEvent is types.SourceEvent
    assert boards.ChannelCalibration is types.ChannelCalibration is store.ChannelCalibration
    assert source.GAP_CAUSES is types.GAP_CAUSES


def test_split_modules_keep_their_public_names():
    """The splits of issue 17 kept every name importable from where it was."""
    from emgfeedback.acquisition import serial_source
    from emgfeedback.analysis import onset
    from emgfeedback.interop import lsl
    from emgfeedback.protocol import runner

    for name in ("SerialSource", "source_from_url", "INFO_REPLY_S", "RECONNECT_POLL_S",
                 "FRAMING_CHOICES", "DEFAULT_FS_HZ", "SourceEvent"):
        assert hasattr(serial_source, name), name
    for name in ("OnsetDetector", "OnsetConfig", "OnsetEvent", "baseline_from_rest",
                 "detection_envelope"):
        assert hasattr(onset, name), name
    for name in ("LslOutlet", "LslSource", "RAW_TYPE", "ENVELOPE_TYPE", "MARKER_TYPE",
                 "cue_marker", "onset_marker", "default_source_id", "source_from_url"):
        assert hasattr(lsl, name), name
    for name in ("ProtocolRunner", "Features", "Cue", "CUE_KINDS"):
        assert hasattr(runner, name), name
