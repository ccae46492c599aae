"""Real-card checks on an attached board (docs/boards.md §Hardware test plan). Marked ``hw``.

Run: ``.venv/bin/python -m pytest -q tests/hw --reader-port /dev/ttyUSB0 [--reader-card t0|t1]``
with the board flashed (``cpsdi fw flash``) and a card in slot 0. Without ``--reader-port``
every test here is skipped with a reason.

What these tests can see is what the host sees (ATR, protocol, APDU results, timings at the
millisecond level). The character-level timings (error signal at 10.5 etu, repetition, guard
time, RST >= 400 clocks, ATR within 400-40 000 clocks) need a logic analyser on I/O, CLK and RST
— the checklist is in docs/boards.md and in ``test_logic_analyser_checklist`` below, which only
prints what to capture.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

pytestmark = pytest.mark.hw

SELECT_MF = bytes.fromhex("00A4000C023F00")  # SELECT MF by file id, no response data (case 3)
GET_CHALLENGE = bytes.fromhex("0084000008")  # case 2: 8 bytes, many cards support it


def test_slot_reports_card(reader: Any) -> None:
    status = reader.slots[0].status()
    assert status.present, "put a card in slot 0"


def test_activation_and_atr(reader: Any) -> None:
    t0 = time.monotonic()
    with reader.slots[0].connect() as card:
        elapsed = time.monotonic() - t0
        atr = card.atr
        assert atr.raw[0] in (0x3B, 0x3F)
        assert len(atr.raw) <= 33
        assert elapsed < 2.0, "activation + ATR + PPS took %.2f s" % elapsed


def test_warm_reset_gives_an_atr(reader: Any) -> None:
    with reader.slots[0].connect() as card:
        first = card.atr.raw
        card.disconnect("reset")
    with reader.slots[0].connect() as card:
        assert card.atr.raw[:1] == first[:1]


def test_pps_speed_used(reader: Any) -> None:
    """When TA1 offers a faster F/D the reader negotiates it (PPS, negotiable mode) or uses it (specific
    mode): GetParameters' bmFindexDindex then equals TA1, and an APDU works at that speed."""
    from cpsdi.link import check_answer
    from cpsdi_proto import ccid as wire

    with reader.slots[0].connect() as card:
        atr = card.atr
        if atr.ta1 in (0x11, 0x01):
            pytest.skip("card offers 372/1 only (TA1 %02X)" % atr.ta1)
        params = check_answer(reader.link.request(wire.PC_TO_RDR_GET_PARAMETERS, 0), wire.PC_TO_RDR_GET_PARAMETERS)
        print("\nTA1 %02X, reader F/D index %02X" % (atr.ta1, params.data[0]))
        if params.data[0] != atr.ta1:
            pytest.skip("reader kept %02X (speed not supported or PPS refused): check the board's REQUIRED_FD"
                        % params.data[0])
        resp = card.transmit(SELECT_MF)
        assert resp.sw1 != 0x00


def test_apdu_exchange_case_1_3(reader: Any) -> None:
    with reader.slots[0].connect() as card:
        resp = card.transmit(SELECT_MF)
        assert resp.sw1 != 0x00, "no status word"


def test_apdu_case_2_t0_or_t1(reader: Any, card_kind: str) -> None:
    with reader.slots[0].connect() as card:
        if card_kind != "any":
            assert card.protocol == (0 if card_kind == "t0" else 1)
        resp = card.transmit(GET_CHALLENGE)
        if resp.sw1 == 0x90:
            assert len(resp.data) == 8
        else:
            pytest.skip("card refuses GET CHALLENGE: SW %02X%02X" % (resp.sw1, resp.sw2))


def test_long_response_bulk_path(reader: Any) -> None:
    """256-byte reads exercise the DMA/FIFO bulk path (Le = 00)."""
    with reader.slots[0].connect() as card:
        card.transmit(SELECT_MF)
        resp = card.transmit(bytes.fromhex("00B0000000"))  # READ BINARY 256 (often 6986/6A82: then skip)
        if resp.sw1 != 0x90:
            pytest.skip("no readable EF selected: SW %02X%02X" % (resp.sw1, resp.sw2))
        assert len(resp.data) <= 256


def test_exchange_timing_budget(reader: Any) -> None:
    """20 short APDUs: a rough host-side time per exchange (link + card), for the bring-up log."""
    with reader.slots[0].connect() as card:
        t0 = time.monotonic()
        for _ in range(20):
            card.transmit(SELECT_MF)
        per = (time.monotonic() - t0) / 20
    print("\nper SELECT MF exchange: %.1f ms" % (per * 1000))
    assert per < 1.0


def test_removal_is_reported(reader: Any) -> None:
    pytest.skip("manual: remove the card during `cpsdi events`, expect 'removed' within 100 ms")


def test_logic_analyser_checklist() -> None:
    """Not a check: what to capture on I/O (C7), CLK (C3), RST (C2), VCC (C1) with a logic analyser."""
    print("""
    ISO 7816 timings to capture (docs/boards.md, micropython.md §12):
      CLK      frequency and duty (3.5714 MHz = 125 MHz / 35 on the Pico; 4 MHz on the Nucleo), 40-60 %
      RST      low >= 400 CLK after CLK starts; ATR leading edge 400..40 000 CLK after RST rises
      I/O      reader characters 12 + N etu apart; etu = F/D clocks (372/1: 104.2 us at 3.5714 MHz)
      error    card->reader parity error (loopback: send a frame with a wrong parity bit):
               reader's error signal from 10.5 +- 0.2 etu to 11.5..12.5 etu after the start edge
      repeat   card NACK on a reader character: repetition >= 2 etu after the error signal ends
      turn     first card character >= 16 etu (T=0) / 22 etu BGT (T=1) after the reader's last one:
               the RX state machine must be armed before it (measure the re-arm latency)
      deact    RST low, CLK low, I/O low, VCC off (TDA8035 sequencer) on removal and power-off
    """)
