"""A long card operation through pcscd, covered by the firmware's ``0x80`` keep-alive bytes
(ccid-serial.md §1.2, §3, pitfall 1).

``cpsdi sim --card-time real`` makes the card's work take wall time, and a fault script
makes the first command of a session slow (``SLOW``): the T=1 card answers late (within its
BWT), the T=0 card sends NULL procedure bytes first (each within its WT). While the card
works the firmware sends one ``0x80`` byte every 500 ms between the echo and the answer;
libccid logs each one as ``time request: 0x80``, restarts its read timeout and then takes
the answer. Afterwards the link is still in step (pitfall 1: a late answer would
desynchronise it for good).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from _apdus import ATRS, OK, read_binary
from _pcscd_stack import PcscStack, StackConfig, StackFactory, sim_supports
from cpsdi_boards.sim.test_applet import read_binary_bytes

# Times at D = 12 and the 5 MHz session clock the reader switches to after the PPS
# (31 clocks per etu: 6.2 us).
# T=1: the first I-block (response 3, after the PPS answer and the S(IFS) response) 150 000
# etu late, about 0.93 s (within the card's BWT of 184 320 etu).
# T=0: three NULL bytes (60), each just inside the work waiting time (WT = 115 200 etu at
# D = 12, about 0.71 s), before the answer to the first command (response 2, after the PPS
# answer): about 2.1 s. Once: the next session (a new power-on) is fast again.
SLOW = {
    "t1": ("delay response 3 byte 1 to 150000 etu once\n", 0.9),
    "t0": ("nulls 3 every WT-100 before response 2 once\n", 2.0),
}


@pytest.fixture(scope="module", params=["t0", "t1"])
def stack(request: pytest.FixtureRequest, pcsc_stack: StackFactory) -> Iterator[PcscStack]:
    if not sim_supports("--card-time"):
        pytest.skip("needs cpsdi sim --card-time real (card time paced to wall time)")
    card: str = request.param
    config = StackConfig("GemPCTwin slow", (card,), reader_type="GemPCTwin", faults=((0, SLOW[card][0]),),
                         sim_args=("--card-time", "real"))
    with pcsc_stack(config) as stack:
        yield stack


def test_long_operation_kept_alive(stack: PcscStack) -> None:
    card = stack.config.cards[0]
    mark = stack.log_mark()
    session = stack.session([read_binary(0x40, 16), read_binary(0, 8)])
    assert session.atr == ATRS[card]
    slow, fast = session.exchanges
    assert (slow.data, slow.sw) == (read_binary_bytes(0x40, 16), OK)
    assert (fast.data, fast.sw) == (read_binary_bytes(0, 8), OK)
    min_s = SLOW[card][1]
    assert slow.elapsed_s > min_s  # the card's time really passed
    log = stack.log_since(mark)
    assert log.count("time request: 0x80") >= int(min_s / 0.5)  # one keep-alive per 500 ms while the card works
    for symptom in ("Wrong value for frame size", "Wrong LRC", "Got 0x", "Status unavailable"):
        assert symptom not in log
    # and the next session is in step too
    again = stack.session([read_binary(0x20, 4)])
    assert again.exchanges[0].data == read_binary_bytes(0x20, 4)
