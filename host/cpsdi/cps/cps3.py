"""CPS3 (IAS-ECC as the CPx implements it, CLA 00, T=0): the APDU sequences of cps-cards.md
§7.1–§7.2 (FACT O1/A3/A7/I2275 unless a comment says otherwise)."""

from __future__ import annotations

from cpsdi.cps import sha_state
from cpsdi.cps.card import APP_DF, MF, CPSCard, KeyKind, parse_docp
from cpsdi.cps.detect import Generation
from cpsdi.cps.errors import OperationNotSupported
from cpsdi.cps.pin import UNBLOCK_CODE_LENGTHS, PinStatus, pin_bytes
from cpsdi.cps.rsa import digest_info
from cpsdi.exceptions import StatusWordError

__all__ = ["CPS3Card"]

CHV_HOLDER = 0x01  # FACT §6.1: CHV1 "code porteur" (pinReference 1, INFERENCE)
CHV_UNBLOCK = 0x02  # FACT §6.2: CHV2 "code de déblocage"
KEY_SIGN = 0x81  # FACT §6.1 / I2267
KEY_AUTH = 0x82
HT = {"sha1": 0x10, "sha256": 0x40}  # FACT §6.4
DST = {"sha1": 0x12, "sha256": 0x42}
AT_RSA_PKCS1 = 0x02
CT_RSA_PKCS1 = 0x1A  # FACT O1: OpenSC's template default


def _docp_query(chv: int) -> bytes:
    """GET DATA data of a CHV DOCP: ``4D 08 70 06 BF 81 <ref> 02 A0 80`` (FACT §6.3)."""
    return bytes((0x4D, 0x08, 0x70, 0x06, 0xBF, 0x81, chv, 0x02, 0xA0, 0x80))


class CPS3Card(CPSCard):
    """A CPS3 on the basic channel (see :class:`CPSCard` for the operations)."""

    generation = Generation.CPS3
    cla = 0x00

    # -- PIN (§7.2) ----------------------------------------------------------------------------

    def _counters(self, chv: int) -> dict[int, int]:
        self._run(0xA4, 0x09, 0x0C, MF)  # FACT §6.3: CHV SDOs are read with the MF current
        return parse_docp(self._run(0xCB, 0x3F, 0xFF, _docp_query(chv), le=0).data)

    def pin_status(self) -> PinStatus:
        """Tries from the CHV1 DOCP (9A max, 9B left), unblock uses from CHV2's (9D)."""
        holder = self._counters(CHV_HOLDER)
        unblock = self._counters(CHV_UNBLOCK)
        left = holder.get(0x9B, 0)
        probe = self._transmit(self._apdu(0x20, 0x00, CHV_HOLDER))  # ISO status query: 9000 if verified
        return PinStatus(
            tries_left=left,
            tries_max=holder.get(0x9A),
            blocked=left == 0,
            verified=probe.sw == 0x9000,
            unblock_uses_left=unblock.get(0x9D) if unblock.get(0x9B, 1) > 0 else 0,
        )

    def verify_pin(self, pin: str | bytes) -> None:
        """VERIFY CHV1: WrongPin(tries_left), PinBlocked, or CardBlocked when no unblock is left."""
        value = pin_bytes(pin)
        response = self._transmit(self._apdu(0x20, 0x00, CHV_HOLDER, value))
        self._pin_answer(response.sw, "PIN", response.sw in (0x63C0, 0x6983) and self._unblock_exhausted())

    def _unblock_exhausted(self) -> bool:
        try:
            counters = self._counters(CHV_UNBLOCK)
        except StatusWordError:
            return False
        return counters.get(0x9B, 1) == 0 or counters.get(0x9D, 1) == 0

    def change_pin(self, old_pin: str | bytes, new_pin: str | bytes) -> None:
        """CHANGE REFERENCE DATA ``00 24 00 01`` with old ‖ new (CHV1 change SCB = always)."""
        data = pin_bytes(old_pin, "current PIN") + pin_bytes(new_pin, "new PIN")
        sw = self._transmit(self._apdu(0x24, 0x00, CHV_HOLDER, data)).sw
        self._pin_answer(sw, "PIN", sw in (0x63C0, 0x6983) and self._unblock_exhausted())

    def unblock_pin(self, unblock_code: str | bytes, new_pin: str | bytes) -> None:
        """VERIFY CHV2 (the unblock code, one of its 100 uses), then RESET RETRY COUNTER
        ``00 2C 02 01`` with the new PIN (OpenSC's "implicit change")."""
        code = pin_bytes(unblock_code, "unblock code", UNBLOCK_CODE_LENGTHS)
        new = pin_bytes(new_pin, "new PIN")
        sw = self._transmit(self._apdu(0x20, 0x00, CHV_UNBLOCK, code)).sw
        self._pin_answer(sw, "unblock code", blocked_for_good=True)
        self._pin_answer(self._transmit(self._apdu(0x2C, 0x02, CHV_HOLDER, new)).sw, "PIN")

    # -- keys (§7.2) ---------------------------------------------------------------------------

    def sign(self, data: bytes, *, key: KeyKind = KeyKind.SIGNATURE, hash_name: str = "sha256",
             pss: bool = False) -> bytes:
        """Sign ``data``. Signature key: on-card partial hashing (the host hashes every full
        64-byte block and sends the state), MSE DST, PSO CDS -- PKCS#1 v1.5 only. Authentication
        key: INTERNAL AUTHENTICATE of the DigestInfo (PKCS#1 v1.5)."""
        if hash_name not in HT:
            raise OperationNotSupported(f"CPS3: no {hash_name} (SHA-1 and SHA-256 only, §6.4)")
        if pss:
            raise OperationNotSupported("CPS3: no RSA-PSS (PKCS#1 v1.5 only, §6.4)")
        if key is KeyKind.AUTHENTICATION:
            return self._internal_authenticate(digest_info(hash_name, data))
        alg = sha_state.SHA1 if hash_name == "sha1" else sha_state.SHA256
        state, bits, last = sha_state.intermediate(alg, data, keep_full_last_block=True)
        body = (bytes((0x90, 0x00)) if bits == 0 else
                bytes((0x90, len(state) + 8)) + state + bits.to_bytes(8, "big"))
        body += bytes((0x80, len(last))) + last
        self._run(0xA4, 0x09, 0x0C, APP_DF)  # the key path is the application (Cryptolib)
        self._run(0x22, 0x41, 0xAA, bytes((0x80, 0x01, HT[hash_name])))  # MSE SET HT
        self._run(0x2A, 0x90, 0xA0, body)  # PSO HASH (Cryptolib's order, §7.2)
        self._run(0x22, 0x41, 0xB6, bytes((0x80, 0x01, DST[hash_name], 0x84, 0x01, KEY_SIGN)))
        return self._run(0x2A, 0x9E, 0x9A, le=0).data  # PSO CDS

    def _internal_authenticate(self, info: bytes) -> bytes:
        self._run(0xA4, 0x09, 0x0C, APP_DF)
        self._run(0x22, 0x41, 0xA4, bytes((0x80, 0x01, AT_RSA_PKCS1, 0x84, 0x01, KEY_AUTH)))  # MSE SET AT
        return self._run(0x88, 0x00, 0x00, info, le=0).data

    def authenticate(self, challenge: bytes, *, hash_name: str = "sha256") -> bytes:
        """Client authentication: INTERNAL AUTHENTICATE of the challenge's DigestInfo with the
        authentication key (a PKCS#1 v1.5 signature of ``challenge``)."""
        return self.sign(challenge, key=KeyKind.AUTHENTICATION, hash_name=hash_name)

    def decipher(self, ciphertext: bytes) -> bytes:
        """PSO DECIPHER ``81`` ‖ cryptogram with command chaining; the card removes the PKCS#1
        v1.5 padding (type 2) itself."""
        self._run(0xA4, 0x09, 0x0C, APP_DF)
        self._run(0x22, 0x41, 0xB8, bytes((0x84, 0x01, KEY_AUTH, 0x80, 0x01, CT_RSA_PKCS1)))  # MSE SET CT
        return self._chained(0x2A, 0x80, 0x86, b"\x81" + bytes(ciphertext), le=0).data
