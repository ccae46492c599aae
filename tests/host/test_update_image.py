"""Signed update images (cpsdi.update.image): imgtool interop, vectors, tamper sweeps, and
agreement with the device parser (cpsdi_fw.mcuboot)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import random
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cpsdi.exceptions import ImageFormatError, ReaderError, SignatureRejected, UpdateError
from cpsdi.update import image as img
from cpsdi_fw import mcuboot

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors"
IMGTOOL = Path(sys.executable).parent / "imgtool"


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_update_vectors", VECTORS / "make_update_vectors.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = _load_generator()
KEY_A: Ed25519PrivateKey = GEN.KEY_A
KEY_B: Ed25519PrivateKey = GEN.KEY_B
RECORDS = [json.loads(line) for line in (VECTORS / "update_images.jsonl").read_text().splitlines()
           if line.strip() and not line.startswith("#")]
IMAGE_RECORDS = [r for r in RECORDS if r["kind"] == "image"]


def _base() -> bytes:
    return bytes.fromhex(IMAGE_RECORDS[0]["image"])


def _pem_files(tmp_path: Path, key: Ed25519PrivateKey) -> tuple[Path, Path]:
    priv, pub = tmp_path / "key.pem", tmp_path / "pub.pem"
    priv.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    return priv, pub


def _imgtool(*args: str) -> subprocess.CompletedProcess[str]:
    if not IMGTOOL.exists():
        pytest.skip("imgtool is not installed (test extra)")
    return subprocess.run([str(IMGTOOL), *args], capture_output=True, text=True, timeout=60, check=False)


# ----------------------------------------------------------------------------- vectors


def test_vectors_are_up_to_date() -> None:
    assert GEN.render() == (VECTORS / "update_images.jsonl").read_text(), \
        "run: .venv/bin/python tests/vectors/make_update_vectors.py"


def test_exception_hierarchy() -> None:
    for cls in (ImageFormatError, SignatureRejected, img.IncompatibleImage, img.RollbackRejected):
        assert issubclass(cls, UpdateError) and issubclass(cls, ReaderError)


@pytest.mark.parametrize("rec", [r for r in IMAGE_RECORDS if r["image"] is not None], ids=lambda r: r["name"])
def test_host_verdicts(rec: dict[str, Any]) -> None:
    assert GEN.host_verdict(bytes.fromhex(rec["image"])) == rec["host"]


def test_every_refusal_kind_is_covered() -> None:
    verdicts = {r["host"] for r in IMAGE_RECORDS if "host" in r}
    for expected in ("ok", "ImageFormatError:magic", "ImageFormatError:bounds", "ImageFormatError:trailing",
                     "ImageFormatError:tlv_dup", "ImageFormatError:tlv_unknown", "ImageFormatError:missing",
                     "SignatureRejected:key", "SignatureRejected:signature", "SignatureRejected:digest",
                     "RollbackRejected:rollback", "IncompatibleImage:hw_id", "IncompatibleImage:compat"):
        assert expected in verdicts


def test_metadata_blob() -> None:
    image = _base()
    blob = img.metadata(image)
    assert blob.hex() == IMAGE_RECORDS[0]["meta"]
    info = img.inspect(image)
    assert blob == image[:32] + image[32 + info.img_size:]
    assert len(blob) == 32 + info.protect_tlv_size + info.tlv_size
    assert img.parse_metadata(blob).digest == info.digest


def test_device_and_host_agree_on_random_mutations() -> None:
    """Differential fuzz: the device parser never raises and gives the host's reason."""
    rng = random.Random(9)
    base = img.metadata(_base())
    meta = mcuboot.ImageMeta()
    for _ in range(3000):
        blob = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            op = rng.randrange(4)
            if op == 0 and blob:
                blob[rng.randrange(len(blob))] = rng.randrange(256)
            elif op == 1 and blob:
                del blob[rng.randrange(len(blob)):]
            elif op == 2:
                blob += bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
            elif blob:
                blob[rng.randrange(len(blob))] ^= 1 << rng.randrange(8)
        err = meta.parse(bytes(blob))
        try:
            img.parse_metadata(bytes(blob))
            host = "ok"
        except ImageFormatError as exc:
            host = exc.reason
        assert mcuboot.ERROR_NAMES[err] == host, bytes(blob).hex()


# ----------------------------------------------------------------------------- tamper sweeps


def test_exhaustive_single_bit_flips_are_refused() -> None:
    """Every single-bit flip anywhere in the image (header, payload, TLVs, signature) is refused."""
    base = _base()
    keys = [KEY_A.public_key()]
    img.verify(base, keys)
    accepted = []
    for pos in range(len(base)):
        for bit in range(8):
            flipped = bytearray(base)
            flipped[pos] ^= 1 << bit
            try:
                img.verify(bytes(flipped), keys)
            except UpdateError:
                continue
            accepted.append((pos, bit))
    assert accepted == []


def test_truncations_and_appended_bytes_are_refused() -> None:
    base = _base()
    for k in range(len(base)):
        with pytest.raises(ImageFormatError):
            img.verify(base[:k], [KEY_A.public_key()])
    for extra in (b"\x00", b"\xff" * 4, base[-64:]):
        with pytest.raises(ImageFormatError) as exc:
            img.verify(base + extra, [KEY_A.public_key()])
        assert exc.value.reason == "trailing"


def test_policy_checks() -> None:
    base = _base()
    pub = [KEY_A.public_key()]
    assert img.verify(base, pub, hw_id="sim", fw_compat="mpy6.3 armv6m", floor=5).signature_ok
    with pytest.raises(img.RollbackRejected):
        img.verify(base, pub, floor=6)
    with pytest.raises(img.IncompatibleImage, match="board"):
        img.verify(base, pub, hw_id="rp2040-revB")
    with pytest.raises(img.IncompatibleImage):
        img.verify(base, pub, fw_compat="mpy6.3 armv7emsp")
    with pytest.raises(img.IncompatibleImage):
        img.verify(base, pub, max_img_size=10)
    with pytest.raises(SignatureRejected) as exc:
        img.verify(base, [KEY_B.public_key()])
    assert exc.value.reason == "key"
    # a second, unknown key in the list does not matter
    assert img.verify(base, [KEY_B.public_key(), KEY_A.public_key()]).signature_ok


def test_build_is_deterministic_and_checks_arguments() -> None:
    payload = b"payload" * 10
    args: dict[str, Any] = {"version": img.ImageVersion.parse("1.0.0"), "sec_cnt": 1, "hw_id": "sim",
                            "fw_compat": "mpy6.3 armv6m", "key": KEY_A}
    assert img.build_image(payload, **args) == img.build_image(payload, **args)
    for bad in ({"hw_id": ""}, {"hw_id": "a b  c"}, {"hw_id": "x" * 33}, {"fw_compat": "é"}, {"sec_cnt": -1},
                {"sec_cnt": 1 << 32}):
        with pytest.raises(ValueError):
            img.build_image(payload, **{**args, **bad})
    with pytest.raises(ValueError):
        img.build_image(b"", **args)


@pytest.mark.parametrize(("text", "fields"), [("1.2.3+4", (1, 2, 3, 4)), ("0.1", (0, 1, 0, 0)),
                                              ("255.255.65535+4294967295", (255, 255, 65535, 4294967295))])
def test_version_parse(text: str, fields: tuple[int, int, int, int]) -> None:
    v = img.ImageVersion.parse(text)
    assert (v.major, v.minor, v.revision, v.build) == fields


@pytest.mark.parametrize("text", ["1", "1.2.3.4", "256.0.0", "1.2.65536", "a.b.c", "1.2.3+"])
def test_version_parse_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        img.ImageVersion.parse(text)


# ----------------------------------------------------------------------------- imgtool


def test_identical_to_imgtool_sign(tmp_path: Path) -> None:
    """imgtool sign with the same key, version, counter and custom TLVs gives the same bytes."""
    priv, _ = _pem_files(tmp_path, KEY_A)
    payload = GEN.PAYLOAD
    (tmp_path / "payload.bin").write_bytes(payload)
    for tag, value in ((0xA0, b"sim"), (0xA1, b"\x01"), (0xA2, b"mpy6.3 armv6m")):
        (tmp_path / f"{tag:x}.bin").write_bytes(value)
    r = _imgtool("sign", "-k", str(priv), "--pad-header", "-H", "32", "-S", "0x100000", "-v", "1.2.3+4", "-s", "5",
                 "--custom-tlv-file", "0xA0", str(tmp_path / "a0.bin"),
                 "--custom-tlv-file", "0xA1", str(tmp_path / "a1.bin"),
                 "--custom-tlv-file", "0xA2", str(tmp_path / "a2.bin"),
                 str(tmp_path / "payload.bin"), str(tmp_path / "imgtool.bin"))
    assert r.returncode == 0, r.stderr
    assert "sign the digest" in r.stdout
    assert (tmp_path / "imgtool.bin").read_bytes() == _base()


def test_imgtool_verify_accepts_ours_and_rejects_tampered(tmp_path: Path) -> None:
    _, pub = _pem_files(tmp_path, KEY_A)
    (tmp_path / "b").mkdir()
    _, pub_b = _pem_files(tmp_path / "b", KEY_B)
    base = _base()
    good = tmp_path / "good.bin"
    good.write_bytes(base)
    r = _imgtool("verify", "-k", str(pub), str(good))
    assert r.returncode == 0 and "Image was correctly validated" in r.stdout, r.stdout + r.stderr
    assert "1.2.3+4" in r.stdout
    assert hashlib.sha256(base[:len(base) - 144]).hexdigest() in r.stdout
    info = img.inspect(base)
    tlv_start = len(base) - 144
    cases = {
        "payload": 40,
        "protected TLV value": 32 + info.img_size + 8,
        "signature": tlv_start + 80 + 10,
    }
    for name, pos in cases.items():
        bad = bytearray(base)
        bad[pos] ^= 0x01
        path = tmp_path / f"bad-{pos}.bin"
        path.write_bytes(bytes(bad))
        r = _imgtool("verify", "-k", str(pub), str(path))
        assert r.returncode != 0, f"imgtool accepted a flipped {name}"
        with pytest.raises(UpdateError):
            img.verify(bytes(bad), [KEY_A.public_key()])
    r = _imgtool("verify", "-k", str(pub_b), str(good))
    assert r.returncode != 0


def test_imgtool_dumpinfo_fields(tmp_path: Path) -> None:
    path = tmp_path / "image.bin"
    path.write_bytes(_base())
    r = _imgtool("dumpinfo", str(path))
    assert r.returncode == 0, r.stderr
    info = img.inspect(_base())
    out = r.stdout
    assert re.search(r"magic:\s+0x96f3b83d", out)
    assert re.search(r"hdr_size:\s+0x20\b", out)
    assert re.search(rf"img_size:\s+{info.img_size:#x}\b", out)
    assert re.search(rf"protected_tlv_size:\s+{info.protect_tlv_size:#x}\b", out)
    assert re.search(r"version:\s+1\.2\.3\+4", out)
    types = re.findall(r"type:\s+(\S+) \((0x[0-9a-f]+)\)", out)
    assert [t[1] for t in types] == ["0x50", "0xa0", "0xa1", "0xa2", "0x10", "0x1", "0x24"]
