"""Board: ST NUCLEO-L476RG + NXP TDA8035, one slot, USART1 in smartcard mode (docs/boards.md).

Data, checked at import (``validate``); the HAL objects are built lazily by ``card_ports()`` /
``host_port()`` (device only: ``machine``/``stm``). The REPL is USART2 (ST-LINK virtual COM port):
the reader protocol goes over USART3 to a USB-serial bridge.
"""

from cpsdi_boards.board_check import BoardError, check_atr_clock, check_pins, fail
from cpsdi_boards.stm32_sc_regs import usart_sc_config

NAME = "nucleo_l476_sc"
MPY_ARCH = "armv7emsp"  # Cortex-M4F (armv6m .mpy files run too: micropython.md §8)
MODULES = ("board_check", "stm32_sc_regs", "tda8035", "stm32_usart_sc", "uart_host", "device_boot")
CHIP = "TDA8035"
SYSCLK_HZ = 80000000
APB2_HZ = 80000000  # USART1 kernel clock (PCLK2)
CLK_MAX_HZ = 4000000  # SCLK = 80 MHz / (2 * 10)
SESSION_CLK_MAX_HZ = 5000000  # after the ATR, up to the card's fmax (ISO 7816-3 §8.3): 80 MHz / (2 * 8)

# RM0351 / DS10198 alternate functions (AF7 = USART1..3)
USART1_BASE = 0x40013800
SMARTCARD_USARTS = {1: USART1_BASE, 2: 0x40004400, 3: 0x40004800}  # UART4/5 and LPUART1: no smartcard mode
USART1_TX_PINS = ("PA9", "PB6")
USART1_CK_PINS = ("PA8",)
REPL_UART = 2

SLOTS = (
    {
        "usart": 1,
        "io": "PB6",  # USART1_TX AF7, open drain -> I/OUC
        "clk": "PA8",  # USART1_CK AF7 -> CLKIN
        "alt": 7,
        "rstin": "PC0",
        "cmdvcc_n": "PC1",
        "off_n": "PC2",
        "sel_5v3v": "PC3",
        "sel_1v8_n": "PA4",
    },
)
HOST = {"kind": "uart", "id": 3, "tx": "PC10", "rx": "PC11", "baud": 115200}
KEYPAD = None
DISPLAY = None
PINS_LQFP64 = tuple("P%s%d" % (port, n) for port in "ABC" for n in range(16)) + ("PD2", "PH0", "PH1")
RESERVED = {"PA2": "USART2 TX (REPL, ST-LINK VCP)", "PA3": "USART2 RX (REPL)", "PA13": "SWDIO", "PA14": "SWCLK",
            "PA5": "LD2 user LED", "PC13": "B1 user button", "PB7": "USART1 RX (unused in smartcard mode)"}
REQUIRED_FD = ((372, 1), (372, 2), (372, 4), (372, 8), (372, 12), (372, 16), (512, 8), (512, 16), (512, 32))


def validate() -> None:
    used = [("host tx", HOST["tx"]), ("host rx", HOST["rx"])]
    for pin, what in RESERVED.items():
        used.append((what, pin))
    usarts = set()
    for i, slot in enumerate(SLOTS):
        for role in ("io", "clk", "rstin", "cmdvcc_n", "off_n", "sel_5v3v", "sel_1v8_n"):
            used.append(("slot %d %s" % (i, role), slot[role]))
        if slot["usart"] not in SMARTCARD_USARTS or slot["usart"] in usarts:
            fail(NAME, "slot %d: USART%s has no smartcard mode or is used twice" % (i, slot["usart"]))
        usarts.add(slot["usart"])
        if slot["usart"] == 1 and (slot["io"] not in USART1_TX_PINS or slot["clk"] not in USART1_CK_PINS):
            fail(NAME, "slot %d: %s/%s are not USART1 TX/CK (AF7)" % (i, slot["io"], slot["clk"]))
        for f, d in REQUIRED_FD:
            try:
                cfg = usart_sc_config(APB2_HZ, CLK_MAX_HZ, f, d)
                usart_sc_config(APB2_HZ, SESSION_CLK_MAX_HZ, f, d)
            except BoardError as e:
                raise BoardError("board %s: slot %d at %d/%d: %s" % (NAME, i, f, d, e))
            check_atr_clock(NAME, cfg["card_hz"])
    if HOST["id"] == REPL_UART or HOST["id"] in usarts:
        fail(NAME, "host link on UART%d, which is the REPL or a card slot" % HOST["id"])
    check_pins(NAME, used, PINS_LQFP64)


validate()


def card_ports():
    from machine import Pin

    from cpsdi_boards.stm32_usart_sc import UsartScCardPort
    from cpsdi_boards.tda8035 import Tda8035

    ports = []
    for slot in SLOTS:
        chip = Tda8035.on_pins(Pin, slot)
        ports.append(UsartScCardPort(chip, slot["usart"], SMARTCARD_USARTS[slot["usart"]], slot["io"], slot["clk"],
                                     slot["alt"], APB2_HZ, CLK_MAX_HZ, SESSION_CLK_MAX_HZ))
    return ports


def host_port():
    from cpsdi_boards.uart_host import UartHostPort

    return UartHostPort(HOST["id"], HOST["baud"])


UPDATE_DIR = "/flash/cpsdi_update"  # update slots + state record (FileStorage on the board's file system)
UPDATE_SLOT_SIZE = 131072  # bytes per slot: a bundle is about 80 KB (bench/footprint.py)


def storage():
    """The update channel's storage (``hal.FileStorage``: two slot files and the state record)."""
    from cpsdi_fw.hal import FileStorage

    return FileStorage(UPDATE_DIR, UPDATE_SLOT_SIZE)


RECOVERY_PIN = "PC13"  # USER button B1, low when pressed


def recovery_requested() -> bool:
    """USER button held at power-up: run the factory application (``device_boot``)."""
    from machine import Pin

    return Pin(RECOVERY_PIN, Pin.IN, Pin.PULL_UP).value() == 0


def main() -> None:
    """Boot: image selection, the chosen bundle, the reader (``device_boot``)."""
    from cpsdi_boards import device_boot

    device_boot.run(NAME)
