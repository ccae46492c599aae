"""A scripted fake cpsdi reader for host tests (no tests here; imported by the link/reader/trace tests).

`FakeReader` is a pyserial-like object (``read``/``write``/``in_waiting``/``timeout``): it parses
host frames with cpsdi_proto's FrameDecoder, answers CCID messages like the firmware (compat
echo, answers in the framing of the request, per-slot answer cache keyed by bSeq = exactly
once), and plays faults from a script: lost answers, corrupted answers, NAKs, keep-alives,
late and stale answers. `register_url_handler` exposes fakes as ``fake://<name>`` pyserial URLs
through ``serial.protocol_handler_packages`` (for the CLI tests).
"""

from __future__ import annotations

import struct
import sys
import threading
import time
import types
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import serial
from cpsdi_proto import ccid as wire
from cpsdi_proto import escape as vendor
from cpsdi_proto.decoder import EV_BAD_CHECK, EV_FRAME, EV_NONE, FrameDecoder
from cpsdi_proto.gempc import NAK_FRAME
from cpsdi_proto.native import NATIVE_MAX_MESSAGE

from cpsdi.escape import ReaderInfo, build_info
from cpsdi.framing import encode_frame

PIN = b"1234"
AID = bytes.fromhex("A0000000031010")
T0_ATR = bytes.fromhex("3B021450")
T1_ATR = bytes.fromhex("3BF81300008131FE454A434F5076323431B7")


@dataclass
class FakeCard:
    """A tiny ISO 7816-4 card: SELECT, VERIFY (PIN 1234), GET CHALLENGE, READ BINARY."""

    atr: bytes = T0_ATR
    protocol: int = 0
    tries: int = 3
    verified: bool = False
    mute: bool = False
    apdus: list[bytes] = field(default_factory=list)

    def apdu(self, cmd: bytes) -> bytes:
        self.apdus.append(cmd)
        ins = cmd[1]
        data = cmd[5 : 5 + cmd[4]] if len(cmd) > 5 else b""
        if ins == 0x20:
            if self.tries == 0:
                return b"\x69\x83"
            if data.rstrip(b"\xff") == PIN:
                self.tries, self.verified = 3, True
                return b"\x90\x00"
            self.tries -= 1
            return bytes([0x63, 0xC0 | self.tries]) if self.tries else b"\x69\x83"
        if ins == 0xA4:
            return b"\x90\x00" if data == AID else b"\x6a\x82"
        if ins == 0x84:
            return bytes(range(1, 9)) + b"\x90\x00"
        if ins == 0xB0:
            return b"DATA\x90\x00" if self.verified else b"\x69\x82"
        if ins == 0xEE:  # echo the data back (long messages)
            return data + b"\x90\x00"
        return b"\x6d\x00"


class FakeReader:
    """See the module docstring. ``faults`` holds one entry per upcoming request (None = normal)."""

    def __init__(
        self,
        *,
        slots: int = 1,
        cards: dict[int, FakeCard | None] | None = None,
        echo: str | None = "header",
        native_max: int = 4096,
        get_info: bool = True,
        native_answer: bytes | None = None,
        apdu_escape: bool = True,
    ) -> None:
        self.slots = slots
        self.cards: dict[int, FakeCard | None] = cards if cards is not None else {0: FakeCard()}
        self.echo = echo
        self.native_max = native_max
        self.get_info = get_info
        self.native_answer = native_answer
        self.apdu_escape = apdu_escape
        self.decoder = FrameDecoder(from_reader=False, native_max_message=NATIVE_MAX_MESSAGE)
        self.timeout: float | None = 0.01
        self.port = ""
        self.is_open = True
        self._out: deque[tuple[float, bytes]] = deque()
        self._lock = threading.Lock()
        self.cache: dict[int, tuple[int, bytes, bytes]] = {}  # slot -> (bSeq, answer, request)
        self.powered: dict[int, bool] = {}
        self.executed: list[tuple[int, int, int]] = []  # (type, slot, seq)
        self.received: list[bytes] = []  # good frames from the host, raw
        self.bad_received = 0
        self.faults: deque[Any] = deque()
        self.native_granted = 0

    # --- pyserial-like side ---

    def open(self) -> None:
        self.is_open = True

    def close(self) -> None:
        self.is_open = False

    def reset_input_buffer(self) -> None:
        with self._lock:
            self._out.clear()

    def _released(self) -> int:
        now = time.monotonic()
        n = 0
        for at, data in self._out:
            if at > now:
                break
            n += len(data)
        return n

    @property
    def in_waiting(self) -> int:
        with self._lock:
            return self._released()

    def read(self, size: int = 1) -> bytes:
        end = time.monotonic() + (self.timeout or 0.0)
        while True:
            with self._lock:
                if self._released():
                    out = bytearray()
                    now = time.monotonic()
                    while self._out and len(out) < size and self._out[0][0] <= now:
                        at, data = self._out.popleft()
                        take = size - len(out)
                        out += data[:take]
                        if len(data) > take:
                            self._out.appendleft((at, data[take:]))
                    return bytes(out)
            if time.monotonic() >= end:
                return b""
            time.sleep(0.001)

    def write(self, data: bytes) -> int:
        data = bytes(data)
        i = 0
        while True:
            i = self.decoder.feed(data, i, len(data))
            kind = self.decoder.kind
            if kind == EV_NONE:
                break
            if kind == EV_BAD_CHECK:
                self.bad_received += 1
                self.emit(NAK_FRAME)
            elif kind == EV_FRAME:
                d = self.decoder
                frame = bytes(d.buf[: d.frame_len])
                self.received.append(frame)
                self._request(bytes(d.message()), d.native, frame)
        return len(data)

    # --- reader side ---

    def emit(self, data: bytes, delay_s: float = 0.0) -> None:
        with self._lock:
            at = time.monotonic() + delay_s
            if self._out and self._out[-1][0] > at:
                at = self._out[-1][0]
            self._out.append((at, data))

    def notify(self, bitmap: int, delay_s: float = 0.0) -> None:
        """Card movement ``50 bitmap``."""
        self.emit(bytes([wire.RDR_TO_PC_NOTIFY_SLOT_CHANGE, bitmap]), delay_s)

    def _request(self, message: bytes, native: bool, frame: bytes) -> None:
        kind, _, slot, seq, _, _, _ = wire.unpack_header(message)
        fault = self.faults.popleft() if self.faults else None
        if fault == "nak":  # pretend the request arrived corrupted
            self.emit(NAK_FRAME)
            return
        if not native and self.echo:
            echo = message[: wire.HEADER_SIZE] if self.echo == "header" else message
            if self.echo == "header":
                echo = echo[:1] + b"\x00\x00\x00\x00" + echo[5:]
            echo_frame = encode_frame(echo)
            if fault == "corrupt_echo":  # one flipped bit in the echo's last data byte
                echo_frame = echo_frame[:-2] + bytes([echo_frame[-2] ^ 0x01]) + echo_frame[-1:]
                fault = None
            self.emit(echo_frame)
        cached = self.cache.get(slot)
        if cached is not None and cached[0] == seq and cached[2] == message:
            answer = cached[1]  # a retransmission: same bSeq and same bytes (protocol/README.md)
        else:
            answer = self._execute(kind, slot, seq, message[wire.HEADER_SIZE :], message)
            self.cache[slot] = (seq, answer, message)
            self.executed.append((kind, slot, seq))
        out = encode_frame(answer, native=native)
        if fault is None:
            self.emit(out)
        elif fault == "drop":
            pass
        elif fault == "corrupt":
            bad = bytearray(out)
            bad[-2] ^= 0x01
            self.emit(bytes(bad))
        elif fault == "stale":
            old = bytearray(answer)
            old[wire.OFF_SEQ] = (seq - 1) & 0xFF
            self.emit(encode_frame(bytes(old), native=native))
            wrong_slot = bytearray(answer)
            wrong_slot[wire.OFF_SLOT] ^= 1
            self.emit(encode_frame(bytes(wrong_slot), native=native))
            self.emit(out)
        elif isinstance(fault, tuple) and fault[0] == "keepalive":
            _, count, interval = fault
            for k in range(count):
                self.emit(b"\x80", interval * (k + 1))
            self.emit(out, interval * (count + 1))
        elif isinstance(fault, tuple) and fault[0] == "late":
            self.emit(out, fault[1])
        elif isinstance(fault, tuple) and fault[0] == "notify":
            self.notify(fault[1])
            self.emit(out)
        else:  # pragma: no cover - test bug
            raise AssertionError(f"unknown fault {fault!r}")

    def _icc(self, slot: int) -> int:
        if self.cards.get(slot) is None:
            return wire.ICC_ABSENT
        return wire.ICC_ACTIVE if self.powered.get(slot) else wire.ICC_INACTIVE

    def _answer(self, kind: int, slot: int, seq: int, data: bytes = b"", error: int | None = None, p3: int = 0) -> bytes:
        status = self._icc(slot)
        if error is not None:
            status |= wire.COMMAND_FAILED
        return struct.pack("<BIBBBBB", kind, len(data), slot, seq, status, error or 0, p3) + data

    def _execute(self, kind: int, slot: int, seq: int, data: bytes, message: bytes) -> bytes:
        answer_kind = wire.answer_type(kind)
        if slot >= self.slots:
            return self._answer(answer_kind, slot, seq, error=wire.ERR_BAD_SLOT)
        card = self.cards.get(slot)
        if kind == wire.PC_TO_RDR_ESCAPE:
            return self._escape(slot, seq, data)
        if kind == wire.PC_TO_RDR_GET_SLOT_STATUS:
            return self._answer(answer_kind, slot, seq)
        if kind == wire.PC_TO_RDR_ICC_POWER_ON:
            if card is None:
                return self._answer(answer_kind, slot, seq, error=wire.ERR_ICC_MUTE)
            if card.mute:
                return self._answer(answer_kind, slot, seq, error=wire.ERR_ICC_MUTE)
            self.powered[slot] = True
            return self._answer(answer_kind, slot, seq, card.atr)
        if kind == wire.PC_TO_RDR_ICC_POWER_OFF:
            self.powered[slot] = False
            return self._answer(answer_kind, slot, seq)
        if kind == wire.PC_TO_RDR_GET_PARAMETERS:
            if card is None:
                return self._answer(answer_kind, slot, seq, error=wire.ERR_ICC_MUTE)
            params = bytes.fromhex("1100000A00") if card.protocol == 0 else bytes.fromhex("11100045 00FE00")
            return self._answer(answer_kind, slot, seq, params, p3=card.protocol)
        if kind == wire.PC_TO_RDR_XFR_BLOCK:
            if card is None or not self.powered.get(slot):
                return self._answer(answer_kind, slot, seq, error=wire.ERR_ICC_MUTE)
            if card.mute:
                return self._answer(answer_kind, slot, seq, error=wire.ERR_ICC_MUTE)
            return self._answer(answer_kind, slot, seq, card.apdu(data))
        return self._answer(answer_kind, slot, seq, error=wire.ERR_CMD_NOT_SUPPORTED)

    def _escape(self, slot: int, seq: int, data: bytes) -> bytes:
        kind = wire.RDR_TO_PC_ESCAPE
        if data == b"\x1f\x02":
            return self._answer(kind, slot, seq) if self.apdu_escape else self._answer(kind, slot, seq, error=0)
        if len(data) >= 2 and data[0] == vendor.VENDOR_CLASS:
            command, payload = data[1], data[2:]
            if command == vendor.CMD_GET_INFO and self.get_info:
                info = ReaderInfo(
                    protocol_version=1,
                    firmware_version="fake-1.0",
                    board="fake",
                    slots=self.slots,
                    native_max_message=self.native_max,
                    features=vendor.FEATURE_APDU_LEVEL,
                    serial="F00",
                )
                return self._answer(kind, slot, seq, data[:2] + build_info(info))
            if command == vendor.CMD_NATIVE and self.native_max and self.get_info:
                if self.native_answer is not None:
                    return self._answer(kind, slot, seq, data[:2] + self.native_answer)
                wanted = int.from_bytes(payload[:4], "little")
                self.native_granted = min(wanted, self.native_max)
                return self._answer(
                    kind, slot, seq, data[:2] + self.native_granted.to_bytes(4, "little") + bytes([vendor.CHECK_CRC32])
                )
            if command == vendor.CMD_LOOPBACK:
                return self._answer(kind, slot, seq, data)
        return self._answer(kind, slot, seq, error=wire.ERR_CMD_NOT_SUPPORTED)

    def requests_of(self, kind: int) -> list[bytes]:
        """Good frames received from the host carrying requests of ``kind``."""
        return [f for f in self.received if f[2] == kind]


FAKES: dict[str, FakeReader] = {}
_PACKAGE = "cpsdi_test_urlhandlers"


def register_url_handler() -> None:
    """Make ``fake://<name>`` open ``FAKES[name]`` through ``serial.serial_for_url``."""
    if _PACKAGE in sys.modules:
        return
    package = types.ModuleType(_PACKAGE)
    package.__path__ = []
    module = types.ModuleType(_PACKAGE + ".protocol_fake")

    def serial_class_for_url(url: str) -> tuple[str, Any]:
        name = url.split("://", 1)[1]
        if name not in FAKES:
            raise serial.SerialException(f"no fake reader named {name!r}")
        fake = FAKES[name]
        return url, lambda *args, **kwargs: fake

    module.serial_class_for_url = serial_class_for_url  # type: ignore[attr-defined]
    sys.modules[_PACKAGE] = package
    sys.modules[_PACKAGE + ".protocol_fake"] = module
    if _PACKAGE not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append(_PACKAGE)
