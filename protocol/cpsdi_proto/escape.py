"""Vendor Escape sub-commands (PC_to_RDR_Escape / RDR_to_PC_Escape), cpsdi's own space.

Request abData: ``VENDOR_CLASS <command> <payload>``; answer abData on success:
``VENDOR_CLASS <command> <payload>``; on failure the answer has bStatus
COMMAND_FAILED and bError one of the ``ERR_*`` codes below (CCID's user-defined
range 0x81..0xC0, §6.2.6). Escapes that do not start with VENDOR_CLASS are the
libccid/Gemalto ones (``02``, ``06``, ``01 01 01``, ``6A``, ``1F 02``, ``B2 …``,
ccid-serial.md §5.7). The table with payload layouts is protocol/README.md.
"""

from cpsdi_proto.compat import const

VENDOR_CLASS = const(0xCD)

# Link (this issue)
CMD_GET_INFO = const(0x01)  # -> TLV list (INFO_*)
CMD_NATIVE = const(0x02)  # u32 max message wanted -> u32 max message granted, u8 check id
CMD_LINK_SETTINGS = const(0x03)  # u32 baud, u8 stop bits -> same, applied after the answer
CMD_LOOPBACK = const(0x04)  # payload -> the same payload
# Firmware update (signed images, A/B)
CMD_UPDATE_BEGIN = const(0x10)
CMD_UPDATE_WRITE = const(0x11)
CMD_UPDATE_FINISH = const(0x12)
CMD_UPDATE_STATUS = const(0x13)
CMD_UPDATE_CONFIRM = const(0x14)
CMD_UPDATE_ROLLBACK = const(0x15)
CMD_UPDATE_ABORT = const(0x16)
# APDU scripts
CMD_RUN_SCRIPT = const(0x20)
# Diagnostics
CMD_GET_COUNTERS = const(0x30)
CMD_RESET_COUNTERS = const(0x31)
CMD_READ_EVENT_LOG = const(0x32)
# Simulator only (boards/cpsdi_boards/sim): card insertion, faults
CMD_SIM_CONTROL = const(0x7F)

# GET_INFO answer: TLVs, tag (1 byte) length (1 byte) value
INFO_PROTOCOL_VERSION = const(0x01)  # u8
INFO_FIRMWARE_VERSION = const(0x02)  # ASCII
INFO_BOARD = const(0x03)  # ASCII
INFO_SLOTS = const(0x04)  # u8 slot count
INFO_NATIVE_MAX_MESSAGE = const(0x05)  # u32 LE, 0 = no native mode
INFO_FEATURES = const(0x06)  # u32 LE, FEATURE_* bits
INFO_SERIAL = const(0x07)  # ASCII

FEATURE_APDU_LEVEL = const(0x0001)  # XfrBlock carries APDUs (the firmware runs T=0/T=1)
FEATURE_TPDU_LEVEL = const(0x0002)
FEATURE_SCRIPTS = const(0x0004)
FEATURE_UPDATE = const(0x0008)
FEATURE_PIN_PAD = const(0x0010)
FEATURE_SIM = const(0x0020)

# NATIVE answer: integrity check of native frames
CHECK_CRC32 = const(0x01)

# Vendor bError codes (CCID user-defined range 0x81..0xC0)
ERR_BAD_LENGTH = const(0x81)  # payload too short / too long for the command
ERR_BAD_PARAMETER = const(0x82)
ERR_BAD_STATE = const(0x83)  # e.g. UPDATE_WRITE without UPDATE_BEGIN
ERR_UNKNOWN_COMMAND = const(0x84)
ERR_BUSY = const(0x85)
ERR_UPDATE_SIGNATURE = const(0x90)
ERR_UPDATE_BOARD = const(0x91)
ERR_UPDATE_DOWNGRADE = const(0x92)
ERR_UPDATE_HASH = const(0x93)
ERR_UPDATE_OFFSET = const(0x94)
ERR_UPDATE_STORAGE = const(0x95)
ERR_UPDATE_FORMAT = const(0x96)
ERR_SCRIPT_FORMAT = const(0xA0)
ERR_SCRIPT_TOO_LONG = const(0xA1)
