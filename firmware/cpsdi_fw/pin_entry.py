"""Holder PIN entry on the reader's keypad (``hal.Keypad``) for PC_to_RDR_Secure (issue #12).

``PINEntry`` is one PIN being typed: digits (values 0..9) in a preallocated buffer,
``wipe()`` overwrites them. ``collect`` drives one entry on a keypad, bounded by:

* the **key timeout** (bTimeOut, CCID rev 1.1 §6.1.11; 00 = 30 s): the first key must come
  within it of the prompt, each next key within it of the previous one (PC/SC's second
  timeout, bTimeOut2, is not carried by CCID: libccid drops it);
* the **total deadline** of the whole Secure command (``total_ms``: the key timeout, at least
  ``TOTAL_MIN_MS``, per PIN typed), so a holder pressing keys forever still ends it;
* ``MAX_KEYS`` key presses (a stuck key).

Keys: '0'..'9' add a digit (ignored past the maximum), KEY_CLEAR erases the last one,
KEY_ENTER validates (ignored below the minimum or when bEntryValidationCondition lacks the
key bit), KEY_CANCEL cancels, anything else is ignored. The entry also ends when the
maximum is reached (condition 01) or, with condition 04 and at least the minimum typed,
when the key timeout passes. Between waits (at most ``SLICE_MS``) ``idle()`` runs — the
link's keep-alive and Abort watch (``link.LinkServer.keepalive``) — and card presence is
checked.

Results: DONE, CANCELLED (bError EF), TIMEOUT (F0), ABORTED (host Abort, FF), REMOVED (FE).
The display (``Keypad.show``) only ever gets a digit count.
"""

from cpsdi_proto import ccid
from cpsdi_proto.compat import const

from cpsdi_fw import hal
from cpsdi_fw.ccid_secure import MAX_DIGITS

DONE = const(0)
CANCELLED = const(1)
TIMEOUT = const(2)
ABORTED = const(3)
REMOVED = const(4)
_GOING = const(5)

SLICE_MS = const(100)
TOTAL_MIN_MS = const(120000)
MAX_KEYS = const(255)


class PINEntry:
    """One PIN being typed (module docstring)."""

    def __init__(self) -> None:
        self.digits = bytearray(MAX_DIGITS)
        self.count = 0

    def wipe(self) -> None:
        """Overwrite the digits."""
        d = self.digits
        for i in range(len(d)):
            d[i] = 0
        self.count = 0

    def press(self, key: int, min_digits: int, max_digits: int, validation: int) -> int:
        """Apply one key; DONE, CANCELLED, or _GOING."""
        if 0x30 <= key <= 0x39:
            if self.count < max_digits:
                self.digits[self.count] = key - 0x30
                self.count += 1
                if self.count == max_digits and validation & ccid.PIN_VALID_MAX_SIZE:
                    return DONE
            return _GOING
        if key == hal.KEY_ENTER:
            if validation & ccid.PIN_VALID_KEY and self.count >= min_digits:
                return DONE
            return _GOING
        if key == hal.KEY_CLEAR:
            if self.count:
                self.count -= 1
                self.digits[self.count] = 0
            return _GOING
        if key == hal.KEY_CANCEL:
            return CANCELLED
        return _GOING

    def same_as(self, other) -> bool:
        """True if both entries hold the same digits (constant work for a given length)."""
        if self.count != other.count:
            return False
        diff = 0
        for i in range(self.count):
            diff |= self.digits[i] ^ other.digits[i]
        return diff == 0


def collect(keypad, entry: PINEntry, min_digits: int, max_digits: int, validation: int, message: int,
            key_timeout_ms: int, total_end_ms: int, idle, present) -> int:
    """Run one PIN entry on ``keypad`` into ``entry``; returns DONE/CANCELLED/TIMEOUT/ABORTED/
    REMOVED (module docstring). ``total_end_ms`` is on the keypad's clock; ``idle()`` returns
    True when the host aborts, ``present()`` False when the card left."""
    entry.wipe()
    keypad.show(message, 0)
    last_ms = keypad.ticks_ms()
    keys = 0
    while keys < MAX_KEYS:
        now = keypad.ticks_ms()
        left = key_timeout_ms - hal.ticks_diff(now, last_ms)
        total_left = hal.ticks_diff(total_end_ms, now)
        if total_left < left:
            left = total_left
        if left <= 0:
            if validation & ccid.PIN_VALID_TIMEOUT and entry.count >= min_digits and total_left > 0:
                return DONE
            return TIMEOUT
        key = keypad.read_key(SLICE_MS if left > SLICE_MS else left)
        if key != hal.KEY_NONE:
            keys += 1
            last_ms = keypad.ticks_ms()
            result = entry.press(key, min_digits, max_digits, validation)
            keypad.show(message, entry.count)
            if result != _GOING:
                return result
        if idle is not None and idle():
            return ABORTED
        if not present():
            return REMOVED
    return TIMEOUT
