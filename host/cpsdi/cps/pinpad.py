"""The holder's PIN typed on the reader's PIN pad (CCID PC_to_RDR_Secure, issue #12).

With ``verify_pin_on_reader(card)`` (and ``change_pin_on_reader``, ``unblock_pin_on_reader``)
the host sends the card's APDU with an empty PIN block and the CCID PIN verification /
modification structure (CCID rev 1.1 §6.1.11); the reader prompts the holder, inserts the
digits and sends the APDU itself. The PIN never crosses the host link and never exists in
host memory. Nothing is retried: a wrong PIN costs one try, as with `CPSCard.verify_pin`.

CPS PIN block (GUESS, cps-cards.md §14, as the virtual cards): ASCII digits, left-justified
in 8 bytes padded with FF; 4..8 digits for the PIN, 8 for the unblock code.

=========  =============================================================================
CPS3       verify ``00 20 00 01``; change: one modification (current, new, confirmation)
           on ``00 24 00 01`` (old at offset 0, new at 8); unblock: the unblock code
           verified on the pad (``00 20 00 02``), then a modification with the new PIN
           twice on ``00 2C 02 01``
CPS4       verify ``01 20 00 01``; change: a verification, then a modification (new PIN
           twice) on ``01 24 01 01``; unblock: the unblock code on the pad (``01 20 00 02``),
           ``01 2C 03 81``, then the modification
=========  =============================================================================

Outcomes: the card's status words map as for typed PINs (`WrongPin` with the tries left,
`PinBlocked`, `CardBlocked`); the pad's own ones raise `PinEntryCancelled`,
`PinEntryTimeout`, `PinEntryMismatch` (no card try used); a reader without a PIN pad raises
`NoPinPad` before anything is sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from cpsdi_proto import ccid as wire
from cpsdi_proto import escape as vendor

from cpsdi.cps.card import CPSCard
from cpsdi.cps.cps3 import CHV_HOLDER, CHV_UNBLOCK, CPS3Card
from cpsdi.cps.cps4 import PIN_HOLDER, PIN_UNBLOCK, CPS4Card
from cpsdi.cps.errors import NoPinPad, PinEntryCancelled, PinEntryMismatch, PinEntryTimeout
from cpsdi.exceptions import ReaderProtocolError
from cpsdi.link import check_answer
from cpsdi.reader import CardConnection, Response

__all__ = [
    "PinFormat",
    "PinPad",
    "CPS_PIN",
    "CPS_UNBLOCK_CODE",
    "DEFAULT_ENTRY_TIMEOUT_S",
    "verify_data",
    "modify_data",
    "pin_template",
    "has_pin_pad",
    "verify_pin_on_reader",
    "change_pin_on_reader",
    "unblock_pin_on_reader",
]

log = logging.getLogger(__name__)

DEFAULT_ENTRY_TIMEOUT_S = 30
"""bTimeOut: seconds the holder has for each key (the first one counted from the prompt)."""
LANG_FR = 0x040C  # wLangId: French (the reader's prompts)
PAD_BYTE = 0xFF
# Prompt indexes of the reader's message table (bMsgIndex)
MESSAGE_PIN = 0
MESSAGE_NEW_PIN = 1
MESSAGE_CONFIRM = 2
_ENTRY_SW = {wire.SW_PIN_TIMEOUT: PinEntryTimeout, wire.SW_PIN_CANCELLED: PinEntryCancelled,
             wire.SW_PIN_MISMATCH: PinEntryMismatch}
_ENTRY_TEXT = {wire.SW_PIN_TIMEOUT: "nobody typed on the PIN pad in time",
               wire.SW_PIN_CANCELLED: "PIN entry cancelled on the PIN pad",
               wire.SW_PIN_MISMATCH: "the new PIN and its confirmation differ"}
_ENTRY_ERRORS = {wire.ERR_PIN_TIMEOUT: wire.SW_PIN_TIMEOUT, wire.ERR_PIN_CANCELLED: wire.SW_PIN_CANCELLED}


@dataclass(frozen=True)
class PinFormat:
    """Where and how the reader writes a PIN into the APDU (CCID bmFormatString,
    bmPINBlockString, bmPINLengthFormat, wPINMaxExtraDigit)."""

    encoding: int = wire.PIN_FORMAT_ASCII
    block_bytes: int = 8
    right_justified: bool = False
    position_bytes: int = 0
    length_field_bits: int = 0
    length_position_bits: int = 0
    min_digits: int = 4
    max_digits: int = 8

    def __post_init__(self) -> None:
        if not (0 <= self.block_bytes <= 15 and 0 <= self.position_bytes <= 15 and 0 <= self.length_field_bits <= 15
                and 0 <= self.length_position_bits <= 15 and 1 <= self.min_digits <= self.max_digits <= 255):
            raise ValueError("PIN format field out of range (CCID §6.1.11)")

    @property
    def format_string(self) -> int:
        """bmFormatString: byte units, position, justification, encoding."""
        justify = wire.PIN_JUSTIFY_RIGHT if self.right_justified else 0
        return wire.PIN_UNITS_BYTES | self.position_bytes << 3 | justify | self.encoding

    @property
    def block_string(self) -> int:
        """bmPINBlockString: length-field size in bits, block size in bytes."""
        return self.length_field_bits << 4 | self.block_bytes

    @property
    def length_format(self) -> int:
        """bmPINLengthFormat: length-field position in bits."""
        return self.length_position_bits


CPS_PIN = PinFormat()
CPS_UNBLOCK_CODE = PinFormat(min_digits=8, max_digits=8)


def pin_template(cla: int, ins: int, p1: int, p2: int, blocks: int = 1, block_bytes: int = 8) -> bytes:
    """A case-3 APDU whose data are ``blocks`` empty PIN blocks (FF padding)."""
    size = blocks * block_bytes
    return bytes((cla, ins, p1, p2, size)) + bytes((PAD_BYTE,)) * size


def verify_data(template: bytes, fmt: PinFormat, *, timeout_s: int = DEFAULT_ENTRY_TIMEOUT_S,
                message: int = MESSAGE_PIN, lang_id: int = LANG_FR,
                validation: int = wire.PIN_VALID_KEY) -> bytes:
    """abData of a PC_to_RDR_Secure PIN verification (bPINOperation 00 + structure + APDU)."""
    if not 0 <= timeout_s <= 255:
        raise ValueError("bTimeOut is 0..255 seconds")
    return bytes((
        wire.PIN_OPERATION_VERIFY, timeout_s, fmt.format_string, fmt.block_string, fmt.length_format,
        fmt.max_digits, fmt.min_digits, validation, 1, lang_id & 0xFF, lang_id >> 8, message, 0, 0, 0,
    )) + bytes(template)


def modify_data(template: bytes, fmt: PinFormat, *, confirm: int, offset_old: int = 0, offset_new: int = 0,
                messages: tuple[int, ...] = (MESSAGE_NEW_PIN, MESSAGE_CONFIRM),
                timeout_s: int = DEFAULT_ENTRY_TIMEOUT_S, lang_id: int = LANG_FR,
                validation: int = wire.PIN_VALID_KEY) -> bytes:
    """abData of a PIN modification: ``confirm`` is bConfirmPIN (PIN_CONFIRM_*), ``messages``
    one prompt per PIN typed (bMsgIndex1..3; bMsgIndex2/3 present as libccid sends them)."""
    if not 1 <= len(messages) <= 3 or not 0 <= timeout_s <= 255:
        raise ValueError("1 to 3 messages, bTimeOut 0..255 seconds")
    count = len(messages)
    present = 1 + (1 if count else 0) + (1 if count >= 3 else 0)
    indexes = (tuple(messages) + (0, 0, 0))[:present]
    return bytes((
        wire.PIN_OPERATION_MODIFY, timeout_s, fmt.format_string, fmt.block_string, fmt.length_format,
        offset_old, offset_new, fmt.max_digits, fmt.min_digits, confirm, validation, count,
        lang_id & 0xFF, lang_id >> 8, *indexes, 0, 0, 0,
    )) + bytes(template)


def has_pin_pad(connection: CardConnection) -> bool:
    """True if the reader of ``connection`` announces a PIN pad (GET_INFO feature 0010)."""
    return connection.slot.reader.info.has(vendor.FEATURE_PIN_PAD)


class PinPad:
    """The PIN pad of the reader holding ``connection`` (raises `NoPinPad` without one)."""

    def __init__(self, connection: CardConnection) -> None:
        if not has_pin_pad(connection):
            raise NoPinPad("the reader has no PIN pad: the PIN must be typed on the host (CPSCard.verify_pin)")
        if not connection.slot.apdu_level:
            raise NoPinPad(f"slot {connection.slot.index} is at TPDU level: this library sends PIN-pad APDUs "
                           "at APDU level only")
        self.connection = connection

    def verify(self, template: bytes, fmt: PinFormat = CPS_PIN, **options: int) -> Response:
        """One PIN typed on the pad into ``template``; the card's response (`verify_data` options)."""
        return self._secure(template, verify_data(template, fmt, **options))

    def modify(self, template: bytes, fmt: PinFormat = CPS_PIN, *, confirm: int,
               messages: tuple[int, ...] = (MESSAGE_NEW_PIN, MESSAGE_CONFIRM), **options: int) -> Response:
        """A PIN modification typed on the pad (`modify_data`); the card's response."""
        return self._secure(template, modify_data(template, fmt, confirm=confirm, messages=messages, **options))

    def _secure(self, template: bytes, data: bytes) -> Response:
        connection = self.connection
        if connection.closed:
            raise ReaderProtocolError("PIN-pad command on a disconnected card")
        slot = connection.slot
        reader = slot.reader
        if reader.trace:
            reader.trace.apdu_command(slot.index, template)  # the empty template (redacted anyway)
        answer = reader.link.request(wire.PC_TO_RDR_SECURE, slot.index, data)
        if answer.failed and answer.error in _ENTRY_ERRORS:
            sw = _ENTRY_ERRORS[answer.error]
            raise _ENTRY_SW[sw](_ENTRY_TEXT[sw], sw)
        response = Response.from_bytes(check_answer(answer, wire.PC_TO_RDR_SECURE).data)
        if reader.trace:
            reader.trace.apdu_response(slot.index, response.data, response.sw)
        if response.sw == wire.SW_PIN_MISMATCH and not response.data:  # made by the reader, no card exchange
            raise PinEntryMismatch(_ENTRY_TEXT[response.sw], response.sw)
        return response


def _cps3(card: CPSCard) -> CPS3Card | None:
    return card if isinstance(card, CPS3Card) else None


def _cps4(card: CPSCard) -> CPS4Card:
    if not isinstance(card, CPS4Card):
        raise NoPinPad(f"{card.generation.value}: no PIN-pad sequence for this card generation")
    return card


def verify_pin_on_reader(card: CPSCard, *, timeout_s: int = DEFAULT_ENTRY_TIMEOUT_S) -> None:
    """The holder types the PIN on the reader's pad: WrongPin(tries_left), PinBlocked,
    CardBlocked, PinEntryCancelled / PinEntryTimeout, or NoPinPad."""
    pad = PinPad(card.connection)
    cps3 = _cps3(card)
    if cps3 is not None:
        sw = pad.verify(pin_template(0x00, 0x20, 0x00, CHV_HOLDER), timeout_s=timeout_s).sw
        cps3._pin_answer(sw, "PIN", sw in (0x63C0, 0x6983) and cps3._unblock_exhausted())
        return
    cps4 = _cps4(card)
    sw = pad.verify(pin_template(cps4.cla, 0x20, 0x00, PIN_HOLDER), timeout_s=timeout_s).sw
    if sw in (0x63C0, 0x6983):
        cps4._pin_answer(sw, "PIN", cps4._unblock_left() == 0)
    cps4._pin_answer(sw, "PIN")
    cps4._verified = True


def change_pin_on_reader(card: CPSCard, *, timeout_s: int = DEFAULT_ENTRY_TIMEOUT_S) -> None:
    """The holder types the current PIN, the new one and its confirmation on the pad (CPS4:
    two PIN-pad commands). Errors as `verify_pin_on_reader`, plus PinEntryMismatch."""
    pad = PinPad(card.connection)
    cps3 = _cps3(card)
    if cps3 is not None:
        sw = pad.modify(pin_template(0x00, 0x24, 0x00, CHV_HOLDER, blocks=2), timeout_s=timeout_s,
                        confirm=wire.PIN_CONFIRM_CURRENT | wire.PIN_CONFIRM_NEW, offset_old=0, offset_new=8,
                        messages=(MESSAGE_PIN, MESSAGE_NEW_PIN, MESSAGE_CONFIRM)).sw
        cps3._pin_answer(sw, "PIN", sw in (0x63C0, 0x6983) and cps3._unblock_exhausted())
        return
    cps4 = _cps4(card)
    verify_pin_on_reader(cps4, timeout_s=timeout_s)
    sw = pad.modify(pin_template(cps4.cla, 0x24, 0x01, PIN_HOLDER), timeout_s=timeout_s,
                    confirm=wire.PIN_CONFIRM_NEW).sw
    cps4._pin_answer(sw, "PIN")


def unblock_pin_on_reader(card: CPSCard, *, timeout_s: int = DEFAULT_ENTRY_TIMEOUT_S) -> None:
    """The holder types the unblock code, then the new PIN twice, on the pad. Errors: WrongPin
    (``what`` = "unblock code"), CardBlocked, PinEntry*, NoPinPad."""
    pad = PinPad(card.connection)
    cps3 = _cps3(card)
    if cps3 is not None:
        sw = pad.verify(pin_template(0x00, 0x20, 0x00, CHV_UNBLOCK), CPS_UNBLOCK_CODE, timeout_s=timeout_s).sw
        cps3._pin_answer(sw, "unblock code", blocked_for_good=True)
        sw = pad.modify(pin_template(0x00, 0x2C, 0x02, CHV_HOLDER), timeout_s=timeout_s,
                        confirm=wire.PIN_CONFIRM_NEW).sw
        cps3._pin_answer(sw, "PIN")
        return
    cps4 = _cps4(card)
    sw = pad.verify(pin_template(cps4.cla, 0x20, 0x00, PIN_UNBLOCK), CPS_UNBLOCK_CODE, timeout_s=timeout_s).sw
    cps4._pin_answer(sw, "unblock code", blocked_for_good=True)
    cps4._pin_answer(cps4._transmit(cps4._apdu(0x2C, 0x03, 0x80 | PIN_HOLDER)).sw, "PIN")
    sw = pad.modify(pin_template(cps4.cla, 0x24, 0x01, PIN_HOLDER), timeout_s=timeout_s,
                    confirm=wire.PIN_CONFIRM_NEW).sw
    cps4._pin_answer(sw, "PIN")
