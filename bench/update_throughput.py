"""Update-channel throughput over the paced pty: ``python -m bench.update_throughput [KiB ...]``.

Starts ``cpsdi sim`` (115 200 bd, 8N2 then 8N1, native framing at 1034- then 2058-byte messages), pushes a
signed image (TEST key A, synthetic bundle) with ``cpsdi.update.client.update`` and reports the
payload bytes per second from BEGIN to the last WRITE acknowledgement, against the line's byte
rate (baud / 11 at 8N2 = 10 473 B/s, baud / 10 at 8N1 = 11 520 B/s). FINISH, the reboot and the
confirmation are timed apart.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "sim"))
sys.path.insert(0, str(ROOT / "tests" / "vectors"))


def one(size: int, stop_bits: int, baud: int = 115200, native_max: int = 1034) -> dict[str, Any]:
    from _update_sim import make_image

    from cpsdi.reader import Reader
    from cpsdi.transport import Transport
    from cpsdi.update.client import update

    image = make_image("2.0.0", 100 + size, size, files=16)
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen([sys.executable, "-c", "from cpsdi.sim_cli import sim; sim()", "--baud", str(baud),
                                 "--stop-bits", str(stop_bits), "--native-max", str(native_max), "--storage", tmp, "--slot-size", str(size + 8192),
                                 "--duration", "300"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert proc.stdout is not None
        path = proc.stdout.readline().strip()
        try:
            transport = Transport.open(path)
            transport.set_line(baud, stop_bits)
            with Reader.open(path, transport=transport) as reader:
                t0 = time.monotonic()
                result = update(reader, image)
                total = time.monotonic() - t0
        finally:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
    line = baud / (1 + 8 + stop_bits)
    return {
        "figure": f"update {size // 1024} KiB, {baud} 8N{stop_bits}, {native_max}-byte messages",
        "bytes": result.sent_bytes,
        "transfer_s": round(result.seconds, 2),
        "B/s": round(result.bytes_per_second),
        "line B/s": round(line),
        "% of line": round(100 * result.bytes_per_second / line, 1),
        "finish+reboot+confirm_s": round(total - result.seconds, 2),
        "method": f"cpsdi sim pty, native, stop-and-wait {native_max - 16}-byte WRITEs",
    }


def run(sizes_kib: tuple[int, ...] = (128,)) -> list[dict[str, Any]]:
    """1034-byte messages (the minimum every cpsdi reader grants) and 2058 (a reader granting
    2 KiB frames: `cpsdi sim --native-max 2058`), side by side."""
    return [one(k * 1024, stop_bits, native_max=m) for k in sizes_kib for m in (1034, 2058) for stop_bits in (2, 1)]


if __name__ == "__main__":
    sizes = tuple(int(a) for a in sys.argv[1:]) or (128,)
    for row in run(sizes):
        print(row)
