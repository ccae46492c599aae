"""The fuzz targets: one function per parser, taking the raw fuzz input.

A target returns normally for every input its parser is documented to handle (a result or
one of the documented exceptions, which the target catches itself) and raises
:class:`InvariantError` (or lets any other exception escape) when the parser misbehaves.
The engine adds the per-input deadline and the memory watch. What each target catches is
listed in ``TARGETS[name].errors`` and in ``fuzz/README.md``.

Structure-aware where a checksum would stop random bytes at the door: the link targets seal
messages themselves (LRC / CRC-32) for most records, the T=1 target fixes the EDC of most
blocks, so the parsers behind the checks are reached.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cpsdi_boards.sim import SimCardPort
from cpsdi_boards.sim import t1_block
from cpsdi_boards.sim.cards import make_card
from cpsdi_boards.sim.cps import cps3, cps4, iso7816_4, profiles, virtual_cps, vitale  # noqa: F401  (instrumented)
from cpsdi_boards.sim.host_port import MemoryHostPort
from cpsdi_boards.sim.virtual_card import CardResponse, parse_atr_params
from cpsdi_fw import bundle_manifest, ed25519, mcuboot
from cpsdi_fw.iso7816_3 import atr as fw_atr
from cpsdi_fw.iso7816_3 import t1
from cpsdi_fw.main import Reader as Firmware
from cpsdi_proto import ccid as wire
from cpsdi_proto import decoder as dec
from cpsdi_proto.gempc import COMPAT_MAX_MESSAGE, seal_compat
from cpsdi_proto.native import NATIVE_MAX_MESSAGE, seal_native
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cpsdi.ccid import parse_message
from cpsdi.cps import pkcs15, sha_state, test_encoding, tlv
from cpsdi.cps.errors import CardDataError
from cpsdi.escape import parse_info
from cpsdi.exceptions import BadATRError, FramingError, ImageFormatError, ReaderProtocolError, UpdateError
from cpsdi.framing import BadFrame, Frame, FrameReader
from cpsdi.link import Answer
from cpsdi.reader import ATR
from cpsdi.update import bundle as host_bundle
from cpsdi.update import image as host_image

log = logging.getLogger(__name__)


class InvariantError(AssertionError):
    """A parser broke one of its documented promises (a wrong result, not an exception)."""


def check(condition: bool, message: str) -> None:
    """Raise InvariantError(message) unless ``condition``."""
    if not condition:
        raise InvariantError(message)


class Input:
    """Reads the fuzz input as a stream of small decisions (zeros once it is exhausted)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    @property
    def remaining(self) -> int:
        """Bytes not consumed yet."""
        return len(self.data) - self.pos

    def u8(self) -> int:
        """The next byte, or 0 past the end."""
        if self.pos >= len(self.data):
            return 0
        b = self.data[self.pos]
        self.pos += 1
        return b

    def u16(self) -> int:
        """Two bytes, little-endian."""
        return self.u8() | self.u8() << 8

    def take(self, n: int) -> bytes:
        """Up to ``n`` bytes."""
        out = self.data[self.pos : self.pos + n]
        self.pos += len(out)
        return out

    def rest(self) -> bytes:
        """Everything left."""
        return self.take(self.remaining)


@dataclass(frozen=True)
class Target:
    """A fuzz target: ``run(data)`` and what it covers."""

    name: str
    run: Callable[[bytes], None]
    covers: str
    errors: str
    max_len: int


# -- link decoder, firmware side ---------------------------------------------------------

_NATIVE_LIMITS = (0, 10, 300, 1034, 2058, NATIVE_MAX_MESSAGE)


def _events(d: Any, data: bytes, chunk: int) -> list[tuple[int, int, bytes]]:
    out: list[tuple[int, int, bytes]] = []
    n = len(data)
    size = len(d.buf)
    for start in range(0, n or 1, chunk):
        end = min(n, start + chunk)
        i = start
        for _ in range(4 * (end - start) + 64):
            j = d.feed(data, i, end)
            check(i <= j <= end, f"feed returned {j} outside [{i}, {end}]")
            i = j
            kind = d.kind
            if kind == dec.EV_NONE:
                check(i == end, "EV_NONE before the end of the data")
                break
            frame = b""
            if kind in (dec.EV_FRAME, dec.EV_BAD_CHECK):
                frame = bytes(d.buf[: d.frame_len])
                check(d.message_len >= wire.HEADER_SIZE, "frame shorter than a CCID header")
                message = bytes(d.message())
                length = int.from_bytes(message[1:5], "little")
                check(length == d.message_len - wire.HEADER_SIZE, "dwLength does not match the frame")
                limit = d.native_max_message if d.native else COMPAT_MAX_MESSAGE
                check(d.message_len <= limit, "frame over the limit")
                if kind == dec.EV_FRAME:
                    resealed = bytearray(len(frame) + 8)
                    resealed[: len(frame)] = frame
                    seal = seal_native if d.native else seal_compat
                    end_sealed = seal(resealed, d.message_len)
                    check(bytes(resealed[:end_sealed]) == frame, "a good frame does not re-seal to itself")
            out.append((kind, d.value, frame))
        else:
            raise InvariantError("the decoder does not progress")
    check(len(d.buf) == size, "the decoder buffer grew")
    return out


def link_fw(data: bytes) -> None:
    """cpsdi_proto.decoder.FrameDecoder as the firmware uses it (and the host): never raises,
    every event well-formed, the same events whatever the chunking."""
    inp = Input(data)
    sel = inp.u8()
    from_reader = bool(sel & 0x80)
    native_max = _NATIVE_LIMITS[sel % len(_NATIVE_LIMITS)]
    chunk = 1 + (sel >> 3 & 0x0F) * 7
    body = inp.rest()
    d1 = dec.FrameDecoder(from_reader, native_max)
    whole = _events(d1, body, max(1, len(body)))
    d2 = dec.FrameDecoder(from_reader, native_max)
    check(_events(d2, body, chunk) == whole, "events depend on the chunking")
    check(d1.frames == sum(1 for e in whole if e[0] == dec.EV_FRAME), "frame counter")
    check(d1.bad_checks == sum(1 for e in whole if e[0] == dec.EV_BAD_CHECK), "bad-check counter")
    check(d1.oversize == sum(1 for e in whole if e[0] == dec.EV_OVERSIZE), "oversize counter")


# -- link decoder, host side ---------------------------------------------------------------


def link_host(data: bytes) -> None:
    """cpsdi.framing.FrameReader + the host's message parsers (parse_message, Answer, parse_info).

    Documented errors: FramingError (message parsers), ReaderProtocolError (parse_info)."""
    inp = Input(data)
    sel = inp.u8()
    native_max = (1034, 2058, NATIVE_MAX_MESSAGE, 300)[sel & 3]
    chunk = 1 + (sel >> 2) * 5
    body = inp.rest()
    whole = list(FrameReader(native_max).feed(body))
    reader = FrameReader(native_max)
    parts = []
    for start in range(0, len(body), chunk):
        parts.extend(reader.feed(body[start : start + chunk]))
    check(parts == whole, "host events depend on the chunking")
    for event in whole:
        if isinstance(event, Frame):
            msg = event.message
            try:
                parsed = parse_message(msg)
                check(parsed.dwLength == len(msg) - wire.HEADER_SIZE, "parse_message dwLength")
            except FramingError:
                pass
            try:
                answer = Answer.from_message(msg)
                check(len(answer.data) == len(msg) - wire.HEADER_SIZE, "Answer data length")
            except FramingError:
                pass
            payload = msg[wire.HEADER_SIZE + 2 :]
            try:
                parse_info(payload)
            except ReaderProtocolError:
                pass
        elif isinstance(event, BadFrame):
            check(len(event.frame) >= wire.HEADER_SIZE + 3, "bad frame shorter than a header")


# -- CCID service in a running simulated firmware ---------------------------------------------

_MESSAGE_TYPES = (
    wire.PC_TO_RDR_ICC_POWER_ON,
    wire.PC_TO_RDR_ICC_POWER_OFF,
    wire.PC_TO_RDR_GET_SLOT_STATUS,
    wire.PC_TO_RDR_XFR_BLOCK,
    wire.PC_TO_RDR_GET_PARAMETERS,
    wire.PC_TO_RDR_RESET_PARAMETERS,
    wire.PC_TO_RDR_SET_PARAMETERS,
    wire.PC_TO_RDR_ESCAPE,
    wire.PC_TO_RDR_ICC_CLOCK,
    wire.PC_TO_RDR_T0_APDU,
    wire.PC_TO_RDR_SECURE,
    wire.PC_TO_RDR_MECHANICAL,
    wire.PC_TO_RDR_ABORT,
    wire.PC_TO_RDR_SET_DATA_RATE_AND_CLOCK_FREQUENCY,
)
_STEPS_PER_RECORD = 64


def _new_firmware() -> tuple[Any, MemoryHostPort]:
    hp = MemoryHostPort()
    ports = []
    for name in ("t0", "t1"):
        made = make_card(name)
        assert made is not None
        ports.append(SimCardPort(made[0]))
    return Firmware(hp, ports, board="sim", native_max_message=2058), hp


def _record_bytes(inp: Input) -> bytes:
    """One record of the ccid_service input: a sealed request, or raw line bytes."""
    ctl = inp.u8()
    n = inp.u16() & 0x7FF if ctl & 0x08 else inp.u8()
    body = bytearray(inp.take(n))
    if ctl & 0x02:
        return bytes(body)  # raw bytes on the line, unsealed
    if len(body) < wire.HEADER_SIZE:
        body += bytes(wire.HEADER_SIZE - len(body))
    if ctl & 0x80:  # steer towards the message types and slots that exist
        body[0] = _MESSAGE_TYPES[body[0] % len(_MESSAGE_TYPES)]
        body[5] %= 3
    if not ctl & 0x04:
        body[1:5] = (len(body) - wire.HEADER_SIZE).to_bytes(4, "little")
    native = bool(ctl & 0x01)
    limit = 2058 if native else COMPAT_MAX_MESSAGE
    del body[limit:]
    if not ctl & 0x04:
        body[1:5] = (len(body) - wire.HEADER_SIZE).to_bytes(4, "little")
    frame = bytearray(len(body) + 8)
    frame[2 : 2 + len(body)] = body
    end = seal_native(frame, len(body)) if native else seal_compat(frame, len(body))
    if ctl & 0x40 and end:  # one corrupted bit: the firmware must NAK it
        frame[(ctl * 7) % end] ^= 1 << (ctl & 7)
    return bytes(frame[:end])


def ccid_service(data: bytes) -> None:
    """Requests into a running firmware (cpsdi_fw.main.Reader: link server, CCID service,
    slots, T=0/T=1 engines) with a T=0 and a T=1 virtual card. The firmware never raises and
    must never catch a bug of its own (``link.errors`` stays 0); everything it sends is
    well-formed (no garbage, no bad check in its output)."""
    fw, hp = _new_firmware()
    inp = Input(data)
    out = bytearray()
    records = 0
    while inp.remaining and records < 64:
        records += 1
        ctl_peek = data[inp.pos]
        line = _record_bytes(inp)
        if ctl_peek & 0x20 and len(line) > 1:  # split in two, with steps (and maybe a pause) between
            cut = 1 + ctl_peek % (len(line) - 1)
            hp.host_write(line[:cut])
            fw.step()
            out += hp.host_read()
            if ctl_peek & 0x10:
                hp.wait_ms(150)  # past the inter-byte timeout: the partial frame is dropped
            line = line[cut:]
        hp.host_write(line)
        for _ in range(_STEPS_PER_RECORD):
            fw.step()
            out += hp.host_read()
            if not hp.to_reader:
                break
        hp.wait_ms(5)
    for _ in range(_STEPS_PER_RECORD):
        fw.step()
        out += hp.host_read()
        if not hp.to_reader:
            break
    check(fw.link.errors == 0, f"the firmware caught {fw.link.errors} exception(s) of its own")
    d = dec.FrameDecoder(True, NATIVE_MAX_MESSAGE)
    _events(d, bytes(out), max(1, len(out)))
    check(d.garbage == 0 and d.bad_checks == 0 and d.oversize == 0,
          f"malformed firmware output (garbage {d.garbage}, bad checks {d.bad_checks}, oversize {d.oversize})")


# -- ATR parser --------------------------------------------------------------------------------


def atr(data: bytes) -> None:
    """cpsdi_fw.iso7816_3.atr (ATRParser byte by byte and in one feed, ATRDecision), the host's
    ATR.parse (BadATRError) and the virtual cards' parse_atr_params."""
    inp = Input(data)
    sel = inp.u8()
    clock_hz = 1_000_000 + inp.u16() * 100
    max_baud = 9600 + inp.u16() * 10
    body = inp.rest()
    inverse = bool(sel & 1)
    p1 = fw_atr.ATRParser(inverse)
    end = p1.feed(body)
    check(0 <= end <= len(body), "feed result out of range")
    p2 = fw_atr.ATRParser(inverse)
    k = 0
    while k < len(body) and p2.status == fw_atr.NEED_MORE:
        p2.feed_byte(body[k])
        k += 1
    check((p1.status, p1.error, bytes(p1.atr())) == (p2.status, p2.error, bytes(p2.atr())),
          "feed and feed_byte disagree")
    check(p1.status in (fw_atr.NEED_MORE, fw_atr.DONE, fw_atr.ERROR), "status")
    check(len(p1.atr()) <= fw_atr.MAX_ATR_LEN, "ATR longer than 33 bytes")
    if p1.status == fw_atr.DONE:
        bytes(p1.historical())
        for kind in (fw_atr.KIND_TA, fw_atr.KIND_TB, fw_atr.KIND_TC, fw_atr.KIND_TD):
            for i in range(1, 9):
                p1.iface(kind, i)
            for t in range(16):
                p1.first_for_protocol(kind, t)
        p1.offered_protocols()
        p1.default_protocol()
    decision = fw_atr.ATRDecision()
    verdict = decision.decide(p1, clock_hz, max_baud, bool(sel & 2))
    check(verdict in (fw_atr.ACCEPT, fw_atr.WARM_RESET, fw_atr.REJECT), "decide verdict")
    fw_atr.ccid_error(p1.error)
    try:
        ATR.parse(body)
    except BadATRError:
        pass
    parse_atr_params(body)


# -- T=1 block parser and engine ---------------------------------------------------------------

_T1_ACTIONS = (t1.IDLE, t1.SEND, t1.RECEIVE, t1.DONE, t1.ERROR)


def t1_engine(data: bytes) -> None:
    """cpsdi_fw.iso7816_3.t1.T1Engine driven by card blocks from the input (EDC fixed for most
    of them), and the virtual card's block decoder (sim/t1_block.py) on the engine's blocks
    and on raw input. The engine never raises on card input, only sends well-formed blocks,
    and its response fits the caller's buffer."""
    inp = Input(data)
    h = inp.u8()
    ifsc = 1 + inp.u8() % t1.IFS_MAX
    ifsd = 1 + inp.u8() % t1.IFS_MAX
    edc_crc = bool(h & 1)
    variant = t1.CRC_ISO13239 if h & 2 else t1.CRC_LIBCCID
    edc_kind = ("crc-iso13239" if h & 2 else "crc-libccid") if edc_crc else "lrc"
    eng = t1.T1Engine()
    eng.emv_mode = bool(h & 4)
    nad = inp.u8() if h & 8 else 0
    check(eng.configure(ifsc, ifsd, edc_crc, variant, nad) == t1.NO_ERROR, "configure refused valid values")
    card_nad = t1.swap_nibbles(nad & 0xFF)
    resp = bytearray(2 + inp.u8() * 3)
    blk = bytearray(t1.RX_MAX + 8)

    def start() -> None:
        mode = inp.u8()
        if mode & 0x30 == 0x30:
            eng.start_resynch()
        elif mode & 0x30 == 0x20:
            eng.start_ifsd(1 + inp.u8() % t1.IFS_MAX)
        else:
            n = inp.u8() * (8 if mode & 1 else 1)
            apdu = bytes(n) if mode & 2 else inp.take(n)
            eng.start_apdu(apdu, len(apdu), resp, len(resp))

    start()
    for _ in range(4096):
        act = eng.action()
        check(act in _T1_ACTIONS, f"unknown action {act}")
        if act == t1.SEND:
            n = eng.tx_count
            check(eng.tx_offset == 0 and 4 <= n <= t1.BLOCK_MAX, f"bad block to send ({n} bytes)")
            sent = bytes(eng.tx_buf[:n])
            block = t1_block.decode_block(sent, edc_kind)
            check(block.complete and block.edc_ok and not block.rfu, f"the engine sent a malformed block {sent.hex()}")
            check(sent[0] == nad & 0xFF, "the engine sent a block with another NAD")
            if inp.u8() == 0xFF:
                eng.on_send_error()
            else:
                eng.on_sent()
        elif act == t1.RECEIVE:
            if not inp.remaining:
                break
            op = inp.u8()
            if op < 12:
                eng.on_timeout()
                continue
            pcb = inp.u8()
            ln = inp.u8()
            if op & 0x80:
                ln %= eng.ifsd + 1
            inf = inp.take(ln if ln != 0xFF else inp.u8())
            blk[0] = card_nad if op & 0x40 else inp.u8()
            blk[1] = pcb
            blk[2] = ln
            blk[3 : 3 + len(inf)] = inf
            end = 3 + len(inf)
            if op & 0x20 and ln != 0xFF and ln == len(inf):
                end = t1.put_edc(blk, 0, end, edc_crc, variant)
            else:
                extra = inp.take(op & 3)
                blk[end : end + len(extra)] = extra
                end += len(extra)
            eng.on_block(blk, 0, end, op == 13)
        elif act == t1.DONE:
            check(2 <= eng.resp_length <= len(resp) or eng.resp_length == 0, "response outside the buffer")
            bytes(eng.response())
            if not inp.remaining:
                break
            start()
        elif act == t1.ERROR:
            t1.ccid_error(eng.error)
            t1.needs_deactivation(eng.error)
            if not inp.remaining:
                break
            if eng.dead and inp.u8() & 1:
                eng.reset_session()
            start()
        else:
            break
    raw = data[:64]
    for kind in t1_block.EDC_KINDS:
        t1_block.decode_block(raw, kind).text()


# -- virtual cards' APDU parser ----------------------------------------------------------------

_INS = (0xA4, 0xB0, 0xB2, 0xD6, 0x20, 0x24, 0x2C, 0x22, 0x2A, 0x88, 0x84, 0xCA, 0xCB, 0x70, 0xC0, 0x0E, 0x44,
        0xE4, 0x10, 0x12, 0x14, 0x32, 0x86, 0x87, 0x46, 0x47)


class _Cards:
    """The virtual cards' applications, rebuilt now and then (a PIN blocked by a fuzz input
    stays blocked; rebuilding keeps every path reachable)."""

    REBUILD_EVERY = 2000

    def __init__(self) -> None:
        self.apps: list[tuple[str, Any]] = []
        self.calls = 0

    def get(self) -> list[tuple[str, Any]]:
        if not self.apps or self.calls % self.REBUILD_EVERY == 0:
            from cpsdi_boards.sim.cps.profiles import PROFILES

            names = ["t0", "vitale1", "vitale2"]
            names += [n for n, p in PROFILES.items() if p.generation == "cps3"][:1]
            names += [n for n, p in PROFILES.items() if p.generation == "cps4"][:1]
            names += ["blocked"] if "blocked" in PROFILES else []
            apps = []
            for name in names:
                made = make_card(name)
                assert made is not None
                apps.append((name, made[1]))
            self.apps = apps
        self.calls += 1
        return self.apps


_CARDS = _Cards()


def card_apdu(data: bytes) -> None:
    """The virtual cards' command interpreters (test applet, Vitale, CPS3 IAS-ECC, CPS4
    ChipDoc): ``handle(header, data)`` answers every command with a CardResponse, never raises."""
    apps = _CARDS.get()
    inp = Input(data)
    name, app = apps[inp.u8() % len(apps)]
    reset = getattr(app, "reset", None)
    if reset is not None:
        reset()
    for _ in range(32):
        if not inp.remaining:
            break
        ctl = inp.u8()
        header = bytearray(inp.take(5).ljust(5, b"\0"))
        if ctl & 0x80:
            header[1] = _INS[header[1] % len(_INS)]
        if ctl & 0x40:
            header[0] &= 0x03 if ctl & 0x20 else 0x13
        body = inp.take(header[4] if ctl & 0x10 else ctl & 0x0F)
        resp = app.handle(bytes(header[:5] if ctl & 0x08 else header[:4]), body)
        check(isinstance(resp, CardResponse), f"{name}: handle returned {type(resp).__name__}")
        check(0 <= resp.sw <= 0xFFFF and len(resp.data) <= 65536, f"{name}: bad response")


# -- CPS data codecs -------------------------------------------------------------------------------

_HOLDER_OBJECTS = ("id_card", "name", "info", "languages", "sit_fact", "diramo")


def cps_codecs(data: bytes) -> None:
    """cpsdi.cps: BER-TLV reader, PKCS#15 directory parsers (CardDataError), the test encoding
    of the holder data (ValueError), the SHA state compressor (ValueError)."""
    inp = Input(data)
    sel = inp.u8() % 16
    blob = inp.rest()
    try:
        if sel == 0:
            for tag, value in tlv.iter_tlvs(blob):
                check(len(tag) >= 1, "empty tag")
        elif sel == 1:
            tag = blob[:1] or b"\x30"
            tlv.find(blob[1:], tag)
            tlv.find_path(blob[1:], tag, b"\x04")
        elif sel == 2:
            pkcs15.parse_odf(blob)
        elif sel == 3:
            pkcs15.parse_cdf(blob)
        elif sel == 4:
            pkcs15.parse_dodf(blob)
        elif sel == 5:
            pkcs15.parse_prkdf(blob)
    except CardDataError:
        pass
    try:
        if sel == 6:
            test_encoding.decode_id_card(blob)
        elif sel == 7:
            test_encoding.decode_name(blob)
        elif sel == 8:
            test_encoding.decode_info(blob)
        elif sel == 9:
            test_encoding.decode_languages(blob)
        elif sel == 10:
            situation = test_encoding.decode_situation(blob)
            again = test_encoding.decode_situation(test_encoding.encode_situation(situation))
            check(again == situation, "situation does not survive encode/decode")
        elif sel == 11:
            test_encoding.decode_sit_fact(blob)
        elif sel == 12:
            test_encoding.decode_diramo(blob)
        elif sel == 13:
            objects = {}
            rest = Input(blob)
            for name in _HOLDER_OBJECTS:
                objects[name] = rest.take(rest.u8())
            for index in range(1, 4):
                objects[f"situation{index}"] = rest.take(rest.u8())
            test_encoding.holder_from_data_objects(objects)
            test_encoding.is_test_encoding(blob)
        elif sel == 14:
            pos = 0
            while pos < len(blob):
                _, _, pos = test_encoding.read_tlv(blob, pos)
        elif sel == 15:
            alg = sha_state.SHA256 if blob[:1] == b"\x01" else sha_state.SHA1
            n = alg.digest_size
            sha_state.compress(alg, blob[1 : 1 + n], blob[1 + n :])
    except ValueError:
        pass


# -- update images: host parser and device-side verifier --------------------------------------------

_KEY_A = bytes.fromhex("39f75044d1a3be63a0a4773f446feecc85ccbd9eaf7a796219c839e1644b830c")
_KEYHASH_A = mcuboot.keyhash(_KEY_A)
_PUBLIC_A = Ed25519PublicKey.from_public_bytes(_KEY_A)
_FW_COMPAT = "mpy6.3 armv6m"


def _host_reason(blob: bytes) -> tuple[str, Any]:
    try:
        return "ok", host_image.parse_metadata(blob)
    except ImageFormatError as exc:
        return exc.reason, None


def image_host(data: bytes) -> None:
    """cpsdi.update.image (parse_metadata, inspect, verify, check_policy) and the bundle table
    parser (parse_bundle): only UpdateError subclasses; the same verdict as the device parsers."""
    inp = Input(data)
    sel = inp.u8()
    blob = inp.rest()
    reason, info = _host_reason(blob)
    meta = mcuboot.ImageMeta()
    code = meta.parse(blob)
    check(mcuboot.ERROR_NAMES[code] == reason,
          f"host and device disagree on the metadata: {reason} / {mcuboot.ERROR_NAMES[code]}")
    if info is not None:
        check(info.sec_cnt == meta.sec_cnt and info.img_size == meta.img_size, "host and device fields differ")
    try:
        host_image.inspect(blob)
    except ImageFormatError:
        pass
    try:
        checked = host_image.verify(blob, [_PUBLIC_A], hw_id="sim", fw_compat=_FW_COMPAT, floor=sel & 7,
                                    max_img_size=1 << (sel >> 3 & 15))
        check(checked.digest_ok, "verify accepted a wrong digest")
    except UpdateError:
        pass
    try:
        entries = host_bundle.parse_bundle(blob, check_data=bool(sel & 1))
        bundle_reason = "ok"
        check(len(entries) >= 1, "a bundle without files")
    except ImageFormatError as exc:
        bundle_reason = exc.reason
    m = bundle_manifest.Manifest()
    dev = bundle_manifest.ERROR_NAMES[m.parse(blob)]
    if bundle_reason != "file_digest":
        check(dev == bundle_reason, f"host and device disagree on the bundle: {bundle_reason} / {dev}")


def image_device(data: bytes) -> None:
    """cpsdi_fw.mcuboot.ImageMeta.parse + check (codes, never raises), the KEYHASH lookup and
    cpsdi_fw.ed25519.verify (a bool, never raises; accepts only what OpenSSL accepts too), the
    bundle table (bundle_manifest.Manifest.parse)."""
    inp = Input(data)
    sel = inp.u8()
    blob = inp.rest()
    meta = mcuboot.ImageMeta()
    code = meta.parse(blob)
    check(code in mcuboot.ERROR_NAMES, f"unknown parse code {code}")
    if code == mcuboot.OK:
        bytes(meta.header_view(blob))
        bytes(meta.protected_view(blob))
        verdict = mcuboot.check(meta, b"sim", _FW_COMPAT.encode(), sel & 7, 1 << (sel >> 3 & 15))
        check(verdict in mcuboot.ERROR_NAMES, f"unknown check code {verdict}")
        if bytes(meta.keyhash) == _KEYHASH_A:
            ok = ed25519.verify(_KEY_A, meta.digest, meta.signature)
            check(ok in (True, False), "ed25519.verify returned a non-bool")
            if ok:
                try:
                    _PUBLIC_A.verify(bytes(meta.signature), bytes(meta.digest))
                except InvalidSignature:
                    raise InvariantError("ed25519 accepted a signature OpenSSL refuses") from None
    if sel & 0x80 and len(blob) >= 96:
        check(ed25519.verify(blob[:32], blob[96:], blob[32:96]) in (True, False), "ed25519.verify non-bool")
    m = bundle_manifest.Manifest()
    mcode = m.parse(blob, -1, len(blob) + (sel & 3))
    check(mcode in bundle_manifest.ERROR_NAMES, f"unknown bundle code {mcode}")
    if mcode == bundle_manifest.OK:
        for i in range(m.count):
            m.path(i)
            m.size(i)
            m.sha256(i)
            m.data_offset(i)


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("link_fw", link_fw, "cpsdi_proto.decoder.FrameDecoder (firmware and shared side)", "none", 600),
        Target("link_host", link_host, "cpsdi.framing.FrameReader, cpsdi.ccid.parse_message, link.Answer, "
               "escape.parse_info", "FramingError, ReaderProtocolError", 600),
        Target("ccid_service", ccid_service, "cpsdi_fw.main.Reader: link server + CCID service + slots + "
               "T=0/T=1 engines + virtual cards", "none (link.errors must stay 0)", 600),
        Target("atr", atr, "cpsdi_fw.iso7816_3.atr (ATRParser, ATRDecision), cpsdi.reader.ATR.parse, "
               "sim parse_atr_params", "BadATRError (host ATR.parse)", 64),
        Target("t1", t1_engine, "cpsdi_fw.iso7816_3.t1.T1Engine, boards sim/t1_block.decode_block", "none", 400),
        Target("card_apdu", card_apdu, "virtual cards: test applet, Vitale, CPS3, CPS4 handle(header, data)",
               "none", 1024),
        Target("cps_codecs", cps_codecs, "cpsdi.cps.tlv, pkcs15, test_encoding (holder data), sha_state",
               "CardDataError (tlv, pkcs15), ValueError (test_encoding, sha_state)", 1024),
        Target("image_host", image_host, "cpsdi.update.image (parse_metadata, inspect, verify), "
               "cpsdi.update.bundle.parse_bundle; differential against the device parsers", "UpdateError", 2048),
        Target("image_device", image_device, "cpsdi_fw.mcuboot (ImageMeta.parse, check), cpsdi_fw.ed25519.verify, "
               "cpsdi_fw.bundle_manifest.Manifest.parse", "none", 2048),
    )
}
