"""Every compiled kernel's cache is valid exactly as long as its own file is unchanged.

Numba's on-disk cache (``cache=True``) checks only the timestamp and size of the file that
defines the function it loads. Code the kernel compiled in from *another* file (a compiled
function it calls, a constant it reads) is frozen into the cached machine code, so after an
edit of that other file, a ``git pull`` or a hand fix in an editable install, the old code
would keep running with no warning (session 6 found a detector doing exactly that). The
rule that makes this impossible: a compiled function may use, from the rest of the package,
nothing that is compiled into it, so its whole call graph and every constant it reads live
in its own file. docs/design-notes.md ("Numba kernels") states the rule.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "emgfeedback"
JIT_DECORATORS = ("njit", "jit", "intrinsic", "vectorize", "guvectorize", "cfunc", "overload",
                  "generated_jit", "register_jitable")


def _is_compiled(func: ast.FunctionDef) -> bool:
    for dec in func.decorator_list:
        target = dec.func if isinstance(dec, ast.Call) else dec
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name in JIT_DECORATORS:
            return True
    return False


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)


def _package_imports(tree: ast.Module, module: str) -> dict[str, str]:
    """Module-level names bound to something of this package, and where from."""
    bound: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[:-node.level]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] == "emgfeedback":
                for alias in node.names:
                    bound[alias.asname or alias.name] = f"{source}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "emgfeedback":
                    bound[alias.asname or alias.name.split(".")[0]] = alias.name
    return bound


def _foreign_names(tree: ast.Module, module: str) -> dict[str, str]:
    """Names imported from the package, plus module constants computed from them."""
    foreign = _package_imports(tree, module)
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else [])
        value = getattr(node, "value", None)
        if value is None:
            continue
        used = {n.id for n in ast.walk(value) if isinstance(n, ast.Name)} & foreign.keys()
        if used:
            for target in targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        foreign[name.id] = f"{module}.{name.id} (from {', '.join(sorted(used))})"
    return foreign


def cross_file_uses(source: str, module: str) -> list[str]:
    """``kernel -> name`` for every package name a compiled function in ``source`` reads."""
    tree = ast.parse(source)
    foreign = _foreign_names(tree, module)
    found = []
    for func in ast.walk(tree):
        if isinstance(func, ast.FunctionDef) and _is_compiled(func):
            local = {a.arg for a in func.args.args + func.args.kwonlyargs}
            for node in ast.walk(func):
                if (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
                        and node.id in foreign and node.id not in local):
                    found.append(f"{module}.{func.name} -> {foreign[node.id]}")
    return sorted(set(found))


def test_no_compiled_function_uses_code_or_constants_from_another_file():
    offenders = [use for path in sorted(PACKAGE.rglob("*.py")) if "__pycache__" not in path.parts
                 for use in cross_file_uses(path.read_text(encoding="utf-8"), _module_name(path))]
    assert offenders == [], (
        "compiled functions that read another file's code or constants (Numba's cache would "
        "not notice when that file changes; move it into the kernel's file): "
        + "; ".join(offenders))


def test_the_check_sees_imported_kernels_modules_and_derived_constants():
    source = (
        "from numba import njit\n"
        "from emgfeedback.analysis.other import helper, LIMIT\n"
        "from .sibling import step\n"
        "import emgfeedback.dsp.sosfilt as sf\n"
        "_TWICE = 2 * LIMIT\n"
        "_OWN = 3.0\n"
        "def plain(x):\n"
        "    return helper(x)\n"
        "@njit(cache=True, nogil=True)\n"
        "def kernel(x, helper2):\n"
        "    return helper(x) + _TWICE + sf.sosfilt_rows(x) + _OWN + helper2 + step(x)\n")
    assert cross_file_uses(source, "emgfeedback.analysis.probe") == [
        "emgfeedback.analysis.probe.kernel -> emgfeedback.analysis.other.helper",
        "emgfeedback.analysis.probe.kernel -> emgfeedback.analysis.probe._TWICE (from LIMIT)",
        "emgfeedback.analysis.probe.kernel -> emgfeedback.analysis.sibling.step",
        "emgfeedback.analysis.probe.kernel -> emgfeedback.dsp.sosfilt",
    ]
