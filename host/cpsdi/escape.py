"""Payloads of cpsdi's vendor Escape sub-commands (protocol/README.md), host side."""

from __future__ import annotations

from dataclasses import dataclass

from construct import Bytes, ConstructError, GreedyRange, Int8ul, Int32ul, Struct
from cpsdi_proto import escape as wire

from cpsdi.exceptions import ReaderProtocolError

InfoTLVs = GreedyRange(Struct("tag" / Int8ul, "length" / Int8ul, "value" / Bytes(lambda this: this.length)))
NativeRequest = Struct("max_message" / Int32ul)
NativeAnswer = Struct("max_message" / Int32ul, "check" / Int8ul)


@dataclass(frozen=True)
class PinPadInfo:
    """GET_INFO TLV 09: the reader's keypad (docs/pinpad.md)."""

    pin_support: int
    """CCID bPINSupport: bit 0 verification, bit 1 modification."""
    display_lines: int
    display_chars: int
    max_digits: int

    def describe(self) -> str:
        """e.g. "verify+modify, display 2x16, up to 12 digits"."""
        ops = "+".join(name for bit, name in ((1, "verify"), (2, "modify")) if self.pin_support & bit) or "none"
        display = f"display {self.display_lines}x{self.display_chars}" if self.display_lines else "no display"
        return f"{ops}, {display}, up to {self.max_digits} digits"


@dataclass(frozen=True)
class ReaderInfo:
    """What GET_INFO reports about a reader."""

    protocol_version: int
    firmware_version: str
    board: str
    slots: int
    native_max_message: int
    features: int
    serial: str = ""
    slot_capabilities: tuple[tuple[int, int], ...] = ()  # per slot: (voltage classes, protocols) bitmaps
    pin_pad: PinPadInfo | None = None  # only readers with a keypad

    def voltage_classes(self, slot: int) -> str:
        """The classes slot ``slot`` can supply, as letters ("ABC"); "" if not reported."""
        if slot >= len(self.slot_capabilities):
            return ""
        bits = self.slot_capabilities[slot][0]
        return "".join(c for i, c in enumerate("ABC") if bits >> i & 1)

    def has(self, feature: int) -> bool:
        """True if the reader announces ``feature`` (a ``cpsdi_proto.escape.FEATURE_*`` bit)."""
        return bool(self.features & feature)


def vendor_request(command: int, payload: bytes = b"") -> bytes:
    """abData of a vendor Escape request."""
    return bytes([wire.VENDOR_CLASS, command]) + payload


def vendor_answer_payload(command: int, data: bytes) -> bytes:
    """Check the ``CD <command>`` prefix of a vendor Escape answer and return its payload."""
    if len(data) < 2 or data[0] != wire.VENDOR_CLASS or data[1] != command:
        raise ReaderProtocolError(f"vendor Escape answer does not echo command 0x{command:02X}: {data[:8].hex(' ')}")
    return bytes(data[2:])


def parse_info(payload: bytes) -> ReaderInfo:
    """Decode the TLVs of a GET_INFO answer; unknown tags are ignored (forward compatible)."""
    try:
        items = InfoTLVs.parse(payload)
    except ConstructError as exc:
        raise ReaderProtocolError(f"malformed GET_INFO answer: {exc}") from exc
    if sum(2 + it.length for it in items) != len(payload):
        raise ReaderProtocolError("GET_INFO answer ends inside a TLV")
    tlv = {it.tag: bytes(it.value) for it in items}

    def integer(tag: int) -> int:
        return int.from_bytes(tlv.get(tag, b""), "little")

    def text(tag: int) -> str:
        return tlv.get(tag, b"").decode("ascii", "replace")

    if wire.INFO_PROTOCOL_VERSION not in tlv:
        raise ReaderProtocolError("GET_INFO answer has no protocol version")
    pad = tlv.get(wire.INFO_PIN_PAD)
    if pad is not None and len(pad) < 4:
        raise ReaderProtocolError(f"GET_INFO PIN-pad TLV of {len(pad)} bytes, expected 4")
    return ReaderInfo(
        protocol_version=integer(wire.INFO_PROTOCOL_VERSION),
        firmware_version=text(wire.INFO_FIRMWARE_VERSION),
        board=text(wire.INFO_BOARD),
        slots=integer(wire.INFO_SLOTS),
        native_max_message=integer(wire.INFO_NATIVE_MAX_MESSAGE),
        features=integer(wire.INFO_FEATURES),
        serial=text(wire.INFO_SERIAL),
        slot_capabilities=tuple(
            (caps[i], caps[i + 1]) for caps in [tlv.get(wire.INFO_SLOT_CAPABILITIES, b"")] for i in range(0, len(caps) - 1, 2)
        ),
        pin_pad=PinPadInfo(pad[0], pad[1], pad[2], pad[3]) if pad is not None else None,  # longer: future fields
    )


def build_info(info: ReaderInfo) -> bytes:
    """Encode a GET_INFO answer payload (used by tests and the simulator's host tools)."""
    items = [
        (wire.INFO_PROTOCOL_VERSION, info.protocol_version.to_bytes(1, "little")),
        (wire.INFO_FIRMWARE_VERSION, info.firmware_version.encode("ascii")),
        (wire.INFO_BOARD, info.board.encode("ascii")),
        (wire.INFO_SLOTS, info.slots.to_bytes(1, "little")),
        (wire.INFO_NATIVE_MAX_MESSAGE, info.native_max_message.to_bytes(4, "little")),
        (wire.INFO_FEATURES, info.features.to_bytes(4, "little")),
    ]
    if info.serial:
        items.append((wire.INFO_SERIAL, info.serial.encode("ascii")))
    if info.slot_capabilities:
        items.append((wire.INFO_SLOT_CAPABILITIES, bytes(b for pair in info.slot_capabilities for b in pair)))
    if info.pin_pad is not None:
        pad = info.pin_pad
        items.append((wire.INFO_PIN_PAD, bytes((pad.pin_support, pad.display_lines, pad.display_chars, pad.max_digits))))
    return bytes(InfoTLVs.build([{"tag": t, "length": len(v), "value": v} for t, v in items]))
