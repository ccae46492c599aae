"""Regressions found by the robustness campaign (issue #13, fuzz/README.md), simulator side.

Soak findings: the virtual cards of a long-running ``cpsdi sim`` recorded every character,
gap, exchange and T=1 block they observed, for ever (``CardRecords``: about 1.5 KiB and 16
objects per APDU; 2 000 APDUs took the simulator from 54 to 149 MiB), and their behaviours
logged every command received (``T0Behaviour.commands``, ``T1Behaviour.commands``: the rest
of the growth over 100 000 APDUs, about 2 blocks per APDU). ``SimSlots.trim_records`` (called
by ``SimReader.serve`` between requests) now starts a card's records afresh past
``RECORDS_MAX_CHARS`` characters and clears the command log past ``RECORDS_MAX_COMMANDS``;
the card goes on working.
The same soak, run again after that fix, showed a slower climb (the lowest allocated-block
count of each fifth of the run: 140 k, 152 k, 160 k, 174 k, 190 k): the T=1 card's other log,
``T1Behaviour.apdus`` (every APDU verbatim), which ``trim_records`` now also empties past
``RECORDS_MAX_COMMANDS`` entries.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from cpsdi.reader import Reader
from cpsdi.transport import Transport
from cpsdi_boards.sim import runner
from cpsdi_boards.sim.runner import SimOptions, SimSlots

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "host"))
from _firmware_port import FirmwarePort  # noqa: E402


def test_sim_card_records_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    limit = 300
    monkeypatch.setattr(runner, "RECORDS_MAX_CHARS", limit)
    monkeypatch.setattr(runner, "RECORDS_MAX_COMMANDS", 20)
    slots = SimSlots(SimOptions(cards=["t1", "t0"], pty=False))
    port = FirmwarePort(ports=slots.ports)
    seen_max = 0
    counters = [0, 0]
    with Reader.open("in-process", transport=Transport(port, url="in-process")) as reader:
        conns = [reader.slots[i].connect() for i in (0, 1)]
        for i in range(200):
            slot = i & 1
            resp = conns[slot].transmit(bytes.fromhex("0032000004"))
            counters[slot] += 1
            assert (resp.sw, int.from_bytes(resp.data, "big")) == (0x9000, counters[slot])
            slots.trim_records()  # as SimReader.serve does between requests
            for p in slots.ports:
                n = len(p.card.records.chars)
                seen_max = max(seen_max, n)
                assert n <= limit
                assert len(p.card.behaviour.commands) <= 20
                assert len(getattr(p.card.behaviour, "apdus", ())) <= 20  # T=1: every APDU verbatim
    total = sum(counters)
    assert total == 200
    assert seen_max > limit // 2  # the records did fill up and were trimmed, more than once


def test_serve_trims_between_requests() -> None:
    # The call site: SimReader.serve trims whenever a step served nothing.
    import inspect

    source = inspect.getsource(runner.SimReader.serve)
    assert "trim_records()" in source
