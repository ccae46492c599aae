"""Generate tests/vectors/update_channel.jsonl: signed images for the device updater tests
(tests/device/test_updater.py, CPython and MicroPython-wasm, which cannot sign).

    .venv/bin/python tests/vectors/make_update_channel_vectors.py          # rewrite the file
    .venv/bin/python tests/vectors/make_update_channel_vectors.py --check  # exit 1 if stale

Signed with TEST key A of make_update_vectors.py (published seed: never for production);
hw_id "sim", fw_compat "mpy6.3 armv6m". Records ``{"kind": "image", "name", "image" (hex),
"meta_len", "img_size", "sec_cnt", "version", "digest"}``:

* ``v1`` sec_cnt 5, ``v2`` sec_cnt 6, ``v3`` sec_cnt 7 (about 5 KiB payloads: several chunks);
* ``old`` sec_cnt 4 (below the floor once v2 is confirmed);
* ``small`` a 3-file bundle of a few hundred bytes, sec_cnt 5;
* ``bad_manifest`` a validly signed payload that is not a bundle (FINISH: manifest);
* ``bad_file`` a validly signed bundle whose table lists a wrong SHA-256 for one file
  (FINISH: file_digest);
* ``flipped`` v1 with one payload byte flipped (digest mismatch at FINISH).
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from make_update_vectors import KEY_A  # noqa: E402

from cpsdi.update import image as img  # noqa: E402
from cpsdi.update.bundle import BundleFile, build_bundle  # noqa: E402

OUT = Path(__file__).with_name("update_channel.jsonl")


def files(tag: str, n: int, size: int) -> list[BundleFile]:
    out = []
    for i in range(n):
        seed = hashlib.sha256(f"{tag} file {i}".encode()).digest()
        data = (b"M\x06\x00\x1f" + seed * (size // 32 + 1))[:size]
        out.append(BundleFile(f"cpsdi_fw/mod{i}.mpy", data))
    return out


def signed(payload: bytes, version: str, sec_cnt: int) -> bytes:
    return img.build_image(payload, version=img.ImageVersion.parse(version), sec_cnt=sec_cnt, hw_id="sim",
                           fw_compat="mpy6.3 armv6m", key=KEY_A)


def rec(name: str, image: bytes) -> dict[str, Any]:
    info = img.inspect(image)
    meta = img.metadata(image)
    v = info.version
    return {"kind": "image", "name": name, "image": image.hex(), "meta_len": len(meta), "img_size": info.img_size,
            "sec_cnt": info.sec_cnt, "version": [v.major, v.minor, v.revision, v.build], "digest": info.digest.hex()}


def records() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"kind": "keys", "public_key_a": img.raw_public_key(KEY_A.public_key()).hex(),
                                  "note": "TEST key A: never for production", "hw_id": "sim",
                                  "fw_compat": "mpy6.3 armv6m"}]
    v1 = signed(build_bundle(files("v1", 5, 1000)), "1.0.0+1", 5)
    out.append(rec("v1", v1))
    out.append(rec("v2", signed(build_bundle(files("v2", 5, 1000)), "1.1.0+2", 6)))
    out.append(rec("v3", signed(build_bundle(files("v3", 5, 1000)), "1.2.0+3", 7)))
    out.append(rec("old", signed(build_bundle(files("old", 2, 300)), "0.9.0+0", 4)))
    out.append(rec("small", signed(build_bundle(files("small", 3, 100)), "1.0.1+0", 5)))
    out.append(rec("bad_manifest", signed(b"this is not a bundle table" * 10, "1.0.2+0", 5)))
    good = build_bundle(files("bad", 3, 200))
    # the first entry's sha256 (table offset 16 + 4) replaced: the table still parses
    bad = bytearray(good)
    bad[20:52] = hashlib.sha256(b"something else").digest()
    out.append(rec("bad_file", signed(bytes(bad), "1.0.3+0", 5)))
    flipped = bytearray(v1)
    flipped[32 + 2000] ^= 0x10
    out.append(rec("flipped", bytes(flipped)))
    assert struct.unpack_from("<I", v1, 0)[0] == img.IMAGE_MAGIC
    return out


def main() -> int:
    text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records())
    if "--check" in sys.argv:
        if OUT.read_text() != text:
            print(f"{OUT} is stale: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT} ({text.count(chr(10))} records)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
