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


@pytest.mark.parametrize("module", ["db.py", "schema.py", "store.py", "writer.py",
                                    "__init__.py"])
def test_the_session_store_does_not_import_the_layers_above_or_beside_it(module):
    """storage used to import acquisition types while acquisition's playback imported
    storage (a cycle hidden by a function-level import)."""
    ours = _our_packages(PACKAGE / "storage" / module)
    assert not ours & {"acquisition", "runtime", "analysis", "protocol", "interop", "gui",
                       "commands", "share", "sound", "benchmarking"}, ours


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
