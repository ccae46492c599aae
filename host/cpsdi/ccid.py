"""CCID messages on the host side, declared with construct (USB CCID rev 1.1 §6).

The byte layout is the one of ``cpsdi_proto.ccid`` (shared with the firmware);
this module gives the host named fields. Both are checked against the same
golden vectors (tests/vectors/frames.jsonl).
"""

from __future__ import annotations

from typing import Any

from construct import (
    Bytes,
    Const,
    Construct,
    ConstructError,
    Container,
    Default,
    Int8ul,
    Int16ul,
    Int32ul,
    Rebuild,
    Struct,
    Switch,
    len_,
    this,
)
from cpsdi_proto import ccid as wire

from cpsdi.exceptions import FramingError

MESSAGE_NAMES: dict[int, str] = {
    wire.PC_TO_RDR_SET_PARAMETERS: "PC_to_RDR_SetParameters",
    wire.PC_TO_RDR_ICC_POWER_ON: "PC_to_RDR_IccPowerOn",
    wire.PC_TO_RDR_ICC_POWER_OFF: "PC_to_RDR_IccPowerOff",
    wire.PC_TO_RDR_GET_SLOT_STATUS: "PC_to_RDR_GetSlotStatus",
    wire.PC_TO_RDR_SECURE: "PC_to_RDR_Secure",
    wire.PC_TO_RDR_T0_APDU: "PC_to_RDR_T0APDU",
    wire.PC_TO_RDR_ESCAPE: "PC_to_RDR_Escape",
    wire.PC_TO_RDR_GET_PARAMETERS: "PC_to_RDR_GetParameters",
    wire.PC_TO_RDR_RESET_PARAMETERS: "PC_to_RDR_ResetParameters",
    wire.PC_TO_RDR_ICC_CLOCK: "PC_to_RDR_IccClock",
    wire.PC_TO_RDR_XFR_BLOCK: "PC_to_RDR_XfrBlock",
    wire.PC_TO_RDR_MECHANICAL: "PC_to_RDR_Mechanical",
    wire.PC_TO_RDR_ABORT: "PC_to_RDR_Abort",
    wire.PC_TO_RDR_SET_DATA_RATE_AND_CLOCK_FREQUENCY: "PC_to_RDR_SetDataRateAndClockFrequency",
    wire.RDR_TO_PC_DATA_BLOCK: "RDR_to_PC_DataBlock",
    wire.RDR_TO_PC_SLOT_STATUS: "RDR_to_PC_SlotStatus",
    wire.RDR_TO_PC_PARAMETERS: "RDR_to_PC_Parameters",
    wire.RDR_TO_PC_ESCAPE: "RDR_to_PC_Escape",
    wire.RDR_TO_PC_DATA_RATE_AND_CLOCK_FREQUENCY: "RDR_to_PC_DataRateAndClockFrequency",
}

_RFU3 = Struct("abRFU" / Default(Bytes(3), b"\x00\x00\x00"))
_BWI = Struct("bBWI" / Default(Int8ul, 0), "wLevelParameter" / Default(Int16ul, 0))
_ANSWER = Struct("bStatus" / Default(Int8ul, 0), "bError" / Default(Int8ul, 0))

# Header bytes 7..9 per message type (CCID §6.1.x, §6.2.x)
_PARAMS: dict[int, Construct] = {
    wire.PC_TO_RDR_ICC_POWER_ON: Struct("bPowerSelect" / Default(Int8ul, 0), "abRFU" / Default(Bytes(2), b"\x00\x00")),
    wire.PC_TO_RDR_XFR_BLOCK: _BWI,
    wire.PC_TO_RDR_SECURE: _BWI,
    wire.PC_TO_RDR_SET_PARAMETERS: Struct(
        "bProtocolNum" / Default(Int8ul, 0), "abRFU" / Default(Bytes(2), b"\x00\x00")
    ),
    wire.PC_TO_RDR_ICC_CLOCK: Struct("bClockCommand" / Default(Int8ul, 0), "abRFU" / Default(Bytes(2), b"\x00\x00")),
    wire.PC_TO_RDR_T0_APDU: Struct(
        "bmChanges" / Default(Int8ul, 0), "bClassGetResponse" / Default(Int8ul, 0), "bClassEnvelope" / Default(Int8ul, 0)
    ),
    wire.PC_TO_RDR_MECHANICAL: Struct("bFunction" / Default(Int8ul, 0), "abRFU" / Default(Bytes(2), b"\x00\x00")),
    wire.RDR_TO_PC_DATA_BLOCK: Struct(*_ANSWER.subcons, "bChainParameter" / Default(Int8ul, 0)),
    wire.RDR_TO_PC_SLOT_STATUS: Struct(*_ANSWER.subcons, "bClockStatus" / Default(Int8ul, 0)),
    wire.RDR_TO_PC_PARAMETERS: Struct(*_ANSWER.subcons, "bProtocolNum" / Default(Int8ul, 0)),
    wire.RDR_TO_PC_ESCAPE: Struct(*_ANSWER.subcons, "bRFU" / Default(Int8ul, 0)),
    wire.RDR_TO_PC_DATA_RATE_AND_CLOCK_FREQUENCY: Struct(*_ANSWER.subcons, "bRFU" / Default(Int8ul, 0)),
}

CCIDMessage = Struct(
    "bMessageType" / Int8ul,
    "dwLength" / Rebuild(Int32ul, len_(this.abData)),
    "bSlot" / Default(Int8ul, 0),
    "bSeq" / Default(Int8ul, 0),
    "params" / Switch(this.bMessageType, _PARAMS, default=_RFU3),
    "abData" / Default(Bytes(this.dwLength), b""),
)
"""One CCID message: 10-byte header and abData (dwLength is computed on build)."""

T0Parameters = Struct(
    "bmFindexDindex" / Default(Int8ul, 0x11),
    "bmTCCKST0" / Default(Int8ul, 0x00),  # bit 1: inverse convention
    "bGuardTimeT0" / Default(Int8ul, 0x00),
    "bWaitingIntegerT0" / Default(Int8ul, 0x0A),
    "bClockStop" / Default(Int8ul, 0x00),
)
"""abProtocolDataStructure for T=0, CCID §6.1.7 (defaults as libccid sends them)."""

T1Parameters = Struct(
    "bmFindexDindex" / Default(Int8ul, 0x11),
    "bmTCCKST1" / Default(Int8ul, 0x10),  # bit 0: CRC, bit 1: inverse convention
    "bGuardTimeT1" / Default(Int8ul, 0x00),
    "bmWaitingIntegersT1" / Default(Int8ul, 0x4D),  # BWI (high nibble), CWI (low nibble)
    "bClockStop" / Default(Int8ul, 0x00),
    "bIFSC" / Default(Int8ul, 0x20),
    "bNadValue" / Default(Int8ul, 0x00),
)
"""abProtocolDataStructure for T=1, CCID §6.1.7 (defaults as libccid sends them)."""

DataRateAndClock = Struct("dwClockFrequency" / Int32ul, "dwDataRate" / Int32ul)
"""Data of SetDataRateAndClockFrequency / its answer, CCID §6.1.14 (kHz, bps)."""

NotifySlotChange = Struct("bMessageType" / Const(wire.RDR_TO_PC_NOTIFY_SLOT_CHANGE, Int8ul), "bmSlotICCState" / Int8ul)


def parse_message(message: bytes | bytearray | memoryview) -> Container:
    """Parse one CCID message; raise FramingError when it is short or its dwLength lies."""
    data = bytes(message)
    if len(data) < wire.HEADER_SIZE:
        raise FramingError("CCID message shorter than its 10-byte header", data)
    length = int.from_bytes(data[1:5], "little")
    if length != len(data) - wire.HEADER_SIZE:
        raise FramingError(f"dwLength {length} but {len(data) - wire.HEADER_SIZE} data bytes", data)
    try:
        return CCIDMessage.parse(data)
    except ConstructError as exc:  # pragma: no cover - length checked above
        raise FramingError(f"malformed CCID message: {exc}", data) from exc


def build_message(
    message_type: int, slot: int = 0, seq: int = 0, data: bytes = b"", **params: Any
) -> bytes:
    """Build one CCID message; ``params`` are the named header fields of that type."""
    if not 0 <= slot <= 0xFF or not 0 <= seq <= 0xFF:
        raise ValueError("slot and seq are bytes")
    container = {"bMessageType": message_type, "bSlot": slot, "bSeq": seq, "params": params, "abData": bytes(data)}
    try:
        return bytes(CCIDMessage.build(container))
    except ConstructError as exc:
        raise ValueError(f"cannot build {MESSAGE_NAMES.get(message_type, hex(message_type))}: {exc}") from exc


def message_name(message_type: int) -> str:
    """CCID name of a message type (``0x6F`` → ``PC_to_RDR_XfrBlock``)."""
    return MESSAGE_NAMES.get(message_type, f"unknown 0x{message_type:02X}")
