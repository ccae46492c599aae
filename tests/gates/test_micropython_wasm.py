"""Gate: the device tests (tests/device) pass on the real MicroPython interpreter.

Runs tools/mpwasm/run.mjs (MicroPython 1.27 compiled to WebAssembly, under Node.js) and
checks that it ran exactly as many tests as unittest finds in tests/device on CPython,
so a module that does not load on MicroPython, or a test MicroPython's unittest does
not see, cannot go unnoticed.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path
from typing import Callable

import pytest

from _device_code import ROOT, check, run

pytestmark = pytest.mark.gate

MPWASM = ROOT / "tools" / "mpwasm"
RUNNER = MPWASM / "run.mjs"
PACKAGE = "@micropython/micropython-webassembly-pyscript"
SUMMARY_RE = re.compile(r"^MICROPYTHON-WASM: (\d+) run, (\d+) failed, (\d+) errors, (\d+) skipped$", re.M)
MODULE_RE = re.compile(r"^-- (\S+): (\d+) run, (\d+) failed, (\d+) errors, (\d+) skipped: ", re.M)
TIMEOUT = 120

# Counts, per module, the tests CPython's unittest loader finds in tests/device/test_*.py
# (what pytest collects from unittest.TestCase subclasses), and lists test code
# MicroPython's runner would not see (pytest-style functions and classes).
_COUNT_SCRIPT = r"""
import importlib, inspect, json, os, sys, unittest
root, device = sys.argv[1], sys.argv[2]
for d in (device, os.path.join(root, "boards"), os.path.join(root, "firmware"), os.path.join(root, "protocol")):
    sys.path.insert(0, d)
counts, problems = {}, []
for name in sorted(f[:-3] for f in os.listdir(device) if f.startswith("test_") and f.endswith(".py")):
    try:
        mod = importlib.import_module(name)
    except Exception as e:
        problems.append("%s: does not import on CPython: %s: %s" % (name, type(e).__name__, e))
        continue
    counts[name] = unittest.defaultTestLoader.loadTestsFromModule(mod).countTestCases()
    for attr, obj in vars(mod).items():
        if not attr.lower().startswith("test"):
            continue
        if inspect.isfunction(obj):
            problems.append("%s.%s: module-level test function (pytest runs it, MicroPython does not); "
                            "make it a method of a unittest.TestCase subclass" % (name, attr))
        elif inspect.isclass(obj) and not issubclass(obj, unittest.TestCase) and any(
                m.startswith("test") for m in vars(obj)):
            problems.append("%s.%s: test class that is not a unittest.TestCase subclass "
                            "(MicroPython's runner does not see it)" % (name, attr))
print(json.dumps({"counts": counts, "problems": problems}))
"""


def _cpython_counts() -> tuple[dict[str, int], list[str]]:
    r = run([sys.executable, "-c", _COUNT_SCRIPT, str(ROOT), str(ROOT / "tests" / "device")], timeout=60)
    check(r.returncode == 0, "counting the device tests on CPython failed:\n" + r.report())
    data = json.loads(r.stdout.strip().splitlines()[-1])
    return data["counts"], data["problems"]


def test_device_tests_pass_on_micropython_wasm(record_micropython_summary: Callable[[str], None]) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("`node` (Node.js >= 18) is not on PATH: cannot run the device tests on MicroPython-WebAssembly")
    installed = MPWASM / "node_modules" / PACKAGE / "package.json"
    if not installed.exists():
        pytest.fail(
            "MicroPython WebAssembly is not installed (%s missing): run `bash tools/setup.sh` "
            "(it runs `npm ci` in tools/mpwasm)" % installed.relative_to(ROOT),
            pytrace=False,
        )
    wanted = json.loads((MPWASM / "package.json").read_text())["dependencies"][PACKAGE]
    have = json.loads(installed.read_text())["version"]
    if have != wanted:
        pytest.fail(
            "tools/mpwasm/node_modules has %s %s, package.json pins %s: run `bash tools/setup.sh`" % (PACKAGE, have, wanted),
            pytrace=False,
        )

    r = run([node, str(RUNNER.relative_to(ROOT)), "--quiet"], timeout=TIMEOUT)
    m = SUMMARY_RE.search(r.stdout)
    if m:
        record_micropython_summary(m.group(0))
    check(r.returncode == 0, "device tests failed on MicroPython-WebAssembly:\n" + r.report())
    check(m, "no `MICROPYTHON-WASM: ...` line in the runner's output:\n" + r.report())
    assert m is not None
    ran, failed, errors, skipped = (int(g) for g in m.groups())
    check(ran > 0 and failed == 0 and errors == 0, "the runner exited 0 but reports:\n" + r.report())

    counts, problems = _cpython_counts()
    check(not problems, "device test code MicroPython's runner would not run the same way:\n  " + "\n  ".join(problems))
    mp_counts = {mod: int(n) for mod, n, *_ in MODULE_RE.findall(r.stdout)}
    differing = sorted(
        "%s: CPython unittest finds %s, MicroPython ran %s" % (mod, counts.get(mod, "-"), mp_counts.get(mod, "-"))
        for mod in set(counts) | set(mp_counts)
        if counts.get(mod) != mp_counts.get(mod)
    )
    expected = sum(counts.values())
    check(
        ran == expected and not differing,
        "MicroPython ran %d device tests, CPython's unittest loader finds %d in tests/device.\n  %s\n"
        "Usual causes: a class-level @unittest.skip/skipIf (MicroPython's unittest replaces the class "
        "with a function and silently drops its tests: skip methods instead), or test classes or "
        "methods defined only on one of the two interpreters.\n"
        % (ran, expected, "\n  ".join(differing))
        + r.report(),
    )


def test_firmware_heap_soak_tool_on_micropython_wasm(tmp_path: Path) -> None:
    """tools/mpwasm/heap_soak.mjs (``python -m fuzz mpsoak``): a short run, exact answers, a
    report with the heap samples; a flat heap is its own verdict (exit 0)."""
    node = shutil.which("node")
    if node is None or not (MPWASM / "node_modules" / PACKAGE).is_dir():
        pytest.skip("node or tools/mpwasm/node_modules missing (the test above says how to install them)")
    report = tmp_path / "mpsoak.json"
    r = run([node, "tools/mpwasm/heap_soak.mjs", "--apdus", "600", "--batch", "100", "--report", str(report)],
            timeout=TIMEOUT)
    check(r.returncode == 0, "heap soak failed on MicroPython-WebAssembly:\n" + r.report())
    data = json.loads(report.read_text())
    assert (data["apdus"], data["wrong"], data["failed"], data["error"], data["flat"]) == (600, 0, 0, None, True)
    assert len(data["mem_alloc_max_per_fifth"]) == 5
    assert data["t1_bad_lrc_blocks_resent"] > 0 and data["t1_wtx_requests"] > 0 and data["t0_null_bytes"] > 0
    bad = run([node, "tools/mpwasm/heap_soak.mjs", "--apdus", "0"], timeout=TIMEOUT)
    assert bad.returncode == 2 and "--apdus and --batch must be at least 1" in bad.stderr
