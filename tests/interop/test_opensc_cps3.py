"""OpenSC (Debian 12: 0.23) against the virtual CPS3 ``doctor`` card, through stock pcscd +
libccidtwin.so + ``cpsdi sim`` (issue #7 stretch goal; docs/virtual-cards.md "OpenSC").

OpenSC's ``iasecc`` driver recognises the card by its ATR ("IAS/ECC CPx") and its PKCS#15
layer binds the contact application 3F00/0001. What works is checked against the test card's
own data: the test PKI's certificates (``card_pki("doctor")``), the profile's data objects and
EF.SN, the PKCS#15 labels of cps-cards.md §5.5/§8.3. What does not work is an
``xfail(strict=True)`` test carrying OpenSC's exact error.

One simulator + pcscd per module (``--card-time virtual``: no modelled card delays); the tools
run one after the other against it, in file order (the PIN tests leave the counter full).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from _pcscd_stack import PcscStack, StackConfig, StackFactory
from cpsdi_boards.sim.cps.cps3 import CPX_IAS_AID, CPX_IAS_CL_AID
from cpsdi_boards.sim.cps.pki import CardPKI, card_pki
from cpsdi_boards.sim.cps.profiles import GENERATION_ATRS, data_objects, get_profile

CARD = "doctor"
PIN = "1234"  # the public test-card PIN (FACT A15/I2217); fine for a test card
SIGN_ID = (CPX_IAS_AID + b"\x01").hex()  # FACT §5.5: key/certificate ID = application AID + 01 / 02
AUTH_ID = (CPX_IAS_AID + b"\x02").hex()
PKCS11_MODULES = ("/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so", "/usr/lib/aarch64-linux-gnu/opensc-pkcs11.so",
                  "/usr/lib/opensc-pkcs11.so", "/usr/lib64/opensc-pkcs11.so")
TOOL_TIMEOUT_S = 90.0


@pytest.fixture(scope="module")
def stack(pcsc_stack: StackFactory) -> Iterator[PcscStack]:
    with pcsc_stack(StackConfig("cpsdi doctor", (CARD,), sim_args=("--card-time", "virtual"))) as stack:
        yield stack


@pytest.fixture(scope="module")
def pki() -> CardPKI:
    return card_pki(CARD)


@pytest.fixture(scope="session")
def pkcs11_module(need_tool: Callable[[str], None]) -> str:
    need_tool("pkcs11-tool")
    for path in PKCS11_MODULES:
        if Path(path).exists():
            return path
    pytest.skip("opensc-pkcs11.so missing (Debian package opensc-pkcs11)")


def run(stack: PcscStack, args: list[str]) -> str:
    """Run an OpenSC tool, require exit status 0, return its stdout."""
    done = stack.tool(args, timeout_s=TOOL_TIMEOUT_S)
    assert done.returncode == 0, f"{' '.join(args)} -> {done.returncode}\n{done.stdout}{done.stderr}"
    return done.stdout


def blocks(out: str, head: str) -> dict[str, dict[str, str]]:
    """``HEAD [label]`` / ``HEAD 'label'`` blocks of pkcs15-tool output -> label -> {field: value}
    (tab-indented ``Field : value`` lines; wrapped hex continuation lines joined)."""
    found: dict[str, dict[str, str]] = {}
    fields: dict[str, str] | None = None
    last = ""
    for line in out.splitlines():
        m = re.match(re.escape(head) + r" [\['](.*)[\]']$", line)
        if m:
            fields = found.setdefault(m.group(1), {})
            continue
        if fields is None or not line.strip():
            continue
        m = re.match(r"\t([^:]+?)\s*:\s?(.*)$", line)
        if m:
            last = m.group(1)
            fields[last] = m.group(2).strip()
        elif line.startswith(" ") and last:
            fields[last] += line.strip()
    return found


def pem_certificate(out: str) -> x509.Certificate:
    body = re.search(r"-----BEGIN CERTIFICATE-----\n(.+?)-----END CERTIFICATE-----", out, re.S)
    assert body is not None, out
    return x509.load_der_x509_certificate(base64.b64decode(body.group(1)))


# -- opensc-tool ---------------------------------------------------------------------------------


def test_opensc_tool_atr_name_and_serial(stack: PcscStack, need_tool: Callable[[str], None]) -> None:
    need_tool("opensc-tool")
    profile = get_profile(CARD)
    atr = run(stack, ["opensc-tool", "--reader", "0", "--atr"]).strip()
    assert bytes.fromhex(atr.replace(":", "")) == GENERATION_ATRS["cps3"]
    assert run(stack, ["opensc-tool", "--reader", "0", "--name"]) == "IAS-ECC\n"
    # iasecc_get_serialnr: EF.SN read by SFI 1C (00 B0 9C 00), the PAN without its 80 25
    serial = run(stack, ["opensc-tool", "--reader", "0", "--serial"])
    assert bytes.fromhex(serial[:24].replace(" ", "")) == profile.serial_number[4:]


# -- pkcs15-tool ---------------------------------------------------------------------------------


def test_pkcs15_list_certificates(stack: PcscStack, need_tool: Callable[[str], None], pki: CardPKI) -> None:
    need_tool("pkcs15-tool")
    certs = blocks(run(stack, ["pkcs15-tool", "--list-certificates"]), "X.509 Certificate")
    assert list(certs) == ["Certificat de Signature CPS", "Certificat d'Authentification CPS"]
    for label, cert_id, cert, fid in (("Certificat de Signature CPS", SIGN_ID, pki.sign_cert, "c001"),
                                      ("Certificat d'Authentification CPS", AUTH_ID, pki.auth_cert, "c002")):
        assert certs[label]["ID"] == cert_id
        assert certs[label]["Path"] == f"{CPX_IAS_AID.hex()}::3f000001{fid}"
        assert certs[label]["Authority"] == "no"
        serial = cert.serial_number.to_bytes((cert.serial_number.bit_length() + 8) // 8, "big")
        assert certs[label]["Encoded serial"] == f"02 {len(serial):02X} {serial.hex().upper()}"


@pytest.mark.parametrize("which", ["sign", "auth"])
def test_pkcs15_read_certificate(stack: PcscStack, need_tool: Callable[[str], None], pki: CardPKI,
                                 which: str) -> None:
    """The whole certificate (1000+ bytes, read in 0xE7-byte pieces after 6C E7) = the test PKI's."""
    need_tool("pkcs15-tool")
    cert_id, expected = (SIGN_ID, pki.sign_cert) if which == "sign" else (AUTH_ID, pki.auth_cert)
    cert = pem_certificate(run(stack, ["pkcs15-tool", "--read-certificate", cert_id]))
    assert cert == expected
    assert cert.subject == expected.subject
    assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "TEST Jean BIDE"


def test_pkcs15_list_pins(stack: PcscStack, need_tool: Callable[[str], None]) -> None:
    need_tool("pkcs15-tool")
    pins = blocks(run(stack, ["pkcs15-tool", "--list-pins"]), "PIN")
    assert list(pins) == ["Code porteur de la carte CPX", "Code de deblocage de la carte CPX"]
    holder, unblock = pins["Code porteur de la carte CPX"], pins["Code de deblocage de la carte CPX"]
    assert holder["Auth ID"] == "02"  # FACT §5.5: unblocked with auth object 02
    assert holder["ID"] == "01" and holder["Reference"] == "1 (0x01)"
    assert holder["Type"] == "ascii-numeric" and holder["Path"] == f"{CPX_IAS_AID.hex()}::"
    assert unblock["ID"] == "02" and unblock["Reference"] == "2 (0x02)"
    assert "unblockingPin" in unblock["Flags"]


def test_pkcs15_list_keys(stack: PcscStack, need_tool: Callable[[str], None]) -> None:
    need_tool("pkcs15-tool")
    keys = blocks(run(stack, ["pkcs15-tool", "--list-keys"]), "Private RSA Key")
    assert list(keys) == ["CPS_PRIV_SIG", "CPS_PRIV_AUT"]
    sig, aut = keys["CPS_PRIV_SIG"], keys["CPS_PRIV_AUT"]
    assert (sig["Key ref"], aut["Key ref"]) == ("129 (0x81)", "130 (0x82)")  # FACT §6.1
    assert (sig["ID"], aut["ID"]) == (SIGN_ID, AUTH_ID)
    assert sig["Usage"] == "[0x200], nonRepudiation" and aut["Usage"] == "[0x06], decrypt, sign"
    assert sig["ModLength"] == aut["ModLength"] == "2048"
    assert sig["Auth ID"] == aut["Auth ID"] == "01"
    # no algReference on the card (FACT I2267): OpenSC rebuilds them from TokenInfo (#2270)
    assert (sig["Algo_refs"], aut["Algo_refs"]) == ("3, 4", "5")


def test_pkcs15_list_data_objects(stack: PcscStack, need_tool: Callable[[str], None]) -> None:
    need_tool("pkcs15-tool")
    expected = data_objects(get_profile(CARD))
    objects = blocks(run(stack, ["pkcs15-tool", "--list-data-objects"]), "Data object")
    assert list(objects) == list(expected)
    for label, blob in expected.items():
        fields = objects[label]
        assert fields["applicationName"] == "CPS"
        if "ACTIVITY" in label or label.endswith("SIT_FACT"):  # PIN-protected: listed, not read (§8.3)
            assert fields["Auth ID"] == "01" and not any(key.startswith("Data") for key in fields)
        else:
            data_key = f"Data ({len(blob)} bytes)"
            assert fields[data_key].replace(" ", "") == blob.hex().upper()


def test_pkcs15_dump_token_info(stack: PcscStack, need_tool: Callable[[str], None]) -> None:
    need_tool("pkcs15-tool")
    out = run(stack, ["pkcs15-tool", "--dump"])
    assert re.search(r"^PKCS#15 Card \[CPS3v3-[0-9A-F]{10}\]:$", out, re.M), out
    assert "\tManufacturer ID: ASIP SANTE\n" in out  # FACT §5.5 (I2267)
    assert "\tFlags          : Read-only, Login required\n" in out


def test_pkcs15_verify_pin(stack: PcscStack, need_tool: Callable[[str], None]) -> None:
    need_tool("pkcs15-tool")
    run(stack, ["pkcs15-tool", "--verify-pin", "--pin", PIN])
    wrong = stack.tool(["pkcs15-tool", "--verify-pin", "--pin", "9999"], timeout_s=TOOL_TIMEOUT_S)
    assert wrong.returncode != 0
    assert "Operation failed: PIN code or key incorrect" in wrong.stderr
    run(stack, ["pkcs15-tool", "--verify-pin", "--pin", PIN])  # the counter is full again (3 tries)


# -- iasecc-tool ---------------------------------------------------------------------------------


def test_iasecc_tool_list_applications(stack: PcscStack, need_tool: Callable[[str], None]) -> None:
    need_tool("iasecc-tool")
    ddo = "4F0D" + CPX_IAS_AID.hex().upper()  # both DDOs name the contact AID, as published (FACT §5.3)
    assert run(stack, ["iasecc-tool", "--reader", "0", "--list-applications"]) == (
        "Application 'CPX IAS':\n"
        f"\tAID: {CPX_IAS_AID.hex().upper()}\n"
        f"\tDDO: {ddo}\n\n"
        "Application 'CPX IAS CL':\n"
        f"\tAID: {CPX_IAS_CL_AID.hex().upper()}\n"
        f"\tDDO: {ddo}\n\n"
    )


# -- pkcs11-tool (opensc-pkcs11.so) --------------------------------------------------------------


def test_pkcs11_authentication_key_signs_rsa_pkcs(stack: PcscStack, pkcs11_module: str, pki: CardPKI,
                                                  tmp_path: Path) -> None:
    """CPS_PRIV_AUT, CKM_RSA_PKCS on a SHA-256 DigestInfo: MSE SET AT + INTERNAL AUTHENTICATE."""
    message = b"cpsdi: a message signed by the virtual CPS3\n"
    digest = hashes.Hash(hashes.SHA256())
    digest.update(message)
    digest_info = bytes.fromhex("3031300d060960864801650304020105000420") + digest.finalize()
    (tmp_path / "in.bin").write_bytes(digest_info)
    run(stack, ["pkcs11-tool", "--module", pkcs11_module, "--login", "--pin", PIN, "--sign",
                "--mechanism", "RSA-PKCS", "--id", AUTH_ID, "--input-file", str(tmp_path / "in.bin"),
                "--output-file", str(tmp_path / "sig.bin")])
    signature = (tmp_path / "sig.bin").read_bytes()
    assert len(signature) == 256
    public_key = pki.auth_cert.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    public_key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())


def test_pkcs11_authentication_key_deciphers(stack: PcscStack, pkcs11_module: str, pki: CardPKI,
                                             tmp_path: Path) -> None:
    """CPS_PRIV_AUT, CKM_RSA_PKCS decrypt: MSE SET CT + PSO DECIPHER with command chaining."""
    secret = b"a session key for the CPS"
    public_key = pki.auth_cert.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    (tmp_path / "ct.bin").write_bytes(public_key.encrypt(secret, padding.PKCS1v15()))
    run(stack, ["pkcs11-tool", "--module", pkcs11_module, "--login", "--pin", PIN, "--decrypt",
                "--mechanism", "RSA-PKCS", "--id", AUTH_ID, "--input-file", str(tmp_path / "ct.bin"),
                "--output-file", str(tmp_path / "pt.bin")])
    assert (tmp_path / "pt.bin").read_bytes() == secret


@pytest.mark.xfail(strict=True, reason=(
    "OpenSC 0.23 built with OpenSSL 3: iasecc_qsign_data_sha256 (the partial hash for PSO HASH) returns "
    "SC_ERROR_NOT_SUPPORTED after MSE SET HT/DST, so pkcs11-tool fails with 'error: PKCS11 function "
    "C_SignFinal failed: rv = CKR_FUNCTION_NOT_SUPPORTED (0x54)' before any PSO HASH reaches the card"))
def test_pkcs11_signature_key_signs_sha256_rsa_pkcs(stack: PcscStack, pkcs11_module: str, pki: CardPKI,
                                                    tmp_path: Path) -> None:
    """CPS_PRIV_SIG (non-repudiation, algRefs SHA1/SHA256-RSA-PKCS only): on-card hashing."""
    message = b"cpsdi: a message signed by the virtual CPS3\n"
    (tmp_path / "msg.bin").write_bytes(message)
    done = stack.tool(["pkcs11-tool", "--module", pkcs11_module, "--login", "--pin", PIN, "--sign",
                       "--mechanism", "SHA256-RSA-PKCS", "--id", SIGN_ID, "--input-file", str(tmp_path / "msg.bin"),
                       "--output-file", str(tmp_path / "sig.bin")], timeout_s=TOOL_TIMEOUT_S)
    assert done.returncode == 0, done.stdout + done.stderr
    public_key = pki.sign_cert.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    public_key.verify((tmp_path / "sig.bin").read_bytes(), message, padding.PKCS1v15(), hashes.SHA256())


def test_pkcs11_signature_key_fails_as_documented(stack: PcscStack, pkcs11_module: str, tmp_path: Path) -> None:
    """The exact OpenSC error of the xfail above (so that a change of it shows)."""
    (tmp_path / "msg.bin").write_bytes(b"x")
    done = stack.tool(["pkcs11-tool", "--module", pkcs11_module, "--login", "--pin", PIN, "--sign",
                       "--mechanism", "SHA256-RSA-PKCS", "--id", SIGN_ID, "--input-file", str(tmp_path / "msg.bin"),
                       "--output-file", str(tmp_path / "sig.bin")], timeout_s=TOOL_TIMEOUT_S)
    if done.returncode == 0:
        pytest.skip("this OpenSC signs with on-card hashing (not the OpenSSL 3 build of 0.23)")
    assert "error: PKCS11 function C_SignFinal failed: rv = CKR_FUNCTION_NOT_SUPPORTED (0x54)" in done.stderr

