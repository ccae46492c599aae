"""The CPS3 contact application (IAS-ECC 1.0.1 as the CPx implements it), as an APDU handler.

Plug :meth:`CPS3Application.handle` into a T=0 card (:func:`cpsdi_boards.sim.cps.cards.make_cps3_card`).
Every behaviour comes from ``shared/reference/cps-cards.md`` (§ numbers below) with its
label: FACT (public traces and sources), INFERENCE, GUESS (§12 notes or choices made here).

File system (FACT §4.2/§5 unless marked): MF 3F00 named ``80 25 00 00 01 FF 01 00`` with
EF.DIR 2F00, EF.ATR 2F01, EF.SN D003, optional EF_ACTUA D010; DF 0001 named
``E8 28 BD 08 0F 80 25 00 00 01 FF 00 10`` with ODF 5031, TokenInfo 5032, AODF 7001,
CDF 7005, PrKDF 7002 (GUESS FID), DODF 7006 (GUESS FID), certificates C001/C002 (GUESS FIDs)
and the data objects (situations D120..D12F, FACT A3; other FIDs GUESS); DF 0002 named
``E8…FF 00 20`` for the contactless application (INFERENCE; left empty, GUESS).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Mapping

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

from cpsdi_boards.sim.cps import iso7816_4 as iso
from cpsdi_boards.sim.cps import pkcs15
from cpsdi_boards.sim.cps.cards import reset_handler_owner
from cpsdi_boards.sim.cps.der import TLVError, integer, parse_tlvs, tlv
from cpsdi_boards.sim.cps.iso7816_4 import DF, EF, SW, FileContext, SelectRules, sw_response
from cpsdi_boards.sim.cps.pin import PinObject
from cpsdi_boards.sim.cps.pkcs1 import PaddingError, RSAKey, pad_type1, unpad_type2
from cpsdi.cps.sha_state import SHA1, SHA256, HashAlgorithm, finish
from cpsdi_boards.sim.virtual_card import APDUHandler, CardResponse

__all__ = [
    "CPS3Application",
    "ROOT_AID",
    "CPX_IAS_AID",
    "CPX_IAS_CL_AID",
    "EF_ATR_CONTENT",
    "EF_DIR_CONTENT",
    "KEY_REF_SIGN",
    "KEY_REF_AUTH",
    "data_object_fid",
    "data_object_needs_pin",
    "CPS3_SELECT_RULES",
    "build_pkcs15_application",
]

ROOT_AID = bytes.fromhex("80 25 00 00 01 FF 01 00")  # FACT §4.1 (EF.ATR tag 4F)
CPX_IAS_AID = bytes.fromhex("E8 28 BD 08 0F 80 25 00 00 01 FF 00 10")  # FACT §4.1
CPX_IAS_CL_AID = bytes.fromhex("E8 28 BD 08 0F 80 25 00 00 01 FF 00 20")  # FACT §4.1

# FACT §5.2: the 57 bytes of EF.ATR, with the leading 80.
EF_ATR_CONTENT = bytes.fromhex(
    "80 43 01 B8 46 04 04 B0 EC C1 47 03 94 01 80 4F 08 80 25 00 00 01 FF 01 00 E0 10 02 02 01 04 02 02"
    " 01 04 02 02 01 00 02 02 01 00 78 08 06 06 2B 81 22 F8 78 02 82 02 90 00"
)


def _app_template(aid: bytes, label: bytes, path: bytes, ddo_aid: bytes) -> bytes:
    return tlv(b"\x61", tlv(b"\x4F", aid) + tlv(b"\x50", label) + tlv(b"\x51", path) + tlv(b"\x73", tlv(b"\x4F", ddo_aid)))


# FACT §5.3: two applications 'CPX IAS' / 'CPX IAS CL', each DDO showing 4F 0D …FF 00 10 as printed.
# INFERENCE: with a 51 path each, the two templates fill exactly the 0x65 bytes of the FCP (§5.1).
# GUESS: the tag order inside the templates.
# INFERENCE (order, OpenSC interop): the CL template comes first. OpenSC's sc_enum_apps moves
# the applications of its table (both CPx AIDs are in it) "to the head" by swapping, which
# reverses two known entries: a card listing CL first ends up as ['CPX IAS', 'CPX IAS CL'] --
# the order `iasecc-tool --list-applications` printed for a real CPS3 (FACT §5.3) -- and
# sc_pkcs15_bind then binds app[0] = the contact application (3F00/0001), as pkcs15-tool did
# on real CPS3s (FACT I2267: CPS_PRIV_SIG/AUT of the contact AID). Listed contact-first,
# OpenSC would bind the empty CL DF 0002 instead.
EF_DIR_CONTENT = _app_template(CPX_IAS_CL_AID, b"CPX IAS CL", b"\x3F\x00\x00\x02", CPX_IAS_AID) + _app_template(
    CPX_IAS_AID, b"CPX IAS", b"\x3F\x00\x00\x01", CPX_IAS_AID
)

ACL_DIR_ATR = bytes.fromhex("7B 45 FF FF FF 45 00")  # FACT §5.1 (2F00, 2F01 contact)
# DF security attributes (FCP tag A1). INFERENCE: a real CPx DF FCP carries them -- OpenSC's
# iasecc_process_fci fails with "ACLs tag missing" on an FCP without 8C, yet opensc-explorer
# `cd 0001` and pkcs15-tool work on real CPS3s (FACT §5.5, I2224/I2267). GUESS: the values
# (AM 7B in OpenSC's DF order DELETE, TERMINATE, ACTIVATE, DEACTIVATE, CREATE: DELETE and
# CREATE under SM with SE#5 like the admin rights of 2F00/2F01, the rest never; contactless never).
ACL_DF = bytes.fromhex("7B 45 FF FF FF 45 FF")
ACL_DF_CL = bytes.fromhex("7B FF FF FF FF FF FF")
# GUESS: SE#1 holds the user authentication by CHV1 (SCB 0x11); SCB 0x13 (SE#3 = CHV2) is FACT §6.1.
SCB_CHV1 = 0x11
SCB_CHV2 = 0x13
ACL_PIN_READ = bytes((0x7B, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, SCB_CHV1))
ACL_PIN_UPDATE = bytes((0x7B, 0xFF, 0xFF, 0xFF, 0xFF, SCB_CHV1, 0x00))

KEY_REF_SIGN = 0x81  # FACT §6.1 CPS_PRIV_SIG
KEY_REF_AUTH = 0x82  # FACT §6.1 CPS_PRIV_AUT
# FACT §6.4: IAS-ECC algorithm references
ALG_SHA1, ALG_SHA256 = 0x10, 0x40
ALG_RSA_SHA1, ALG_RSA_SHA256 = 0x12, 0x42
ALG_RSA_PKCS1 = 0x02
# GUESS: MSE SET CT also takes 0x02, the algRef of TokenInfo's RSA-PKCS entry (ref 5: compute
# signature + decipher with one algRef, §5.5; its value is itself a GUESS). OpenSC takes every
# MSE algorithm byte from TokenInfo (§6.4) and sends `00 22 41 B8 06 84 01 82 80 01 02`
# before a PSO DECIPHER; 0x0A / 0x1A alone made pkcs11-tool --decrypt fail (6A80).
ALG_RSA_DECIPHER = (0x0A, 0x1A, ALG_RSA_PKCS1)

CHV1_ACL = bytes.fromhex("F3 00 00 13 FF 00")  # FACT §6.2
CHV2_ACL = bytes.fromhex("F3 FF 00 FF FF 00")  # FACT §6.2
# Key SDO DOCP ACLs (AM + SCBs). GUESS (values not public), laid out in OpenSC's RSA-private
# order (iasecc-sdo.c: AM bit 40 PSO CDS, 20 INTERNAL AUTHENTICATE, 10 PSO DECIPHER, 08
# GENERATE) so that they say what the PrKDF rules say (FACT §5.5: CPS_PRIV_SIG pso_cds:01,
# CPS_PRIV_AUT pso_decrypt:01 + int_auth:01), CHV1 as SE#1 user authentication. The earlier
# GUESS (38 11 11 11: no CDS bit) made OpenSC refuse to sign ("PSO_DST not allowed for this key").
KEY_DOCP_ACLS = {
    0x81: bytes((0x78, SCB_CHV1, 0xFF, 0xFF, 0xFF)),
    0x82: bytes((0x78, 0xFF, SCB_CHV1, SCB_CHV1, 0xFF)),
}

FID_ODF, FID_TOKEN_INFO = 0x5031, 0x5032  # FACT §4.2
FID_AODF, FID_CDF = 0x7001, 0x7005  # FACT §4.2
FID_PRKDF, FID_DODF = 0x7002, 0x7006  # GUESS
FID_CERT_SIGN, FID_CERT_AUTH = 0xC001, 0xC002  # GUESS
APP_PATH = b"\x3F\x00\x00\x01"

# FACT §7.1: P2 = 04 (FCP) / 0C (nothing); P2 = 00 -> 6A86 except the root AID (90 00, no FCP);
# READ BINARY up to 0xE7 bytes (FACT §7.9). INFERENCE: the root AID answers no FCP with P2 = 04
# either -- OpenSC (which works with real CPx cards, #2217) selects it with P2 = 04 and
# fabricates a DF FCP when none comes back (iasecc_emulate_fcp, §7.1); an FCP without the A1
# ACL template would make its iasecc_process_fci fail ("ACLs tag missing").
# INFERENCE (mf_fid_child_p1): OpenSC's iasecc driver selects the MF with `00 A4 02 04 02 3F 00`
# (P1 = 02, FID 3F00, the DF 0001 current) before reading the CHV1 policy on every PIN VERIFY,
# and PIN login works with OpenSC on real CPS3 test cards (FACT §6.1, I2217): the CPx takes
# FID 3F00 as the MF whatever P1 (00/01/02) says.
CPS3_SELECT_RULES = SelectRules(silent_names=frozenset({ROOT_AID}), read_binary_max=0xE7, mf_fid_child_p1=True)

# GUESS: where the data objects live (only D120..D12F for situations is FACT, A3).
_DATA_OBJECT_FIDS = {
    "CPS_DATA": 0xD100,
    "CPS_ID_CARD": 0xD101,
    "CPS_NAME_PS": 0xD102,
    "CPS_LANG_PS": 0xD103,
    "CPS_INFO_PS": 0xD104,
    "CPS_SIT_FACT": 0xD105,
}


def data_object_fid(label: str, index: int) -> int:
    """FID of a data object in DF 0001: ``CPS_ACTIVITY_nn_PS`` -> D120 + nn - 1 (FACT A3: 16
    situation files D120..D12F); the others from a fixed table, else D130 + ``index`` (GUESS)."""
    if label.startswith("CPS_ACTIVITY_") and label.endswith("_PS"):
        number = int(label[len("CPS_ACTIVITY_"):-len("_PS")])
        if 1 <= number <= 16:
            return 0xD120 + number - 1
    return _DATA_OBJECT_FIDS.get(label, 0xD130 + index)


def data_object_needs_pin(label: str) -> bool:
    """FACT §8.3: CPS_ACTIVITY_* and CPS_SIT_FACT are read with the PIN; the rest is free."""
    return "ACTIVITY" in label or label.endswith("SIT_FACT")


KeySlot = tuple[int, int, bytes, tuple[int, ...]]  # (key reference, modulus bits, certificate, algRefs)


def build_pkcs15_application(
    app: DF,
    *,
    token_serial: bytes,
    token_label: str,
    quirks: bool,
    sign_key: KeySlot,
    auth_key: KeySlot,
    data_objects: Mapping[str, bytes],
) -> None:
    """Fill the application DF ``app`` (path 3F00/0001) with the PKCS#15 files, the
    certificates and the data objects (FIDs and FACT/GUESS status: module docstring)."""

    def path(fid: int) -> bytes:
        return APP_PATH + fid.to_bytes(2, "big")

    aid = app.name or b""
    sign_id, auth_id = aid + b"\x01", aid + b"\x02"  # FACT §5.5: ID = application AID + 01 / 02
    keys = (
        pkcs15.PrivateKeyInfo("CPS_PRIV_SIG", sign_id, (pkcs15.USAGE_NON_REPUDIATION,),
                              sign_key[0], sign_key[1], APP_PATH, b"\x01", sign_key[3]),
        pkcs15.PrivateKeyInfo("CPS_PRIV_AUT", auth_id, (pkcs15.USAGE_DECRYPT, pkcs15.USAGE_SIGN),
                              auth_key[0], auth_key[1], APP_PATH, b"\x01", auth_key[3]),
    )
    certs = (  # labels FACT (A15)
        pkcs15.CertificateInfo("Certificat de Signature CPS", sign_id, path(FID_CERT_SIGN)),
        pkcs15.CertificateInfo("Certificat d'Authentification CPS", auth_id, path(FID_CERT_AUTH)),
    )
    pins = (  # FACT §5.5: label, authId 02 for unblocking; GUESS: the unblock code's object
        pkcs15.PinInfo("Code porteur de la carte CPX", b"\x01", b"\x02", 1),
        pkcs15.PinInfo("Code de deblocage de la carte CPX", b"\x02", None, 2, unblocking=True),
    )
    objects: list[pkcs15.DataObjectInfo] = []
    files: list[EF] = []
    for i, (label, blob) in enumerate(data_objects.items()):
        fid = data_object_fid(label, i)
        protected = data_object_needs_pin(label)
        objects.append(pkcs15.DataObjectInfo(label, path(fid), b"\x01" if protected else None))
        acl = ACL_PIN_READ if protected else (ACL_PIN_UPDATE if label == "CPS_DATA" else iso.ACL_READ_ALWAYS)
        files.append(EF(fid, bytearray(blob), acl=acl, acl_cl=iso.ACL_NEVER))
    app.add(EF(FID_ODF, bytearray(pkcs15.build_odf(prkdf=path(FID_PRKDF), cdf=path(FID_CDF),
                                                    dodf=path(FID_DODF), aodf=path(FID_AODF)))))
    app.add(EF(FID_TOKEN_INFO, bytearray(pkcs15.build_token_info(serial=token_serial, label=token_label))))
    app.add(EF(FID_AODF, bytearray(pkcs15.build_aodf(pins, quirks))))
    app.add(EF(FID_PRKDF, bytearray(pkcs15.build_prkdf(keys, quirks))))
    app.add(EF(FID_CDF, bytearray(pkcs15.build_cdf(certs, quirks))))
    app.add(EF(FID_DODF, bytearray(pkcs15.build_dodf(tuple(objects)))))
    app.add(EF(FID_CERT_SIGN, bytearray(sign_key[2])))
    app.add(EF(FID_CERT_AUTH, bytearray(auth_key[2])))
    for ef in files:
        app.add(ef)


def _tag_list(data: bytes) -> list[bytes]:
    """Tags of an SDO element list ``<tag> 80 <tag> 80 …`` (80: the whole element, FACT §6.3)."""
    tags: list[bytes] = []
    pos = 0
    while pos < len(data):
        end = pos + 1
        if data[pos] & 0x1F == 0x1F:
            while end < len(data) and data[end] & 0x80:
                end += 1
            end += 1
        if end >= len(data) + 1:
            raise TLVError("truncated tag list")
        tags.append(bytes(data[pos:end]))
        pos = end + 1  # the length byte (80)
    return tags


@dataclass
class _SecurityEnvironment:
    """MSE SET templates and the on-card hash."""

    ht: int | None = None
    dst: tuple[int, int] | None = None  # (algorithm, key reference)
    at: tuple[int, int] | None = None
    ct: tuple[int, int] | None = None
    digest: tuple[int, bytes] | None = None  # (HT algorithm, hash)


class CPS3Application:
    """The CPS3 IAS-ECC application: file system, CHV1/CHV2, keys 0x81/0x82, PSO/MSE.

    Args:
        serial: EF.SN content (12 bytes ``5A 0A`` + PAN).
        auth_key, sign_key: RSA private keys (0x82 CPS_PRIV_AUT, 0x81 CPS_PRIV_SIG).
        auth_cert, sign_cert: their DER certificates.
        data_objects: label -> opaque DER blob (PIN-protected if :func:`data_object_needs_pin`).
        pin, unblock_code: ASCII digits (CHV1 / CHV2).
        pin_tries: CHV1 tries (FACT 3); pin_tries_left: its counter at start (default full).
        unblock_tries / unblock_uses: CHV2 (FACT 10 / 100).
        quirks: reproduce the published PKCS#15 defects (else the clean variant).
        actua: EF_ACTUA content (None: absent, SELECT -> 6A82).
        token_label: PKCS#15 token label (default ``CPS3v3-`` + 10 digits of the PAN, GUESS).
        cps2ter: handler for CLA A0 (the CPS2ter volet); None -> 6E00. If it is a bound
            method, its object's ``reset()`` (if any) runs on every card reset.
        rsa_processing_etu: modelled time of each private-key operation (0: instant).
    """

    def __init__(
        self,
        *,
        serial: bytes,
        auth_key: rsa.RSAPrivateKey,
        sign_key: rsa.RSAPrivateKey,
        auth_cert: bytes,
        sign_cert: bytes,
        data_objects: Mapping[str, bytes],
        pin: bytes,
        unblock_code: bytes,
        pin_tries: int = 3,
        pin_tries_left: int | None = None,
        unblock_tries: int = 10,
        unblock_uses: int = 100,
        quirks: bool = True,
        actua: bytes | None = None,
        token_label: str | None = None,
        cps2ter: APDUHandler | None = None,
        rsa_processing_etu: int = 0,
    ) -> None:
        if len(serial) != 12 or serial[:2] != b"\x5A\x0A":
            raise ValueError("EF.SN is 5A 0A + a 10-byte PAN")
        self.serial = bytes(serial)
        self.keys = {KEY_REF_SIGN: RSAKey(sign_key), KEY_REF_AUTH: RSAKey(auth_key)}
        self.chv1 = PinObject(1, bytes(pin), pin_tries)
        if pin_tries_left is not None:
            self.chv1.tries_left = max(0, min(pin_tries, pin_tries_left))
        self.chv2 = PinObject(2, bytes(unblock_code), unblock_tries, uses_max=unblock_uses, min_length=8)
        self.cps2ter = cps2ter
        self.rsa_processing_etu = rsa_processing_etu
        self.quirks = quirks
        pan = self.serial[2:]
        self.token_label = token_label or "CPS3v3-" + pan[5:10].hex()[:10].upper()
        self.mf = self._build_files(pan, auth_cert, sign_cert, data_objects, actua)
        self.app_df = self.mf.child(0x0001)
        assert isinstance(self.app_df, DF)
        self.chain = iso.CommandChain()
        self.challenges = 0
        self.ctx = FileContext(self.mf)
        self.se = _SecurityEnvironment()
        self.reset()

    # -- files ---------------------------------------------------------------------------------

    def _build_files(
        self, pan: bytes, auth_cert: bytes, sign_cert: bytes, data_objects: Mapping[str, bytes], actua: bytes | None
    ) -> DF:
        mf = DF(0x3F00, ROOT_AID, acl=ACL_DF, acl_cl=ACL_DF_CL)
        mf.add(EF(0x2F00, bytearray(EF_DIR_CONTENT), sfi=0x1E, acl=ACL_DIR_ATR))
        mf.add(EF(0x2F01, bytearray(EF_ATR_CONTENT), sfi=0x1D, acl=ACL_DIR_ATR))
        mf.add(EF(0xD003, bytearray(self.serial), sfi=0x1C))
        if actua is not None:
            mf.add(EF(0xD010, bytearray(actua)))  # FACT §5.4 (absent until the first update)
        app = DF(0x0001, CPX_IAS_AID, acl=ACL_DF, acl_cl=ACL_DF_CL)
        mf.add(app)
        mf.add(DF(0x0002, CPX_IAS_CL_AID, acl=ACL_DF, acl_cl=ACL_DF_CL))
        build_pkcs15_application(  # INFERENCE (§5.5): token serial = the PAN without 80 25
            app, token_serial=pan[2:], token_label=self.token_label, quirks=self.quirks,
            sign_key=(KEY_REF_SIGN, self.keys[KEY_REF_SIGN].n.bit_length(), sign_cert, (3, 4)),
            auth_key=(KEY_REF_AUTH, self.keys[KEY_REF_AUTH].n.bit_length(), auth_cert, (5,)),
            data_objects=data_objects,
        )
        return mf

    # -- state ---------------------------------------------------------------------------------

    def reset(self) -> None:
        """Card reset: MF current, security state and environment cleared, no chain."""
        self.ctx = FileContext(self.mf)
        self.se = _SecurityEnvironment()
        self.chain.reset()
        self.chv1.logout()
        self.chv2.logout()
        reset_handler_owner(self.cps2ter)

    def _scb_ok(self, scb: int) -> bool:
        if scb == iso.SCB_ALWAYS:
            return True
        if scb & 0x70 == 0x10:  # user authentication (FACT §5.1 SCB coding)
            return self.chv2.verified if scb & 0x0F == 3 else self.chv1.verified
        return False  # never, SM, external authentication: not available

    def _pin(self, p2: int) -> PinObject | None:
        # GUESS (§14): VERIFY P2 = 01 or 81 (IAS-ECC local flag) -- both accepted.
        return {1: self.chv1, 2: self.chv2}.get(p2 & 0x7F)

    # -- dispatch ------------------------------------------------------------------------------

    def handle(self, header: bytes, data: bytes) -> CardResponse:
        """APDU handler ``(CLA INS P1 P2 P3, command data)``."""
        cla, ins, p1, p2 = header[0], header[1], header[2], header[3]
        p3 = header[4] if len(header) > 4 else 0
        if cla & 0x80:
            if cla == 0xA0 and self.cps2ter is not None:
                return self.cps2ter(header, data)
            return sw_response(SW.CLA_NOT_SUPPORTED)
        c = iso.decode_cla(cla)
        if c is None:
            return sw_response(SW.CLA_NOT_SUPPORTED)
        if c.channel:  # INFERENCE: EF.ATR capabilities 47 03 94 01 80 announce no logical channel
            return sw_response(SW.CHANNEL_NOT_SUPPORTED)
        if c.secure_messaging:  # GUESS: SM is for personalisation only (§6.3), not modelled
            return sw_response(SW.SM_NOT_SUPPORTED)
        whole, answer = self.chain.pso_data(0, header, data, c.chaining)
        if answer is not None:
            return answer
        assert whole is not None
        data = whole
        le = 0 if data else p3
        if ins == 0xA4:
            return iso.select(self.ctx, p1, p2, data, CPS3_SELECT_RULES)
        if ins == 0xB0:
            return iso.read_binary(self.ctx, p1, p2, le, CPS3_SELECT_RULES, self._scb_ok)
        if ins == 0xD6:
            return iso.update_binary(self.ctx, p1, p2, data, self._scb_ok)
        if ins == 0xCB:
            return self._get_data(p1, p2, data)
        if ins == 0x20:
            return self._verify(p1, p2, data)
        if ins == 0x24:
            return self._change(p1, p2, data)
        if ins == 0x2C:
            return self._reset_retry_counter(p1, p2, data)
        if ins == 0x22:
            return self._mse(p1, p2, data)
        if ins == 0x2A:
            return self._pso(p1, p2, data)
        if ins == 0x88:
            return self._internal_authenticate(p1, p2, data)
        if ins == 0x84:
            return self._get_challenge(p1, p2, le)
        if ins == 0x70:
            return sw_response(SW.CHANNEL_NOT_SUPPORTED)  # INFERENCE, as above
        if ins == 0xDB:
            return sw_response(SW.SECURITY_NOT_SATISFIED)  # PUT DATA: admin, needs SM (GUESS)
        if ins == 0xC0:
            return sw_response(SW.CONDITIONS_NOT_SATISFIED)  # nothing pending (GUESS)
        return sw_response(SW.INS_NOT_SUPPORTED)

    # -- GET DATA on SDOs (FACT §6.3) -------------------------------------------------------------

    def _get_data(self, p1: int, p2: int, data: bytes) -> CardResponse:
        if (p1, p2) != (0x3F, 0xFF):
            return sw_response(SW.INCORRECT_P1P2)
        try:
            (tag4d, ehl), = parse_tlvs(data)
            (tag70, inner), = parse_tlvs(ehl)
            (sdo_tag, tag_list), = parse_tlvs(inner)
            tags = _tag_list(tag_list)
        except (TLVError, ValueError):
            return sw_response(SW.WRONG_DATA)
        if tag4d != b"\x4D" or tag70 != b"\x70" or len(sdo_tag) != 3 or sdo_tag[0] != 0xBF or not tags:
            return sw_response(SW.WRONG_DATA)
        sdo_class, ref = sdo_tag[1], sdo_tag[2]
        if sdo_class in (0x81, 0xFB):  # CHV, SE: local to the MF (FACT §6.3, row 11)
            if self.ctx.df is not self.mf:
                return sw_response(SW.REFERENCE_NOT_FOUND)
        elif sdo_class in (0x90, 0xA0):  # RSA private / public keys: local to DF 0001 (FACT §6.3)
            if self.ctx.df is not self.app_df:
                return sw_response(SW.REFERENCE_NOT_FOUND)
        else:
            return sw_response(SW.REFERENCE_NOT_FOUND)
        elements = b""
        for tag in tags:
            element = self._sdo_element(sdo_class, ref, tag)
            if element is None:
                return sw_response(SW.REFERENCE_NOT_FOUND)
            elements += element
        return CardResponse(data=tlv(b"\x70", tlv(sdo_tag, elements)))

    def _sdo_element(self, sdo_class: int, ref: int, tag: bytes) -> bytes | None:
        if sdo_class == 0x81:
            pin = {1: self.chv1, 2: self.chv2}.get(ref)
            if pin is None:
                return None
            if tag == b"\xA0":
                body = tlv(b"\x9A", bytes((pin.tries_max,))) + tlv(b"\x9B", bytes((pin.tries_left,)))
                if pin.uses_left is not None:  # FACT §6.2: usage remaining 00 64; GUESS: tag 9D only
                    body += tlv(b"\x9D", pin.uses_left.to_bytes(2, "big"))
                body += tlv(b"\xA1", tlv(b"\x8C", CHV1_ACL if ref == 1 else CHV2_ACL))
                return tlv(b"\xA0", body)
            if tag == b"\x7F\x41":
                return tlv(tag, b"")  # GUESS: the value never leaves the card
            return None
        if sdo_class in (0x90, 0xA0):
            key = self.keys.get(0x80 | ref)
            if key is None:
                return None
            if tag == b"\xA0":
                # INFERENCE: tag 80 = the modulus length in bytes (0x0100 for RSA 2048). OpenSC's
                # iasecc_compute_signature_dst takes it as the key size and accepts only values
                # within the mask 0x1E0 (0x0100, 0x0080, ...), and OpenSC signs with real CPS3
                # keys (#2267/#2270). Replaces the §12 GUESS 0x0800 (bits): "Invalid key size".
                body = tlv(b"\x80", key.size_bytes.to_bytes(2, "big"))
                body += tlv(b"\xA1", tlv(b"\x8C", KEY_DOCP_ACLS[0x80 | ref]))
                return tlv(b"\xA0", body)
            if tag == b"\x7F\x48" and sdo_class == 0x90:
                return tlv(tag, b"")  # GUESS: private components never leave the card
            if tag == b"\x7F\x49" and sdo_class == 0xA0:  # GUESS: public key SDO next to the private one
                n = key.n.to_bytes(key.size_bytes, "big")
                return tlv(tag, tlv(b"\x81", n) + tlv(b"\x82", integer(key.e)[2:]))
            return None
        if sdo_class == 0xFB and ref in (1, 3, 5) and tag == b"\x7B":
            return tlv(b"\x7B", tlv(b"\x80", bytes((ref,))))  # GUESS: SE content not public
        return None

    # -- PIN (FACT §6.2, §7.2) -------------------------------------------------------------------

    def _verify(self, p1: int, p2: int, data: bytes) -> CardResponse:
        pin = self._pin(p2)
        if pin is None:
            return sw_response(SW.REFERENCE_NOT_FOUND)
        if p1 == 0xFF:  # GUESS: IAS-ECC "unverify" (reset of the security status)
            pin.logout()
            return sw_response(SW.OK)
        if p1 != 0x00:
            return sw_response(SW.INCORRECT_P1P2)
        if not data:
            return sw_response(pin.status())
        return sw_response(pin.verify(data))

    def _change(self, p1: int, p2: int, data: bytes) -> CardResponse:
        pin = self._pin(p2)
        if pin is None:
            return sw_response(SW.REFERENCE_NOT_FOUND)
        if p1 != 0x00:
            return sw_response(SW.INCORRECT_P1P2)
        if pin is self.chv2:  # FACT §6.2: CHV2 change = never
            return sw_response(SW.SECURITY_NOT_SATISFIED)
        if pin.blocked:
            return sw_response(SW.AUTH_METHOD_BLOCKED)
        # GUESS (§14): old || new, each either as typed or FF-padded to 8 bytes.
        splits = {len(pin.value)} | ({8} if len(data) == 16 else set())
        old_ok = False
        for k in sorted(splits):
            old, new = data[:k], data[k:]
            if pin.matches(old):
                old_ok = True
                if pin.valid_new_value(new):
                    pin.set_value(new)
                    pin.verified = True
                    return sw_response(SW.OK)
        if old_ok:
            return sw_response(SW.WRONG_DATA)
        return sw_response(pin.verify(data[:len(pin.value)] + b"\x00"))

    def _reset_retry_counter(self, p1: int, p2: int, data: bytes) -> CardResponse:
        pin = self._pin(p2)
        if pin is None:
            return sw_response(SW.REFERENCE_NOT_FOUND)
        if pin is self.chv2:  # FACT §6.2: CHV2 reset = never
            return sw_response(SW.SECURITY_NOT_SATISFIED)
        if p1 not in (0x02, 0x03):
            return sw_response(SW.INCORRECT_P1P2)
        if not self._scb_ok(SCB_CHV2):  # FACT §6.2: CHV1 reset needs SE#3 user auth (the unblock code)
            return sw_response(SW.SECURITY_NOT_SATISFIED)
        if p1 == 0x02:
            if not pin.valid_new_value(data):
                return sw_response(SW.WRONG_DATA)
            pin.set_value(data)
        elif data:
            return sw_response(SW.LC_INCONSISTENT)
        pin.unblock()
        self.chv2.logout()  # GUESS: one unblock per verification of the unblock code
        return sw_response(SW.OK)

    # -- MSE / PSO (FACT §7.1, §7.2) --------------------------------------------------------------

    def _mse(self, p1: int, p2: int, data: bytes) -> CardResponse:
        if p1 == 0xF3:  # MSE RESTORE (FACT A3); GUESS: back to an empty environment
            digest = self.se.digest
            self.se = _SecurityEnvironment()
            self.se.digest = digest
            return sw_response(SW.OK)
        if p1 != 0x41 or p2 not in (0xAA, 0xB6, 0xA4, 0xB8):
            return sw_response(SW.INCORRECT_P1P2)
        try:
            fields = dict(parse_tlvs(data))
        except TLVError:
            return sw_response(SW.WRONG_DATA)
        alg_field = fields.get(b"\x80", b"")
        if len(alg_field) != 1:
            return sw_response(SW.WRONG_DATA)
        alg = alg_field[0]
        if p2 == 0xAA:
            if alg not in (ALG_SHA1, ALG_SHA256):
                return sw_response(SW.WRONG_DATA)
            self.se.ht = alg
            self.se.digest = None  # GUESS: a new hash template drops the previous hash
            return sw_response(SW.OK)
        key_field = fields.get(b"\x84", fields.get(b"\x83", b""))
        if len(key_field) != 1:
            return sw_response(SW.WRONG_DATA)
        key_ref = key_field[0]
        # INFERENCE (§6.3, §7.2): the key SDOs are local to DF 0001, selected before MSE.
        if key_ref not in self.keys or self.ctx.df is not self.app_df:
            return sw_response(SW.REFERENCE_NOT_FOUND)
        if p2 == 0xB6:
            if key_ref != KEY_REF_SIGN or alg not in (ALG_RSA_SHA1, ALG_RSA_SHA256):  # FACT §5.5 rules
                return sw_response(SW.WRONG_DATA)
            self.se.dst = (alg, key_ref)
        elif p2 == 0xA4:
            if key_ref != KEY_REF_AUTH or alg != ALG_RSA_PKCS1:
                return sw_response(SW.WRONG_DATA)
            self.se.at = (alg, key_ref)
        else:
            if key_ref != KEY_REF_AUTH or alg not in ALG_RSA_DECIPHER:
                return sw_response(SW.WRONG_DATA)
            self.se.ct = (alg, key_ref)
        return sw_response(SW.OK)

    def _pso(self, p1: int, p2: int, data: bytes) -> CardResponse:
        if (p1, p2) == (0x90, 0xA0):
            return self._pso_hash(data)
        if (p1, p2) == (0x9E, 0x9A):
            return self._pso_cds(data)
        if (p1, p2) == (0x80, 0x86):
            return self._pso_decipher(data)
        return sw_response(SW.INCORRECT_P1P2)

    def _pso_hash(self, data: bytes) -> CardResponse:
        if self.se.ht is None:
            return sw_response(SW.CONDITIONS_NOT_SATISFIED)
        alg: HashAlgorithm = SHA1 if self.se.ht == ALG_SHA1 else SHA256
        try:
            fields = dict(parse_tlvs(data))
        except TLVError:
            return sw_response(SW.WRONG_DATA)
        state_count = fields.get(b"\x90", b"")
        last = fields.get(b"\x80", b"")
        if len(last) > 64:
            return sw_response(SW.WRONG_DATA)
        if state_count:
            if len(state_count) != alg.digest_size + 8:
                return sw_response(SW.WRONG_DATA)
            state, bits = state_count[:-8], int.from_bytes(state_count[-8:], "big")
            if bits % 512:
                return sw_response(SW.WRONG_DATA)
            digest = finish(alg, state, bits, last)
        else:  # FACT §7.2: empty tag 90 -> the whole message is in tag 80
            digest = hashlib.new(alg.name, last).digest()
        self.se.digest = (self.se.ht, digest)
        return sw_response(SW.OK)  # GUESS: no data back (the trace does not quote it)

    def _pso_cds(self, data: bytes) -> CardResponse:
        if self.se.dst is None:
            return sw_response(SW.CONDITIONS_NOT_SATISFIED)
        if not self.chv1.verified:  # FACT §5.5: pso_cds needs auth object 01
            return sw_response(SW.SECURITY_NOT_SATISFIED)
        alg, key_ref = self.se.dst
        want_ht = ALG_SHA1 if alg == ALG_RSA_SHA1 else ALG_SHA256
        if data or self.se.digest is None or self.se.digest[0] != want_ht:
            return sw_response(SW.CONDITIONS_NOT_SATISFIED)
        digest = self.se.digest[1]
        self.se.digest = None  # GUESS: one signature per hash
        h: hashes.HashAlgorithm = hashes.SHA1() if want_ht == ALG_SHA1 else hashes.SHA256()
        signature = self.keys[key_ref].key.sign(digest, padding.PKCS1v15(), utils.Prehashed(h))
        return CardResponse(data=signature, processing_etu=self.rsa_processing_etu)

    def _pso_decipher(self, data: bytes) -> CardResponse:
        if self.se.ct is None:
            return sw_response(SW.CONDITIONS_NOT_SATISFIED)
        if not self.chv1.verified:  # FACT §5.5: pso_decrypt needs auth object 01
            return sw_response(SW.SECURITY_NOT_SATISFIED)
        key = self.keys[self.se.ct[1]]
        if not data or data[0] != 0x81:  # FACT §7.1: padding-indicator byte 81
            return sw_response(SW.WRONG_DATA)
        if len(data) - 1 != key.size_bytes:
            return sw_response(SW.WRONG_LENGTH)
        try:
            plain = unpad_type2(key.raw_private(data[1:]))
            return CardResponse(data=plain, processing_etu=self.rsa_processing_etu)
        except (ValueError, PaddingError):
            return sw_response(SW.WRONG_DATA)  # GUESS: the error a bad cryptogram gives

    def _internal_authenticate(self, p1: int, p2: int, data: bytes) -> CardResponse:
        if (p1, p2) != (0, 0):
            return sw_response(SW.INCORRECT_P1P2)
        if self.se.at is None:
            return sw_response(SW.CONDITIONS_NOT_SATISFIED)
        if not self.chv1.verified:  # FACT §5.5: int_auth needs auth object 01
            return sw_response(SW.SECURITY_NOT_SATISFIED)
        key = self.keys[self.se.at[1]]
        if not data or len(data) > key.size_bytes * 40 // 100:  # FACT §7.9: <= 40 % of the modulus
            return sw_response(SW.WRONG_LENGTH)
        return CardResponse(data=key.raw_private(pad_type1(data, key.size_bytes)),
                            processing_etu=self.rsa_processing_etu)

    def _get_challenge(self, p1: int, p2: int, le: int) -> CardResponse:
        if (p1, p2) != (0, 0):
            return sw_response(SW.INCORRECT_P1P2)
        if le not in (0, 8):  # GUESS (§7.1): 8 bytes
            return sw_response(SW.WRONG_LENGTH)
        self.challenges += 1
        seed = self.serial + self.challenges.to_bytes(4, "big")
        return CardResponse(data=hashlib.sha256(seed).digest()[:8])  # deterministic simulator

