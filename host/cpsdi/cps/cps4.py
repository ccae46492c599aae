"""CPS4 (NXP chip, ChipDoc applet on logical channel 1, CLA 01): the APDU sequences of
cps-cards.md §7.4 (FACT A4/A5/A7 unless a comment says otherwise)."""

from __future__ import annotations

import hashlib

from cpsdi.cps.card import CPSCard, KeyKind
from cpsdi.cps.detect import Generation
from cpsdi.cps.errors import CardDataError, OperationNotSupported
from cpsdi.cps.pin import UNBLOCK_CODE_LENGTHS, PinStatus, pin_bytes
from cpsdi.cps.rsa import digest_info, pad_type1, unpad_type2
from cpsdi.reader import CardConnection, Response
from cpsdi.script import ScriptResult, ScriptStep
from cpsdi.sw import raise_for_sw

__all__ = ["CPS4Card", "CHIPDOC_AID"]

CHIPDOC_AID = bytes.fromhex("80 25 00 00 01 FF 01 00")  # FACT §4.1
CPS2TER_AID = bytes.fromhex("80 25 00 00 01 FF 00 02")
ISD_AID = bytes.fromhex("A0 00 00 01 51 00 00")  # "IDS": GlobalPlatform ISD prefix (A4)
PIN_HOLDER = 0x01  # GUESS (§14): references 01 (holder) and 02 (unblock code)
PIN_UNBLOCK = 0x02
AUTH_KEY_ID = 0x20  # FACT A7: CPS4_AUTH_PRIV_KEY_ID
SIGN_KEY_ID = 0x01  # GUESS when the PrKDF gives none ("key id from the PrKDF", A4)
TRIES_MAX = 3  # FACT §7.4: "max tries assumed 3"
# FACT A5: algorithm ids of MSE SET tag 91
ALGORITHMS = {("sha1", False): 0x0A, ("sha1", True): 0x15, ("sha256", False): 0x28, ("sha256", True): 0x2C}
KEY_SIZE = 256  # RSA 2048 only (FACT §2)


class CPS4Card(CPSCard):
    """A CPS4: ChipDoc on channel 1, selected at once; the basic channel is left to the CPS2ter
    volet (SESAM-Vitale software), as Cryptolib does."""

    generation = Generation.CPS4
    cla = 0x01

    def __init__(self, connection: CardConnection) -> None:
        super().__init__(connection)
        self._verified = False
        self.recoveries = 0  # 69 85 recoveries done (§7.4)
        self._select_chipdoc()

    def _select_chipdoc(self) -> None:
        self._run(0xA4, 0x04, 0x0C, CHIPDOC_AID)

    def _recover(self) -> None:
        """FACT §7.4 (A10/A13): after ``69 85`` select the ISD on channel 1, the CPS2ter applet
        on the basic channel, then ChipDoc on channel 1 again."""
        self.recoveries += 1
        self._run(0xA4, 0x04, 0x0C, ISD_AID)
        self._run(0xA4, 0x04, 0x0C, CPS2TER_AID, cla=0x00)
        self._select_chipdoc()

    def _transmit(self, apdu: bytes) -> Response:
        response = super()._transmit(apdu)
        if response.sw == 0x6985 and apdu[0] & 0x03 == 0x01 and apdu[1] != 0xA4:
            # channel 1 lost (card reset, another application took ChipDoc): recover, once
            self._recover()
            self._verified = False
            response = super()._transmit(apdu)
        return response

    def _script(self, steps: list[ScriptStep]) -> ScriptResult:
        """A file-read script: recover channel 1 when its first command (the SELECT) gets
        ``69 85``, as `_transmit` does for single commands, and run it again."""
        result = super()._script(steps)
        if result.responses and result.responses[0].sw == 0x6985 and steps[0].apdu[0] & 0x03 == 0x01:
            self._recover()
            self._verified = False
            result = super()._script(steps)
        return result

    # -- PIN (§7.4) ----------------------------------------------------------------------------

    def pin_status(self) -> PinStatus:
        """VERIFY without data: ``63 Cx`` (x tries left) or ``69 83`` (blocked); 9000 when verified."""
        sw = self._transmit(self._apdu(0x20, 0x00, PIN_HOLDER)).sw
        if sw == 0x9000:
            return PinStatus(TRIES_MAX, TRIES_MAX, False, True)
        if sw & 0xFFF0 == 0x63C0:
            return PinStatus(sw & 0x0F, TRIES_MAX, sw & 0x0F == 0, False)
        if sw == 0x6983:
            return PinStatus(0, TRIES_MAX, True, False, self._unblock_left())
        raise_for_sw(sw, b"\x01\x20\x00\x01")
        raise CardDataError(f"VERIFY status query answered {sw:04X}")

    def _unblock_left(self) -> int | None:
        sw = self._transmit(self._apdu(0x20, 0x00, PIN_UNBLOCK)).sw
        if sw == 0x6983:
            return 0
        return None  # the CPS4 does not tell its unblock usage counter (§7.4)

    def verify_pin(self, pin: str | bytes) -> None:
        """VERIFY ``01 20 00 01``: WrongPin(tries_left), PinBlocked, or CardBlocked."""
        sw = self._transmit(self._apdu(0x20, 0x00, PIN_HOLDER, pin_bytes(pin))).sw
        if sw in (0x63C0, 0x6983):
            self._pin_answer(sw, "PIN", self._unblock_left() == 0)
        self._pin_answer(sw, "PIN")
        self._verified = True

    def change_pin(self, old_pin: str | bytes, new_pin: str | bytes) -> None:
        """VERIFY the current PIN, then CHANGE ``01 24 01 01`` with the new value only."""
        new = pin_bytes(new_pin, "new PIN")
        self.verify_pin(old_pin)
        self._pin_answer(self._transmit(self._apdu(0x24, 0x01, PIN_HOLDER, new)).sw, "PIN")

    def unblock_pin(self, unblock_code: str | bytes, new_pin: str | bytes) -> None:
        """VERIFY the unblock code (ref 02, GUESS), UNBLOCK ``01 2C 03 81`` (FACT), then CHANGE
        ``01 24 01 01`` with the new PIN (FACT: "followed by CHANGE")."""
        code = pin_bytes(unblock_code, "unblock code", UNBLOCK_CODE_LENGTHS)
        new = pin_bytes(new_pin, "new PIN")
        self._pin_answer(self._transmit(self._apdu(0x20, 0x00, PIN_UNBLOCK, code)).sw, "unblock code",
                         blocked_for_good=True)
        self._pin_answer(self._transmit(self._apdu(0x2C, 0x03, 0x80 | PIN_HOLDER)).sw, "PIN")
        self._pin_answer(self._transmit(self._apdu(0x24, 0x01, PIN_HOLDER, new)).sw, "PIN")

    # -- keys (§7.4) ---------------------------------------------------------------------------

    def _sign_key_id(self, kind: KeyKind) -> int:
        if kind is KeyKind.AUTHENTICATION:
            return AUTH_KEY_ID
        reference = self._key_reference(kind)
        return reference & 0x7F if reference is not None else SIGN_KEY_ID

    def sign(self, data: bytes, *, key: KeyKind = KeyKind.SIGNATURE, hash_name: str = "sha256",
             pss: bool = False) -> bytes:
        """Sign ``data``: the host hashes it, MSE SET ``91 02 <alg> <key|80>``, PSO CDS with the
        bare hash (PKCS#1 v1.5 or PSS; with the authentication key too, A7)."""
        return self.sign_digest(self._hash(hash_name, data), key=key, hash_name=hash_name, pss=pss)

    def sign_digest(self, digest: bytes, *, key: KeyKind = KeyKind.SIGNATURE, hash_name: str = "sha256",
                    pss: bool = False) -> bytes:
        """Sign a hash computed by the caller (20 bytes SHA-1, 32 bytes SHA-256)."""
        alg = ALGORITHMS.get((hash_name, pss))
        if alg is None:
            raise OperationNotSupported(f"CPS4: no {hash_name} signature (SHA-1 and SHA-256, §6.4)")
        if len(digest) != hashlib.new(hash_name).digest_size:
            raise ValueError(f"a {hash_name} digest has {hashlib.new(hash_name).digest_size} bytes")
        self._run(0x22, 0x81, 0xB6, bytes((0x91, 0x02, alg, 0x80 | self._sign_key_id(key))))
        return self._run(0x2A, 0x9E, 0x9A, digest, le=0).data

    @staticmethod
    def _hash(hash_name: str, data: bytes) -> bytes:
        if hash_name not in ("sha1", "sha256"):
            raise OperationNotSupported(f"CPS4: no {hash_name} (SHA-1 and SHA-256 only, §6.4)")
        return hashlib.new(hash_name, data).digest()

    def _raw_rsa(self, block: bytes) -> bytes:
        """MSE SET ``01 22 41 B8 03 83 01 20`` then PSO DECIPHER of the 256-byte block, chained,
        no padding-indicator byte: the raw RSA private operation with key 0x20."""
        self._run(0x22, 0x41, 0xB8, bytes((0x83, 0x01, AUTH_KEY_ID)))
        return self._chained(0x2A, 0x80, 0x86, block, le=0).data

    def authenticate(self, challenge: bytes, *, hash_name: str = "sha256") -> bytes:
        """Client authentication (no INTERNAL AUTHENTICATE on ChipDoc): the host pads the
        DigestInfo with PKCS#1 v1.5 type 01 and asks for a raw RSA "decipher" (FACT A4/A7)."""
        self._hash(hash_name, b"")
        return self._raw_rsa(pad_type1(digest_info(hash_name, challenge), KEY_SIZE))

    def decipher(self, ciphertext: bytes) -> bytes:
        """Raw RSA decipher with the authentication key; the host removes the type 2 padding."""
        if len(ciphertext) != KEY_SIZE:
            raise ValueError(f"an RSA-2048 cryptogram has {KEY_SIZE} bytes")
        return unpad_type2(self._raw_rsa(bytes(ciphertext)))
