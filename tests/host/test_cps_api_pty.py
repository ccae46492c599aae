"""The CPS API (``cpsdi.cps``) against the virtual CPS3 (T=0) and CPS4 (T=1, and its T=0-only
ATR) cards of ``cpsdi sim`` on a real pseudo-terminal (issue #8 acceptance, API side).

One ``cpsdi sim --card-time virtual`` process per module; every test puts a fresh card in
slot 0 through the control socket (``insert 0 NAME``). The expected values come from the card
profiles (``cpsdi_boards.sim.cps.profiles``) and the test PKI (``card_pki``); every signature is
checked with ``cryptography`` against the certificate read from the card.
"""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from cpsdi.cps import (
    CardBlocked,
    CPSCard,
    FSESignature,
    Generation,
    KeyKind,
    NotACPSCard,
    OperationNotSupported,
    PinBlocked,
    PinRequired,
    PinStatus,
    WrongPin,
    open_card,
    sign_fse,
)
from cpsdi.cps.cps3 import CPS3Card
from cpsdi.cps.cps4 import CPS4Card
from cpsdi.link import check_answer
from cpsdi.reader import CardConnection, Protocol, Reader
from cpsdi.script import ScriptStep
from cpsdi.trace import read_trace
from cpsdi_boards.sim.cps.cps3 import data_object_needs_pin
from cpsdi_boards.sim.cps.pki import card_pki
from cpsdi_boards.sim.cps.profiles import PROFILES, CardProfile, data_objects
from cpsdi_proto import ccid as wire

H = bytes.fromhex
SIM = [sys.executable, "-c", "from cpsdi.sim_cli import sim; sim()"]
LINK_BAUD = 921600  # the reader's fast link rate: same pty, same framing, shorter runs

CPS3_T0 = pytest.param("doctor", id="cps3-T0")
CPS4_T1 = pytest.param("pharmacist", id="cps4-T1")
CPS4_T0 = pytest.param("pharmacist-t0", id="cps4-T0")
ALL_GENERATIONS = [CPS3_T0, CPS4_T1, CPS4_T0]
CPS4_CARDS = [CPS4_T1, CPS4_T0]
HASHES: dict[str, type[hashes.HashAlgorithm]] = {"sha1": hashes.SHA1, "sha256": hashes.SHA256}

CHIPDOC_ON_BASIC_CHANNEL = H("00 A4 04 00 08 80 25 00 00 01 FF 01 00")  # an IAS-style stack takes ChipDoc


# -- the simulator -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Sim:
    path: str
    control: Path


def control(sim: Sim, command: str) -> str:
    with socket.socket(socket.AF_UNIX) as c:
        c.connect(str(sim.control))
        c.sendall(command.encode() + b"\n")
        return c.recv(4096).decode().strip()


@contextmanager
def run_sim(run: Path, *options: str) -> Iterator[Sim]:
    # Keys first, in this process: the sim subprocess (same CPSDI_TEST_PKI_DIR) then loads them
    # instead of generating its own concurrently.
    for name in PROFILES:
        card_pki(name)
    ctl = run / "control"
    with open(run / "sim.stderr", "w") as stderr:
        proc = subprocess.Popen([*SIM, "--card", "none", "--card-time", "virtual", "--control", str(ctl),
                                 "--duration", "600", *options], stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        assert proc.stdout is not None
        path = proc.stdout.readline().strip()
        assert path.startswith("/dev/"), (run / "sim.stderr").read_text()
        yield Sim(path, ctl)
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    with run_sim(tmp_path_factory.mktemp("cps-sim")) as s:
        yield s


@pytest.fixture(scope="module")
def sim_full_echo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    """A compat-only reader echoing whole command frames (the echo repeats a VERIFY's PIN)."""
    with run_sim(tmp_path_factory.mktemp("cps-sim-echo"), "--no-native", "--echo", "full") as s:
        yield s


@contextmanager
def connected(sim: Sim, name: str, *, native: bool = True, trace: Path | None = None,
              link_baud: int | None = LINK_BAUD) -> Iterator[tuple[Reader, CardConnection]]:
    """A fresh ``name`` card in slot 0, powered."""
    assert control(sim, f"insert 0 {name}") == "ok"
    with Reader.open(sim.path, native=native, trace=trace, link_baud=link_baud if native else None) as reader:
        with reader.slots[0].connect() as conn:
            yield reader, conn


@contextmanager
def cps(sim: Sim, name: str, **kwargs: object) -> Iterator[tuple[Reader, CardConnection, CPSCard]]:
    with connected(sim, name, **kwargs) as (reader, conn):  # type: ignore[arg-type]
        yield reader, conn, open_card(conn)


def profile_of(name: str) -> CardProfile:
    return PROFILES[name.removesuffix("-t0")]


def public_key(card: CPSCard, kind: KeyKind) -> rsa.RSAPublicKey:
    key = card.certificate(kind).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def message(n: int) -> bytes:
    return bytes((7 * i + n) & 0xFF for i in range(n))


def verify(key: rsa.RSAPublicKey, signature: bytes, data: bytes, hash_name: str, pss: bool = False) -> None:
    algorithm = HASHES[hash_name]()
    pad: padding.AsymmetricPadding = (
        padding.PSS(mgf=padding.MGF1(algorithm), salt_length=algorithm.digest_size) if pss else padding.PKCS1v15()
    )
    assert len(signature) == 256
    key.verify(signature, data, pad, algorithm)


def block_pin(card: CPSCard, wrong: str = "0000") -> None:
    for left in (2, 1):
        with pytest.raises(WrongPin) as e:
            card.verify_pin(wrong)
        assert e.value.tries_left == left
    with pytest.raises(PinBlocked):
        card.verify_pin(wrong)


# -- open_card ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [*PROFILES, "pharmacist-t0", "sparse-t0"])
def test_open_card_generation_and_card_number(sim: Sim, name: str) -> None:
    profile = profile_of(name)
    with cps(sim, name) as (_, conn, card):
        if profile.generation == "cps3":
            assert conn.protocol is Protocol.T0
            assert isinstance(card, CPS3Card) and card.generation is Generation.CPS3
        else:
            assert conn.protocol is (Protocol.T0 if name.endswith("-t0") else Protocol.T1)
            assert isinstance(card, CPS4Card) and card.generation is Generation.CPS4
        number = card.card_number()
        assert number.raw == profile.serial_number  # EF.SN as stored
        assert number.pan == profile.serial_number[2:].hex().upper().rstrip("F")
        # the card number: the 8 digits after the ANS issuer prefix (printed as 00 + those)
        assert card.serial == profile.serial_number[7:11].hex() == profile.holder.card.card_number[2:]


@pytest.mark.parametrize("name", ["t0", "t1", "vitale1", "vitale2"])
def test_open_card_refuses_other_cards(sim: Sim, name: str) -> None:
    with connected(sim, name) as (_, conn):
        with pytest.raises(NotACPSCard):
            open_card(conn)


# -- holder data -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [CPS3_T0, CPS4_T1, CPS4_T0, "sparse", "employee"])
def test_holder_free_objects_then_situations_after_verify(sim: Sim, name: str) -> None:
    profile = profile_of(name)
    expected = data_objects(profile)
    with cps(sim, name) as (_, _, card):
        free = card.holder()
        assert free.objects == {label: blob for label, blob in expected.items() if not data_object_needs_pin(label)}
        assert free.decoded is not None
        assert free.decoded.identity == profile.holder.identity
        assert free.decoded.card == profile.holder.card
        assert free.decoded.situations == () and free.decoded.billing_situation is None

        with pytest.raises(PinRequired) as e:
            card.holder(situations=True)
        assert e.value.sw == 0x6982

        card.verify_pin(profile.pin)
        full = card.holder(situations=True)
        assert full.objects == expected
        assert full.decoded == profile.holder
        assert full.decoded.indexes == tuple(s.index for s in profile.holder.situations)
        if name == "sparse":
            assert full.decoded.indexes == (2, 4, 16)  # non-contiguous (FACT A11)
        if name == "employee":
            assert full.decoded.situations == ()


# -- PIN ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_GENERATIONS)
def test_pin_status_of_a_fresh_card(sim: Sim, name: str) -> None:
    with cps(sim, name) as (_, _, card):
        uses = 100 if card.generation is Generation.CPS3 else None  # the CPS4 does not tell
        assert card.pin_status() == PinStatus(3, 3, blocked=False, verified=False, unblock_uses_left=uses)
        card.verify_pin(profile_of(name).pin)
        status = card.pin_status()
        assert status.verified and not status.blocked and status.tries_left == 3


@pytest.mark.parametrize("name", ALL_GENERATIONS)
def test_wrong_pin_counts_down_then_blocks(sim: Sim, name: str) -> None:
    profile = profile_of(name)
    with cps(sim, name) as (_, _, card):
        for left in (2, 1):
            with pytest.raises(WrongPin) as e:
                card.verify_pin("0000")
            assert (e.value.tries_left, e.value.sw, e.value.what) == (left, 0x63C0 | left, "PIN")
            assert card.pin_status().tries_left == left
        with pytest.raises(PinBlocked) as blocked:  # the last try: the PIN is blocked now
            card.verify_pin("0000")
        assert not isinstance(blocked.value, CardBlocked) and blocked.value.sw == 0x63C0
        with pytest.raises(PinBlocked) as again:  # the right PIN no longer helps
            card.verify_pin(profile.pin)
        assert again.value.sw == 0x6983 and not isinstance(again.value, CardBlocked)
        status = card.pin_status()
        assert status.blocked and status.tries_left == 0 and not status.verified and not status.blocked_for_good


@pytest.mark.parametrize("name", ALL_GENERATIONS)
def test_unblock_with_wrong_then_right_code(sim: Sim, name: str) -> None:
    profile = profile_of(name)
    with cps(sim, name) as (_, _, card):
        block_pin(card)
        with pytest.raises(WrongPin) as e:
            card.unblock_pin("87654321", "4826")
        assert (e.value.what, e.value.tries_left, e.value.sw) == ("unblock code", 9, 0x63C9)
        assert "wrong unblock code" in str(e.value)
        with pytest.raises(PinBlocked):
            card.verify_pin(profile.pin)  # still blocked
        card.unblock_pin(profile.unblock_code, "4826")
        with pytest.raises(WrongPin) as old:
            card.verify_pin(profile.pin)  # the old PIN is gone, the counter is full again
        assert old.value.tries_left == 2
        card.verify_pin("4826")
        status = card.pin_status()
        assert status.verified and status.tries_left == 3 and not status.blocked
        if card.generation is Generation.CPS3:
            assert status.unblock_uses_left == 99  # one of the 100 uses spent (§6.2)
        data = b"after the unblock"
        verify(public_key(card, KeyKind.SIGNATURE), card.sign(data), data, "sha256")


@pytest.mark.parametrize("name", ALL_GENERATIONS)
def test_change_pin(sim: Sim, name: str) -> None:
    profile = profile_of(name)
    with cps(sim, name) as (_, _, card):
        with pytest.raises(WrongPin) as e:
            card.change_pin("9999", "4826")
        assert e.value.tries_left == 2
        before = card.round_trips
        with pytest.raises(ValueError):
            card.change_pin(profile.pin, "12")  # refused by the host: nothing sent
        assert card.round_trips == before
        card.change_pin(profile.pin, "4826")
        with pytest.raises(WrongPin) as old:
            card.verify_pin(profile.pin)
        assert old.value.tries_left == 2  # a successful change refilled the counter
        card.verify_pin("4826")
        assert card.pin_status().verified


def test_blocked_profile_is_blocked_at_once(sim: Sim) -> None:
    profile = PROFILES["blocked"]
    with cps(sim, "blocked") as (_, _, card):
        status = card.pin_status()
        assert status == PinStatus(0, 3, blocked=True, verified=False, unblock_uses_left=100)
        assert not status.blocked_for_good
        with pytest.raises(PinBlocked) as e:
            card.verify_pin(profile.pin)
        assert e.value.sw == 0x6983 and not isinstance(e.value, CardBlocked)
        with pytest.raises(PinRequired):
            card.holder(situations=True)
        card.unblock_pin(profile.unblock_code, "4826")
        card.verify_pin("4826")
        assert card.holder(situations=True).decoded == profile.holder


@pytest.mark.parametrize("name", ALL_GENERATIONS)
def test_exhausting_the_unblock_code_blocks_the_card_for_good(sim: Sim, name: str) -> None:
    profile = profile_of(name)
    with cps(sim, name) as (_, _, card):
        for left in range(9, 0, -1):
            with pytest.raises(WrongPin) as e:
                card.unblock_pin("87654321", "4826")
            assert (e.value.what, e.value.tries_left) == ("unblock code", left)
        with pytest.raises(CardBlocked) as last:  # the tenth wrong code: no try left
            card.unblock_pin("87654321", "4826")
        assert last.value.sw == 0x63C0
        with pytest.raises(CardBlocked) as right:  # even the right code is refused now
            card.unblock_pin(profile.unblock_code, "4826")
        assert right.value.sw == 0x6983
        # the holder PIN still works until it blocks; then nothing can unblock it
        card.verify_pin(profile.pin)
        for left in (2, 1):
            with pytest.raises(WrongPin):
                card.verify_pin("0000")
        with pytest.raises(CardBlocked):
            card.verify_pin("0000")
        with pytest.raises(CardBlocked):
            card.verify_pin(profile.pin)
        status = card.pin_status()
        assert status.blocked and status.blocked_for_good and status.unblock_uses_left == 0


def test_cps3_unblock_uses_run_out(sim: Sim) -> None:
    """FACT §6.2: 100 unblock uses (usage counter 9D); INFERENCE: then the card is blocked."""
    profile = PROFILES["doctor"]
    with cps(sim, "doctor") as (_, _, card):
        for _ in range(100):
            card.unblock_pin(profile.unblock_code, profile.pin)
        assert card.pin_status().unblock_uses_left == 0
        with pytest.raises(CardBlocked):
            card.unblock_pin(profile.unblock_code, profile.pin)
        card.verify_pin(profile.pin)  # the holder PIN itself still works


@pytest.mark.parametrize("name", ALL_GENERATIONS)
def test_bad_pin_formats_are_refused_before_the_card(sim: Sim, name: str) -> None:
    with cps(sim, name) as (_, _, card):
        before = card.round_trips
        for bad in ("12a4", "123", "123456789", " 1234", "١٢٣٤", b"12\xff4"):
            with pytest.raises(ValueError):
                card.verify_pin(bad)
        with pytest.raises(ValueError):
            card.unblock_pin("1234", "4826")  # an unblock code has 8 digits
        assert card.round_trips == before
        assert card.pin_status().tries_left == 3


# -- certificates --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [*ALL_GENERATIONS, "sparse", "expired"])
def test_certificates_are_the_test_pki_ones_and_chain(sim: Sim, name: str) -> None:
    pki = card_pki(profile_of(name))
    intermediate, root = pki.chain
    with cps(sim, name) as (_, _, card):  # no PIN needed
        for kind, der, key in ((KeyKind.SIGNATURE, pki.sign_cert_der, pki.sign_key),
                               (KeyKind.AUTHENTICATION, pki.auth_cert_der, pki.auth_key)):
            assert card.certificate_der(kind) == der
            cert = card.certificate(kind)
            cert.verify_directly_issued_by(intermediate)
            assert public_key(card, kind).public_numbers() == key.public_key().public_numbers()
        intermediate.verify_directly_issued_by(root)
        root.verify_directly_issued_by(root)


# -- round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_GENERATIONS)
def test_round_trips(sim: Sim, name: str) -> None:
    """Design properties: a whole file (a 1 KB certificate) is one APDU script; opening reads
    EF.SN in one script (after SELECT ChipDoc on a CPS4)."""
    profile = profile_of(name)
    with connected(sim, name) as (_, conn):
        card = open_card(conn)
        cps4 = card.generation is Generation.CPS4
        assert card.round_trips == (2 if cps4 else 1)
        card.certificate_entries()
        card.key_entries()
        assert card.round_trips == (2 if cps4 else 1) + 3  # ODF, CDF, PrKDF

        def cost(operation: Callable[[], object]) -> int:
            before = card.round_trips
            operation()
            return card.round_trips - before

        assert cost(lambda: card.certificate_der(KeyKind.SIGNATURE)) == 1
        assert cost(lambda: card.certificate_der(KeyKind.AUTHENTICATION)) == 1
        assert cost(lambda: card.verify_pin(profile.pin)) == 1
        # CPS4: MSE SET + PSO CDS; CPS3: SELECT app, MSE HT, PSO HASH, MSE DST, PSO CDS
        assert cost(lambda: card.sign(b"x" * 1000)) == (2 if cps4 else 5)
        assert cost(lambda: card.serial) == 0  # EF.SN is read once
        assert cost(lambda: card.certificate_der(KeyKind.SIGNATURE)) == 0  # files are read once per session


# -- signatures --------------------------------------------------------------------------------

LENGTHS = (0, 1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 129, 1000)  # SHA padding and block edges


@pytest.mark.parametrize("hash_name", ["sha256", "sha1"])
def test_cps3_sign_with_on_card_hashing(sim: Sim, hash_name: str) -> None:
    with cps(sim, "doctor") as (_, _, card):
        card.verify_pin(PROFILES["doctor"].pin)
        key = public_key(card, KeyKind.SIGNATURE)
        for n in LENGTHS:
            data = message(n)
            signature = card.sign(data, hash_name=hash_name)
            try:
                verify(key, signature, data, hash_name)
            except InvalidSignature:
                pytest.fail(f"{hash_name} signature of a {n}-byte message does not verify")


@pytest.mark.parametrize("name", CPS4_CARDS)
@pytest.mark.parametrize("pss", [False, True], ids=["pkcs1", "pss"])
@pytest.mark.parametrize("hash_name", ["sha256", "sha1"])
def test_cps4_sign(sim: Sim, name: str, hash_name: str, pss: bool) -> None:
    with cps(sim, name) as (_, _, card):
        card.verify_pin(profile_of(name).pin)
        key = public_key(card, KeyKind.SIGNATURE)
        for n in (0, 1, 64, 1000):
            data = message(n)
            verify(key, card.sign(data, hash_name=hash_name, pss=pss), data, hash_name, pss)


@pytest.mark.parametrize("name", ALL_GENERATIONS)
def test_sign_with_the_authentication_key(sim: Sim, name: str) -> None:
    with cps(sim, name) as (_, _, card):
        card.verify_pin(profile_of(name).pin)
        key = public_key(card, KeyKind.AUTHENTICATION)
        other = public_key(card, KeyKind.SIGNATURE)
        modes = [False, True] if card.generation is Generation.CPS4 else [False]  # PSS: CPS4 only (A7)
        for hash_name in HASHES:
            for pss in modes:
                data = f"auth {hash_name} {pss}".encode()
                signature = card.sign(data, key=KeyKind.AUTHENTICATION, hash_name=hash_name, pss=pss)
                verify(key, signature, data, hash_name, pss)
                with pytest.raises(InvalidSignature):
                    verify(other, signature, data, hash_name, pss)  # really the other key


@pytest.mark.parametrize("name", ALL_GENERATIONS)
def test_unsupported_algorithms(sim: Sim, name: str) -> None:
    with cps(sim, name) as (_, _, card):
        card.verify_pin(profile_of(name).pin)
        before = card.round_trips
        with pytest.raises(OperationNotSupported):
            card.sign(b"data", hash_name="sha512")
        if card.generation is Generation.CPS3:
            with pytest.raises(OperationNotSupported):
                card.sign(b"data", pss=True)  # no RSA-PSS on a CPS3 (§6.4)
            with pytest.raises(OperationNotSupported):
                card.sign(b"data", key=KeyKind.AUTHENTICATION, pss=True)
        assert card.round_trips == before


@pytest.mark.parametrize("name", ALL_GENERATIONS)
def test_private_key_operations_need_the_pin(sim: Sim, name: str) -> None:
    with cps(sim, name) as (_, _, card):
        ciphertext = public_key(card, KeyKind.AUTHENTICATION).encrypt(b"secret", padding.PKCS1v15())
        operations: list[Callable[[], bytes]] = [
            lambda: card.sign(b"data"), lambda: card.authenticate(b"challenge"), lambda: card.decipher(ciphertext)]
        for operation in operations:
            with pytest.raises(PinRequired) as e:
                operation()
            assert e.value.sw == 0x6982


# -- authentication and decipher -----------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_GENERATIONS)
def test_authenticate_and_decipher(sim: Sim, name: str) -> None:
    with cps(sim, name) as (_, _, card):
        card.verify_pin(profile_of(name).pin)
        key = public_key(card, KeyKind.AUTHENTICATION)
        for hash_name in HASHES:
            challenge = os.urandom(32)
            verify(key, card.authenticate(challenge, hash_name=hash_name), challenge, hash_name)
        for n in (0, 1, 32, 245):  # 245: the longest PKCS#1 v1.5 message under RSA-2048
            secret = os.urandom(n)
            assert card.decipher(key.encrypt(secret, padding.PKCS1v15())) == secret, n


# -- FSE ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_GENERATIONS)
def test_sign_fse(sim: Sim, name: str) -> None:
    profile = profile_of(name)
    pki = card_pki(profile)
    payload = b"FSE 0001 " + bytes(range(256)) * 3
    with cps(sim, name) as (_, _, card):
        card.verify_pin(profile.pin)
        variants = [("sha256", False), ("sha1", False)]
        if card.generation is Generation.CPS4:
            variants += [("sha256", True), ("sha1", True)]
        else:
            with pytest.raises(OperationNotSupported):
                sign_fse(card, payload, pss=True)
        for hash_name, pss in variants:
            result = sign_fse(card, payload, hash_name=hash_name, pss=pss)
            assert isinstance(result, FSESignature)
            assert result.certificate_der == pki.sign_cert_der
            assert result.algorithm == ("RSASSA-PSS" if pss else "RSASSA-PKCS1-v1_5")
            assert result.hash_name == hash_name and result.card_number == card.serial
            result.verify(payload)
            key = pki.sign_cert.public_key()
            assert isinstance(key, rsa.RSAPublicKey)
            verify(key, result.signature, payload, hash_name, pss)  # independently of FSESignature
            for modified in (payload + b"\x00", payload[:-1], b"\x01" + payload[1:]):
                with pytest.raises(InvalidSignature):
                    result.verify(modified)


# -- CPS4 channel 1 ------------------------------------------------------------------------------


def take_chipdoc_on_the_basic_channel(reader: Reader, conn: CardConnection) -> None:
    """Another application selects ChipDoc on the basic channel: channel 1 loses it."""
    assert conn.transmit(CHIPDOC_ON_BASIC_CHANNEL).sw == 0x9000
    assert conn.transmit(H("01 20 00 01")).sw == 0x6985  # channel 1 is lost


def warm_reset_behind_the_api(reader: Reader, conn: CardConnection) -> None:
    """IccPowerOn on the open connection: the card restarts with only the basic channel."""
    answer = check_answer(reader.link.request(wire.PC_TO_RDR_ICC_POWER_ON, 0), wire.PC_TO_RDR_ICC_POWER_ON)
    assert answer.data == conn.atr.raw
    assert conn.transmit(H("01 20 00 01")).sw == 0x6985  # channel 1 is closed


def first_call(first: str, card: CPSCard, profile: CardProfile) -> None:
    if first == "pin_status":
        assert card.pin_status().tries_left == 3
    elif first == "certificate":  # a file read: an APDU script
        assert card.certificate_der(KeyKind.AUTHENTICATION) == card_pki(profile).auth_cert_der
    elif first == "holder":
        decoded = card.holder().decoded
        assert decoded is not None and decoded.identity == profile.holder.identity
    else:
        card.verify_pin(profile.pin)


@pytest.mark.parametrize("name", CPS4_CARDS)
@pytest.mark.parametrize("first", ["pin_status", "certificate", "holder", "verify_pin"])
@pytest.mark.parametrize("loss", [take_chipdoc_on_the_basic_channel, warm_reset_behind_the_api],
                         ids=["chipdoc-taken", "warm-reset"])
def test_cps4_recovers_channel_1(sim: Sim, name: str, first: str,
                                 loss: Callable[[Reader, CardConnection], None]) -> None:
    profile = profile_of(name)
    with connected(sim, name) as (reader, conn):
        card = open_card(conn)
        assert isinstance(card, CPS4Card)
        card.verify_pin(profile.pin)
        card.certificate_entries()
        card.key_entries()
        data = b"before"
        verify(public_key(card, KeyKind.SIGNATURE), card.sign(data), data, "sha256")
        loss(reader, conn)
        first_call(first, card, profile)  # any call works again...
        assert card.recoveries == 1  # ...after one recovery (ISD, CPS2ter on channel 0, ChipDoc)
        if first != "verify_pin":
            assert not card.pin_status().verified  # the PIN state went with the selection
            with pytest.raises(PinRequired):
                card.sign(data)
            card.verify_pin(profile.pin)
        verify(public_key(card, KeyKind.SIGNATURE), card.sign(data), data, "sha256")
        assert card.recoveries == 1


# -- no PIN in logs, traces or exceptions --------------------------------------------------------

WRONG_PIN, NEW_PIN, WRONG_UNBLOCK, UNBLOCK_NEW_PIN = "7391", "8264", "61835092", "5073"
SCRIPT_PIN, CHAINED_PIN, ODD_INS_PIN, BAD_FORMAT_PIN = "6047", "9052", "2580", "73x91"
DISTINCTIVE = (WRONG_PIN, NEW_PIN, WRONG_UNBLOCK, UNBLOCK_NEW_PIN, SCRIPT_PIN, CHAINED_PIN, ODD_INS_PIN,
               BAD_FORMAT_PIN, "12345678")  # the profiles' (right) unblock code


def hex_forms(secret: str) -> set[str]:
    raw = secret.encode()
    forms = {raw.hex(), raw.hex(" "), raw.hex(":"), "".join(f"\\x{b:02x}" for b in raw)}
    return forms | {f.upper() for f in forms}


def exception_texts(exc: BaseException) -> list[str]:
    texts = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts += [str(current), repr(current), repr(current.args)]
        current = current.__cause__ or current.__context__
    texts.append("".join(traceback.format_exception(exc)))
    return texts


@pytest.mark.parametrize("name", ALL_GENERATIONS)
@pytest.mark.parametrize("native", [True, False], ids=["native", "compat"])
def test_no_pin_in_logs_traces_or_exceptions(sim: Sim, sim_full_echo: Sim, name: str, native: bool,
                                             tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    profile = profile_of(name)
    trace = tmp_path / "trace.jsonl"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    caplog.set_level(logging.DEBUG)  # root at DEBUG: every logger (restored by caplog)
    raised: list[BaseException] = []

    def expect(kind: type[BaseException], operation: Callable[[], object]) -> None:
        with pytest.raises(kind) as e:
            operation()
        raised.append(e.value)

    try:
        # compat: the reader echoing whole command frames repeats every VERIFY's data
        with cps(sim if native else sim_full_echo, name, native=native, trace=trace) as (_, conn, card):
            expect(WrongPin, lambda: card.verify_pin(WRONG_PIN))
            card.verify_pin(profile.pin)
            card.change_pin(profile.pin, NEW_PIN)
            expect(WrongPin, lambda: card.change_pin(WRONG_PIN, UNBLOCK_NEW_PIN))
            card.verify_pin(NEW_PIN)
            expect(WrongPin, lambda: card.unblock_pin(WRONG_UNBLOCK, UNBLOCK_NEW_PIN))
            card.unblock_pin(profile.unblock_code, UNBLOCK_NEW_PIN)
            expect(ValueError, lambda: card.verify_pin(BAD_FORMAT_PIN))
            card.verify_pin(UNBLOCK_NEW_PIN)
            card.sign(b"signed with the PIN verified")
            card.pin_status()
            expect(WrongPin, lambda: card.verify_pin(WRONG_PIN))
            expect(WrongPin, lambda: card.verify_pin(WRONG_PIN))
            expect(PinBlocked, lambda: card.verify_pin(WRONG_PIN))
            expect(PinBlocked, lambda: card.verify_pin(UNBLOCK_NEW_PIN))
            expect(PinRequired, lambda: card.sign(b"blocked"))
            # PIN commands the API does not send: in an APDU script, chained (CLA | 10), with the
            # odd INS (data objects), DISABLE VERIFICATION REQUIREMENT, extended
            cla = card.cla
            result = conn.run_script([ScriptStep(bytes((cla, 0x20, 0x00, 0x01, 4)) + SCRIPT_PIN.encode())])
            assert result.responses[0].sw == 0x6983
            assert conn.transmit(bytes((cla | 0x10, 0x20, 0x00, 0x01, 4)) + CHAINED_PIN.encode()).sw != 0x9000
            odd = b"\x81\x04" + ODD_INS_PIN.encode()
            assert conn.transmit(bytes((cla, 0x21, 0x00, 0x01, len(odd))) + odd).sw != 0x9000
            assert conn.transmit(bytes((cla, 0x26, 0x00, 0x01, 4)) + ODD_INS_PIN.encode()).sw != 0x9000
            try:
                conn.transmit(bytes((cla, 0x20, 0x00, 0x01, 0, 0, 4)) + CHAINED_PIN.encode())
            except Exception as exc:  # the reader or card may refuse an extended APDU: fine
                raised.append(exc)
    finally:
        root.removeHandler(handler)

    log_text = "\n".join([stream.getvalue(), caplog.text,
                          *(repr(r.args) for r in caplog.records), *(r.getMessage() for r in caplog.records)])
    trace_bytes = trace.read_bytes()
    records = read_trace(trace)
    # ASCII digits are looked for everywhere but in the timestamps ("t", "wall": digits by chance)
    trace_text = "\n".join(json.dumps({k: v for k, v in r.items() if k not in ("t", "wall")}) for r in records)
    exception_text = "\n".join(text for exc in raised for text in exception_texts(exc))

    # the test is not vacuous: DEBUG frames were logged, the PIN commands were traced, redacted
    assert "H>R" in stream.getvalue() and "R>H" in stream.getvalue()
    pin_commands = [r["hex"] for r in records if r.get("kind") == "apdu" and r.get("dir") == "command"
                    and r["hex"].split()[1] in ("20", "21", "24", "26", "2C")]
    assert len(pin_commands) >= 15
    for text in pin_commands:
        shown = text.split()
        assert all(b == "**" for b in shown[4:]), text
    assert any(r.get("kind") == "frame" for r in records)

    for secret in DISTINCTIVE:
        for where, text in (("log", log_text), ("trace", trace_text), ("exceptions", exception_text)):
            assert secret not in text, f"{secret!r} in the {where}"
        for form in hex_forms(secret):
            for where, text in (("log", log_text), ("trace", trace_bytes.decode()), ("exceptions", exception_text)):
                assert form not in text, f"{secret!r} as {form!r} in the {where}"
    for form in hex_forms(profile.pin.decode()):  # the right PIN (1234: ASCII digits are too common)
        assert form not in log_text and form not in trace_bytes.decode() and form not in exception_text
