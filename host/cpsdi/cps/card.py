"""What every CPS card offers, whatever its generation: the :class:`CPSCard` base class.

Generation-specific APDU sequences live in ``cps3.py`` and ``cps4.py``; this module holds what
they share (file reads through APDU scripts, the PKCS#15 directory, certificates, holder data,
the PIN-error mapping). PINs are passed through to the card and never stored, logged or put
in an exception.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509

from cpsdi.cps import test_encoding
from cpsdi.cps.detect import CardNumber, Generation, parse_ef_sn
from cpsdi.cps.errors import CardBlocked, CardDataError, OperationNotSupported, PinBlocked, PinRequired, WrongPin
from cpsdi.cps.holder import Holder
from cpsdi.cps.pin import PinStatus
from cpsdi.cps.pkcs15 import ODF, KeyEntry, ObjectEntry, parse_cdf, parse_dodf, parse_odf, parse_prkdf
from cpsdi.cps.tlv import TLVError, find, iter_tlvs
from cpsdi.reader import CardConnection, Response
from cpsdi.script import ScriptResult, ScriptStep
from cpsdi.sw import raise_for_sw

__all__ = ["CPSCard", "KeyKind", "HolderData", "READ_MAX"]

log = logging.getLogger(__name__)

READ_MAX = 0xE7  # FACT §7.9: IAS-ECC READ BINARY / receive maximum (231 bytes)
READ_AHEAD = 8  # READ BINARY steps in a file's first script: 1 848 bytes, a certificate
MF = b"\x3f\x00"
EF_SN = b"\x3f\x00\xd0\x03"  # FACT §4.2
APP_DF = b"\x3f\x00\x00\x01"  # FACT §4.2: the contact PKCS#15 application (FACT I2224)
ODF_PATH = APP_DF + b"\x50\x31"  # FACT §4.2: ODF 5031 in the application DF

# FACT A15: certificate labels; FACT I2267: private key labels
CERT_LABELS = {"signature": "Certificat de Signature CPS", "authentication": "Certificat d'Authentification CPS"}
KEY_LABELS = {"signature": "CPS_PRIV_SIG", "authentication": "CPS_PRIV_AUT"}


class KeyKind(enum.Enum):
    """The holder's two key pairs (FACT §6.1)."""

    SIGNATURE = "signature"  # nonRepudiation: FSE and document signatures
    AUTHENTICATION = "authentication"  # client authentication, decipher


@dataclass
class HolderData:
    """Holder data read from the card: the raw data objects by label (returned untouched, the
    real layouts are not public, cps-cards.md §14) and, when the objects carry the cpsdi
    test-card encoding (virtual cards only), the decoded model."""

    objects: dict[str, bytes] = field(default_factory=dict)
    decoded: Holder | None = None


def _fcp_size(fcp: bytes) -> int | None:
    """File size from an FCP template 62 (tag 80 or 81, ISO 7816-4 §7.4.3)."""
    try:
        body = find(fcp, b"\x62")
        if body is None:
            return None
        for tag in (b"\x80", b"\x81"):
            value = find(body, tag)
            if value:
                return int.from_bytes(value, "big")
    except TLVError:
        return None
    return None


class CPSCard:
    """A CPS card in a slot (see :func:`cpsdi.cps.open_card`). Subclasses set ``generation``,
    ``cla`` and implement the PIN and private-key operations."""

    generation = Generation.UNKNOWN
    cla = 0x00

    def __init__(self, connection: CardConnection) -> None:
        self.connection = connection
        self._number: CardNumber | None = None
        self._odf: ODF | None = None
        self._cdf: list[ObjectEntry] | None = None
        self._dodf: list[ObjectEntry] | None = None
        self._prkdf: list[KeyEntry] | None = None
        self.round_trips = 0  # host-reader round trips made (scripts count once)
        # Files read in this session: the card's files do not change while it is connected
        # (this API writes none), so each is read once.
        self._files: dict[bytes, bytes] = {}

    # -- APDUs ---------------------------------------------------------------------------------

    def _transmit(self, apdu: bytes) -> Response:
        self.round_trips += 1
        return self.connection.transmit(apdu)

    def _apdu(self, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = None, cla: int | None = None) -> bytes:
        """A short command APDU (Lc only with data, Le only when given; Le 256 = 00)."""
        head = bytes((self.cla if cla is None else cla, ins, p1, p2))
        if len(data) > 255:
            raise ValueError("short APDU data is at most 255 bytes (use chaining)")
        body = (bytes((len(data),)) + data) if data else b""
        if le is not None:
            body += bytes((le & 0xFF,))
        return head + body

    def _run(self, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = None,
             cla: int | None = None) -> Response:
        """Send one APDU and raise the status-word exception of an error (header only in it):
        PinRequired for 6982 (the holder PIN is not verified), StatusWordError otherwise."""
        apdu = self._apdu(ins, p1, p2, data, le, cla)
        response = self._transmit(apdu)
        if response.sw == 0x6982:
            raise PinRequired(f"{apdu[:4].hex(' ').upper()}: verify the holder PIN first", response.sw)
        raise_for_sw(response.sw, apdu[:4])
        return response

    def _script(self, steps: list[ScriptStep]) -> ScriptResult:
        """Run an APDU script (one host round trip, see `CardConnection.run_script`)."""
        self.round_trips += 1
        return self.connection.run_script(steps)

    def _chained(self, ins: int, p1: int, p2: int, data: bytes, le: int | None, chunk: int = 0xF0) -> Response:
        """ISO 7816-4 §5.3.3 command chaining: CLA bit 0x10 on every command but the last."""
        pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)] or [b""]
        response: Response | None = None
        for k, piece in enumerate(pieces):
            last = k == len(pieces) - 1
            response = self._run(ins, p1, p2, piece, le if last else None, cla=self.cla | (0 if last else 0x10))
        assert response is not None
        return response

    # -- files ---------------------------------------------------------------------------------

    def read_file(self, path: bytes) -> bytes:
        """A whole transparent EF in one APDU script (one host round trip for files up to
        ``READ_AHEAD`` x 231 bytes): SELECT with its FCP (for the size), then READ BINARY of
        231-byte pieces; the script stops at the first status other than 9000 (past the end).
        Read once per session (cached)."""
        if path[:2] != MF:
            raise ValueError("CPS paths start with 3F00 (cps-cards.md §7.1)")
        cached = self._files.get(bytes(path))
        if cached is not None:
            return cached
        select = self._apdu(0xA4, 0x09, 0x04, path, le=0)
        steps = [ScriptStep(select)]
        steps += [ScriptStep(self._apdu(0xB0, off >> 8, off & 0xFF, le=READ_MAX))
                  for off in range(0, READ_AHEAD * READ_MAX, READ_MAX)]
        result = self._script(steps)
        fcp = result.responses[0]
        raise_for_sw(fcp.sw, select[:4])
        size = _fcp_size(fcp.data)
        if size is None:
            raise CardDataError(f"no file size in the FCP of {path.hex().upper()}")
        out = bytearray()
        for step, response in zip(steps[1:], result.responses[1:]):
            if len(out) >= size:
                break
            if response.sw not in (0x9000, 0x6282):  # 6282: end of file reached before Le bytes
                raise_for_sw(response.sw, step.apdu[:4])
            out += response.data
        while len(out) < size:  # a file larger than the read-ahead
            n = min(READ_MAX, size - len(out))
            out += self._run(0xB0, len(out) >> 8, len(out) & 0xFF, le=n).data
        if len(out) != size:
            raise CardDataError(f"{path.hex().upper()}: read {len(out)} bytes, the FCP says {size}")
        self._files[bytes(path)] = bytes(out)
        return bytes(out)

    # -- identity ------------------------------------------------------------------------------

    def card_number(self) -> CardNumber:
        """EF.SN decoded (FACT §5.4); read once."""
        if self._number is None:
            self._number = parse_ef_sn(self.read_file(EF_SN), self.generation)
        return self._number

    @property
    def serial(self) -> str:
        """The card number as Cryptolib shows it (§5.4)."""
        return self.card_number().number

    # -- PKCS#15 -------------------------------------------------------------------------------

    def _directory(self) -> ODF:
        if self._odf is None:
            self._odf = parse_odf(self.read_file(ODF_PATH))
        return self._odf

    def certificate_entries(self) -> list[ObjectEntry]:
        """The CDF entries (label, path)."""
        if self._cdf is None:
            odf = self._directory()
            self._cdf = parse_cdf(self.read_file(odf.cdf)) if odf.cdf else []
        return self._cdf

    def data_object_entries(self) -> list[ObjectEntry]:
        """The DODF entries (label, whether the PIN protects it, path)."""
        if self._dodf is None:
            odf = self._directory()
            self._dodf = parse_dodf(self.read_file(odf.dodf)) if odf.dodf else []
        return self._dodf

    def key_entries(self) -> list[KeyEntry]:
        """The PrKDF entries (label, key reference)."""
        if self._prkdf is None:
            odf = self._directory()
            self._prkdf = parse_prkdf(self.read_file(odf.prkdf)) if odf.prkdf else []
        return self._prkdf

    def _key_reference(self, kind: KeyKind) -> int | None:
        for entry in self.key_entries():
            if entry.label == KEY_LABELS[kind.value]:
                return entry.reference
        return None

    def certificate(self, kind: KeyKind = KeyKind.SIGNATURE) -> x509.Certificate:
        """The X.509 certificate of the signature or authentication key."""
        return x509.load_der_x509_certificate(self.certificate_der(kind))

    def certificate_der(self, kind: KeyKind = KeyKind.SIGNATURE) -> bytes:
        """The DER bytes of that certificate, as stored on the card."""
        for entry in self.certificate_entries():
            if entry.label == CERT_LABELS[kind.value]:
                data = self.read_file(entry.path)
                try:
                    x509.load_der_x509_certificate(data)
                except ValueError as exc:
                    raise CardDataError(f"{entry.label}: not a DER X.509 certificate ({exc})") from exc
                return data
        raise CardDataError(f"no {kind.value} certificate in the CDF")

    # -- holder data ---------------------------------------------------------------------------

    def data_objects(self, labels: Sequence[str] | None = None, *, protected: bool = False) -> dict[str, bytes]:
        """Raw data objects by label (cps-cards.md §8.3). Without ``labels``: every free object,
        and the PIN-protected ones too when ``protected`` (the PIN must be verified)."""
        out: dict[str, bytes] = {}
        for entry in self.data_object_entries():
            wanted = entry.label in labels if labels is not None else (protected or entry.auth_id is None)
            if not wanted:
                continue
            try:
                out[entry.label] = self.read_file(entry.path)
            except Exception as exc:  # 6982: PIN not verified
                if getattr(exc, "sw", None) == 0x6982:
                    raise PinRequired(f"{entry.label} is read with the holder PIN verified", 0x6982) from exc
                raise
        return out

    def holder(self, *, situations: bool = False) -> HolderData:
        """Holder data: identity objects (free) and, with ``situations`` (PIN verified first),
        the situation and billing objects; decoded when they carry the test-card encoding."""
        objects = self.data_objects(protected=situations)
        decoded = None
        identity = objects.get("CPS_ID_CARD")
        if identity is not None and test_encoding.is_test_encoding(identity):
            try:
                decoded = test_encoding.holder_from_data_objects(objects)
            except ValueError as exc:
                log.warning("test-card holder data not decodable: %s", exc)
        return HolderData(objects, decoded)

    # -- PIN and keys (per generation) ---------------------------------------------------------

    def pin_status(self) -> PinStatus:
        raise OperationNotSupported(f"{self.generation.value}: PIN status")

    def verify_pin(self, pin: str | bytes) -> None:
        raise OperationNotSupported(f"{self.generation.value}: PIN verification")

    def change_pin(self, old_pin: str | bytes, new_pin: str | bytes) -> None:
        raise OperationNotSupported(f"{self.generation.value}: PIN change")

    def unblock_pin(self, unblock_code: str | bytes, new_pin: str | bytes) -> None:
        raise OperationNotSupported(f"{self.generation.value}: PIN unblock")

    def sign(self, data: bytes, *, key: KeyKind = KeyKind.SIGNATURE, hash_name: str = "sha256",
             pss: bool = False) -> bytes:
        raise OperationNotSupported(f"{self.generation.value}: signature")

    def authenticate(self, challenge: bytes, *, hash_name: str = "sha256") -> bytes:
        raise OperationNotSupported(f"{self.generation.value}: client authentication")

    def decipher(self, ciphertext: bytes) -> bytes:
        raise OperationNotSupported(f"{self.generation.value}: decipher")

    # -- shared PIN-answer mapping -------------------------------------------------------------

    @staticmethod
    def _pin_answer(sw: int, what: str, blocked_for_good: bool = False) -> None:
        """Raise the PIN exception of a VERIFY/CHANGE/RESET status word (nothing on 9000):
        ``63Cx`` WrongPin(x); ``63C0`` (the last try was wrong) and ``69 83`` PinBlocked, or
        CardBlocked when ``blocked_for_good`` (the unblock code, or no unblock left)."""
        if sw == 0x9000:
            return
        if sw & 0xFFF0 == 0x63C0 and sw != 0x63C0:
            raise WrongPin(sw & 0x0F, sw, what)
        if sw == 0x63C0:  # wrong on the last try: the code is blocked from now on
            if blocked_for_good:
                raise CardBlocked(f"wrong {what} on the last try: the card cannot be unblocked any more", sw)
            raise PinBlocked(f"wrong {what} on the last try: the {what} is blocked", sw)
        if sw == 0x6983:
            if blocked_for_good:
                raise CardBlocked(f"the {what} is blocked: the card cannot be unblocked any more", sw)
            raise PinBlocked(f"the {what} is blocked", sw)
        if sw == 0x6982:
            raise PinRequired(f"{what}: security status not satisfied", sw)
        raise_for_sw(sw)


def parse_docp(answer: bytes) -> dict[int, int]:
    """The counters of an SDO DOCP answer ``70 .. BF xx yy .. A0 .. 9A/9B/9C/9D`` (FACT §6.3)."""
    out: dict[int, int] = {}

    def walk(data: bytes) -> None:
        for tag, value in iter_tlvs(data):
            if tag[0] & 0x20:  # constructed: descend
                walk(value)
            elif len(tag) == 1 and tag[0] in (0x9A, 0x9B, 0x9C, 0x9D):
                out[tag[0]] = int.from_bytes(value, "big")

    try:
        walk(answer)
    except TLVError as exc:
        raise CardDataError(f"malformed DOCP answer: {exc}") from exc
    return out
