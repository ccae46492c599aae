"""Link framing figures: wire bytes per APDU exchange and decoder speed, compat vs native.

Method: the bytes of one XfrBlock request and its DataBlock answer are built with the
shared ``cpsdi_proto`` sealing functions, for compat framing with a full echo, with a
header-only echo, and native framing (no echo); the ratio is those bytes over the bare
APDU bytes (command + response). Decoder speed: the firmware's FrameDecoder on this
CPython, MiB/s over the same byte stream in each framing, side by side in one run.
"""

from __future__ import annotations

import time
from typing import Any

from cpsdi_proto import ccid
from cpsdi_proto.decoder import EV_NONE, FrameDecoder
from cpsdi_proto.gempc import MESSAGE_OFFSET, seal_compat, seal_echo_header
from cpsdi_proto.native import seal_native

SIZES = [(5, 2), (5, 258), (261, 2), (133, 130)]  # (command APDU, response APDU) bytes


def _frame(data_len: int, native: bool) -> bytes:
    buf = bytearray(ccid.HEADER_SIZE + data_len + 6)
    ccid.pack_header(buf, MESSAGE_OFFSET, ccid.PC_TO_RDR_XFR_BLOCK, data_len, 0, 1, 0, 0, 0)
    n = seal_native(buf, ccid.HEADER_SIZE + data_len) if native else seal_compat(buf, ccid.HEADER_SIZE + data_len)
    return bytes(buf[:n])


def wire_bytes(command_len: int, response_len: int) -> dict[str, int]:
    """Bytes on the wire for one exchange in each framing."""
    request = len(_frame(command_len, False))
    answer = len(_frame(response_len, False))
    header_echo = seal_echo_header(bytearray(_frame(command_len, False)), request)
    return {
        "apdu": command_len + response_len,
        "compat_full_echo": request * 2 + answer,
        "compat_header_echo": request + header_echo + answer,
        "native": len(_frame(command_len, True)) + len(_frame(response_len, True)),
    }


def decoder_rate(native: bool, total_bytes: int = 1 << 20) -> float:
    """MiB/s of the shared FrameDecoder over a stream of 261-byte-data frames."""
    frame = _frame(261, native)
    stream = frame * (total_bytes // len(frame))
    dec = FrameDecoder(from_reader=True, native_max_message=1034)
    start = time.perf_counter()
    i, n = 0, len(stream)
    while True:
        i = dec.feed(stream, i, n)
        if dec.kind == EV_NONE:
            break
    elapsed = time.perf_counter() - start
    assert dec.frames == len(stream) // len(frame)
    return len(stream) / elapsed / (1 << 20)


def run() -> list[dict[str, Any]]:
    """All figures of this module, as rows for the report."""
    rows: list[dict[str, Any]] = []
    for command_len, response_len in SIZES:
        b = wire_bytes(command_len, response_len)
        rows.append(
            {
                "figure": f"link bytes / APDU bytes, {command_len}+{response_len} B",
                "compat (full echo)": round(b["compat_full_echo"] / b["apdu"], 3),
                "compat (header echo)": round(b["compat_header_echo"] / b["apdu"], 3),
                "native": round(b["native"] / b["apdu"], 3),
                "method": "wire bytes of request+echo+answer over APDU bytes (sealed by cpsdi_proto)",
            }
        )
    compat = decoder_rate(False)
    native = decoder_rate(True)
    rows.append(
        {
            "figure": "FrameDecoder MiB/s on CPython (261-byte data frames)",
            "compat (full echo)": round(compat, 2),
            "compat (header echo)": round(compat, 2),
            "native": round(native, 2),
            "method": "1 MiB stream fed in one call; same run; native/compat = " + f"{native / compat:.2f}",
        }
    )
    return rows
