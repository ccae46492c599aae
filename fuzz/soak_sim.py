"""``cpsdi sim`` with memory accounting, for the soak run (fuzz/soak.py).

``python -m fuzz.soak_sim STATS_PATH [cpsdi sim options...]`` runs the ``cpsdi sim`` command
unchanged, plus a daemon thread that writes the simulated firmware's memory figures to
STATS_PATH (JSON, rewritten every ``PERIOD_S``). On CPython, ``sys.getallocatedblocks()``
stands in for MicroPython's ``gc.mem_alloc()`` (memory blocks held by live objects; free to
read), with the process RSS and the number of objects the collector tracks.
``CPSDI_SOAK_TRACEMALLOC=1`` also records tracemalloc's bytes (``mem_alloc``, ``peak``), at
a cost: the simulator runs about 3.5 times slower.

The virtual cards' records (every character, gap and exchange, for in-process tests) are
bounded by ``runner.RECORDS_MAX_CHARS``; at its default (20 000 characters) they swing the
simulator between about 140 k and 600 k blocks, which hides a slow leak. Here the bounds are
``SOAK_RECORDS_MAX_CHARS`` / ``SOAK_RECORDS_MAX_COMMANDS``: the swing is a few thousand
blocks and what stays is the simulator's and the firmware's own memory.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import threading
import time
import tracemalloc
from pathlib import Path

PERIOD_S = 2.0
SOAK_RECORDS_MAX_CHARS = 500  # about 3 APDUs of records per card
SOAK_RECORDS_MAX_COMMANDS = 20


def _rss_mb() -> float:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / (1 << 20)


def _watch(path: Path) -> None:
    samples: list[dict[str, float]] = []
    start = time.monotonic()
    while True:
        time.sleep(PERIOD_S)
        current, peak = tracemalloc.get_traced_memory()
        samples.append({"t_s": round(time.monotonic() - start, 1), "mem_alloc": current, "peak": peak,
                        "rss_mb": round(_rss_mb(), 2), "gc_objects": len(gc.get_objects()),
                        "allocated_blocks": sys.getallocatedblocks()})
        if len(samples) > 2000:
            del samples[1:1001:2]  # keep the first, thin the middle
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(samples))
        tmp.replace(path)


def main() -> None:
    """Run ``cpsdi sim`` with the memory watch."""
    stats = Path(sys.argv[1])
    if os.environ.get("CPSDI_SOAK_TRACEMALLOC", "0") == "1":
        tracemalloc.start()
    from cpsdi_boards.sim import runner

    runner.RECORDS_MAX_CHARS = SOAK_RECORDS_MAX_CHARS  # read by SimSlots.trim_records at each call
    runner.RECORDS_MAX_COMMANDS = SOAK_RECORDS_MAX_COMMANDS
    threading.Thread(target=_watch, args=(stats,), daemon=True, name="memory-watch").start()
    from cpsdi.sim_cli import sim

    sim.main(args=sys.argv[2:], prog_name="cpsdi sim")


if __name__ == "__main__":
    main()
