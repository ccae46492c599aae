"""``python -m fuzz``: the robustness campaign's command line (fuzz/README.md).

    python -m fuzz list
    python -m fuzz run [TARGET ...] [--inputs N] [--budget-s S] [--timeout-s T] [--engine E]
    python -m fuzz replay TARGET FILE ...
    python -m fuzz seeds                # rewrite fuzz/corpus/ from tests/vectors
    python -m fuzz soak [--apdus N] ...  # fuzz/soak.py
    python -m fuzz mpsoak [--apdus N] ...  # the firmware's heap on MicroPython (tools/mpwasm/heap_soak.mjs)
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from fuzz import engine

log = logging.getLogger("fuzz")

TARGET_NAMES = ["link_fw", "link_host", "ccid_service", "atr", "t1", "card_apdu", "cps_codecs", "image_host",
                "image_device"]


def _options(ns: argparse.Namespace) -> engine.Options:
    return engine.Options(inputs=ns.inputs, budget_s=ns.budget_s, timeout_s=ns.timeout_s,
                          rss_limit_mb=ns.rss_limit_mb, engine=getattr(ns, "engine", "auto"), seed=ns.seed,
                          guided_inputs=getattr(ns, "guided_inputs", 200_000),
                          guided_budget_s=getattr(ns, "guided_budget_s", 120.0))


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--inputs", type=int, default=100_000, help="inputs per target (default 100000)")
    p.add_argument("--budget-s", type=float, default=600.0, help="time budget per target, seconds (default 600)")
    p.add_argument("--timeout-s", type=int, default=5, help="per-input deadline, whole seconds (default 5)")
    p.add_argument("--rss-limit-mb", type=int, default=1536, help="RSS limit of a fuzzing process (default 1536)")
    p.add_argument("--seed", type=int, default=0, help="libFuzzer seed (0: random)")


def _print_table(results: list[engine.Result]) -> None:
    print(f"{'target':<14}{'engine':<11}{'inputs':>10}{'s':>8}{'inputs/s':>10}{'cov':>7}{'ft':>7}"
          f"{'rss MiB':>16}  result")
    for r in results:
        rss = f"{r.rss_start_mb}->{r.rss_end_mb}" if r.rss_start_mb is not None else "-"
        print(f"{r.target:<14}{r.engine:<11}{r.inputs:>10}{r.elapsed_s:>8.0f}{r.rate:>10.0f}"
              f"{r.coverage if r.coverage is not None else '-':>7}{r.features if r.features is not None else '-':>7}"
              f"{rss:>16}  {r.failure or 'clean'}{'  ' + r.artifact if r.artifact else ''}")


def _report() -> None:
    import json

    print("| target | inputs | time (s) | inputs/s | guided phase: inputs, inputs/s, cov, ft | volume phase: "
          "inputs, inputs/s | RSS after warm-up → end (MiB) | result |")
    print("|---|---:|---:|---:|---|---|---|---|")
    for name in TARGET_NAMES:
        path = engine.WORK_DIR / "results" / f"{name}.json"
        if not path.exists():
            continue
        r = json.loads(path.read_text())
        phases = {p["engine"]: p for p in r.get("phases", [])}
        g, v = phases.get("atheris"), phases.get("mutate")
        guided = f"{g['inputs']:,}, {g['inputs_per_s']:,.0f}/s, {g['coverage']}, {g['features']}" if g else "-"
        volume = f"{v['inputs']:,}, {v['inputs_per_s']:,.0f}/s" if v else "-"
        print(f"| `{name}` | {r['inputs']:,} | {r['elapsed_s']:,.0f} | {r['inputs_per_s']:,.0f} | {guided} | {volume} "
              f"| {r['rss_start_mb']} → {r['rss_end_mb']} | {r['failure'] or 'clean'} |")


def _mpsoak(args: list[str]) -> int:
    """``node tools/mpwasm/heap_soak.mjs ARGS`` (set up by tools/setup.sh); its exit status."""
    import shutil
    import subprocess

    script = engine.ROOT / "tools" / "mpwasm" / "heap_soak.mjs"
    node = shutil.which("node")
    if node is None or not (script.parent / "node_modules").is_dir():
        print("python -m fuzz mpsoak: needs node and tools/mpwasm/node_modules (bash tools/setup.sh)", file=sys.stderr)
        return 2
    if "--report" not in args:
        (engine.WORK_DIR).mkdir(parents=True, exist_ok=True)
        args = [*args, "--report", str(engine.WORK_DIR / "mpsoak.json")]
    return subprocess.run([node, str(script), *args], check=False).returncode


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["soak"]:  # its own options (fuzz/soak.py)
        from fuzz import soak as soak_mod

        return soak_mod.main(args[1:])
    if args[:1] == ["mpsoak"]:  # its own options, passed to the node script
        return _mpsoak(args[1:])
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the targets")
    run = sub.add_parser("run", help="fuzz targets one after the other (all by default)")
    run.add_argument("targets", nargs="*", metavar="TARGET", help=", ".join(TARGET_NAMES))
    run.add_argument("--engine", choices=["auto", "atheris", "mutate", "hypothesis"], default="auto",
                     help="auto: atheris (coverage-guided) then mutate (volume); hypothesis without atheris")
    run.add_argument("--guided-inputs", type=int, default=200_000, help="auto: inputs of the atheris phase")
    run.add_argument("--guided-budget-s", type=float, default=120.0, help="auto: time of the atheris phase")
    _add_run_options(run)
    worker = sub.add_parser("_worker", help=argparse.SUPPRESS)
    worker.add_argument("target", choices=TARGET_NAMES)
    _add_run_options(worker)
    mut = sub.add_parser("_mutate", help=argparse.SUPPRESS)
    mut.add_argument("target", choices=TARGET_NAMES)
    _add_run_options(mut)
    rep = sub.add_parser("replay", help="run a target on files (crash reproduction)")
    rep.add_argument("target", choices=TARGET_NAMES)
    rep.add_argument("files", nargs="+", type=Path)
    sub.add_parser("seeds", help="rewrite the seed corpora from tests/vectors")
    sub.add_parser("report", help="the figures of the last runs (fuzz/work/results) as a Markdown table")
    sub.add_parser("soak", help="APDUs through Reader + paced pty + cpsdi sim (python -m fuzz soak --help)")
    sub.add_parser("mpsoak", help="the whole firmware's heap on MicroPython-WebAssembly (python -m fuzz mpsoak --help)")
    ns = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    if ns.command == "list":
        from fuzz import targets

        for name in TARGET_NAMES:
            t = targets.TARGETS[name]
            print(f"{name:<14}{t.covers}\n{'':<14}documented errors: {t.errors}")
        return 0
    if ns.command == "_worker":
        engine.worker(ns.target, _options(ns))
        return 0
    if ns.command == "_mutate":
        engine.mutate_worker(ns.target, _options(ns))
        return 0
    if ns.command == "replay":
        return engine.replay(ns.target, ns.files)
    if ns.command == "report":
        _report()
        return 0
    if ns.command == "seeds":
        from fuzz import seeds

        seeds.write_all()
        return 0
    unknown = [t for t in ns.targets if t not in TARGET_NAMES]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(TARGET_NAMES)}")
    options = _options(ns)
    results = []
    for name in ns.targets or TARGET_NAMES:
        log.info("fuzzing %s (%d inputs, budget %.0f s)", name, options.inputs, options.budget_s)
        result = engine.run_target(name, options)
        results.append(result)
        _print_table([result])
    print()
    _print_table(results)
    return 1 if any(r.failure for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
