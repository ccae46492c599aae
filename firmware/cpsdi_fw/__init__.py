"""cpsdi reader firmware (MicroPython): link server, CCID service, slot service,
ISO 7816-3 engines, updater. Only `cpsdi_boards` touches hardware."""

FIRMWARE_VERSION = "0.1.0"
