"""Run the ISO 7816 PIO programs of ``cpsdi_boards.pio_iso7816`` in ``pioemu`` and read the waveform.

Conventions of these tests:

* The I/O line is GPIO 0 (pioemu ignores ``in_base``: pins are GPIO-0-relative); ``jmp_pin``,
  ``set_base`` and ``out_base`` are 0 too.
* An instruction's effect on the pin direction counts from the cycle the instruction executes
  (``before.clock``) through its delay cycles. "Drive" = pindir 1 = line pulled low.
* The wire is the AND of the card's level and the reader's release: the emulator only feeds
  ``input_source`` into pins whose direction is 0, and the programs read the line only while
  they release it, so the card model just returns its own level.
* pioemu samples the inputs once per instruction (not during delay cycles): the programs only
  read the line on instructions, never inside a delay, so this is exact for them.
"""



from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pioemu import State, clock_cycles_reached, emulate

from cpsdi_boards import pio_iso7816 as P

ETU = P.CYCLES_PER_ETU


@dataclass
class Trace:
    steps: list[tuple[State, State]]
    cycles: int
    program: str

    @property
    def final(self) -> State:
        return self.steps[-1][1]

    def drive(self) -> list[int]:
        """drive[c] = 1 if the reader pulls the line low at cycle c."""
        out = [0] * self.cycles
        for before, after in self.steps:
            for t in range(before.clock, min(after.clock, self.cycles)):
                out[t] = after.pin_directions & 1
        return out

    def drive_intervals(self) -> list[tuple[int, int]]:
        """[start, end) cycle intervals where the reader drives the line low."""
        d = self.drive()
        out: list[tuple[int, int]] = []
        start = None
        for t, v in enumerate(d + [0]):
            if v and start is None:
                start = t
            elif not v and start is not None:
                out.append((start, t))
                start = None
        return out

    def executions(self, pc: int) -> list[int]:
        """Cycles at which the instruction at ``pc`` completed (not stalled)."""
        opcodes = P.TX_PROGRAM if self.program == "tx" else P.RX_PROGRAM
        is_jmp = opcodes[pc] >> 13 == 0
        return [before.clock for before, after in self.steps
                if before.program_counter == pc and (is_jmp or after.program_counter != pc)]


def card_levels(start_cycle: float, bits: Sequence[int], etu_cycles: float = ETU) -> Callable[[int], int]:
    """A card transmitting ``bits`` (line levels, first = start bit) from ``start_cycle``; high elsewhere."""

    def level(t: int) -> int:
        k = int((t - start_cycle) // etu_cycles) if t >= start_cycle else -1
        return bits[k] if 0 <= k < len(bits) else 1

    return level


def char_levels(byte: int, inverse: bool, parity_ok: bool = True) -> list[int]:
    """Line levels of one character: start bit, 8 data bits, parity (10 values)."""
    levels = (P.rx_word(byte, inverse, parity_ok) >> 23) & 0x1FF
    return [0] + [(levels >> i) & 1 for i in range(9)]


def combine(*levels: Callable[[int], int]) -> Callable[[int], int]:
    """Wired-AND of several drivers."""
    return lambda t: min(f(t) for f in levels)


def low_window(start: int, end: int) -> Callable[[int], int]:
    return lambda t: 0 if start <= t < end else 1


def run_tx(frames: Sequence[int], cycles: int, line: Callable[[int], int] = lambda t: 1) -> Trace:
    def source(state: State) -> int:
        return line(state.clock) & 1

    steps = list(emulate(
        list(P.TX_PROGRAM),
        stop_when=clock_cycles_reached(cycles),
        initial_state=State(transmit_fifo=deque(frames)),
        input_source=source,
        auto_push=True, push_threshold=32,
        shift_osr_right=True, shift_isr_right=True,
        out_base=0, out_count=1, set_base=0, set_count=1, jmp_pin=0,
        wrap_target=P.TX_WRAP_TARGET, wrap_top=P.TX_WRAP,
    ))
    trace = Trace(steps, cycles, "tx")
    assert trace.final.clock >= cycles - 32, "emulation ended early (unsupported instruction?)"
    return trace


def run_rx(line: Callable[[int], int], cycles: int, *, inverse: bool = False, nack: bool = True) -> Trace:
    def source(state: State) -> int:
        return line(state.clock) & 1

    steps = list(emulate(
        list(P.rx_program(nack)),
        stop_when=clock_cycles_reached(cycles),
        initial_state=State(y_register=1 if inverse else 0),
        input_source=source,
        shift_isr_right=True, shift_osr_right=True,
        set_base=0, set_count=1, jmp_pin=0,
        wrap_target=P.RX_WRAP_TARGET, wrap_top=P.RX_WRAP,
    ))
    trace = Trace(steps, cycles, "rx")
    assert trace.final.clock >= cycles - 32, "emulation ended early (unsupported instruction?)"
    return trace


def cosimulate(tx_frames: Sequence[int], cycles: int, *, inverse: bool = False, nack: bool = True
               ) -> tuple[Trace, Trace]:
    """The TX and RX programs on one open-drain wire (two pioemu instances in lockstep).

    Always steps the state machine whose next instruction is earliest (RX first on a tie), so when
    one samples the wire at cycle t, every instruction the other executed is at <= t. A change made
    by one machine at cycle t is seen by the other from t + 1 when RX samples first (as on silicon,
    where a pad change goes through the input synchroniser before the next SM cycle).
    """
    drive = {"tx": 0, "rx": 0}

    def wire(state: State) -> int:
        return 0 if drive["tx"] or drive["rx"] else 1

    common = dict(stop_when=clock_cycles_reached(cycles), input_source=wire, shift_isr_right=True,
                  shift_osr_right=True, jmp_pin=0, set_base=0)
    gens = {
        "tx": emulate(list(P.TX_PROGRAM), initial_state=State(transmit_fifo=deque(tx_frames)), auto_push=True,
                      push_threshold=32, out_base=0, out_count=1, set_count=1, wrap_target=P.TX_WRAP_TARGET,
                      wrap_top=P.TX_WRAP, **common),  # type: ignore[arg-type]
        "rx": emulate(list(P.rx_program(nack)), initial_state=State(y_register=1 if inverse else 0),
                      set_count=1, wrap_target=P.RX_WRAP_TARGET, wrap_top=P.RX_WRAP,
                      **common),  # type: ignore[arg-type]
    }
    steps: dict[str, list[tuple[State, State]]] = {"tx": [], "rx": []}
    next_clock = {"tx": 0, "rx": 0}
    live = {"tx", "rx"}
    while live:
        name = min(live, key=lambda n: (next_clock[n], n))
        try:
            before, after = next(gens[name])
        except StopIteration:
            live.discard(name)
            continue
        steps[name].append((before, after))
        drive[name] = after.pin_directions & 1
        next_clock[name] = after.clock
    tx, rx = Trace(steps["tx"], cycles, "tx"), Trace(steps["rx"], cycles, "rx")
    assert tx.final.clock >= cycles - 32 and rx.final.clock >= cycles - 32, "emulation ended early"
    return tx, rx
