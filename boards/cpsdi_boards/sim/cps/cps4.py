"""The CPS4 (NXP chip, ChipDoc applet) as an APDU handler: applet selection per logical
channel, the ChipDoc application on channel 1, the CPS2ter volet on the basic channel.

FACT (cps-cards.md §7.4, Cryptolib A4/A5/A7): every ChipDoc APDU uses CLA 01; ChipDoc AID
``80 25 00 00 01 FF 01 00`` is selected on channel 1; the CPS2ter applet
``80 25 00 00 01 FF 00 02`` lives on the basic channel; PIN status ``63 Cx`` / ``69 83``;
CHANGE ``01 24 01 ref`` (new value only, after a VERIFY); UNBLOCK ``01 2C 03 ref|80``;
MSE SET ``01 22 81 B6 04 91 02 <alg> <keyref|80>`` with alg 0A/15/28/2C; PSO CDS on a
host-computed hash (PKCS#1 v1.5 or PSS); client authentication = raw RSA "decipher" with key
0x20 (``01 22 41 B8 03 83 01 20`` then ``01 2A 80 86`` with chaining, no padding indicator);
after ``69 85`` the middleware selects the ISD ``A0 00 00 01 51 00 00`` on channel 1, the
CPS2ter applet on the basic channel, then ChipDoc on channel 1.

GUESS (the channel model; §12 says the 69 85 trigger is a guess):

* Power-on: only the basic channel is open, with the CPS2ter applet selected.
* ChipDoc is not multi-selectable (Java Card rule): selecting it on channel n > 0 while it
  is active on another channel -> 69 85; selecting it on the basic channel (an IAS-style
  stack using CLA 00) takes it from the other channel, which is then *lost*.
* A SELECT by AID on a closed channel opens it (the traces show no MANAGE CHANNEL).
* Any other command on a lost channel, or on a closed channel the card has, -> 69 85.
* ChipDoc forgets its PIN state and security environment when deselected.
* File system under ChipDoc: MF with EF.SN D003 (FACT A4: Cryptolib reads it) and the DF
  0001 PKCS#15 application laid out as on the CPS3 (not public, §14).
* PIN references 01 (holder) and 02 (unblock code), each also as ``| 80``; the signature
  key id 01; PSS salt length = the digest length.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Mapping

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

from cpsdi_boards.sim.cps import iso7816_4 as iso
from cpsdi_boards.sim.cps.cards import reset_handler_owner
from cpsdi_boards.sim.cps.cps3 import CPX_IAS_AID, build_pkcs15_application
from cpsdi_boards.sim.cps.der import TLVError, parse_tlvs
from cpsdi_boards.sim.cps.iso7816_4 import DF, EF, SW, ClassByte, FileContext, SelectRules, sw_response
from cpsdi_boards.sim.cps.pin import PinObject
from cpsdi_boards.sim.cps.pkcs1 import RSAKey
from cpsdi_boards.sim.virtual_card import APDUHandler, CardResponse

__all__ = [
    "CPS4Application",
    "ChipDocApplet",
    "CHIPDOC_AID",
    "CPS2TER_AID",
    "ISD_AID",
    "AUTH_KEY_ID",
    "SIGN_KEY_ID",
    "ALGORITHMS",
    "APPLET_CHIPDOC",
    "APPLET_CPS2TER",
    "APPLET_ISD",
]

CHIPDOC_AID = bytes.fromhex("80 25 00 00 01 FF 01 00")  # FACT §4.1
CPS2TER_AID = bytes.fromhex("80 25 00 00 01 FF 00 02")  # FACT §4.1
ISD_AID = bytes.fromhex("A0 00 00 01 51 00 00")  # FACT §4.1 ("IDS")
AUTH_KEY_ID = 0x20  # FACT A7 CPS4_AUTH_PRIV_KEY_ID
SIGN_KEY_ID = 0x01  # GUESS (FACT: it comes from the PrKDF)

APPLET_CHIPDOC = "chipdoc"
APPLET_CPS2TER = "cps2ter"
APPLET_ISD = "isd"

# FACT A5: algorithm ids Cryptolib implements -> (hash, PSS?)
ALGORITHMS: dict[int, tuple[str, bool]] = {
    0x0A: ("sha1", False),
    0x15: ("sha1", True),
    0x28: ("sha256", False),
    0x2C: ("sha256", True),
}

# FACT §7.4: SELECT P2 = 04 / 0C. GUESS: P2 = 00 -> 6A86 as on the CPS3; READ BINARY up to 256.
CHIPDOC_SELECT_RULES = SelectRules(read_binary_max=256)
SCB_PIN = 0x11  # GUESS, as on the CPS3


@dataclass
class _Channel:
    applet: str | None = None  # None: nothing selected (a lost channel)


class ChipDocApplet:
    """The ChipDoc application (state of one selection)."""

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
        pin_tries: int,
        unblock_tries: int,
        quirks: bool,
        token_label: str | None,
        sign_key_id: int,
        rsa_processing_etu: int = 0,
    ) -> None:
        if len(serial) != 12:
            raise ValueError("EF.SN is 12 bytes (FACT A4)")
        self.serial = bytes(serial)
        self.sign_key_id = sign_key_id
        self.rsa_processing_etu = rsa_processing_etu
        self.keys = {sign_key_id: RSAKey(sign_key), AUTH_KEY_ID: RSAKey(auth_key)}
        self.pin = PinObject(1, bytes(pin), pin_tries)  # FACT §7.4: max tries assumed 3
        self.puk = PinObject(2, bytes(unblock_code), unblock_tries, min_length=8)
        self.mf = DF(0x3F00)
        self.mf.add(EF(0xD003, bytearray(self.serial), sfi=0x1C))
        app = DF(0x0001, CPX_IAS_AID)
        self.mf.add(app)
        # INFERENCE (§5.5, A14): token label CPS4v1- + card number; serial = PAN without 80 25.
        label = token_label or "CPS4v1-" + self.serial[7:12].hex()[:10].upper()
        build_pkcs15_application(
            app, token_serial=self.serial[4:], token_label=label, quirks=quirks,
            sign_key=(sign_key_id, self.keys[sign_key_id].n.bit_length(), sign_cert, (3, 4)),
            auth_key=(AUTH_KEY_ID, self.keys[AUTH_KEY_ID].n.bit_length(), auth_cert, (5,)),
            data_objects=data_objects,
        )
        self.ctx = FileContext(self.mf)
        self.chain = iso.CommandChain()
        self.dst: tuple[int, int] | None = None  # (algorithm id, key id)
        self.ct_key: int | None = None
        self.change_allowed = False  # CHANGE P1 = 01 allowed (after VERIFY / UNBLOCK)
        self.challenges = 0

    def deselect(self) -> None:
        """Selection ends: security state, environment, current file, chain dropped."""
        self.ctx = FileContext(self.mf)
        self.chain.reset()
        self.dst = None
        self.ct_key = None
        self.change_allowed = False
        self.pin.logout()
        self.puk.logout()

    def _scb_ok(self, scb: int) -> bool:
        if scb == iso.SCB_ALWAYS:
            return True
        if scb & 0x70 == 0x10:
            return self.pin.verified
        return False

    def _pin_object(self, p2: int) -> PinObject | None:
        return {1: self.pin, 2: self.puk}.get(p2 & 0x7F)

    def handle(self, cla: ClassByte, header: bytes, data: bytes) -> CardResponse:
        """A command for ChipDoc (channel routing done)."""
        ins, p1, p2 = header[1], header[2], header[3]
        p3 = header[4] if len(header) > 4 else 0
        if cla.secure_messaging:
            return sw_response(SW.SM_NOT_SUPPORTED)
        whole, answer = self.chain.pso_data(cla.channel, header, data, cla.chaining)
        if answer is not None:
            return answer
        assert whole is not None
        data = whole
        le = 0 if data else p3
        if ins == 0xA4:
            return iso.select(self.ctx, p1, p2, data, CHIPDOC_SELECT_RULES)
        if ins == 0xB0:
            return iso.read_binary(self.ctx, p1, p2, le, CHIPDOC_SELECT_RULES, self._scb_ok)
        if ins == 0xD6:
            return iso.update_binary(self.ctx, p1, p2, data, self._scb_ok)
        if ins == 0x20:
            return self._verify(p1, p2, data)
        if ins == 0x24:
            return self._change(p1, p2, data)
        if ins == 0x2C:
            return self._unblock(p1, p2, data)
        if ins == 0x22:
            return self._mse(p1, p2, data)
        if ins == 0x2A:
            return self._pso(p1, p2, data)
        if ins == 0x84:
            if (p1, p2) != (0, 0):
                return sw_response(SW.INCORRECT_P1P2)
            if le not in (0, 8):  # GUESS: 8 bytes, as on the CPS3
                return sw_response(SW.WRONG_LENGTH)
            self.challenges += 1
            return CardResponse(data=hashlib.sha256(self.serial + b"cps4" + self.challenges.to_bytes(4, "big"))
                                .digest()[:8])
        return sw_response(SW.INS_NOT_SUPPORTED)

    # -- PIN (FACT §7.4) ---------------------------------------------------------------------------

    def _verify(self, p1: int, p2: int, data: bytes) -> CardResponse:
        pin = self._pin_object(p2)
        if pin is None:
            return sw_response(SW.REFERENCE_NOT_FOUND)
        if p1 != 0x00:
            return sw_response(SW.INCORRECT_P1P2)
        if not data:
            return sw_response(pin.status())
        status = pin.verify(data)
        if pin is self.pin:
            self.change_allowed = status == SW.OK
        return sw_response(status)

    def _change(self, p1: int, p2: int, data: bytes) -> CardResponse:
        pin = self._pin_object(p2)
        if pin is not self.pin:
            return sw_response(SW.REFERENCE_NOT_FOUND if pin is None else SW.SECURITY_NOT_SATISFIED)
        if pin.blocked:
            return sw_response(SW.AUTH_METHOD_BLOCKED)
        if p1 == 0x01:  # FACT §7.4: new value only, after a VERIFY
            if not self.change_allowed:
                return sw_response(SW.SECURITY_NOT_SATISFIED)
            new = data
        elif p1 == 0x00:  # GUESS: ISO old || new accepted too
            old, new = data[:len(pin.value)], data[len(pin.value):]
            if not pin.matches(old):
                return sw_response(pin.verify(old + b"\x00"))
        else:
            return sw_response(SW.INCORRECT_P1P2)
        if not pin.valid_new_value(new):
            return sw_response(SW.WRONG_DATA)
        pin.set_value(new)
        pin.verified = True
        self.change_allowed = False
        return sw_response(SW.OK)

    def _unblock(self, p1: int, p2: int, data: bytes) -> CardResponse:
        if self._pin_object(p2) is not self.pin:
            return sw_response(SW.REFERENCE_NOT_FOUND)
        if p1 == 0x03:  # FACT §7.4 `01 2C 03 ref|80`; GUESS: needs the unblock code verified
            if data:
                return sw_response(SW.LC_INCONSISTENT)
            if not self.puk.verified:
                return sw_response(SW.SECURITY_NOT_SATISFIED)
        elif p1 == 0x01:  # GUESS: ISO form with the unblock code as data
            status = self.puk.verify(data)
            if status != SW.OK:
                return sw_response(status)
        else:
            return sw_response(SW.INCORRECT_P1P2)
        self.pin.unblock()
        self.puk.logout()
        self.change_allowed = True  # GUESS: the CHANGE that follows (FACT) needs no VERIFY
        return sw_response(SW.OK)

    # -- MSE / PSO (FACT §7.4) ---------------------------------------------------------------------

    def _mse(self, p1: int, p2: int, data: bytes) -> CardResponse:
        if p1 not in (0x41, 0x81) or p2 not in (0xB6, 0xB8):
            return sw_response(SW.INCORRECT_P1P2)
        try:
            fields = dict(parse_tlvs(data))
        except TLVError:
            return sw_response(SW.WRONG_DATA)
        if p2 == 0xB6:
            value = fields.get(b"\x91", b"")
            if len(value) != 2:
                return sw_response(SW.WRONG_DATA)
            alg, key_id = value[0], value[1] & 0x7F
            if alg not in ALGORITHMS:  # FACT A5: the others are "not implemented"
                return sw_response(SW.WRONG_DATA)
            if key_id not in self.keys:
                return sw_response(SW.REFERENCE_NOT_FOUND)
            self.dst = (alg, key_id)
            return sw_response(SW.OK)
        value = fields.get(b"\x83", fields.get(b"\x84", b""))
        if len(value) != 1 or value[0] != AUTH_KEY_ID:
            return sw_response(SW.REFERENCE_NOT_FOUND)
        self.ct_key = value[0]
        return sw_response(SW.OK)

    def _pso(self, p1: int, p2: int, data: bytes) -> CardResponse:
        if (p1, p2) == (0x9E, 0x9A):
            if self.dst is None:
                return sw_response(SW.CONDITIONS_NOT_SATISFIED)
            if not self.pin.verified:
                return sw_response(SW.SECURITY_NOT_SATISFIED)
            alg, key_id = self.dst
            name, pss = ALGORITHMS[alg]
            h: hashes.HashAlgorithm = hashes.SHA1() if name == "sha1" else hashes.SHA256()
            if len(data) != h.digest_size:  # FACT: the bare hash, DigestInfo stripped
                return sw_response(SW.WRONG_DATA)
            pad: padding.AsymmetricPadding = (
                padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size) if pss else padding.PKCS1v15()
            )
            signature = self.keys[key_id].key.sign(data, pad, utils.Prehashed(h))
            return CardResponse(data=signature, processing_etu=self.rsa_processing_etu)
        if (p1, p2) == (0x80, 0x86):
            if self.ct_key is None:
                return sw_response(SW.CONDITIONS_NOT_SATISFIED)
            if not self.pin.verified:
                return sw_response(SW.SECURITY_NOT_SATISFIED)
            key = self.keys[self.ct_key]
            if len(data) != key.size_bytes:  # FACT: the 256-byte block, no padding indicator
                return sw_response(SW.WRONG_LENGTH)
            try:
                return CardResponse(data=key.raw_private(data), processing_etu=self.rsa_processing_etu)
            except ValueError:
                return sw_response(SW.WRONG_DATA)
        return sw_response(SW.INCORRECT_P1P2)


class CPS4Application:
    """A CPS4: applet selection per logical channel, ChipDoc, the CPS2ter volet.

    Args: as :class:`~cpsdi_boards.sim.cps.cps3.CPS3Application` (``serial`` = the 12 bytes
    of EF.SN), plus ``sign_key_id`` (GUESS 01), ``channels`` (number of logical channels,
    GUESS 4) and ``cps2ter``: the CPS2ter volet's handler for the basic channel (CLA A0, and
    CLA 00 while it is selected there; a bound method's object is ``reset()`` with the card).
    Without it, the CPS2ter applet answers 6E00 to CLA A0 and 6D00 to CLA 00.
    ``rsa_processing_etu``: modelled time of each private-key operation (0: instant).
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
        quirks: bool = False,
        token_label: str | None = None,
        sign_key_id: int = SIGN_KEY_ID,
        channels: int = 4,
        cps2ter: APDUHandler | None = None,
        rsa_processing_etu: int = 0,
    ) -> None:
        self.chipdoc = ChipDocApplet(
            serial=serial, auth_key=auth_key, sign_key=sign_key, auth_cert=auth_cert, sign_cert=sign_cert,
            data_objects=data_objects, pin=pin, unblock_code=unblock_code, pin_tries=pin_tries,
            unblock_tries=unblock_tries, quirks=quirks, token_label=token_label, sign_key_id=sign_key_id,
            rsa_processing_etu=rsa_processing_etu,
        )
        if pin_tries_left is not None:
            self.chipdoc.pin.tries_left = max(0, min(pin_tries, pin_tries_left))
        self.cps2ter = cps2ter
        self.channels: iso.LogicalChannels[_Channel] = iso.LogicalChannels(channels, _Channel)
        self.reset()

    def reset(self) -> None:
        """Card reset: basic channel only, with the CPS2ter applet (GUESS)."""
        self.channels.reset()
        self.channels.states[0].applet = APPLET_CPS2TER
        self.chipdoc.deselect()
        reset_handler_owner(self.cps2ter)

    def chipdoc_channel(self) -> int | None:
        """The channel ChipDoc is selected on, or None."""
        for number, state in self.channels.states.items():
            if state.applet == APPLET_CHIPDOC:
                return number
        return None

    def handle(self, header: bytes, data: bytes) -> CardResponse:
        """APDU handler ``(CLA INS P1 P2 P3, command data)``."""
        cla, ins, p1 = header[0], header[1], header[2]
        if cla & 0x80:  # proprietary class: the CPS2ter volet (CLA A0) on the basic channel
            if cla == 0xA0 and self.channels.states[0].applet == APPLET_CPS2TER and self.cps2ter is not None:
                return self.cps2ter(header, data)
            return sw_response(SW.CLA_NOT_SUPPORTED)  # FACT A10: 6E00 with another applet selected
        c = iso.decode_cla(cla)
        if c is None:
            return sw_response(SW.CLA_NOT_SUPPORTED)
        if c.channel >= self.channels.count:
            return sw_response(SW.CHANNEL_NOT_SUPPORTED)
        if ins == 0x70:
            was = self.chipdoc_channel()
            resp = self.channels.manage(c, p1, header[3], header[4] if len(header) > 4 and not data else 0)
            if was is not None and self.channels.get(was) is None:
                self.chipdoc.deselect()
            return resp
        if ins == 0xA4 and p1 == 0x04:
            applet = {CHIPDOC_AID: APPLET_CHIPDOC, CPS2TER_AID: APPLET_CPS2TER, ISD_AID: APPLET_ISD}.get(bytes(data))
            if applet is not None:
                return self._select_applet(c, applet, header, data)
        state = self.channels.get(c.channel)
        if state is None or state.applet is None:
            if ins == 0xA4 and p1 == 0x04 and state is None:
                return sw_response(SW.FILE_NOT_FOUND)
            return sw_response(SW.CONDITIONS_NOT_SATISFIED)  # GUESS: the lost channel of §7.4
        if state.applet == APPLET_CHIPDOC:
            return self.chipdoc.handle(c, header, data)
        if state.applet == APPLET_CPS2TER:
            if self.cps2ter is not None:
                return self.cps2ter(header, data)
            return sw_response(SW.INS_NOT_SUPPORTED)
        return sw_response(SW.INS_NOT_SUPPORTED)  # ISD: GlobalPlatform commands not modelled

    def _select_applet(self, c: ClassByte, applet: str, header: bytes, data: bytes) -> CardResponse:
        p2 = header[3]
        if p2 not in (0x00, 0x04, 0x0C):
            return sw_response(SW.INCORRECT_P1P2)
        holder = self.chipdoc_channel()
        if applet == APPLET_CHIPDOC and holder is not None and holder != c.channel and c.channel != 0:
            return sw_response(SW.CONDITIONS_NOT_SATISFIED)  # not multi-selectable (GUESS)
        if applet == APPLET_CPS2TER and c.channel != 0:
            return sw_response(SW.CONDITIONS_NOT_SATISFIED)  # basic channel only (GUESS)
        resp = CardResponse()
        if applet == APPLET_CPS2TER and self.cps2ter is not None:
            resp = self.cps2ter(header, data)
            if resp.sw != SW.OK:
                return resp
        state = self.channels.get(c.channel) or self.channels.open(c.channel)
        if holder is not None and (holder == c.channel or applet == APPLET_CHIPDOC):
            self.chipdoc.deselect()
            holder_state = self.channels.get(holder)
            if holder_state is not None:
                holder_state.applet = None  # another channel took ChipDoc: this one is lost
        state.applet = applet
        return resp
