"""Seed corpora for the fuzz targets, from the golden vectors (tests/vectors) and the virtual
cards' own files: ``python -m fuzz seeds`` rewrites ``fuzz/corpus/<target>/``.

Each seed is laid out as its target reads its input (``fuzz/targets.py``): a selector byte
first, then the bytes of the vector. File names are the first 16 hex digits of the seed's
SHA-256, so regenerating gives the same files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fuzz.engine import CORPUS_DIR, ROOT

log = logging.getLogger(__name__)

VECTORS = ROOT / "tests" / "vectors"
MAX_SEED = 4096


def _jsonl(name: str) -> Iterator[dict[str, Any]]:
    for line in (VECTORS / name).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            yield json.loads(line)


def _hex(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def link_fw() -> Iterator[bytes]:
    """Streams (both directions) and every golden frame; selector: native limit, direction."""
    limits = {0: 0, 10: 1, 300: 2, 1034: 3, 2058: 4}
    for v in _jsonl("streams.jsonl"):
        sel = limits.get(v["native_max_message"], 5) | (0x80 if v["from_reader"] else 0)
        yield bytes([sel]) + _hex(v["stream"])
    for v in _jsonl("frames.jsonl"):
        yield bytes([3 | (0x80 if v["dir"] == "R>H" else 0)]) + _hex(v["frame"])


def link_host() -> Iterator[bytes]:
    """The reader's frames and the reader-side streams."""
    for v in _jsonl("frames.jsonl"):
        if v["dir"] == "R>H":
            yield b"\x00" + _hex(v["frame"])
    for v in _jsonl("streams.jsonl"):
        if v["from_reader"]:
            yield b"\x01" + _hex(v["stream"])


def _record(message: bytes, native: bool) -> bytes:
    ctl = 0x01 if native else 0x00
    if len(message) > 255:
        return bytes([ctl | 0x08]) + len(message).to_bytes(2, "little") + message
    return bytes([ctl, len(message)]) + message


def ccid_service() -> Iterator[bytes]:
    """Each host request alone, then sessions: power on, APDUs, escapes, power off (both slots)."""
    requests = [(_hex(v["message"]), v["framing"] == "native") for v in _jsonl("frames.jsonl") if v["dir"] == "H>R"]
    for message, native in requests:
        yield _record(message, native)

    def msg(kind: int, slot: int, seq: int, data: bytes = b"", p: bytes = b"\x00\x00\x00") -> bytes:
        return bytes([kind]) + len(data).to_bytes(4, "little") + bytes([slot, seq]) + p + data

    apdus = [_hex("00A4040007A0000000030000"), _hex("00B0000010"), _hex("0084000008"), _hex("00CA9F7F00"),
             _hex("0020000104 31323334"), _hex("00C0000000")]
    for slot in (0, 1):
        for native in (False, True):
            seq = 0
            session = _record(msg(0x62, slot, seq, p=b"\x00\x00\x00"), native)
            for apdu in apdus:
                seq += 1
                session += _record(msg(0x6F, slot, seq, apdu), native)
            seq += 1
            session += _record(msg(0x6B, slot, seq, b"\xcd\x01"), native)
            session += _record(msg(0x65, slot, seq + 1), native)
            session += _record(msg(0x63, slot, seq + 2), native)
            yield session
    # an Escape NATIVE negotiation, then native requests
    yield (_record(msg(0x6B, 0, 1, b"\xcd\x02\x0a\x04\x00\x00"), False) + _record(msg(0x62, 0, 2), True)
           + _record(msg(0x6F, 0, 3, apdus[1]), True))


def atr() -> Iterator[bytes]:
    """The ATR vectors, with a 3.5712 MHz clock and a 250 kbaud limit."""
    clock = ((3_571_200 - 1_000_000) // 100).to_bytes(2, "little")
    baud = ((250_000 - 9600) // 10).to_bytes(2, "little")
    for v in _jsonl("atr.jsonl"):
        raw = _hex(v["atr"])
        yield b"\x00" + clock + baud + raw
        yield b"\x03" + clock + baud + raw


def t1() -> Iterator[bytes]:
    """The T=1 dialogues (t1.jsonl) as engine inputs: configuration, APDU, then the card's blocks."""
    for v in _jsonl("t1.jsonl"):
        crc = bool(v.get("crc"))
        h = 1 if crc else 0
        out = bytearray([h, v.get("ifsc", 32) - 1, v.get("ifsd", 32) - 1, 100])
        if "ifsd_req" in v:
            out += bytes([0x20, v["ifsd_req"] - 1])
        else:
            apdu = _hex(v["apdu"])
            if len(apdu) > 255:
                continue
            out += bytes([0x00, len(apdu)]) + apdu
        for step in v["steps"]:
            out.append(0x00)  # the engine's block was sent
            answer = step[1] if len(step) > 1 else None
            if answer is None:
                out.append(0x00)  # silence: BWT expiry
                continue
            block = _hex(answer)
            out += bytes([0xC0 | 0x20, block[1], block[2]]) + block[3 : 3 + block[2]]
        yield bytes(out)


def card_apdu() -> Iterator[bytes]:
    """A handful of commands per card: SELECT, READ BINARY, GET DATA, VERIFY, GET CHALLENGE, MSE, PSO."""
    commands = [
        "00A4000C023F00", "00A4040C06E828BD080FD2", "00A40000022F00", "00B0000000", "00B2010400",
        "00CA01820000", "00CB3FFF0A4D087F600560038301810000", "00200001083132333400000000", "0020008100",
        "0084000008", "002241B6068001128401810000", "002A9E9A2000112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF",
        "80A4040C08A000000028504B43", "0070000001", "00A4020C020001",
    ]
    for card in range(6):
        seed = bytearray([card])
        for text in commands:
            apdu = _hex(text)
            header = apdu[:5].ljust(5, b"\0")
            body = apdu[5:]
            seed += bytes([0x18]) + header + body[: header[4]]
        yield bytes(seed)


def cps_codecs() -> Iterator[bytes]:
    """The virtual CPS cards' files (PKCS#15 directories, holder data objects) under each selector."""
    from cpsdi_boards.sim.cards import make_card

    from cpsdi.cps import test_encoding
    from cpsdi.cps.holder import MAX_SITUATIONS  # noqa: F401  (import check: the codec is there)

    blobs: list[bytes] = []
    for name in ("doctor", "employee"):
        made = make_card(name)
        if made is None:
            continue
        app = made[1]
        mf = getattr(app, "mf", None)
        if mf is None:
            continue
        for df in mf.walk():
            for child in df.children:
                content = getattr(child, "content", None)
                if content:
                    blobs.append(bytes(content[:MAX_SEED]))
    from cpsdi_boards.sim.cps.profiles import PROFILES

    holder = PROFILES["doctor"].holder
    encoded = test_encoding.encode_holder(holder)
    blobs += list(encoded.values())
    blobs = [b[:1024] for b in blobs]
    pkcs15_like = [b for b in blobs if b[:1] in (b"\x30", b"\xa0", b"\xa1", b"\xa4", b"\xa5", b"\xa7", b"\xa8")]
    for sel in range(6):
        for blob in pkcs15_like:
            yield bytes([sel]) + blob
    for sel in (6, 7, 8, 9, 10, 11, 12, 14):
        for blob in encoded.values():
            yield bytes([sel]) + blob
    yield b"\x0f\x00" + bytes(20) + bytes(64)
    yield b"\x0f\x01" + bytes(32) + bytes(128)
    objects = b""
    for key in ("id_card", "name", "info", "languages", "sit_fact", "diramo", "situation1", "situation2", "situation3"):
        value = encoded.get(key, b"")[:255]
        objects += bytes([len(value)]) + value
    yield b"\x0d" + objects


def _images() -> Iterator[bytes]:
    for v in _jsonl("update_images.jsonl"):
        for key in ("image", "meta", "bundle"):
            if v.get(key):
                yield _hex(v[key])[:2047]


def image_host() -> Iterator[bytes]:
    """Images, metadata blobs and bundles of update_images.jsonl (floor 5, 1 KiB slot)."""
    for blob in _images():
        yield b"\x55" + blob


def image_device() -> Iterator[bytes]:
    """The same, plus the Ed25519 vectors as ``key ‖ signature ‖ message`` (selector bit 7)."""
    for blob in _images():
        yield b"\x55" + blob
    for v in _jsonl("ed25519.jsonl"):
        yield b"\xd5" + _hex(v["pk"]) + _hex(v["sig"]) + _hex(v["msg"])[:1024]


GENERATORS = {
    "link_fw": link_fw,
    "link_host": link_host,
    "ccid_service": ccid_service,
    "atr": atr,
    "t1": t1,
    "card_apdu": card_apdu,
    "cps_codecs": cps_codecs,
    "image_host": image_host,
    "image_device": image_device,
}


def write_all() -> dict[str, int]:
    """Rewrite every ``fuzz/corpus/<target>/``; returns the number of seeds per target."""
    counts: dict[str, int] = {}
    for name, generate in GENERATORS.items():
        folder = CORPUS_DIR / name
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        seen = set()
        for seed in generate():
            seed = seed[:MAX_SEED]
            digest = hashlib.sha256(seed).hexdigest()[:16]
            if digest in seen:
                continue
            seen.add(digest)
            (folder / digest).write_bytes(seed)
        counts[name] = len(seen)
        log.info("%s: %d seeds", name, len(seen))
    return counts
