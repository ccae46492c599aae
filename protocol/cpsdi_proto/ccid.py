"""CCID message set (USB CCID rev 1.1 §6), as carried over the serial link.

Every message is a 10-byte header followed by ``dwLength`` data bytes::

    bMessageType dwLength(LE u32) bSlot bSeq b7 b8 b9 | abData

b7..b9 depend on the message (bPowerSelect, bBWI + wLevelParameter, bProtocolNum on
requests; bStatus, bError and a third byte on answers). Header packing/unpacking
works in place on a caller's buffer and allocates nothing.
"""

import struct

from cpsdi_proto.compat import const

HEADER_SIZE = const(10)
OFF_TYPE = const(0)
OFF_LENGTH = const(1)
OFF_SLOT = const(5)
OFF_SEQ = const(6)
OFF_P1 = const(7)  # bPowerSelect / bBWI / bProtocolNum  |  bStatus
OFF_P2 = const(8)  # wLevelParameter low byte / RFU      |  bError
OFF_P3 = const(9)  # wLevelParameter high byte / RFU     |  bChainParameter, bClockStatus, bProtocolNum

_HEADER_FMT = "<BIBBBBB"

# Requests, CCID §6.1 Table 6.1-1
PC_TO_RDR_SET_PARAMETERS = const(0x61)
PC_TO_RDR_ICC_POWER_ON = const(0x62)
PC_TO_RDR_ICC_POWER_OFF = const(0x63)
PC_TO_RDR_GET_SLOT_STATUS = const(0x65)
PC_TO_RDR_SECURE = const(0x69)
PC_TO_RDR_T0_APDU = const(0x6A)
PC_TO_RDR_ESCAPE = const(0x6B)
PC_TO_RDR_GET_PARAMETERS = const(0x6C)
PC_TO_RDR_RESET_PARAMETERS = const(0x6D)
PC_TO_RDR_ICC_CLOCK = const(0x6E)
PC_TO_RDR_XFR_BLOCK = const(0x6F)
PC_TO_RDR_MECHANICAL = const(0x71)
PC_TO_RDR_ABORT = const(0x72)
PC_TO_RDR_SET_DATA_RATE_AND_CLOCK_FREQUENCY = const(0x73)

# Answers, CCID §6.2 Table 6.2-1
RDR_TO_PC_DATA_BLOCK = const(0x80)
RDR_TO_PC_SLOT_STATUS = const(0x81)
RDR_TO_PC_PARAMETERS = const(0x82)
RDR_TO_PC_ESCAPE = const(0x83)
RDR_TO_PC_DATA_RATE_AND_CLOCK_FREQUENCY = const(0x84)

# Interrupt messages, CCID §6.3; over serial only NotifySlotChange is sent (2 bytes,
# unframed: 50 bmSlotICCState; bit 2n = card present in slot n, bit 2n+1 = changed).
RDR_TO_PC_NOTIFY_SLOT_CHANGE = const(0x50)
RDR_TO_PC_HARDWARE_ERROR = const(0x51)

# bStatus, CCID §6.2.6 Table 6.2-3: bmICCStatus (bits 0-1), bmCommandStatus (bits 6-7)
ICC_ACTIVE = const(0x00)
ICC_INACTIVE = const(0x01)
ICC_ABSENT = const(0x02)
ICC_STATUS_MASK = const(0x03)
COMMAND_FAILED = const(0x40)
TIME_EXTENSION = const(0x80)
COMMAND_STATUS_MASK = const(0xC0)

# bError when bmCommandStatus = 1, CCID §6.2.6 Table 6.2-2
ERR_CMD_NOT_SUPPORTED = const(0x00)  # 0x01..0x7F: index of the bad header/parameter byte
ERR_CMD_ABORTED = const(0xFF)
ERR_ICC_MUTE = const(0xFE)
ERR_XFR_PARITY_ERROR = const(0xFD)
ERR_XFR_OVERRUN = const(0xFC)
ERR_HW_ERROR = const(0xFB)
ERR_BAD_ATR_TS = const(0xF8)
ERR_BAD_ATR_TCK = const(0xF7)
ERR_ICC_PROTOCOL_NOT_SUPPORTED = const(0xF6)
ERR_ICC_CLASS_NOT_SUPPORTED = const(0xF5)
ERR_PROCEDURE_BYTE_CONFLICT = const(0xF4)
ERR_DEACTIVATED_PROTOCOL = const(0xF3)
ERR_BUSY_WITH_AUTO_SEQUENCE = const(0xF2)
ERR_PIN_TIMEOUT = const(0xF0)
ERR_PIN_CANCELLED = const(0xEF)
ERR_CMD_SLOT_BUSY = const(0xE0)
# 0x81..0xC0 are "user defined": cpsdi's vendor codes live in cpsdi_proto.escape.
ERR_BAD_SLOT = const(0x05)  # index of bSlot in the header
ERR_BAD_LENGTH = const(0x01)  # index of dwLength in the header
ERR_BAD_DATA = const(0x0A)  # index of abData: the command data is unusable (e.g. no valid APDU)

# bPowerSelect, CCID §6.1.1
POWER_AUTO = const(0x00)
POWER_5V = const(0x01)
POWER_3V = const(0x02)
POWER_1V8 = const(0x03)

# bProtocolNum, CCID §6.1.7; abProtocolDataStructure lengths
PROTOCOL_T0 = const(0x00)
PROTOCOL_T1 = const(0x01)
T0_PARAMETERS_SIZE = const(5)  # bmFindexDindex bmTCCKST0 bGuardTimeT0 bWaitingIntegerT0 bClockStop
T1_PARAMETERS_SIZE = const(7)  # ... bmWaitingIntegersT1 bClockStop bIFSC bNadValue

# bClockStatus of SlotStatus, CCID §6.2.2
CLOCK_RUNNING = const(0x00)


def answer_type(request_type: int) -> int:
    """Message type of the answer to a request type, or 0 for an unknown request."""
    if request_type in (PC_TO_RDR_ICC_POWER_ON, PC_TO_RDR_XFR_BLOCK, PC_TO_RDR_SECURE):
        return RDR_TO_PC_DATA_BLOCK
    if request_type in (
        PC_TO_RDR_ICC_POWER_OFF,
        PC_TO_RDR_GET_SLOT_STATUS,
        PC_TO_RDR_ICC_CLOCK,
        PC_TO_RDR_T0_APDU,
        PC_TO_RDR_MECHANICAL,
        PC_TO_RDR_ABORT,
    ):
        return RDR_TO_PC_SLOT_STATUS
    if request_type in (PC_TO_RDR_GET_PARAMETERS, PC_TO_RDR_RESET_PARAMETERS, PC_TO_RDR_SET_PARAMETERS):
        return RDR_TO_PC_PARAMETERS
    if request_type == PC_TO_RDR_ESCAPE:
        return RDR_TO_PC_ESCAPE
    if request_type == PC_TO_RDR_SET_DATA_RATE_AND_CLOCK_FREQUENCY:
        return RDR_TO_PC_DATA_RATE_AND_CLOCK_FREQUENCY
    return 0


def is_request(message_type: int) -> bool:
    """True for a PC_to_RDR message type (0x61..0x73 range of §6.1)."""
    return answer_type(message_type) != 0


def pack_header(buf, offset: int, message_type: int, length: int, slot: int, seq: int, p1: int, p2: int, p3: int) -> None:
    """Write a 10-byte CCID header into ``buf`` at ``offset``."""
    struct.pack_into(_HEADER_FMT, buf, offset, message_type, length, slot, seq, p1, p2, p3)


def data_length(buf, offset: int = 0) -> int:
    """dwLength of the header at ``offset``."""
    return struct.unpack_from("<I", buf, offset + OFF_LENGTH)[0]


def unpack_header(buf, offset: int = 0) -> tuple:
    """(bMessageType, dwLength, bSlot, bSeq, b7, b8, b9) of the header at ``offset``."""
    return struct.unpack_from(_HEADER_FMT, buf, offset)


# PC_to_RDR_Secure (0x69), CCID rev 1.1 §6.1.11: abData = bPINOperation + a PIN verification
# or modification data structure (§6.1.11) + abPINApdu; see docs/pinpad.md.
PIN_OPERATION_VERIFY = const(0x00)
PIN_OPERATION_MODIFY = const(0x01)
# bmFormatString: bit 7 units of the PIN position (1 bytes, 0 bits), bits 6-3 PIN position
# after Lc, bit 2 justification (1 right), bits 1-0 PIN format
PIN_UNITS_BYTES = const(0x80)
PIN_JUSTIFY_RIGHT = const(0x04)
PIN_FORMAT_BINARY = const(0x00)  # one digit per byte, value 0..9
PIN_FORMAT_BCD = const(0x01)  # one digit per nibble
PIN_FORMAT_ASCII = const(0x02)  # one digit per byte, '0'..'9'
# bmPINBlockString: bits 7-4 size of the PIN length field in bits, bits 3-0 PIN block size in bytes
# bmPINLengthFormat: bits 7-5 RFU, bit 4 units of the length position (1 bytes), bits 3-0 position
PIN_LENGTH_UNITS_BYTES = const(0x10)
# bEntryValidationCondition
PIN_VALID_MAX_SIZE = const(0x01)  # the maximum number of digits is reached
PIN_VALID_KEY = const(0x02)  # the validation key is pressed
PIN_VALID_TIMEOUT = const(0x04)  # the timeout passes (with at least the minimum digits)
# bConfirmPIN (modification)
PIN_CONFIRM_NEW = const(0x01)  # the new PIN is typed twice
PIN_CONFIRM_CURRENT = const(0x02)  # the current PIN is typed first (and inserted)
PIN_MESSAGES_DEFAULT = const(0xFF)  # bNumberMessage: the reader's default prompts
PIN_VERIFY_FIXED_SIZE = const(14)  # verification structure bytes before abPINApdu
PIN_MODIFY_FIXED_SIZE = const(17)  # modification structure before abPINApdu, with one bMsgIndex
# bPINSupport of the CCID class descriptor (§5.1): what GET_INFO's PIN-pad TLV reports
PIN_SUPPORT_VERIFY = const(0x01)
PIN_SUPPORT_MODIFY = const(0x02)
# Status words the reader itself answers for a PIN entry that reached no card (PC/SC part 10
# convention; libccid turns bError F0 / EF into 64 00 / 64 01 for PC/SC applications)
SW_PIN_TIMEOUT = const(0x6400)
SW_PIN_CANCELLED = const(0x6401)
SW_PIN_MISMATCH = const(0x6402)  # the new PIN and its confirmation differ
