"""``cpsdi fw keygen/build/inspect`` and the key-file rules (cpsdi.update.keys)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cpsdi.cli import main
from cpsdi.exceptions import KeyFileError
from cpsdi.update import image as img
from cpsdi.update import keys

IMGTOOL = Path(sys.executable).parent / "imgtool"


def _run(*args: str) -> Result:
    return CliRunner().invoke(main, ["fw", *args])


@pytest.fixture(scope="module")
def keydir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("keys") / "k"
    result = _run("keygen", "--out", str(out))
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def built(keydir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("img") / "app.img"
    result = _run("build", "--key", str(keydir / keys.PRIVATE_NAME), "--version", "1.4.0+12", "--sec-cnt", "9",
                  "--board", "sim", "-o", str(out))
    assert result.exit_code == 0, result.output
    return out


def test_keygen_files(keydir: Path) -> None:
    priv, pub = keydir / keys.PRIVATE_NAME, keydir / keys.PUBLIC_NAME
    assert stat.S_IMODE(priv.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in priv.read_bytes() and b"PUBLIC KEY" in pub.read_bytes()
    assert keys.load_private_key(priv).public_key() == keys.load_public_key(pub)


def test_keygen_refuses_overwrite(keydir: Path) -> None:
    before = (keydir / keys.PRIVATE_NAME).read_bytes()
    result = _run("keygen", "--out", str(keydir))
    assert result.exit_code == 1
    assert "refusing to overwrite" in result.output
    assert (keydir / keys.PRIVATE_NAME).read_bytes() == before


def test_keygen_refuses_git_work_tree(tmp_path: Path) -> None:
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    target = tmp_path / "repo" / "sub" / "keys"
    result = _run("keygen", "--out", str(target))
    assert result.exit_code == 1 and "git working tree" in result.output
    assert not target.exists()
    result = _run("keygen", "--out", str(target), "--force-in-repo")
    assert result.exit_code == 0, result.output
    assert (target / keys.PRIVATE_NAME).exists()


def test_private_key_readable_by_others_is_refused(keydir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "key.pem"
    copy.write_bytes((keydir / keys.PRIVATE_NAME).read_bytes())
    for mode in (0o640, 0o604, 0o660):
        os.chmod(copy, mode)
        with pytest.raises(KeyFileError) as exc:
            keys.load_private_key(copy)
        assert exc.value.reason == "permissions"
    result = _run("build", "--key", str(copy), "--version", "1.0.0", "--sec-cnt", "1", "--board", "sim",
                  "-o", str(tmp_path / "x.img"))
    assert result.exit_code == 1 and "chmod 600" in result.output
    assert not (tmp_path / "x.img").exists()
    assert "Traceback" not in result.output


def test_public_key_as_signing_key(keydir: Path, tmp_path: Path) -> None:
    result = _run("build", "--key", str(keydir / keys.PUBLIC_NAME), "--version", "1.0.0", "--sec-cnt", "1",
                  "--board", "sim", "-o", str(tmp_path / "x.img"))
    assert result.exit_code == 1 and "public key" in result.output


def test_build_output(built: Path, keydir: Path) -> None:
    info = img.verify(built.read_bytes(), [keys.load_public_key(keydir / keys.PUBLIC_NAME)], hw_id="sim",
                      fw_compat="mpy6.3 armv6m", floor=9)
    assert str(info.version) == "1.4.0+12"
    assert info.sec_cnt == 9 and info.payload_type == img.PAYLOAD_BUNDLE


def test_build_is_deterministic(built: Path, keydir: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.img"
    result = _run("build", "--key", str(keydir / keys.PRIVATE_NAME), "--version", "1.4.0+12", "--sec-cnt", "9",
                  "--board", "sim", "-o", str(again))
    assert result.exit_code == 0, result.output
    assert again.read_bytes() == built.read_bytes()


def test_build_bad_arguments(keydir: Path, tmp_path: Path) -> None:
    key = str(keydir / keys.PRIVATE_NAME)
    out = str(tmp_path / "x.img")
    assert _run("build", "--key", key, "--version", "1", "--sec-cnt", "1", "--board", "sim", "-o", out).exit_code == 2
    assert _run("build", "--key", key, "--version", "1.0.0", "--sec-cnt", "-1", "--board", "sim",
                "-o", out).exit_code == 2
    assert _run("build", "--key", key, "--version", "1.0.0", "--sec-cnt", "1", "--board", "sim", "--arch", "z80",
                "-o", out).exit_code == 2
    result = _run("build", "--key", key, "--version", "1.0.0", "--sec-cnt", "1", "--board", "nope", "-o", out)
    assert result.exit_code == 1 and "unknown board" in result.output


def test_imgtool_verifies_the_built_image(built: Path, keydir: Path) -> None:
    if not IMGTOOL.exists():
        pytest.skip("imgtool is not installed (test extra)")
    r = subprocess.run([str(IMGTOOL), "verify", "-k", str(keydir / keys.PUBLIC_NAME), str(built)],
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0 and "Image was correctly validated" in r.stdout, r.stdout + r.stderr


def test_inspect_json(built: Path, keydir: Path) -> None:
    result = _run("inspect", str(built), "--key", str(keydir / keys.PUBLIC_NAME), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["version"] == "1.4.0+12" and data["version_fields"] == [1, 4, 0, 12]
    assert data["sec_cnt"] == 9 and data["hw_id"] == "sim" and data["fw_compat"] == "mpy6.3 armv6m"
    assert data["digest_ok"] is True and data["signature_ok"] is True
    assert data["signed_by"].endswith(keys.PUBLIC_NAME)
    paths = [f["path"] for f in data["manifest"]]
    assert "cpsdi_fw/mcuboot.mpy" in paths and paths == sorted(paths)
    assert data["total_size"] == built.stat().st_size


def test_inspect_text(built: Path) -> None:
    result = _run("inspect", str(built))
    assert result.exit_code == 0, result.output
    for text in ("SEC_CNT (0x50)", "HW_ID (0xa0)", "FW_COMPAT (0xa2)", "not checked", "matches", "cpsdi_fw/link.mpy"):
        assert text in result.output


def test_inspect_wrong_key(built: Path, tmp_path: Path) -> None:
    other = keys.write_key_pair(tmp_path / "other")
    result = _run("inspect", str(built), "--key", str(other.public_path), "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["signature_ok"] is False and data["signed_by"] is None


@pytest.mark.parametrize("cut", [0, 10, 31, 100, -1, -145])
def test_inspect_truncated(built: Path, tmp_path: Path, cut: int) -> None:
    bad = tmp_path / "bad.img"
    bad.write_bytes(built.read_bytes()[:cut])
    result = _run("inspect", str(bad))
    assert result.exit_code == 1
    assert "error:" in result.output and "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_inspect_tampered_payload(built: Path, tmp_path: Path) -> None:
    data = bytearray(built.read_bytes())
    data[100] ^= 0x40
    bad = tmp_path / "bad.img"
    bad.write_bytes(bytes(data))
    result = _run("inspect", str(bad))
    assert result.exit_code == 1 and "MISMATCH" in result.output


def test_inspect_missing_file(tmp_path: Path) -> None:
    result = _run("inspect", str(tmp_path / "none.img"))
    assert result.exit_code == 1 and "error:" in result.output
