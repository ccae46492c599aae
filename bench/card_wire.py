"""Card-wire efficiency: the time the reader firmware spends on the card line per APDU over
the theoretical minimum, T=0 and T=1, at the default speed and after a PPS.

Method: the firmware's slot service (``cpsdi_fw.slot.Slot``) runs APDUs on a simulated slot
in virtual time (etu-exact). From the virtual card's records, every gap between two
consecutive characters of the APDU (leading edge to leading edge) is classified: gaps the
*card* controls (its reaction after the reader's last character, its own character spacing,
its modelled processing time) count as they are on both sides of the ratio; gaps the
*reader* controls count as they are in the numerator and at their ISO minimum in the
denominator: its character spacing 12 + N etu (T=0 N = 0; T=1 11 etu when N = 255), its
turnaround after the card's last character (T=0 16 etu, ISO 7816-3 §10.2; T=1 BGT 22 etu,
§11.2). ratio = Σ actual gaps / Σ minimum gaps (1.00 = the reader wastes nothing). Goal ≤ 1.02.
"""

from __future__ import annotations

import hashlib
from fractions import Fraction
from typing import Any

from cpsdi_boards.sim import CardResponse, SimCardPort, T0Behaviour, VirtualCard
from cpsdi_boards.sim.records import GapKind
from cpsdi_boards.sim.t1_card import T1_ATR_LRC_IFSC254, T1Behaviour
from cpsdi_fw.slot import Slot

T0_ATR = bytes.fromhex("3B 13 18 43 50 53")  # TA1 = 18: 372/12 after the PPS
T0_ATR_NO_TA1 = bytes.fromhex("3B 03 43 50 53")  # no TA1: stays at 372/1


def _t0_handler(header: bytes, data: bytes) -> CardResponse:
    if header[1] == 0xB0:
        return CardResponse(data=bytes(range(256))[: header[4] or 256])
    return CardResponse()


def _t1_handler(apdu: bytes) -> CardResponse:
    n = int.from_bytes(apdu[2:4], "big")
    return CardResponse(data=(hashlib.sha256(apdu).digest() * 40)[:n])


def _ratio(port: SimCardPort, start_clocks: int, protocol: int, guard_n: int) -> tuple[Fraction, Fraction]:
    """(actual, minimum) etu of the gaps after ``start_clocks``."""
    records = port.records
    chars = records.chars
    actual = Fraction(0)
    minimum = Fraction(0)
    reader_spacing = Fraction(11 if protocol == 1 and guard_n == 255 else 12 + (0 if guard_n == 255 else guard_n))
    turnaround = Fraction(22 if protocol == 1 else 16)
    for gap in records.gaps:
        if chars[gap.after].edge_clocks < start_clocks or chars[gap.before].edge_clocks < start_clocks:
            continue
        actual += gap.etu
        if gap.kind is GapKind.GUARD:
            minimum += min(gap.etu, reader_spacing)
        elif gap.kind is GapKind.TURNAROUND:
            minimum += min(gap.etu, turnaround)
        else:  # card-controlled (its reaction, spacing) and repetitions: as they are
            minimum += gap.etu
    return actual, minimum


def _case(label: str, card: VirtualCard, apdu: bytes, *, pps: bool) -> dict[str, Any]:
    port = SimCardPort(card)
    slot = Slot(port, max_baud=250_000 if pps else 10_000)
    if slot.power_on():
        raise RuntimeError(f"{label}: power on failed ({slot.error:02X})")
    resp = bytearray(70_000)
    start = port.now_clocks
    n = slot.transmit_apdu(bytearray(apdu), len(apdu), resp, len(resp))
    if n < 2:
        raise RuntimeError(f"{label}: transmit failed ({-n:02X})")
    d = slot.decision
    actual, minimum = _ratio(port, start, d.protocol, d.n)
    return {
        "figure": f"card wire {label}",
        "speed": f"{d.f}/{d.d}",
        "bytes": len(apdu) + n,
        "etu": round(float(actual)),
        "min_etu": round(float(minimum)),
        "ratio": round(float(actual / minimum), 4),
        "goal": "<= 1.02",
        "method": "slot on a virtual card, reader-controlled gaps vs ISO minimum (module docstring)",
    }


def run() -> list[dict[str, Any]]:
    rows = []
    for pps in (False, True):
        speed = "PPS" if pps else "default"
        for le in (5, 128, 255):
            card = VirtualCard(T0_ATR if pps else T0_ATR_NO_TA1, behaviour=T0Behaviour(_t0_handler))
            rows.append(_case(f"T=0 {speed} case 2 Le={le}", card, bytes([0x00, 0xB0, 0, 0, le]), pps=pps))
        for lc in (5, 128, 255):
            card = VirtualCard(T0_ATR if pps else T0_ATR_NO_TA1, behaviour=T0Behaviour(_t0_handler))
            rows.append(_case(f"T=0 {speed} case 3 Lc={lc}", card, bytes([0x00, 0xD6, 0, 0, lc]) + bytes(lc), pps=pps))
        for size in (5, 128, 254, 255):
            card = VirtualCard(T1_ATR_LRC_IFSC254, behaviour=T1Behaviour(apdu_handler=_t1_handler))
            rows.append(_case(f"T=1 {speed} case 4 {size}+{size}", card,
                              bytes([0x00, 0x88, size >> 8, size & 0xFF, size]) + bytes(size) + b"\x00", pps=pps))
        card = VirtualCard(T1_ATR_LRC_IFSC254, behaviour=T1Behaviour(apdu_handler=_t1_handler))
        ext = bytes([0x00, 0x88, 0x02, 0x58, 0x00, 0x02, 0x58]) + bytes(600) + b"\x02\x58"
        rows.append(_case(f"T=1 {speed} extended 600+600", card, ext, pps=pps))
    return rows
