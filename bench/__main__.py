"""Run every benchmark, print one table, write build/bench.json: ``python -m bench``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench import link_framing

MODULES = [link_framing]


def main() -> int:
    rows = [row for module in MODULES for row in module.run()]
    columns = [c for c in rows[0] if c not in ("figure", "method")]
    table = Table(title="cpsdi benchmarks (ratios from one run)")
    table.add_column("figure")
    for c in columns:
        table.add_column(c, justify="right")
    table.add_column("method")
    for row in rows:
        table.add_row(row["figure"], *(str(row.get(c, "")) for c in columns), row["method"])
    Console(width=200).print(table)
    out = Path(__file__).resolve().parent.parent / "build" / "bench.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
