"""PIN redaction of every ISO/IEC 7816-4 command that carries verification data, whatever the
class byte (CPS4's CLA 01, chaining, secure messaging, proprietary): trace, DEBUG frames.

ISO/IEC 7816-4:2014 §11.5: VERIFY 20/21 (§11.5.6), CHANGE REFERENCE DATA 24/25 (§11.5.7),
ENABLE VERIFICATION REQUIREMENT 28 (§11.5.8) and DISABLE VERIFICATION REQUIREMENT 26
(§11.5.9) with the verification data as their command data, RESET RETRY COUNTER 2C/2D
(§11.5.10). The odd INS carry the same data in BER-TLV data objects.
"""

from __future__ import annotations

import pytest
from cpsdi_proto import ccid as wire

from cpsdi.framing import encode_frame
from cpsdi.script import ScriptStep, encode_script
from cpsdi.trace import redact_apdu, redact_frame, redact_message

PIN = b"7391"
PIN_INS = (0x20, 0x21, 0x24, 0x25, 0x26, 0x28, 0x2C, 0x2D)


def visible(text: str) -> bool:
    low = text.lower()
    return PIN.decode() in text or PIN.hex() in low.replace(" ", "") or PIN.hex(" ") in low


def apdus(cla: int, ins: int) -> list[bytes]:
    odd = ins & 1
    data = (b"\x81\x04" + PIN) if odd else PIN  # odd INS: BER-TLV data objects
    return [
        bytes((cla, ins, 0x00, 0x81, len(data))) + data,  # short
        bytes((cla, ins, 0x00, 0x81, 0x00, 0x00, len(data))) + data,  # extended Lc
    ]


@pytest.mark.parametrize("ins", PIN_INS, ids=[f"INS{i:02X}" for i in PIN_INS])
@pytest.mark.parametrize("cla", [0x00, 0x01, 0x11, 0x0C, 0x80, 0xA0], ids=lambda c: f"CLA{c:02X}")
def test_pin_bearing_commands_are_redacted(cla: int, ins: int) -> None:
    for apdu in apdus(cla, ins):
        shown = redact_apdu(apdu)
        assert shown.startswith(apdu[:4].hex(" ").upper()) and not visible(shown), shown
        message = bytes([wire.PC_TO_RDR_XFR_BLOCK]) + len(apdu).to_bytes(4, "little") + bytes(5) + apdu
        assert not visible(redact_message(message))
        for native in (False, True):
            assert not visible(redact_frame(encode_frame(message, native=native), native))


def test_a_script_carrying_a_pin_command_is_redacted() -> None:
    payload = bytes((0xCD, 0x20)) + encode_script([ScriptStep(bytes((0x01, 0x26, 0x00, 0x01, 4)) + PIN)])
    message = bytes([wire.PC_TO_RDR_ESCAPE]) + len(payload).to_bytes(4, "little") + bytes(5) + payload
    assert not visible(redact_message(message))


def test_other_commands_stay_readable() -> None:
    for apdu in (bytes.fromhex("01 22 41 B8 03 83 01 20"), bytes.fromhex("00 2A 9E 9A 00"),
                 bytes.fromhex("00 A4 04 0C 08 80 25 00 00 01 FF 01 00")):
        assert redact_apdu(apdu) == apdu.hex(" ").upper()
