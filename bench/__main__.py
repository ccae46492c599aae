"""Run every benchmark, print one table, write build/bench.json: ``python -m bench``."""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

# One module per figure family (each run() returns rows with "figure" and "method");
# BENCH_ONLY=name,name selects some of them.
NAMES = ["card_wire", "host_link", "cps_reads", "pcsc_session", "update_throughput", "footprint", "link_framing"]


def _table(title: str, rows: list[dict[str, Any]]) -> Table:
    columns: list[str] = []
    for row in rows:
        columns.extend(c for c in row if c not in ("figure", "method") and c not in columns)
    table = Table(title=title)
    table.add_column("figure")
    for c in columns:
        table.add_column(c, justify="right")
    table.add_column("method")
    for row in rows:
        table.add_row(row["figure"], *(str(row.get(c, "")) for c in columns), row["method"])
    return table


def main() -> int:
    only = [n for n in os.environ.get("BENCH_ONLY", "").split(",") if n]
    console = Console(width=180)
    results: dict[str, list[dict[str, Any]]] = {}
    for name in NAMES:
        if only and name not in only:
            continue
        try:
            module = importlib.import_module(f"bench.{name}")
        except ImportError as exc:
            results[name] = [{"figure": name, "method": f"not available: {exc}"}]
            continue
        console.print(f"running {name} ...")
        results[name] = module.run()
    for name, rows in results.items():
        console.print(_table(name.replace("_", " "), rows))
    out = Path(__file__).resolve().parent.parent / "build" / "bench.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    console.print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
