"""Power-up of a real board: choose the image, put its bundle in place, run the reader.

docs/update-channel.md "Boot path on a device". A board's ``main()`` calls ``run(NAME)``:

1. **factory phase**, before any slot is importable: the trusted keys (``cpsdi_keys.KEYS``,
   written by ``cpsdi fw flash --trusted-key``; none: every image is refused), the board's
   ``storage()`` and ``cpsdi_fw.app_loader.start`` (``boot.select``, then install and
   activate the chosen slot's bundle in ``/app/<slot>``);
2. **application phase**: the board module, ``cpsdi_fw.main`` and the updater are imported
   again, now from the slot when one was activated; the updater gets the *factory's* keys
   (the next boot's selector checks with those);
   **Recovery**: when the board's ``recovery_requested()`` is true at power-up (the Pico's
   BOOTSEL button, the Nucleo's USER button held), the factory application runs whatever the
   state record says, and leaves the record as it is: the host can then roll back or push
   another image (``cpsdi fw rollback`` / ``cpsdi fw update``);
3. ``cpsdi_fw.main.serve``: the main loop; a trial image runs under the watchdog (a hang
   resets, the next boot uses up a try), the watchdog is fed from then on (it cannot be
   stopped); ``machine.reset()`` once the updater asks for it and the answer has left.

Imports ``machine``: board code only.
"""

import sys

import machine

WDT_MS = 8000  # the RP2040 watchdog's limit is 8.3 s; the main loop feeds it every few ms
APP_ROOT = "/app"


def _import(name: str):
    __import__(name)
    return sys.modules[name]


def trusted_keys() -> tuple:
    """The factory's update keys (raw Ed25519 public keys), () when none were flashed."""
    try:
        return tuple(_import("cpsdi_keys").KEYS)
    except ImportError:
        return ()


def run(board_name: str) -> None:
    """Boot the board ``cpsdi_boards.<board_name>`` (module docstring); never returns."""
    from cpsdi_fw import app_loader, mcuboot

    keys = trusted_keys()
    board = _import("cpsdi_boards." + board_name)
    storage = board.storage()
    fw_compat = mcuboot.fw_compat()
    hw_id = board.NAME.encode()
    recovery = getattr(board, "recovery_requested", None)
    if recovery is not None and recovery():
        from cpsdi_fw import boot

        result = boot.BootResult()  # recovery: the factory application, the state record untouched
    else:
        result = app_loader.start(storage, keys, hw_id, fw_compat, APP_ROOT, app_loader.PACKAGES)
    wdt = machine.WDT(timeout=WDT_MS) if result.trial else None

    board = _import("cpsdi_boards." + board_name)  # the slot's copy after activate()
    fw = _import("cpsdi_fw")
    main = _import("cpsdi_fw.main")
    updater_mod = _import("cpsdi_fw.updater")
    updater = updater_mod.Updater(storage, result, keys=keys, hw_id=hw_id, fw_compat=fw_compat,
                                  self_test=getattr(board, "self_test", None))
    reader = main.Reader(board.host_port(), board.card_ports(), board=board.NAME,
                         native_max_message=getattr(board, "NATIVE_MAX_MESSAGE", 1034),
                         firmware_version=result.version_text(fw.FIRMWARE_VERSION), updater=updater)
    main.serve(reader, feed=wdt.feed if wdt is not None else None, reset=machine.reset)
