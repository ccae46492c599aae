"""A PC/SC application uses the cpsdi reader's PIN pad through stock pcscd (issue #12).

libccid's ``GemPCPinPad`` type (``DEVICENAME path:GemPCPinPad``, ccid-serial.md §1.3, §4):
header-only echo (a full echo cannot carry the 165-byte Escape ``B2`` of l10n strings), Escape
``B2`` answered with success, bPINSupport 03 hard-coded in the driver, TPDU level. The
simulated reader has a scripted keypad (``cpsdi sim --keypad``, more entries queued through
the control socket). The application (pyscard, ``_pcsc_client.py`` op ``pinpad``) asks
SCardControl(CM_IOCTL_GET_FEATURE_REQUEST), finds FEATURE_VERIFY_PIN_DIRECT /
MODIFY_PIN_DIRECT and sends PC/SC part 10 PIN_VERIFY / PIN_MODIFY structures; libccid turns
them into PC_to_RDR_Secure (T=0 card: the APDU as a TPDU; T=1 card: bTeoPrologue numbered by
libccid, the reader builds the block). Cancel and timeout come back as libccid's ``64 01`` /
``64 00``; the card's own status words (``63 Cx``, ``69 83``) unchanged.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from _pcscd_stack import PcscError, PcscStack, StackConfig, StackFactory

CLIENT = Path(__file__).with_name("_pcsc_client.py")
FF8 = [0xFF] * 8


def pin_verify(apdu: list[int], *, min_digits: int = 4, max_digits: int = 8, timeout_s: int = 30) -> list[int]:
    """PC/SC part 10 PIN_VERIFY_STRUCTURE for a CPS PIN block (ASCII, left, 8 bytes, FF)."""
    return [timeout_s, timeout_s, 0x82, 0x08, 0x00, max_digits, min_digits, 0x02, 0x01, 0x0C, 0x04, 0x00,
            0, 0, 0, *len(apdu).to_bytes(4, "little"), *apdu]


def pin_modify(apdu: list[int], *, confirm: int, offset_new: int, timeout_s: int = 30) -> list[int]:
    """PC/SC part 10 PIN_MODIFY_STRUCTURE (3 message indexes; libccid keeps those it must)."""
    messages = 3 if confirm & 0x02 else 2
    return [timeout_s, timeout_s, 0x82, 0x08, 0x00, 0x00, offset_new, 0x08, 0x04, confirm, 0x02, messages,
            0x0C, 0x04, 0x00, 0x01, 0x02, 0, 0, 0, *len(apdu).to_bytes(4, "little"), *apdu]


def verify_apdu(cla: int, ref: int = 0x01) -> list[int]:
    return [cla, 0x20, 0x00, ref, 0x08, *FF8]


@pytest.fixture(scope="module")
def stack(pcsc_stack: StackFactory) -> Iterator[PcscStack]:
    config = StackConfig("GemPCPinPad pty", ("doctor",), reader_type="GemPCPinPad", echo="header",
                         sim_args=("--keypad", "", "--card-time", "virtual"))
    with pcsc_stack(config) as stack:
        yield stack


def pinpad_session(stack: PcscStack, steps: list[dict[str, Any]], protocol: str = "any") -> dict[str, Any]:
    request = {"op": "pinpad", "reader": stack.reader_name(0), "protocol": protocol, "steps": steps}
    done = subprocess.run([sys.executable, str(CLIENT)], input=json.dumps(request), capture_output=True, text=True,
                          env=stack.env, timeout=120)
    answer: dict[str, Any] = json.loads(done.stdout or "{}")
    if done.returncode != 0:
        raise PcscError(f"PIN-pad client: {answer.get('error')}\n{done.stderr}", answer.get("hresult"))
    return answer


def keys(stack: PcscStack, *entries: str) -> None:
    assert stack.control("keypad clear") == "ok"
    for entry in entries:
        assert stack.control(f"keypad {entry}") == "ok"


def test_the_pin_pad_reader_opens_and_offers_the_pin_features(stack: PcscStack) -> None:
    log = stack.log_text()
    assert re.search(r"-> \d+ 03 06 6B .. 00 00 00 00 .. 00 00 00 B2 ", log)  # the l10n strings, answered
    assert "Failed to load l10n strings" not in log
    keys(stack)
    answer = pinpad_session(stack, [])
    assert {"6", "7"} <= set(answer["features"])  # FEATURE_VERIFY_PIN_DIRECT, FEATURE_MODIFY_PIN_DIRECT


@pytest.mark.parametrize("card, cla, protocol", [("doctor", 0x00, "T0"), ("pharmacist", 0x01, "T1")])
def test_verify_through_the_keypad_wrong_cancel_timeout_blocked(stack: PcscStack, card: str, cla: int,
                                                                protocol: str) -> None:
    stack.fresh_card(0, card)
    keys(stack, "1234E", "9999E", "C", "12", "0000E", "0000E", "1234E")
    select = [[0x01, 0xA4, 0x04, 0x0C, 0x08, 0x80, 0x25, 0x00, 0x00, 0x01, 0xFF, 0x01, 0x00]] if cla else []
    mark = stack.log_mark()
    answer = pinpad_session(stack, [{"apdu": a} for a in select] + [
        {"verify": pin_verify(verify_apdu(cla))},  # 1234: right
        {"verify": pin_verify(verify_apdu(cla))},  # 9999: wrong
        {"verify": pin_verify(verify_apdu(cla))},  # Cancel
        {"verify": pin_verify(verify_apdu(cla), timeout_s=5)},  # two digits, then nothing
        {"verify": pin_verify(verify_apdu(cla))},  # 0000: wrong
        {"verify": pin_verify(verify_apdu(cla))},  # 0000: wrong, last try
        {"verify": pin_verify(verify_apdu(cla))},  # 1234 on a blocked PIN
    ])
    assert answer["protocol"] == protocol
    results = [bytes(r) for r in answer["results"][len(select):]]
    assert results == [bytes.fromhex(x) for x in ("9000", "63C2", "6401", "6400", "63C1", "63C0", "6983")]
    # libccid sent PC_to_RDR_Secure (69), PIN verification (bPINOperation 00)
    since = stack.log_since(mark)
    assert len(re.findall(r"-> \d+ 03 06 69 .. 00 00 00 00 .. 00 00 00 00 ", since)) == 7
    assert "31 32 33 34" not in since and "39 39 39 39" not in since  # no PIN digit on the host link


def test_change_through_the_keypad_on_a_cps3(stack: PcscStack) -> None:
    stack.fresh_card(0, "doctor")
    keys(stack, "1234E 4321E 4321E", "4321E", "1234E")
    change = [0x00, 0x24, 0x00, 0x01, 0x10, *FF8, *FF8]
    answer = pinpad_session(stack, [
        {"modify": pin_modify(change, confirm=0x03, offset_new=8)},
        {"verify": pin_verify(verify_apdu(0x00))},  # the new PIN works
        {"verify": pin_verify(verify_apdu(0x00))},  # the old one no more
    ])
    assert [bytes(r) for r in answer["results"]] == [bytes.fromhex(x) for x in ("9000", "9000", "63C2")]


def test_change_through_the_keypad_on_a_cps4_over_t1(stack: PcscStack) -> None:
    """CPS4: VERIFY, then CHANGE ``01 24 01 01`` with the new PIN only (typed twice): a
    modification whose T=1 block the reader builds from libccid's prologue."""
    stack.fresh_card(0, "pharmacist")
    keys(stack, "1234E", "4321E 4321E", "4321E 4322E", "4321E")
    select = [0x01, 0xA4, 0x04, 0x0C, 0x08, 0x80, 0x25, 0x00, 0x00, 0x01, 0xFF, 0x01, 0x00]
    change = [0x01, 0x24, 0x01, 0x01, 0x08, *FF8]
    answer = pinpad_session(stack, [
        {"apdu": select},
        {"verify": pin_verify(verify_apdu(0x01))},
        {"modify": pin_modify(change, confirm=0x01, offset_new=0)},
        {"modify": pin_modify(change, confirm=0x01, offset_new=0)},  # confirmation differs
        {"verify": pin_verify(verify_apdu(0x01))},  # the new PIN works
    ])
    assert answer["protocol"] == "T1"
    assert [bytes(r) for r in answer["results"][1:]] == [bytes.fromhex(x) for x in ("9000", "9000", "6402", "9000")]
