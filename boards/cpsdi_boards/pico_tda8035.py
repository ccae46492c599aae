"""Board: Raspberry Pi Pico / Pico 2 (RP2040 / RP2350) + NXP TDA8035, one slot (docs/boards.md).

Data first (pins, chip, clocks, host link), checked at import by ``validate()``; the HAL objects
are built by ``card_ports()`` / ``host_port()`` only on the device (they import ``rp2`` and
``machine`` lazily, so this module also imports on CPython: ``cpsdi fw flash`` and the tests
read and check it there). ``main()`` is what ``cpsdi fw flash`` puts in the device's main.py.
"""

from cpsdi_boards.board_check import BoardError, check_atr_clock, check_fd, check_pins, fail
from cpsdi_boards.pio_iso7816 import MAX_PROGRAM_SLOTS, RX_PROGRAM, TX_PROGRAM, clock_period, sm_clkdiv

NAME = "pico_tda8035"
MPY_ARCH = "armv6m"  # RP2040; the same .mpy runs on RP2350-ARM (micropython.md §8)
MODULES = ("board_check", "pio_iso7816", "tda8035", "rp2_pio_iso7816", "uart_host", "device_boot")
CHIP = "TDA8035"
SYS_HZ = 125000000  # nominal: the driver reads machine.freq() (RP2350 boots at 150 MHz: period 42)
CLK_HZ = 3571428  # 125 MHz / 35: card CLK from PWM into the TDA8035's CLKIN (CLKDIV1/2 strapped /1)
CLK_MAX_HZ = 5000000  # after the ATR, up to the card's fmax (ISO 7816-3 §8.3): 125 MHz / 25, 150 MHz / 30
PIO_BLOCK = 0
GPIO_COUNT = 30  # RP2040 GPIO0..29 (RP2350A too)

# One dict per slot; pin numbers are GPIOs. ``_n`` = active low.
SLOTS = (
    {
        "io": 2,  # I/OUC (open drain: PIO pindirs, 10-11 kOhm pull-up in the chip)
        "clk": 3,  # CLKIN (PWM slice 1 B)
        "rstin": 4,
        "cmdvcc_n": 5,
        "off_n": 6,  # open drain from the chip: MCU pull-up enabled
        "sel_5v3v": 7,
        "sel_1v8_n": 8,
        "sm_tx": 0,
        "sm_rx": 1,
    },
)
HOST = {"kind": "uart", "id": 0, "tx": 0, "rx": 1, "baud": 115200}  # USB-serial bridge; REPL stays on USB CDC
KEYPAD = None
DISPLAY = None
# Largest native message granted: 2 KiB frames let updates reach >= 95 % of the line
# (bench/update_throughput.py: 97 % at 8N2, 94.5 % with 1034) for about 10 KiB of link buffers.
NATIVE_MAX_MESSAGE = 2058

# RP2040 UART pin options (datasheet §1.4.3 function table)
UART_TX_PINS = {0: (0, 12, 16, 28), 1: (4, 8, 20, 24)}
UART_RX_PINS = {0: (1, 13, 17, 29), 1: (5, 9, 21, 25)}
# F/D pairs the slot must reach exactly enough: ATR default and the PPS targets of CPS/Vitale cards
REQUIRED_FD = ((372, 1), (372, 2), (372, 4), (372, 8), (372, 12), (372, 16), (512, 8), (512, 16), (512, 32))
MAX_ETU_ERROR_PPM = 2000  # 0.2 %: ~0.02 etu over a character (ISO allows +-0.2 etu)


def validate(sys_hz: int = SYS_HZ) -> None:
    """Raise ``BoardError`` if the definition cannot work; returns None when it can."""
    used = [("host tx", HOST["tx"]), ("host rx", HOST["rx"])]
    sms = set()
    for i, slot in enumerate(SLOTS):
        for role in ("io", "clk", "rstin", "cmdvcc_n", "off_n", "sel_5v3v", "sel_1v8_n"):
            used.append(("slot %d %s" % (i, role), slot[role]))
        for role in ("sm_tx", "sm_rx"):
            sm = slot[role]
            if not 0 <= sm <= 3 or sm in sms:
                fail(NAME, "slot %d %s = %r: state machines 0..3 of PIO %d, each used once" % (i, role, sm, PIO_BLOCK))
            sms.add(sm)
    check_pins(NAME, used, range(GPIO_COUNT))
    if HOST["kind"] != "uart" or HOST["tx"] not in UART_TX_PINS[HOST["id"]] or HOST["rx"] not in UART_RX_PINS[HOST["id"]]:
        fail(NAME, "host UART%d cannot use TX GP%d / RX GP%d" % (HOST["id"], HOST["tx"], HOST["rx"]))
    if len(TX_PROGRAM) + len(RX_PROGRAM) > MAX_PROGRAM_SLOTS:
        fail(NAME, "PIO programs need %d instruction slots, a block has 32" % (len(TX_PROGRAM) + len(RX_PROGRAM)))
    check_atr_clock(NAME, CLK_HZ)
    period = clock_period(sys_hz, CLK_HZ)
    actual = sys_hz // period
    if abs(actual - CLK_HZ) * 1000 > CLK_HZ:
        fail(NAME, "CLK %d Hz: the PWM makes %d Hz (sys %d / %d), more than 0.1 %% off" % (CLK_HZ, actual, sys_hz, period))
    if period < 5:
        fail(NAME, "CLK period of %d system clocks: duty cycle outside 40-60 %%" % period)
    check_atr_clock(NAME, actual)
    fastest = (sys_hz + CLK_MAX_HZ - 1) // CLK_MAX_HZ  # PioCardPort.set_clock: whole periods, <= CLK_MAX_HZ
    if CLK_MAX_HZ > 20000000 or sys_hz // fastest > CLK_MAX_HZ or fastest < 5:
        fail(NAME, "CLK_MAX_HZ %d: the PWM cannot give it within 20 MHz and a 40-60 %% duty cycle" % CLK_MAX_HZ)
    for p in (period, fastest):
        for f, d in REQUIRED_FD:
            check_fd(NAME, f, d)
            try:
                _, _, err = sm_clkdiv(sys_hz, p, f, d)
            except ValueError as e:
                raise BoardError("board %s: %d/%d at CLK period %d: %s" % (NAME, f, d, p, e))
            if err > MAX_ETU_ERROR_PPM:
                fail(NAME, "etu at %d/%d, CLK period %d, off by %d ppm (limit %d)" % (f, d, p, err, MAX_ETU_ERROR_PPM))


validate()
validate(150000000)  # RP2350 default clock


def card_ports():
    """The HAL card ports (device only)."""
    from machine import Pin

    from cpsdi_boards.rp2_pio_iso7816 import PioCardPort
    from cpsdi_boards.tda8035 import Tda8035

    ports = []
    for slot in SLOTS:
        chip = Tda8035.on_pins(Pin, slot)
        ports.append(PioCardPort(chip, slot["io"], slot["clk"], PIO_BLOCK, slot["sm_tx"], slot["sm_rx"], CLK_HZ,
                                CLK_MAX_HZ))
    return ports


def host_port():
    from cpsdi_boards.uart_host import UartHostPort

    return UartHostPort(HOST["id"], HOST["baud"], HOST["tx"], HOST["rx"])


UPDATE_DIR = "/cpsdi_update"  # update slots + state record (FileStorage on the board's file system)
UPDATE_SLOT_SIZE = 262144  # bytes per slot: a bundle is about 80 KB (bench/footprint.py)


def storage():
    """The update channel's storage (``hal.FileStorage``: two slot files and the state record)."""
    from cpsdi_fw.hal import FileStorage

    return FileStorage(UPDATE_DIR, UPDATE_SLOT_SIZE)


def recovery_requested() -> bool:
    """BOOTSEL held at power-up: run the factory application (``device_boot``)."""
    import rp2

    return rp2.bootsel_button() == 1


def main() -> None:
    """Boot: image selection, the chosen bundle, the reader (``device_boot``)."""
    from cpsdi_boards import device_boot

    device_boot.run(NAME)
