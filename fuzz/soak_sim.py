"""``cpsdi sim`` with memory accounting, for the soak run (fuzz/soak.py).

``python -m fuzz.soak_sim STATS_PATH [cpsdi sim options...]`` runs the ``cpsdi sim`` command
unchanged, plus a daemon thread that appends the simulated firmware's memory figures to
STATS_PATH every ``PERIOD_S`` (JSON lines; ``read_stats`` reads them). On CPython, ``sys.getallocatedblocks()``
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

from fuzz.engine import rss_mb

PERIOD_S = 2.0
SOAK_RECORDS_MAX_CHARS = 500  # about 3 APDUs of records per card
SOAK_RECORDS_MAX_COMMANDS = 20


def _watch(path: Path) -> None:
    # One JSON line per sample, appended: the samples are not kept in this process, whose
    # allocated blocks they would otherwise grow (about 6 per sample: the dict, its table and
    # its floats and ints, all untracked by the collector).
    start = time.monotonic()
    with path.open("a", encoding="ascii") as out:
        while True:
            time.sleep(PERIOD_S)
            current, peak = tracemalloc.get_traced_memory()
            blocks = sys.getallocatedblocks()
            out.write('{"t_s": %.1f, "mem_alloc": %d, "peak": %d, "rss_mb": %.2f, "gc_objects": %d, '
                      '"allocated_blocks": %d}\n' % (time.monotonic() - start, current, peak, rss_mb(),
                                                      len(gc.get_objects()), blocks))
            out.flush()


def read_stats(path: Path) -> list[dict[str, float]]:
    """The samples written by the watch (a last line cut by the process's end is left out)."""
    samples = []
    for line in path.read_text(encoding="ascii").splitlines():
        try:
            samples.append(json.loads(line))
        except ValueError:
            continue
    return samples


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
