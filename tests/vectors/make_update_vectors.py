"""Generate tests/vectors/update_images.jsonl: update images, metadata blobs and bundles, with
what the device parser (cpsdi_fw.mcuboot, cpsdi_fw.bundle_manifest) and the host verifier
(cpsdi.update.image.verify) must say about each.

    .venv/bin/python tests/vectors/make_update_vectors.py          # rewrite the file
    .venv/bin/python tests/vectors/make_update_vectors.py --check  # exit 1 if it is stale

Deterministic: the keys come from fixed seeds and Ed25519 signatures are deterministic.
THE KEYS ARE TEST KEYS, PUBLISHED HERE: NEVER USE THEM FOR A PRODUCTION IMAGE.

Records (one JSON object per line; ``kind``):
* ``keys``: test public keys (raw 32 bytes, hex), KEYHASH of key A, and the policy the
  ``check`` fields were computed with (hw_id, fw_compat, floor, max_img_size).
* ``image``: ``meta`` (hex metadata blob as the device receives it, or null), ``image``
  (hex whole image for the host, or null). ``parse`` = expected ``ImageMeta.parse`` reason;
  when it is "ok": ``fields``, ``check`` (policy reason), ``key_ok`` (KEYHASH is key A's),
  ``sig_ok`` (Ed25519 of the digest by key A), and, with an image, ``digest_ok`` (SHA-256 of
  header ‖ payload ‖ protected TLVs, the payload being what lies between the blob's header
  and TLVs in ``image``). ``host`` = "ok" or "<ExceptionClass>:<reason>" of
  verify(image, [key A], policy). ``sig_check``: also run the device Ed25519 verifier.
* ``bundle``: ``bundle`` hex, ``parse`` (Manifest.parse reason), ``entries``
  [[path, size, sha256 hex, data offset], ...] when ok.
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cpsdi.exceptions import UpdateError
from cpsdi.update import image as img
from cpsdi.update.bundle import BundleFile, build_bundle, parse_bundle

OUT = Path(__file__).with_name("update_images.jsonl")

# TEST KEYS (fixed seeds, public): never for production.
KEY_A = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"cpsdi update TEST key A - not for production").digest())
KEY_B = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"cpsdi update TEST key B - not for production").digest())

POLICY = {"hw_id": "sim", "fw_compat": "mpy6.3 armv6m", "floor": 5, "max_img_size": 1024}
VERSION = img.ImageVersion(1, 2, 3, 4)
FILES = [
    BundleFile("cpsdi_fw/__init__.mpy", b"M\x06\x00\x1f" + b"TEST bundle file A" * 3),
    BundleFile("cpsdi_boards/__init__.mpy", b"M\x06\x00\x1f" + b"TEST bundle file B"),
    BundleFile("cpsdi_proto/compat.mpy", b"M\x06\x00\x1f" + b"TEST bundle file C" * 2),
]
PAYLOAD = build_bundle(FILES)


def tlv(t: int, v: bytes) -> bytes:
    return struct.pack("<HH", t, len(v)) + v


def prot_default(sec_cnt: int = 5, hw_id: bytes = b"sim", ptype: int = 1, compat: bytes = b"mpy6.3 armv6m") -> list[bytes]:
    return [tlv(0x50, struct.pack("<I", sec_cnt)), tlv(0xA0, hw_id), tlv(0xA1, bytes([ptype])), tlv(0xA2, compat)]


def assemble(
    payload: bytes = PAYLOAD,
    prot: list[bytes] | None = None,
    unprot: Callable[[bytes, bytes], list[bytes]] | None = None,
    key: Ed25519PrivateKey = KEY_A,
    keyhash_of: Ed25519PrivateKey | None = None,
    header_patch: dict[str, int] | None = None,
) -> bytes:
    """An image with explicit TLV lists (hash and signature computed over what is given)."""
    prot = prot_default() if prot is None else prot
    prot_body = b"".join(prot)
    prot_size = 4 + len(prot_body)
    fields = {"magic": img.IMAGE_MAGIC, "load_addr": 0, "hdr_size": 32, "protect_tlv_size": prot_size,
              "img_size": len(payload), "flags": 0, "major": VERSION.major, "minor": VERSION.minor,
              "revision": VERSION.revision, "build": VERSION.build, "pad1": 0}
    fields.update(header_patch or {})
    header = bytes(img.ImageHeader.build(fields))
    prot_area = struct.pack("<HH", 0x6908, prot_size) + prot_body
    digest = hashlib.sha256(header + payload + prot_area).digest()
    signature = key.sign(digest)
    kh = img.keyhash((keyhash_of or key).public_key())
    body = b"".join(unprot(digest, signature) if unprot else [tlv(0x10, digest), tlv(0x01, kh), tlv(0x24, signature)])
    return header + payload + prot_area + struct.pack("<HH", 0x6907, 4 + len(body)) + body


def std_unprot(extra_before: list[bytes] = (), extra_after: list[bytes] = (), kh: bytes | None = None) -> Callable[[bytes, bytes], list[bytes]]:
    kh = kh or img.keyhash(KEY_A.public_key())
    return lambda d, s: [*extra_before, tlv(0x10, d), tlv(0x01, kh), tlv(0x24, s), *extra_after]


def host_verdict(image: bytes) -> str:
    try:
        img.verify(image, [KEY_A.public_key()], **POLICY)  # type: ignore[arg-type]
    except UpdateError as exc:
        return f"{type(exc).__name__}:{exc.reason}"
    return "ok"


def meta_verdict(blob: bytes) -> tuple[str, img.ImageInfo | None]:
    try:
        return "ok", img.parse_metadata(blob)
    except UpdateError as exc:
        return exc.reason, None


def cut(image: bytes, payload_len: int) -> bytes:
    return image[:32] + image[32 + payload_len:]


def record(name: str, *, meta: bytes | None = None, image: bytes | None = None, payload_len: int | None = None,
           sig_check: bool = False) -> dict[str, Any]:
    if meta is None and image is not None and payload_len is not None:
        meta = cut(image, payload_len)
    rec: dict[str, Any] = {"kind": "image", "name": name, "meta": meta.hex() if meta is not None else None,
                           "image": image.hex() if image is not None else None}
    if meta is not None:
        verdict, info = meta_verdict(meta)
        rec["parse"] = verdict
        if info is not None:
            rec["fields"] = {
                "hdr_size": info.hdr_size, "img_size": info.img_size, "protect_tlv_size": info.protect_tlv_size,
                "tlv_size": info.tlv_size, "version": [info.version.major, info.version.minor,
                                                       info.version.revision, info.version.build],
                "sec_cnt": info.sec_cnt, "hw_id": info.hw_id, "payload_type": info.payload_type,
                "fw_compat": info.fw_compat, "digest": info.digest.hex(), "keyhash": info.keyhash.hex(),
                "signature": info.signature.hex(), "prot_off": 32, "tlv_off": 32 + info.protect_tlv_size,
                "ignored": len(info.ignored_tlvs),
            }
            try:
                img.check_policy(info, **POLICY)  # type: ignore[arg-type]
                rec["check"] = "ok"
            except UpdateError as exc:
                rec["check"] = exc.reason
            rec["key_ok"] = info.keyhash == img.keyhash(KEY_A.public_key())
            try:
                KEY_A.public_key().verify(info.signature, info.digest)
                rec["sig_ok"] = True
            except Exception:
                rec["sig_ok"] = False
            if image is not None:
                plen = len(image) - len(meta)
                hashed = meta[:32] + image[32:32 + plen] + meta[32:32 + info.protect_tlv_size]
                rec["digest_ok"] = hashlib.sha256(hashed).digest() == info.digest
            rec["sig_check"] = sig_check
    if image is not None:
        rec["host"] = host_verdict(image)
    return rec


def image_records() -> list[dict[str, Any]]:
    base = assemble()
    assert base == img.build_image(PAYLOAD, version=VERSION, sec_cnt=5, hw_id="sim", fw_compat="mpy6.3 armv6m",
                                   key=KEY_A)
    n = len(PAYLOAD)
    out = [record("valid", image=base, payload_len=n, sig_check=True)]
    # single-bit flips: every byte of header and protected area, TLV headers and value samples
    # of the unprotected area (bit = offset % 8), and samples of the payload
    prot_end = 32 + n + (len(base) - 32 - n - 144)
    positions = list(range(32)) + list(range(32 + n, prot_end))
    tlv_start = prot_end
    positions += list(range(tlv_start, tlv_start + 4))
    for start, length in ((tlv_start + 4, 32), (tlv_start + 40, 32), (tlv_start + 76, 64)):
        positions += [start, start + 1, start + 2, start + 3, start + 4, start + 4 + length // 2,
                      start + 4 + length - 1]
    positions += [32, 32 + n // 2, 32 + n - 1]
    for pos in sorted(set(positions)):
        flipped = bytearray(base)
        flipped[pos] ^= 1 << (pos % 8)
        region = ("header" if pos < 32 else "payload" if pos < 32 + n else "protected" if pos < prot_end
                  else "tlvs")
        sig = pos >= tlv_start + 76  # a flipped signature: the device verifier must say no
        out.append(record(f"flip {region} @{pos} bit {pos % 8}", image=bytes(flipped), payload_len=n,
                          sig_check=sig and pos in (tlv_start + 80, tlv_start + 80 + 63)))
    # truncations and appended bytes
    meta = cut(base, n)
    for k in (0, 1, 31, 32, 35, 36, 40, len(meta) - 145, len(meta) - 144, len(meta) - 100, len(meta) - 1):
        out.append(record(f"metadata truncated to {k}", meta=meta[:k]))
    for k in (0, 16, 32, 32 + n - 1, 32 + n, len(base) - 64, len(base) - 1):
        out.append(record(f"image truncated to {k}", image=base[:k]))
    out.append(record("metadata + 1 byte", meta=meta + b"\x00"))
    out.append(record("image + 1 byte", image=base + b"\x00"))
    out.append(record("image + 16 bytes 0xff", image=base + b"\xff" * 16))
    # keys
    out.append(record("signed by key B", image=assemble(key=KEY_B), payload_len=n, sig_check=True))
    out.append(record("signed by key B, KEYHASH of key A", image=assemble(key=KEY_B, keyhash_of=KEY_A),
                      payload_len=n, sig_check=True))
    # policy
    out.append(record("counter below floor", image=assemble(prot=prot_default(sec_cnt=4)), payload_len=n))
    out.append(record("counter equal to floor", image=assemble(prot=prot_default(sec_cnt=5)), payload_len=n))
    out.append(record("counter above floor", image=assemble(prot=prot_default(sec_cnt=0xFFFFFFFF)), payload_len=n))
    out.append(record("wrong board", image=assemble(prot=prot_default(hw_id=b"rp2040-revB")), payload_len=n))
    out.append(record("wrong fw_compat", image=assemble(prot=prot_default(compat=b"mpy6.2 armv6m")), payload_len=n))
    out.append(record("payload type 2", image=assemble(prot=prot_default(ptype=2)), payload_len=n))
    big = build_bundle([BundleFile("cpsdi_fw/big.mpy", bytes(range(256)) * 4)])
    out.append(record("payload larger than the slot", image=assemble(payload=big), payload_len=len(big)))
    # structure (correctly hashed and signed, refused by the parser)
    p = prot_default()
    out.append(record("protected SEC_CNT twice", image=assemble(prot=[p[0], *p]), payload_len=n))
    out.append(record("protected TLV 0xA5 (not allowed)", image=assemble(prot=[*p, tlv(0xA5, b"x")]), payload_len=n))
    out.append(record("protected 0x0150 (type is u16)", image=assemble(prot=[*p, tlv(0x150, b"xxxx")]), payload_len=n))
    out.append(record("protected HW_ID missing", image=assemble(prot=[p[0], p[2], p[3]]), payload_len=n))
    out.append(record("protected area empty", image=assemble(prot=[]), payload_len=n))
    out.append(record("SEC_CNT of 8 bytes", image=assemble(prot=[tlv(0x50, bytes(8)), *p[1:]]), payload_len=n))
    out.append(record("HW_ID not ASCII", image=assemble(prot=[p[0], tlv(0xA0, b"s\xe9m"), *p[2:]]), payload_len=n))
    out.append(record("HW_ID with trailing space", image=assemble(prot=[p[0], tlv(0xA0, b"sim "), *p[2:]]),
                      payload_len=n))
    out.append(record("HW_ID of 33 bytes", image=assemble(prot=[p[0], tlv(0xA0, b"s" * 33), *p[2:]]), payload_len=n))
    out.append(record("unprotected SEC_CNT injected (ignored)",
                      image=assemble(unprot=std_unprot(extra_after=[tlv(0x50, struct.pack("<I", 99))])),
                      payload_len=n))
    out.append(record("unprotected HW_ID injected (ignored)",
                      image=assemble(unprot=std_unprot(extra_before=[tlv(0xA0, b"rp2040-revB")])), payload_len=n))
    out.append(record("unprotected SHA512 (refused)",
                      image=assemble(unprot=std_unprot(extra_after=[tlv(0x12, bytes(64))])), payload_len=n))
    out.append(record("unprotected SIG_PURE (refused)",
                      image=assemble(unprot=std_unprot(extra_after=[tlv(0x25, b"\x01")])), payload_len=n))
    out.append(record("KEYHASH twice", image=assemble(
        unprot=std_unprot(extra_after=[tlv(0x01, img.keyhash(KEY_A.public_key()))])), payload_len=n))
    out.append(record("ED25519 missing", image=assemble(
        unprot=lambda d, s: [tlv(0x10, d), tlv(0x01, img.keyhash(KEY_A.public_key()))]), payload_len=n))
    out.append(record("SHA256 of 31 bytes", image=assemble(
        unprot=lambda d, s: [tlv(0x10, d[:31]), tlv(0x01, img.keyhash(KEY_A.public_key())), tlv(0x24, s)]),
        payload_len=n))
    out.append(record("header flags 0x20 (RAM_LOAD)", image=assemble(header_patch={"flags": 0x20}), payload_len=n))
    out.append(record("hdr_size 0x200", image=assemble(header_patch={"hdr_size": 0x200}), payload_len=n))
    huge = assemble(unprot=std_unprot(extra_after=[tlv(0xC0, bytes(900))]))
    out.append(record("metadata over 1024 bytes", image=huge, payload_len=n))
    return out


def bundle_records() -> list[dict[str, Any]]:
    def rec(name: str, data: bytes) -> dict[str, Any]:
        r: dict[str, Any] = {"kind": "bundle", "name": name, "bundle": data.hex()}
        try:
            entries = parse_bundle(data, check_data=False)
            r["parse"] = "ok"
            r["entries"] = [[e.path, e.size, e.sha256.hex(), e.offset] for e in entries]
        except UpdateError as exc:
            r["parse"] = exc.reason
        return r

    good = PAYLOAD
    out = [rec("valid", good)]

    def patched(offset: int, value: bytes, data: bytes = good) -> bytes:
        return data[:offset] + value + data[offset + len(value):]

    table = struct.unpack_from("<I", good, 8)[0]
    first_path = 16 + 37
    out += [
        rec("bad magic", patched(0, b"CPSX")),
        rec("format 2", patched(4, b"\x02")),
        rec("reserved byte set", patched(5, b"\x01")),
        rec("count 0", patched(6, b"\x00\x00")),
        rec("count 513", patched(6, struct.pack("<H", 513))),
        rec("count 4 (one more than the table holds)", patched(6, b"\x04\x00")),
        rec("table_size too big", patched(8, struct.pack("<I", table + 1))),
        rec("data_size too small", patched(12, struct.pack("<I", len(good) - table - 1))),
        rec("path with a '..' component", patched(first_path, b"../")),
        rec("path with a space", patched(first_path, b" ")),
        rec("path starting with '/'", patched(first_path, b"/")),
        rec("truncated", good[:-1]),
        rec("one byte appended", good + b"\x00"),
        rec("header only", good[:16]),
    ]
    two = build_bundle([BundleFile("a/x.mpy", b"1"), BundleFile("a/y.mpy", b"2")])
    out.append(rec("paths out of order", two.replace(b"a/x.mpy", b"a/z.mpy")))
    out.append(rec("duplicate path", two.replace(b"a/y.mpy", b"a/x.mpy")))
    big = build_bundle([BundleFile("a.mpy", b"x" * 10)])
    out.append(rec("file size past the end", patched(16, struct.pack("<I", 11), big)))
    out.append(rec("file sizes short of the end", patched(16, struct.pack("<I", 9), big)))
    return out


def records() -> list[dict[str, Any]]:
    keys = {
        "kind": "keys",
        "note": "TEST KEYS from fixed public seeds: never use them for a production image",
        "public_key_a": img.raw_public_key(KEY_A.public_key()).hex(),
        "public_key_b": img.raw_public_key(KEY_B.public_key()).hex(),
        "keyhash_a": img.keyhash(KEY_A.public_key()).hex(),
        "policy": POLICY,
    }
    return [keys, *image_records(), *bundle_records()]


def render() -> str:
    lines = ["# Update images, metadata blobs and bundles (issue #9). Generated by "
             "tests/vectors/make_update_vectors.py: do not edit."]
    lines += [json.dumps(r, sort_keys=True) for r in records()]
    return "\n".join(lines) + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv[1:]:
        if OUT.read_text() != text:
            print(f"{OUT} is stale: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT} ({text.count(chr(10)) - 1} records)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
