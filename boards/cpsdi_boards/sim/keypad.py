"""The simulated board's PIN pad: a scripted keypad and a display log (``hal.Keypad``, issue #12).

A keypad script is a list of **entries** separated by ``|``; each PC_to_RDR_Secure command
(``Keypad.begin``) takes the next one, whatever was left of the previous one is dropped
(no type-ahead). Inside an entry, whitespace separates tokens (a wait's number ends at the
first non-digit: ``w500 12`` is a wait of 500 ms, then keys 1 and 2) and:

=========  ============================================================
``0``-``9``  a digit key
``E``        the validation key (Enter / OK)
``C``        Cancel
``B``        correction (erase the last digit)
``wN``       the holder waits N ms before the next key (default gap ``KEY_GAP_MS``)
=========  ============================================================

An entry that runs out of keys is a holder who stopped typing: the firmware's key timeout
ends it. No entry queued: no key at all. Example: ``1234E|9E`` (a PIN, then a wrong one
cancelled later by the timeout), ``12w40000`` (two digits, then 40 s of silence).

Time is **virtual** by default: ``read_key`` jumps the keypad clock to the next key, or by
its whole timeout, so a 30 s key timeout costs nothing; ``real=True`` waits wall time (the
link's keep-alives then go out, as with a real holder). The display log records what the
display shows — the prompt index and one ``*`` per digit typed, never a digit.
"""

from __future__ import annotations

import re
import time

from cpsdi_fw import hal

__all__ = ["KeypadScriptError", "SimKeypad", "parse_keypad_script", "KEY_GAP_MS"]

KEY_GAP_MS = 200
_TOKEN = re.compile(r"w(\d+)|([0-9ECB])")
_KEYS = {"E": hal.KEY_ENTER, "C": hal.KEY_CANCEL, "B": hal.KEY_CLEAR}


class KeypadScriptError(ValueError):
    """A keypad script that cannot be read (the message names the position)."""


def parse_keypad_script(text: str) -> list[list[tuple[int, int]]]:
    """Entries of ``text``: each a list of (delay_ms, key)."""
    entries: list[list[tuple[int, int]]] = []
    for body in text.split("|"):
        keys: list[tuple[int, int]] = []
        delay = KEY_GAP_MS
        pos = 0
        while pos < len(body):
            if body[pos].isspace():
                pos += 1
                continue
            m = _TOKEN.match(body, pos)
            if m is None:
                raise KeypadScriptError(f"keypad script: unexpected {body[pos]!r} (keys 0-9 E C B, waits wN)")
            if m.group(1) is not None:
                delay = int(m.group(1))
            else:
                ch = m.group(2)
                keys.append((delay, _KEYS.get(ch, ord(ch))))
                delay = KEY_GAP_MS
            pos = m.end()
        entries.append(keys)
    return entries


class SimKeypad(hal.Keypad):
    """Scripted keys, virtual (or real) time, a display log (module docstring)."""

    display_lines = 2
    display_chars = 16

    def __init__(self, script: str = "", *, real: bool = False) -> None:
        self.real = real
        self.pending: list[list[tuple[int, int]]] = parse_keypad_script(script) if script else []
        self.display_log: list[str] = []
        self.entries_started = 0
        self._keys: list[tuple[int, int]] = []
        self._virtual_ms = 0
        self._wait_ms = 0  # time the holder has already waited for the next key

    def add(self, script: str) -> None:
        """Queue more entries (the control socket's ``keypad SCRIPT``)."""
        self.pending.extend(parse_keypad_script(script))

    def clear(self) -> None:
        """Drop every queued entry."""
        self.pending.clear()
        self._keys = []

    # -- hal.Keypad ----------------------------------------------------------------------------
    def begin(self) -> None:
        self.entries_started += 1
        self._keys = self.pending.pop(0) if self.pending else []
        self._wait_ms = 0

    def ticks_ms(self) -> int:
        if self.real:
            return int(time.monotonic() * 1000) & 0x3FFFFFFF
        return self._virtual_ms & 0x3FFFFFFF

    def read_key(self, timeout_ms: int) -> int:
        timeout_ms = max(0, timeout_ms)
        if not self._keys:
            self._pass(timeout_ms)
            return hal.KEY_NONE
        delay, key = self._keys[0]
        due = delay - self._wait_ms
        if due > timeout_ms:
            self._pass(timeout_ms)
            self._wait_ms += timeout_ms
            return hal.KEY_NONE
        self._pass(max(0, due))
        self._keys.pop(0)
        self._wait_ms = 0
        return key

    def show(self, message: int, digits: int) -> None:
        prompt = "-" if message == hal.MESSAGE_NONE else str(message)
        self.display_log.append(f"prompt {prompt}: {'*' * digits}")

    def end(self) -> None:
        self.display_log.append("clear")

    def _pass(self, ms: int) -> None:
        if self.real:
            time.sleep(ms / 1000)
        else:
            self._virtual_ms += ms
