"""Simulated board: the firmware on CPython against virtual cards (host side only).

Virtual time in card clock cycles (:mod:`.clock`), a virtual card speaking ISO/IEC 7816-3
at the character level (:mod:`.virtual_card`), the ``CardPort`` HAL on top of it
(:mod:`.card_port`), the T=1 card side (:mod:`.t1_card`; block codec in :mod:`.t1_block`),
fault scripts (:mod:`.faults`, docs/fault-scripts.md) and the records conformance tests
assert on (:mod:`.records`). Deterministic: the same inputs
give identical records.
"""

from cpsdi_boards.sim.card_port import SimCardPort
from cpsdi_boards.sim.clock import VirtualClock, WallPacedClock, clocks_to_etu, etu_to_clocks
from cpsdi_boards.sim.faults import FaultScript, FaultScriptError, parse_fault_script
from cpsdi_boards.sim.records import CardRecords, Direction, EventKind, GapKind, T1BlockRecord
from cpsdi_boards.sim.t1_block import compute_edc, decode_block, frame_block
from cpsdi_boards.sim.t1_card import (
    T1_ATR_CRC,
    T1_ATR_CRC_IFSC254,
    T1_ATR_LRC,
    T1_ATR_LRC_IFSC254,
    T1Behaviour,
)
from cpsdi_boards.sim.virtual_card import (
    AckMode,
    CardResponse,
    PPSMode,
    ScriptedBehaviour,
    ScriptStep,
    T0Behaviour,
    VirtualCard,
)

__all__ = [
    "SimCardPort",
    "VirtualClock",
    "WallPacedClock",
    "clocks_to_etu",
    "etu_to_clocks",
    "FaultScript",
    "FaultScriptError",
    "parse_fault_script",
    "CardRecords",
    "Direction",
    "EventKind",
    "GapKind",
    "AckMode",
    "CardResponse",
    "PPSMode",
    "ScriptedBehaviour",
    "ScriptStep",
    "T0Behaviour",
    "VirtualCard",
    "T1Behaviour",
    "T1BlockRecord",
    "T1_ATR_LRC",
    "T1_ATR_LRC_IFSC254",
    "T1_ATR_CRC",
    "T1_ATR_CRC_IFSC254",
    "compute_edc",
    "decode_block",
    "frame_block",
]
