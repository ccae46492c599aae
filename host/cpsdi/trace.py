"""Link and APDU traces as JSON lines, with PIN redaction; and the redaction rules themselves.

A trace (``Reader.open(url, trace=Path("x.jsonl"))``, CLI ``--trace FILE``) holds one JSON
object per line:

* ``{"t": 0.0123, "kind": "open", "url": …, "wall": "2026-…Z"}`` first;
* ``{"t", "kind": "frame", "dir": "tx"|"rx", "native": bool, "hex": …, "what": …}`` for every
  link frame (``rx`` includes echoes), plus ``"kind": "link"`` records for NAK, bad checks,
  keep-alives, card movement, timeouts and retransmissions;
* ``{"t", "kind": "apdu", "dir": "command"|"response", "slot": n, "hex": …, "sw": "9000"}``.

``t`` is ``time.monotonic()`` seconds since the trace was opened.

**PIN redaction — always on, not configurable.** The data field of every command APDU with
INS ``20``/``21`` (VERIFY), ``24``/``25`` (CHANGE REFERENCE DATA), ``26``/``28`` (DISABLE/ENABLE
VERIFICATION REQUIREMENT) or ``2C``/``2D`` (RESET RETRY COUNTER) is shown as ``**`` bytes,
whatever the class byte (command chaining and secure messaging keep the INS in every chunk, so
every chunk is caught); so is the data of ENVELOPE (``C2``/``C3``: it may carry
any of those, in fragments), of every ``PC_to_RDR_Secure`` (PIN-pad) message and of the vendor
``RUN_SCRIPT`` Escape (``CD 20``: APDU lists). In frames the same rule applies to the CCID
message inside, in both directions (a compat-mode echo repeats the command), and the frame's
LRC/CRC is hidden too (a check over known bytes would give the PIN away). A frame with a bad
check is recorded as its header only. The same functions feed the DEBUG log of the link, so a
PIN never reaches a trace file, a log or an exception message.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from cpsdi_proto import ccid as wire
from cpsdi_proto.escape import CMD_RUN_SCRIPT, VENDOR_CLASS
from cpsdi_proto.gempc import MESSAGE_OFFSET

PIN_INS = frozenset({0x20, 0x21, 0x24, 0x25, 0x26, 0x28, 0x2C, 0x2D})
"""Commands whose data may be verification data (ISO/IEC 7816-4:2014 §11.5.6–11.5.10): VERIFY
20/21, CHANGE REFERENCE DATA 24/25, DISABLE / ENABLE VERIFICATION REQUIREMENT 26 / 28, RESET
RETRY COUNTER 2C/2D (odd INS: the same data in BER-TLV data objects)."""
ENVELOPE_INS = frozenset({0xC2, 0xC3})
REDACTED = "**"


def _hex(data: bytes | bytearray | memoryview) -> str:
    return bytes(data).hex(" ").upper()


def apdu_is_sensitive(apdu: bytes | bytearray | memoryview) -> bool:
    """True if the data field of this command APDU must never be shown."""
    return len(apdu) >= 2 and (apdu[1] in PIN_INS or apdu[1] in ENVELOPE_INS)


def redact_apdu(apdu: bytes | bytearray | memoryview) -> str:
    """Hex of a command APDU with the data of PIN commands replaced by ``**`` (header kept)."""
    data = bytes(apdu)
    if not apdu_is_sensitive(data):
        return _hex(data)
    return " ".join([_hex(data[:4])] + [REDACTED] * (len(data) - 4)).strip()


def message_is_sensitive(message: bytes | bytearray | memoryview) -> bool:
    """True if a CCID message carries data that must never be shown (see module docstring)."""
    if len(message) <= wire.HEADER_SIZE:
        return False
    kind = message[0]
    data = bytes(message[wire.HEADER_SIZE :])
    if kind == wire.PC_TO_RDR_SECURE:
        return True
    if kind == wire.PC_TO_RDR_XFR_BLOCK:
        return apdu_is_sensitive(data)
    if kind == wire.PC_TO_RDR_ESCAPE:
        return len(data) >= 2 and data[0] == VENDOR_CLASS and data[1] == CMD_RUN_SCRIPT
    return False


def redact_message(message: bytes | bytearray | memoryview) -> str:
    """Hex of a CCID message, its data redacted when `message_is_sensitive`."""
    data = bytes(message)
    if not message_is_sensitive(data):
        return _hex(data)
    header = wire.HEADER_SIZE
    keep = header + (4 if data[0] == wire.PC_TO_RDR_XFR_BLOCK else 2 if data[0] == wire.PC_TO_RDR_ESCAPE else 0)
    keep = min(keep, len(data))
    return " ".join([_hex(data[:keep])] + [REDACTED] * (len(data) - keep))


def redact_frame(frame: bytes | bytearray | memoryview, native: bool) -> str:
    """Hex of a whole good frame (SYNC CTRL message check), redacted like its message."""
    data = bytes(frame)
    check = 4 if native else 1
    message = data[MESSAGE_OFFSET : len(data) - check]
    if not message_is_sensitive(message):
        return _hex(data)
    return " ".join([_hex(data[:MESSAGE_OFFSET]), redact_message(message)] + [REDACTED] * check)


def redact_bad_frame(frame: bytes | bytearray | memoryview) -> str:
    """A frame with a bad check: its SYNC, CTRL and CCID header only (the data may be a mangled PIN)."""
    data = bytes(frame)
    shown = data[: MESSAGE_OFFSET + wire.HEADER_SIZE]
    rest = len(data) - len(shown)
    return _hex(shown) + (f" …(+{rest} bytes hidden)" if rest > 0 else "")


class TraceRecorder:
    """Write trace records (JSON lines) to a file; every record is flushed at once."""

    def __init__(self, path: Path | str, *, url: str = "") -> None:
        self.path = Path(path)
        self._t0 = time.monotonic()
        self._file: IO[str] | None = self.path.open("w", encoding="utf-8")
        self._write(
            {"kind": "open", "url": url, "wall": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        )

    def _write(self, record: dict[str, Any]) -> None:
        if self._file is None:
            return
        line = {"t": round(time.monotonic() - self._t0, 6)}
        line.update(record)
        self._file.write(json.dumps(line) + "\n")
        self._file.flush()

    def frame(self, direction: str, frame: bytes, native: bool, what: str = "") -> None:
        """A good link frame (redacted)."""
        self._write({"kind": "frame", "dir": direction, "native": native, "hex": redact_frame(frame, native), "what": what})

    def link(self, what: str, hex_text: str = "") -> None:
        """A link event: NAK, bad check, keep-alive, card movement, timeout, retransmission."""
        record: dict[str, Any] = {"kind": "link", "what": what}
        if hex_text:
            record["hex"] = hex_text
        self._write(record)

    def apdu_command(self, slot: int, apdu: bytes) -> None:
        """A command APDU (redacted)."""
        self._write({"kind": "apdu", "dir": "command", "slot": slot, "hex": redact_apdu(apdu)})

    def apdu_response(self, slot: int, data: bytes, sw: int) -> None:
        """A response APDU."""
        self._write({"kind": "apdu", "dir": "response", "slot": slot, "hex": _hex(data), "sw": f"{sw:04X}"})

    def note(self, what: str) -> None:
        """Free text (no card data)."""
        self._write({"kind": "note", "what": what})

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._file is not None:
            self._write({"kind": "close"})
            self._file.close()
            self._file = None


def read_trace(path: Path | str) -> list[dict[str, Any]]:
    """The records of a trace file (lines that are not JSON objects are skipped)."""
    records: list[dict[str, Any]] = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            records.append(value)
    return records


def format_trace(path: Path | str) -> str:
    """A human-readable rendering of a trace file (one line per record)."""
    out: list[str] = []
    for r in read_trace(path):
        t = float(r.get("t", 0.0))
        stamp = f"{t * 1000:10.3f} ms"
        kind = r.get("kind")
        if kind == "open":
            out.append(f"{stamp}  trace of {r.get('url') or '?'} opened {r.get('wall', '')}")
        elif kind == "close":
            out.append(f"{stamp}  trace closed")
        elif kind == "frame":
            arrow = "H>R" if r.get("dir") == "tx" else "R>H"
            mode = "native" if r.get("native") else "compat"
            what = f"  ({r['what']})" if r.get("what") else ""
            out.append(f"{stamp}  {arrow} {mode:6} {r.get('hex', '')}{what}")
        elif kind == "link":
            hex_text = f" {r['hex']}" if r.get("hex") else ""
            out.append(f"{stamp}  link  {r.get('what', '')}{hex_text}")
        elif kind == "apdu":
            slot = r.get("slot", 0)
            if r.get("dir") == "command":
                out.append(f"{stamp}  APDU[{slot}] > {r.get('hex', '')}")
            else:
                from cpsdi.sw import describe_sw

                sw_text = str(r.get("sw", ""))
                try:
                    meaning = describe_sw(int(sw_text, 16))
                except ValueError:
                    meaning = ""
                data = f"{r.get('hex')} " if r.get("hex") else ""
                out.append(f"{stamp}  APDU[{slot}] < {data}SW {sw_text} ({meaning})")
        elif kind == "note":
            out.append(f"{stamp}  note  {r.get('what', '')}")
        else:
            out.append(f"{stamp}  {json.dumps(r)}")
    return "\n".join(out) + ("\n" if out else "")
