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
INFO_SLOT_CAPABILITIES = const(0x08)  # 2 bytes per slot: CLASSES_* bitmap, PROTOCOLS_* bitmap
INFO_PIN_PAD = const(0x09)  # only with a keypad: bPINSupport u8, display lines u8, chars u8, max digits u8

CLASSES_A = const(0x01)  # 5 V
CLASSES_B = const(0x02)  # 3 V
CLASSES_C = const(0x04)  # 1.8 V
PROTOCOLS_T0_T1 = const(0x03)  # bit 0 T=0, bit 1 T=1

FEATURE_APDU_LEVEL = const(0x0001)  # XfrBlock carries APDUs (the firmware runs T=0/T=1)
FEATURE_TPDU_LEVEL = const(0x0002)
FEATURE_SCRIPTS = const(0x0004)
FEATURE_UPDATE = const(0x0008)
FEATURE_PIN_PAD = const(0x0010)
FEATURE_SIM = const(0x0020)

# GET_COUNTERS answer: TLVs (tag, 04, u32 LE)
COUNTER_FRAMES = const(0x01)  # frames received with a good check
COUNTER_NAKS = const(0x02)  # NAKs sent
COUNTER_BAD_CHECKS = const(0x03)
COUNTER_GARBAGE = const(0x04)  # bytes skipped between frames
COUNTER_OVERSIZE = const(0x05)
COUNTER_RETRANSMITS = const(0x06)  # retransmissions answered from the cache (exactly once)
COUNTER_ERRORS = const(0x07)  # internal failures caught (answered HW_ERROR)
COUNTER_KEEPALIVES = const(0x08)
COUNTER_TIMEOUTS = const(0x09)  # partial frames dropped after the inter-byte timeout
COUNTER_REQUESTS = const(0x10)  # CCID requests handled
COUNTER_CARD_ERRORS = const(0x11)  # card operations failed

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

# UPDATE_* (CD 10..16), protocol/README.md §3.1. BEGIN: metadata blob -> next_off u32, img_size u32,
# slot u8. WRITE: offset u32, data -> next_off u32 (nothing written unless offset == next_off).
# FINISH: flags u8 -> slot u8, tries u8. STATUS: - -> UPDATE_STATUS_FIXED bytes, fw_compat (u8 length
# + ASCII), keys (u8 count + 32 bytes each). CONFIRM: - -> active u8, floor u32. ROLLBACK: flags u8 ->
# active u8, pending u8. ABORT: - -> -.
UPDATE_FLAG_REBOOT = const(0x01)  # FINISH / ROLLBACK flags: reset the reader once the answer is out
UPDATE_WRITE_OVERHEAD = const(6)  # CD 11 + u32 offset before the data of a WRITE
UPDATE_STATUS_FORMAT = const(1)
UPDATE_STATUS_FIXED = const(98)
UPDATE_ST_SESSION = const(0x01)  # STATUS flags: a transfer session is open
UPDATE_ST_TRIAL = const(0x02)  # the running image is an unconfirmed trial
UPDATE_ST_REBOOT = const(0x04)  # a reset is pending (after this answer)
UPDATE_ST_STATE_OK = const(0x08)  # a valid state record exists
UPDATE_SLOT_NONE = const(0xFF)  # no slot: running/active = the factory image; pending/session = none
UPDATE_SLOT_EMPTY = const(0)  # slot status: empty, receiving, installed, bad
UPDATE_SLOT_RECEIVING = const(1)
UPDATE_SLOT_INSTALLED = const(2)
UPDATE_SLOT_BAD = const(3)

# RUN_SCRIPT (CD 20), protocol/README.md §3, row 20. Request payload: count u8 (1..SCRIPT_MAX_STEPS),
# then per step: flags u8, [expected SW u16 BE if SCRIPT_EXPECT_SW], APDU length u16 LE (>= 4),
# APDU. Answer payload: steps run u8, stop reason u8, then per step run: length u16 LE, response
# (data + SW1 SW2).
SCRIPT_MAX_STEPS = const(64)
SCRIPT_STOP_ON_ERROR = const(0x01)  # stop after this step unless its SW is 9000
SCRIPT_EXPECT_SW = const(0x02)  # an expected SW follows the flags; stop after this step unless equal
SCRIPT_FLAGS_MASK = const(0x03)  # other flag bits are RFU: ERR_SCRIPT_FORMAT
SCRIPT_DONE = const(0x00)  # every step ran
SCRIPT_SW_ERROR = const(0x01)  # the last step run had SCRIPT_STOP_ON_ERROR and SW != 9000
SCRIPT_SW_MISMATCH = const(0x02)  # the last step run had SCRIPT_EXPECT_SW and another SW
SCRIPT_FULL = const(0x03)  # stopped before the next step: its response might not fit the answer

# READ_EVENT_LOG (CD 32), protocol/README.md §3, row 32. Answer payload: count u8, lost u16 LE (entries
# overwritten or left out since the last RESET_COUNTERS), then count entries, oldest first, of
# EVENT_SIZE bytes: time ms u32 LE, event u8, slot u8, arg1 u8, arg2 u8.
EVENT_SIZE = const(8)
EVENT_LOG_ENTRIES = const(32)
EVENT_CARD_INSERTED = const(0x01)  # seen by the CCID service at a request (args 0)
EVENT_CARD_REMOVED = const(0x02)  # idem
EVENT_POWER_ON = const(0x03)  # arg1 protocol (0/1), arg2 1 = APDU level, 0 = TPDU level
EVENT_POWER_ON_FAILED = const(0x04)  # arg1 CCID bError
EVENT_POWER_OFF = const(0x05)  # IccPowerOff
EVENT_CARD_ERROR = const(0x06)  # arg1 CCID bError, arg2 the request's bMessageType (6F XfrBlock, 6B script)
EVENT_ESCAPE_ERROR = const(0x07)  # arg1 vendor bError, arg2 the vendor command
# Reserved, not recorded yet (they happen below the CCID service: slot.py, link.py)
EVENT_PPS = const(0x08)
EVENT_T1_RESYNCH = const(0x09)
EVENT_LINK_NAK = const(0x0A)
EVENT_LINK_BAD_CHECK = const(0x0B)
EVENT_CLOCK = const(0x0C)  # CLK raised after the ATR/PPS (ISO 7816-3 §8.3): arg1 = the new clock in 100 kHz
