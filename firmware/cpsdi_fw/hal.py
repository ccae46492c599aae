"""Hardware abstraction of one card slot: the card port (ISO/IEC 7816-3 §5-§7).

Everything above this interface (slot service, ATR/PPS/T=0/T=1 engines) is portable;
only ``cpsdi_boards`` implements it: RP2040 PIO + TDA8035, STM32 USART smartcard
mode, and the simulated board (virtual time, virtual cards).

Units: times in etu at the F/D currently set (``set_character``), or in card clock
cycles where ISO counts clocks (reset, ATR window). All timeouts are *maxima*
measured from the leading edge of the previous character on the I/O line, in either
direction (ISO 7816-3 §7.2 / §10.2 "between leading edges") — or, before the first
character after a reset, from the rising edge of RST (the ATR window, §6.2.2);
boards round them up (a late timeout is harmless, an early one is a conformance
failure). A call may be repeated with a larger timeout: the reference point stays
the same until a character passes, so a slot can wait in slices and keep its host
link alive in between.

Character layer (framing, even parity, error signal and repetition, guard time,
convention) is the board's: engines hand over whole buffers.
"""

from cpsdi_proto.compat import const

# Voltage classes, ISO 7816-3 §5.1.3 (and CCID bPowerSelect 1/2/3)
CLASS_A = const(1)  # 5 V
CLASS_B = const(2)  # 3 V
CLASS_C = const(3)  # 1.8 V

# Results of activate() / send()
OK = const(0)
ERR_ABSENT = const(1)  # no card in the slot
ERR_CLASS = const(2)  # the board cannot supply this class
ERR_FAULT = const(3)  # interface chip fault: overcurrent, VCC drop (E3)
ERR_REPEAT = const(4)  # the card signalled a parity error more often than the retry limit (§7.3)



def clock_target(hz: int, activation_hz: int, max_hz: int) -> int:
    """The CLK a ``set_clock(hz)`` asks for: ``hz`` bounded by the board's ``max_hz``, never
    below ``activation_hz``; ``hz`` = 0 or a fixed clock (``max_hz`` = 0) gives ``activation_hz``.
    Boards then round down to a frequency they make."""
    if max_hz <= 0 or hz <= activation_hz:
        return activation_hz
    return max_hz if hz > max_hz else hz


class CardPort:
    """One slot's electrical and character interface. Boards subclass it."""

    clock_hz = 3571200  # CLK frequency now (activation restores the board's activation clock)
    clock_max_hz = 0  # highest CLK the board can give once the ATR is over; 0: fixed clock
    voltage_classes = 0x07  # bitmap of the classes the board can supply: 1 = A, 2 = B, 4 = C

    def present(self) -> bool:
        """True if a card is in the slot (debounced presence switch / interface chip)."""
        raise NotImplementedError

    def fault(self) -> bool:
        """True if the interface chip reports a fault since the last activation (E3)."""
        raise NotImplementedError

    def activate(self, voltage_class: int) -> int:
        """Cold activation up to the reset release, §6.2.2: RST low, VCC in ``voltage_class``,
        CLK running at ``clock_hz``, I/O in reception; character layer back to Fd/Dd,
        direct convention, 12 etu guard time, error signal off. Returns OK or ERR_*."""
        raise NotImplementedError

    def set_reset(self, high: bool) -> None:
        """Drive RST (the slot holds it low ≥ 400 clock cycles with ``wait_clocks``, §6.2.2-6.2.3)."""
        raise NotImplementedError

    def deactivate(self) -> None:
        """Deactivation sequence, §6.4: RST low, CLK stopped low, I/O low, VCC off (E1)."""
        raise NotImplementedError

    def wait_clocks(self, clocks: int) -> None:
        """Wait ``clocks`` card clock cycles (at least)."""
        raise NotImplementedError

    def wait_etu(self, etu: int) -> None:
        """Wait ``etu`` etu (at least) since the leading edge of the last character on the line,
        e.g. the 16-etu T=0 turnaround or the 22-etu T=1 BGT before sending."""
        raise NotImplementedError

    def set_character(self, f: int, d: int, inverse: bool, guard_time_etu: int, retries: int) -> None:
        """Character layer after the ATR/PPS: F/D, convention, guard time of reader-sent
        characters (12 + N etu, §8.3), error signal and repetition: ``retries`` > 0 enables
        them with that limit (T=0), 0 disables them (T=1, §7.3)."""
        raise NotImplementedError

    def set_clock(self, hz: int) -> int:
        """Change CLK to the highest frequency the board makes that is <= ``hz``, never below
        the activation clock (``hz`` = 0 goes back to it), with the line idle; F/D, guard
        time and convention kept (the etu becomes F / (D * f) s). The slot calls it after
        the ATR/PPS (ISO 7816-3 §8.3: up to the card's fmax) and with 0 before a warm
        reset; ``activate`` also goes back to the activation clock. Returns the new
        ``clock_hz``. Boards with a fixed clock (``clock_max_hz`` = 0) keep this default."""
        return self.clock_hz

    def send(self, buf, start: int, end: int) -> int:
        """Transmit ``buf[start:end]``, returning after the last character's guard time.

        Repeats a character the card NACKs, up to the retry limit (§7.3). Returns OK,
        ERR_REPEAT or ERR_ABSENT.
        """
        raise NotImplementedError

    def receive(self, buf, start: int, count: int, first_timeout_etu: int, char_timeout_etu: int, parity) -> int:
        """Receive up to ``count`` characters into ``buf[start:]``.

        The first must start within ``first_timeout_etu`` of the previous character's
        leading edge, each next one within ``char_timeout_etu`` of the one before.
        ``parity[start + i]`` is set to 1 for a character still wrong after the error
        signal / retries, 0 otherwise. Characters already received (their leading edge
        has passed) are returned at once whatever the timeouts, so ``first_timeout_etu``
        = 0 drains what the card sent unasked (T0-32). Returns the number received:
        fewer than ``count`` means a timeout, or removal (check ``present()``).
        """
        raise NotImplementedError

    def now_etu(self) -> int:
        """Leading edge of the last character on the line (or of the RST release), in etu since
        activation; etu counted at the F/D in force when each stretch of time passed."""
        raise NotImplementedError


class HostPort:
    """The reader's link to the host: a UART or USB CDC channel that is never the REPL
    (ccid-serial.md pitfall 6). Boards implement it; the link server owns it."""

    def read_into(self, buf, start: int, count: int) -> int:
        """Copy up to ``count`` bytes already received into ``buf[start:]``; never waits.
        Returns 0 when nothing is pending."""
        raise NotImplementedError

    def write(self, buf, start: int, end: int) -> None:
        """Queue ``buf[start:end]`` for the host (returns once the bytes are accepted)."""
        raise NotImplementedError

    def ticks_ms(self) -> int:
        """A millisecond counter (wrapping like ``time.ticks_ms``; compare with ``ticks_diff``)."""
        raise NotImplementedError

    def wait_ms(self, ms: int) -> None:
        """Idle for up to ``ms`` milliseconds or until host bytes arrive (low-power wait)."""
        raise NotImplementedError

    def flush(self) -> None:
        """Return once every byte written so far has left the transmitter (before a reset)."""

    # Line settings (vendor Escape LINK_SETTINGS). ``baud`` / ``stop_bits`` are the settings in
    # force (0 / 0 on a channel without a baud rate, e.g. USB CDC, where nothing can change).
    baud = 0
    stop_bits = 0

    def line_supported(self, baud: int, stop_bits: int) -> bool:
        """True if ``set_line(baud, stop_bits)`` would work on this board."""
        return False

    def set_line(self, baud: int, stop_bits: int) -> None:
        """Switch to ``baud`` 8N``stop_bits`` once every byte written so far has left the
        transmitter (a UART ``flush()`` first). Only called after ``line_supported``."""
        raise NotImplementedError


def ticks_diff(a: int, b: int) -> int:
    """``a - b`` for wrapping millisecond counters (as ``time.ticks_diff``; 2**30 period)."""
    return ((a - b + 0x20000000) & 0x3FFFFFFF) - 0x20000000


class Storage:
    """Durable storage of the update channel: two application slots (A/B) and the state record.

    Boards implement it (raw flash partitions on RP2040/STM32, files on littlefs, memory or
    files in the simulator). ``cpsdi_fw.boot`` and ``cpsdi_fw.updater`` are its only users.

    **Slots** 0 and 1, ``slot_size`` bytes each, hold one update image each (layout in
    ``cpsdi_fw.boot``). ``erase(slot)`` sets the whole slot to 0xFF; ``write`` programs bytes
    of an erased area (NOR-flash rule: programming can only clear bits, so writing the same
    bytes again is harmless, other bytes need an erase). Every call returns only once the
    data is durable: a power cut after the return never loses it.

    **State record**: two copies (``RECORD_COPIES``) of at most ``RECORD_SIZE`` bytes, each
    replaced as a whole by ``write_record`` (a flash sector erased and programmed, or a
    file rewritten). The writer alternates copies and puts a sequence number and a CRC in
    the record (``cpsdi_fw.boot.State``), so a power cut during one copy's write leaves the
    other copy intact: the record switches atomically from the old value to the new one
    (the ESP-IDF ``otadata`` pattern, update-channel.md §4.4 (B)). No rename is needed.

    Failures raise ``OSError`` (a simulated power cut too); the updater reports them as
    ERR_UPDATE_STORAGE and the boot selector falls back to the factory image.
    ``FileStorage`` below implements it with files on littlefs; the simulator's is
    ``cpsdi_boards.sim.storage.SimStorage`` (operation counts, power cuts).
    """

    RECORD_COPIES = 2
    RECORD_SIZE = 64
    slot_size = 0  # bytes per slot

    def erase(self, slot: int) -> None:
        """Erase the whole of ``slot`` (0 or 1) to 0xFF."""
        raise NotImplementedError

    def write(self, slot: int, offset: int, buf, start: int, end: int) -> None:
        """Program ``buf[start:end]`` at ``offset`` of ``slot``; durable on return."""
        raise NotImplementedError

    def read_into(self, slot: int, offset: int, buf, start: int, n: int) -> int:
        """Copy ``n`` bytes at ``offset`` of ``slot`` into ``buf[start:]``; returns ``n``
        (fewer only past the end of the slot)."""
        raise NotImplementedError

    def read_record(self, copy: int, buf) -> int:
        """Copy state-record copy ``copy`` into ``buf`` (``RECORD_SIZE`` bytes); returns the
        number of bytes copied (0 if that copy was never written)."""
        raise NotImplementedError

    def write_record(self, copy: int, buf, n: int) -> None:
        """Replace state-record copy ``copy`` by ``buf[0:n]``; durable on return."""
        raise NotImplementedError


class FileStorage(Storage):
    """``Storage`` as files in ``folder`` on a filesystem that commits a file at close and never
    leaves it torn (littlefs: "power-loss resilient", update-channel.md §1.8; **not FAT**):
    ``slot0.bin``, ``slot1.bin`` (an erased slot is an empty file; bytes past its end read as
    0xFF) and ``record0.bin``, ``record1.bin`` (rewritten whole). Portable: boards without raw
    partitions (and tests) use it as is."""

    def __init__(self, folder: str, slot_size: int) -> None:
        import os

        self._os = os
        self.folder = folder
        self.slot_size = slot_size
        try:
            os.mkdir(folder)
        except OSError:
            pass  # exists

    def _path(self, name: str) -> str:
        return self.folder + "/" + name

    def _size(self, path: str) -> int:
        try:
            return self._os.stat(path)[6]
        except OSError:
            return -1

    def erase(self, slot: int) -> None:
        f = open(self._path("slot%d.bin" % slot), "wb")
        f.close()

    def write(self, slot: int, offset: int, buf, start: int, end: int) -> None:
        if offset < 0 or offset + end - start > self.slot_size:
            raise OSError(22)  # EINVAL
        path = self._path("slot%d.bin" % slot)
        size = self._size(path)
        if size < 0:
            self.erase(slot)
            size = 0
        f = open(path, "r+b")
        try:
            if size < offset:  # keep the "erased" contents of the gap
                f.seek(size)
                pad = b"\xff" * 64
                while size < offset:
                    k = offset - size if offset - size < 64 else 64
                    f.write(pad[0:k])
                    size += k
            f.seek(offset)
            f.write(memoryview(buf)[start:end])
        finally:
            f.close()

    def read_into(self, slot: int, offset: int, buf, start: int, n: int) -> int:
        if offset + n > self.slot_size:
            n = self.slot_size - offset if offset < self.slot_size else 0
        for i in range(start, start + n):
            buf[i] = 0xFF
        path = self._path("slot%d.bin" % slot)
        size = self._size(path)
        if size > offset:
            f = open(path, "rb")
            try:
                f.seek(offset)
                f.readinto(memoryview(buf)[start:start + (n if offset + n <= size else size - offset)])
            finally:
                f.close()
        return n

    def read_record(self, copy: int, buf) -> int:
        try:
            f = open(self._path("record%d.bin" % copy), "rb")
        except OSError:
            return 0
        try:
            got = f.readinto(memoryview(buf)[0:self.RECORD_SIZE])
        finally:
            f.close()
        return got if got else 0

    def write_record(self, copy: int, buf, n: int) -> None:
        f = open(self._path("record%d.bin" % copy), "wb")
        try:
            f.write(memoryview(buf)[0:n])
        finally:
            f.close()


# -- PIN pad (issue #12) --------------------------------------------------------------------
# Key codes of ``Keypad.read_key``: the digits are their ASCII codes '0'..'9'.
KEY_NONE = const(-1)  # no key within the timeout
KEY_ENTER = const(0x0D)  # validation key
KEY_CANCEL = const(0x1B)
KEY_CLEAR = const(0x08)  # correction: erase the last digit
MESSAGE_NONE = const(0xFF)  # ``Keypad.show`` without a prompt (bNumberMessage 0)


class Keypad:
    """A PIN-entry keypad and its optional display, on the boards that have one (issue #12).

    Used only by the CCID service during PC_to_RDR_Secure (``cpsdi_fw.pin_entry``): the PIN
    typed here goes to the card and never to the host link. Implementations keep no copy of
    the keys once ``read_key`` returned them and never log them.
    """

    display_lines = 0  # wLcdLayout of the CCID descriptor: 0 without a display
    display_chars = 0

    def begin(self) -> None:
        """A PIN entry starts: drop keys typed before it (no type-ahead into a PIN)."""
        raise NotImplementedError

    def read_key(self, timeout_ms: int) -> int:
        """The next key pressed within ``timeout_ms`` (KEY_* or '0'..'9'), else KEY_NONE.
        Never waits longer than ``timeout_ms``."""
        raise NotImplementedError

    def ticks_ms(self) -> int:
        """The keypad's millisecond clock (wrapping; compare with ``ticks_diff``)."""
        raise NotImplementedError

    def show(self, message: int, digits: int) -> None:
        """Prompt ``message`` (bMsgIndex: 0 "PIN", 1 "new PIN", 2 "confirm"; MESSAGE_NONE) and
        ``digits`` placeholders for the digits typed so far; no-op without a display."""

    def end(self) -> None:
        """The entry is over (done, cancelled, timed out): clear the display."""
