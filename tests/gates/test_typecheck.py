"""Gate: type checkers.

* pyright on the device code against the MicroPython port stubs (build/typings-<port>,
  installed by tools/setup.sh): tools/typecheck/pyright-device-rp2.json for everything
  except the STM32 board modules, tools/typecheck/pyright-device-stm32.json for
  boards/cpsdi_boards/stm32*.
* mypy --strict on the CPython side: host/cpsdi and boards/cpsdi_boards/sim
  (tools/typecheck/mypy.ini).
"""

from __future__ import annotations

import json
import sys

import pytest

from _device_code import ROOT, check, device_files, is_stm32_board_file, rel, run, venv_tool

pytestmark = pytest.mark.gate

TYPECHECK = ROOT / "tools" / "typecheck"
TIMEOUT = 300


def _expected_files(port: str) -> list[str]:
    files = device_files()
    if port == "stm32":
        return [rel(f) for f in files if is_stm32_board_file(f)]
    return [rel(f) for f in files if not is_stm32_board_file(f)]


@pytest.mark.parametrize("port", ["rp2", "stm32"])
def test_pyright_device_code(port: str) -> None:
    config = TYPECHECK / ("pyright-device-%s.json" % port)
    stubs = ROOT / "build" / ("typings-%s" % port)
    check(config.is_file(), "missing %s" % rel(config))
    if not (stubs / "machine.pyi").is_file():
        pytest.fail(
            "MicroPython %s stubs missing in %s: run `bash tools/setup.sh`" % (port, rel(stubs)), pytrace=False
        )
    expected = _expected_files(port)
    cmd = [venv_tool("pyright"), "-p", rel(config)]
    r = run(cmd + ["--outputjson"], timeout=TIMEOUT)
    repro = "Reproduce: cd %s && %s" % (ROOT, " ".join(cmd))
    try:
        report = json.loads(r.stdout)
    except ValueError:
        pytest.fail("pyright did not produce its JSON report.\n%s\n%s" % (repro, r.report()), pytrace=False)
    diagnostics = [d for d in report.get("generalDiagnostics", []) if d.get("severity") in ("error", "warning")]
    lines = []
    for d in diagnostics:
        start = d.get("range", {}).get("start", {})
        file = d.get("file", "?")
        try:
            file = rel(ROOT.joinpath(file).resolve())
        except ValueError:
            pass
        lines.append(
            "%s:%d:%d - %s: %s%s"
            % (
                file,
                start.get("line", -1) + 1,
                start.get("character", -1) + 1,
                d.get("severity"),
                d.get("message", "").replace("\n", "\n      "),
                " (%s)" % d["rule"] if d.get("rule") else "",
            )
        )
    check(
        r.returncode == 0 and not lines,
        "pyright (%s stubs) finds %d problem(s) in the device code:\n  %s\n%s\n(exit %d, stderr: %s)"
        % (port, len(lines), "\n  ".join(lines), repro, r.returncode, r.stderr.strip() or "-"),
    )
    analyzed = report.get("summary", {}).get("filesAnalyzed")
    check(
        analyzed == len(expected),
        "pyright analysed %s file(s) with %s but the gate expects %d:\n  %s\n"
        "The config's include/exclude and tests/gates/_device_code.py disagree.\n%s"
        % (analyzed, rel(config), len(expected), "\n  ".join(expected) or "(none)", repro),
    )
    if not expected:
        pytest.skip("no %s-specific board module yet (boards/cpsdi_boards/%s*): %s is wired, nothing to check"
                    % (port, port, rel(config)))


def test_mypy_strict_host_and_simulator() -> None:
    config = TYPECHECK / "mypy.ini"
    targets = [
        d for d in (ROOT / "host" / "cpsdi", ROOT / "boards" / "cpsdi_boards" / "sim")
        if any(d.rglob("*.py"))
    ]
    check(targets, "nothing for mypy: no .py file in host/cpsdi nor boards/cpsdi_boards/sim")
    cmd = [sys.executable, "-m", "mypy", "--strict", "--config-file", rel(config)] + [rel(t) for t in targets]
    r = run(cmd, timeout=TIMEOUT)
    check(r.returncode == 0, "mypy --strict fails on the host/simulator code:\n" + r.report())
