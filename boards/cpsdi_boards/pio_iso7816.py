"""ISO/IEC 7816-3 character layer for the RP2040/RP2350 PIO: the programs, as data (pure module).

Nothing here touches hardware: the same 16-bit program words are loaded by the device driver
(``rp2_pio_iso7816``, through ``rp2.asm_pio`` + ``word()``) and run cycle by cycle by the
emulator tests (``tests/boards/test_rp2_pio_*.py``, ``pioemu``). The words come from a small
encoder written from the RP2040 datasheet §3.4 instruction tables (``encode_*`` below), whose
output the tests compare with published encodings (pico-examples' ``uart_tx``/``uart_rx``,
MicroPython's ``asm_pio_encode`` doc example).

Conventions (reference micropython.md §2.3; ISO 7816-3 §7):

* 8 state-machine cycles per etu (``CYCLES_PER_ETU``). The I/O pin's output latch stays 0:
  pindir = 1 drives the line low, pindir = 0 releases it (open drain, pull-up in the interface
  chip). ``in_base`` = ``set_base`` = ``out_base`` = ``jmp_pin`` = the I/O pin.
* **TX** (13 instructions): the CPU puts one 32-bit word per character: bits 0-9 are the line
  *drive* pattern, LSB first (bit 0 = start = 1 = drive low, bits 1-8 data, bit 9 parity, already
  in the session's convention: ``tx_frame``), bits 10-31 = ``2 * N`` (extra guard time N etu,
  TC1). Start edge at cycle T0; bit k driven from T0 + 8k; line released at 10 etu; I/O sampled
  at exactly 11.0 etu (T0 + 88): high -> the next start edge is at 12 + N etu; low (the card's
  error signal) -> the frame word is pushed to the SM's RX FIFO (autopush, a NACK report), the
  SM waits for the line to go high, pauses 2 etu and sends the same frame again. The CPU counts
  reports and enforces the retry limit (the PIO repeats as often as the card asks).
* **RX** (19 instructions): waits for the line high, then for the start edge (cycle c0), samples
  the 9 bits (8 data + parity) at c0 + 11 + 8k (``in``) and c0 + 12 + 8k (``jmp pin``, the
  branch that tracks parity in the program counter: two interleaved loops "even so far"/"odd so
  far"). Y selects the convention (0 direct: start "even"; 1 inverse: start "odd", because a
  valid inverse-convention character has an odd number of *high* levels). Parity good ->
  ``push``. Parity bad -> the error signal from 10.5 etu (c0 + 84) to 12.0 etu (c0 + 96), then
  ``push`` of the same 9 bits (the CPU sees the bad parity and counts a NACKed attempt). For T=1
  (no error signal, ISO 7816-3 §7.3) one word differs: ``rx_program(False)`` has ``jmp good`` at
  ``RX_BAD``, so a bad character is pushed at c0 + 85 and the receiver is ready again before an
  11-etu character spacing (CGT, N = 255). The driver switches by rewriting that one instruction
  word (``RX_T1_WORD``, relocated) with the state machine stopped. Pushed word: the 9 line levels
  (1 = high) in bits 31..23, first bit at 23 (``rx_decode``).
* Both programs fit one PIO block (32 instruction slots): they must, since the I/O pin's
  function select names one PIO block and both state machines drive its direction.
"""

from cpsdi_proto.compat import const

CYCLES_PER_ETU = const(8)
MAX_PROGRAM_SLOTS = const(32)

# ---------------------------------------------------------------------------------- encoder
# RP2040 datasheet §3.4: bits 15:13 opcode, 12:8 delay/side-set (no side-set here: 5 delay bits).

JMP_ALWAYS = const(0)
JMP_NOT_X = const(1)  # !x
JMP_X_DEC = const(2)  # x--
JMP_NOT_Y = const(3)  # !y
JMP_Y_DEC = const(4)  # y--
JMP_X_NE_Y = const(5)
JMP_PIN = const(6)
JMP_NOT_OSRE = const(7)

WAIT_GPIO = const(0)
WAIT_PIN = const(1)

SRC_PINS = const(0)  # in / mov sources, out / set / mov destinations share this numbering
SRC_X = const(1)
SRC_Y = const(2)
SRC_NULL = const(3)
DST_PINDIRS = const(4)  # out and set only (mov: 4 is EXEC on RP2040, see micropython#19187)
SRC_ISR = const(6)
SRC_OSR = const(7)

MOV_NONE = const(0)
MOV_INVERT = const(1)
MOV_REVERSE = const(2)

MAX_DELAY = const(31)


def _delay(delay: int) -> int:
    if delay < 0 or delay > MAX_DELAY:
        raise ValueError("PIO delay %d: 0..31" % delay)
    return delay << 8


def encode_jmp(cond: int, address: int, delay: int = 0) -> int:
    if not 0 <= cond <= 7 or not 0 <= address <= 31:
        raise ValueError("jmp: condition 0..7, address 0..31")
    return 0x0000 | _delay(delay) | cond << 5 | address


def encode_wait(polarity: int, source: int, index: int, delay: int = 0) -> int:
    if polarity not in (0, 1) or source not in (WAIT_GPIO, WAIT_PIN) or not 0 <= index <= 31:
        raise ValueError("wait: polarity 0/1, source gpio/pin, index 0..31")
    return 0x2000 | _delay(delay) | polarity << 7 | source << 5 | index


def encode_in(source: int, bits: int, delay: int = 0) -> int:
    if source not in (SRC_PINS, SRC_X, SRC_Y, SRC_NULL, SRC_ISR, SRC_OSR) or not 1 <= bits <= 32:
        raise ValueError("in: bad source or bit count")
    return 0x4000 | _delay(delay) | source << 5 | (bits & 31)


def encode_out(destination: int, bits: int, delay: int = 0) -> int:
    if not 0 <= destination <= 7 or not 1 <= bits <= 32:
        raise ValueError("out: bad destination or bit count")
    return 0x6000 | _delay(delay) | destination << 5 | (bits & 31)


def encode_push(if_full: bool = False, block: bool = True, delay: int = 0) -> int:
    return 0x8000 | _delay(delay) | (0x40 if if_full else 0) | (0x20 if block else 0)


def encode_pull(if_empty: bool = False, block: bool = True, delay: int = 0) -> int:
    return 0x8080 | _delay(delay) | (0x40 if if_empty else 0) | (0x20 if block else 0)


def encode_mov(destination: int, source: int, op: int = MOV_NONE, delay: int = 0) -> int:
    if destination == DST_PINDIRS:
        raise ValueError("mov pindirs does not exist on RP2040 (4 is EXEC): use set/out pindirs")
    if not 0 <= destination <= 7 or not 0 <= source <= 7 or not 0 <= op <= 2:
        raise ValueError("mov: bad destination, source or operation")
    return 0xA000 | _delay(delay) | destination << 5 | op << 3 | source


def encode_set(destination: int, value: int, delay: int = 0) -> int:
    if destination not in (SRC_PINS, SRC_X, SRC_Y, DST_PINDIRS) or not 0 <= value <= 31:
        raise ValueError("set: destination pins/x/y/pindirs, value 0..31")
    return 0xE000 | _delay(delay) | destination << 5 | value


def encode_nop(delay: int = 0) -> int:
    return encode_mov(SRC_Y, SRC_Y, MOV_NONE, delay)  # mov y, y (pioasm's nop)


# ---------------------------------------------------------------------------------- programs
# Each program: instruction table (words), wrap_target, wrap (indices), plus named addresses the
# driver and the tests use. Addresses are program-relative: the SDK relocates JMP targets when
# the program is loaded at an offset (MicroPython's add_program), and wrap bits are relative too.

# TX
TX_PULL = const(0)
TX_AGAIN = const(2)
TX_BIT = const(3)
TX_RELEASE = const(5)
TX_SAMPLE = const(7)
TX_NACK = const(8)
TX_PAD = const(12)

TX_PROGRAM = (
    encode_pull(block=True),  # 0 pull block             ; wrap_target: next frame (idle: stall, line released)
    encode_mov(SRC_Y, SRC_OSR),  # 1 mov y, osr             ; copy of the frame for a repetition
    encode_set(SRC_X, 9),  # 2 again: set x, 9        ; 10 line bits
    encode_out(DST_PINDIRS, 1, 6),  # 3 bit: out pindirs, 1 [6] ; bit k from T0 + 8k
    encode_jmp(JMP_X_DEC, TX_BIT),  # 4 jmp x--, bit
    encode_set(DST_PINDIRS, 0),  # 5 set pindirs, 0        ; T0 + 80: release (10 etu)
    encode_mov(SRC_X, SRC_OSR, MOV_NONE, 6),  # 6 mov x, osr [6]  ; x = 2N (bits 10.. of the word)
    encode_jmp(JMP_PIN, TX_PAD),  # 7 jmp pin, pad           ; T0 + 88 = 11.0 etu: high = accepted
    encode_in(SRC_Y, 32),  # 8 in y, 32               ; card error signal: autopush the frame (NACK report)
    encode_wait(1, WAIT_PIN, 0),  # 9 wait 1 pin 0            ; end of the error signal
    encode_mov(SRC_OSR, SRC_Y, MOV_NONE, 6),  # 10 mov osr, y [6]
    encode_jmp(JMP_ALWAYS, TX_AGAIN, 6),  # 11 jmp again [6]  ; repetition 2 etu after the line went high
    encode_jmp(JMP_X_DEC, TX_PAD, 3),  # 12 pad: jmp x--, pad [3] ; wrap: 4 cycles * (2N + 1) -> 12 + N etu
)
TX_WRAP_TARGET = const(0)
TX_WRAP = const(12)

# RX
RX_IDLE = const(0)
RX_ODD = const(4)
RX_ODD_HIGH = const(8)
RX_EVEN = const(10)
RX_EVEN_HIGH = const(14)
RX_BAD = const(16)
RX_GOOD = const(18)

RX_PROGRAM = (
    encode_wait(1, WAIT_PIN, 0),  # 0 idle: wait 1 pin 0      ; wrap_target: line released
    encode_wait(0, WAIT_PIN, 0),  # 1 wait 0 pin 0            ; start edge seen at cycle c0
    encode_set(SRC_X, 8, 4),  # 2 set x, 8 [4]               ; 9 samples
    encode_jmp(JMP_NOT_Y, RX_EVEN, 4),  # 3 jmp !y, even [4]   ; direct: even, inverse: odd (fall through)
    encode_in(SRC_PINS, 1),  # 4 odd: in pins, 1            ; c0 + 11 + 8k
    encode_jmp(JMP_PIN, RX_ODD_HIGH),  # 5 jmp pin, odd_high    ; c0 + 12 + 8k
    encode_jmp(JMP_X_DEC, RX_ODD, 5),  # 6 jmp x--, odd [5]     ; low: parity unchanged
    encode_jmp(JMP_ALWAYS, RX_BAD),  # 7 jmp bad                ; ended odd -> c0 + 84
    encode_jmp(JMP_X_DEC, RX_EVEN, 5),  # 8 odd_high: jmp x--, even [5]
    encode_jmp(JMP_ALWAYS, RX_GOOD),  # 9 jmp good              ; ended even
    encode_in(SRC_PINS, 1),  # 10 even: in pins, 1
    encode_jmp(JMP_PIN, RX_EVEN_HIGH),  # 11 jmp pin, even_high
    encode_jmp(JMP_X_DEC, RX_EVEN, 5),  # 12 jmp x--, even [5]
    encode_jmp(JMP_ALWAYS, RX_GOOD),  # 13 jmp good             ; ended even
    encode_jmp(JMP_X_DEC, RX_ODD, 5),  # 14 even_high: jmp x--, odd [5]
    encode_jmp(JMP_ALWAYS, RX_BAD),  # 15 jmp bad               ; ended odd (keeps c0 + 84 exact)
    encode_set(DST_PINDIRS, 1, 11),  # 16 bad: set pindirs, 1 [11] ; error signal 10.5 .. 12.0 etu
    encode_set(DST_PINDIRS, 0),  # 17 set pindirs, 0
    encode_push(block=False),  # 18 good: push noblock      ; wrap
)
RX_WRAP_TARGET = const(0)
RX_WRAP = const(18)

RX_T1_WORD = encode_jmp(JMP_ALWAYS, RX_GOOD)  # replaces RX_PROGRAM[RX_BAD]: no error signal (T=1)


def rx_program(error_signal: bool = True):
    """The RX program with (T=0) or without (T=1) the error signal on a parity error."""
    if error_signal:
        return RX_PROGRAM
    return RX_PROGRAM[:RX_BAD] + (RX_T1_WORD,) + RX_PROGRAM[RX_BAD + 1:]


def relocate(word: int, offset: int) -> int:
    """``word`` as it must sit in instruction memory at ``offset`` (JMP targets are absolute there;
    rp2 ``add_program`` does this for a loaded program, a word written later needs it too)."""
    if word >> 13 == 0:
        return (word & ~0x1F) | ((word & 0x1F) + offset) & 0x1F
    return word


def exec_jmp(address: int) -> int:
    """An unconditional ``jmp address`` for ``StateMachine.exec`` (absolute address)."""
    return encode_jmp(JMP_ALWAYS, address)


EXEC_SET_Y_DIRECT = encode_set(SRC_Y, 0)
EXEC_SET_Y_INVERSE = encode_set(SRC_Y, 1)
EXEC_RELEASE = encode_set(DST_PINDIRS, 0)

# ---------------------------------------------------------------------------------- characters


def parity8(value: int) -> int:
    """1 if ``value`` (8 bits) has an odd number of ones."""
    value ^= value >> 4
    value ^= value >> 2
    value ^= value >> 1
    return value & 1


def reverse8(value: int) -> int:
    out = 0
    for _ in range(8):
        out = (out << 1) | (value & 1)
        value >>= 1
    return out


def tx_frame(byte: int, inverse: bool, extra_guard_etu: int = 0) -> int:
    """The TX word for ``byte``: drive pattern (1 = low) of start, 8 data bits, parity; then 2 N.

    Direct convention: high = 1, LSB first. Inverse: low = 1, MSB first (ISO 7816-3 §7.1). Even
    parity in both: the parity bit makes the number of logical ones even.
    """
    if not 0 <= extra_guard_etu <= 254:
        raise ValueError("extra guard time N: 0..254 etu")
    p = parity8(byte)
    if inverse:
        drive = reverse8(byte) << 1 | p << 9
    else:
        drive = (~byte & 0xFF) << 1 | (p ^ 1) << 9
    return 1 | drive | (2 * extra_guard_etu) << 10


def rx_decode(word: int, inverse: bool):
    """(byte, ok) from an RX word: bits 31..23 = line levels of data 0..7 and parity (1 = high)."""
    levels = (word >> 23) & 0x1FF
    data = levels & 0xFF
    highs = parity8(data) ^ (levels >> 8)  # parity of the number of high levels among the 9
    if inverse:
        return reverse8(~data & 0xFF), highs == 1
    return data, highs == 0


def rx_word(byte: int, inverse: bool, parity_ok: bool = True) -> int:
    """The RX word a correct (or parity-flipped) character produces (tests, loopback checks)."""
    drive = tx_frame(byte, inverse) & 0x3FE  # bits 1..9
    levels = (~drive >> 1) & 0x1FF
    if not parity_ok:
        levels ^= 0x100
    return levels << 23


# ---------------------------------------------------------------------------------- clocks


def clock_period(sys_hz: int, clk_hz: int) -> int:
    """Card clock period in system clocks for a PWM at ``clk_hz`` (micropython ports/rp2/machine_pwm.c:
    DIV = 1, TOP = round(sys / f) - 1 at MHz frequencies): round(sys / f)."""
    if clk_hz <= 0 or sys_hz <= 0:
        raise ValueError("clock frequencies must be positive")
    return (sys_hz + clk_hz // 2) // clk_hz


def sm_clkdiv(sys_hz: int, period: int, f: int, d: int):
    """SMx_CLKDIV for 8 SM cycles per etu, as (int, frac) in 16.8 fixed point, and the etu error.

    etu = F / D card clocks = period * F / D system clocks; divider = period * F / (8 D). Returns
    (int_part, frac_part, error_ppm) with error_ppm = |actual - ideal| / ideal in parts per million
    (0 when exact, which it is for every F and D of the ISO tables when 32 * period * F is a
    multiple of D: 125 MHz / 35 at 372/1, 372/12, 512/64...).
    """
    if period < 2 or f <= 0 or d <= 0:
        raise ValueError("period >= 2 system clocks, F and D positive")
    num = 32 * period * f  # divider * 256 = period * F * 256 / (8 D)
    q = (num + d // 2) // d
    int_part, frac_part = q >> 8, q & 0xFF
    if int_part < 1 or int_part > 0xFFFF:
        raise ValueError("SM clock divider %d.%d out of range (1..65535)" % (int_part, frac_part))
    err = abs(q * d - num) * 1000000 // num
    return int_part, frac_part, err
