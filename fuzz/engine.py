"""Run the fuzz targets: atheris (libFuzzer, coverage-guided) in a child process per target,
or hypothesis in process when atheris is not installed.

What counts as a failure:

* any exception a target lets escape (targets catch their parser's documented errors);
* a hang: one input running longer than ``timeout_s`` (libFuzzer ``-timeout``; under
  hypothesis a SIGALRM watchdog);
* memory: RSS over ``rss_limit_mb`` (libFuzzer ``-rss_limit_mb``), or RSS growing by more
  than ``growth_limit_mb`` between the end of the warm-up (10 % of the inputs) and the end.

The worker writes its figures (inputs, elapsed time, RSS samples) to
``fuzz/work/<target>/stats.json`` every few thousand inputs, because libFuzzer ends the
process with ``exit()`` and no Python code runs after the last input.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FUZZ_DIR = Path(__file__).resolve().parent
ROOT = FUZZ_DIR.parent
CORPUS_DIR = FUZZ_DIR / "corpus"
WORK_DIR = FUZZ_DIR / "work"
INSTRUMENTED = ["cpsdi", "cpsdi_proto", "cpsdi_fw", "cpsdi_boards"]
STATS_EVERY = 2000


@dataclass
class Options:
    """What one run asks for."""

    inputs: int = 100_000
    budget_s: float = 600.0
    timeout_s: int = 5
    rss_limit_mb: int = 1536
    growth_limit_mb: float = 64.0
    engine: str = "auto"  # auto | atheris | mutate | hypothesis
    seed: int = 0
    guided_inputs: int = 200_000  # auto: at most this many inputs under atheris, then the mutate phase
    guided_budget_s: float = 120.0


@dataclass
class Result:
    """Figures of one target's run."""

    target: str
    engine: str
    inputs: int = 0
    elapsed_s: float = 0.0
    coverage: int | None = None  # libFuzzer "cov": instrumented Python edges reached
    features: int | None = None  # libFuzzer "ft"
    corpus: int | None = None
    rss_start_mb: float | None = None
    rss_end_mb: float | None = None
    failure: str = ""  # "" = clean
    artifact: str = ""
    log: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    phases: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Inputs per second."""
        return self.inputs / self.elapsed_s if self.elapsed_s else 0.0


def rss_mb(pid: int | str = "self") -> float:
    """Resident set size of process ``pid`` (this one by default), in MiB (Linux /proc; 0 elsewhere)."""
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / (1 << 20)


def child_env() -> dict[str, str]:
    """This environment with the repository first on PYTHONPATH (``python -m fuzz...`` children)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def atheris_available() -> bool:
    """True if atheris imports here."""
    try:
        import atheris  # noqa: F401
    except ImportError:
        return False
    return True


class _Stats:
    """Counts inputs and samples RSS; written to ``path`` every STATS_EVERY inputs."""

    def __init__(self, path: Path, total: int) -> None:
        self.path = path
        self.total = total
        self.count = 0
        self.start = time.monotonic()
        self.samples: list[tuple[int, float]] = [(0, rss_mb())]
        self.warm_at = max(STATS_EVERY, total // 10)

    def tick(self) -> None:
        self.count += 1
        if self.count % STATS_EVERY == 0:
            self.samples.append((self.count, rss_mb()))
            self.write()

    def write(self) -> None:
        data = {"inputs": self.count, "elapsed_s": time.monotonic() - self.start, "rss": self.samples[-200:]}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self.path)


def worker(name: str, options: Options) -> None:
    """Child process: run ``name`` under atheris until ``options.inputs`` or the budget."""
    import atheris

    with atheris.instrument_imports(include=INSTRUMENTED):
        from fuzz import targets
    target = targets.TARGETS[name]
    work = WORK_DIR / name
    (work / "corpus").mkdir(parents=True, exist_ok=True)
    (work / "artifacts").mkdir(parents=True, exist_ok=True)
    stats = _Stats(work / "stats.json", options.inputs)
    run = target.run

    def one(data: bytes) -> None:
        stats.tick()
        run(data)

    argv = [
        "fuzz-" + name,
        str(work / "corpus"),
        str(CORPUS_DIR / name),
        f"-runs={options.inputs}",
        f"-max_total_time={int(options.budget_s)}",
        f"-timeout={options.timeout_s}",
        f"-rss_limit_mb={options.rss_limit_mb}",
        f"-max_len={target.max_len}",
        f"-artifact_prefix={work / 'artifacts'}/",
        f"-seed={options.seed}",
        "-print_final_stats=1",
        "-reload=0",
    ]
    stats.write()
    atheris.Setup(argv, one)
    atheris.Fuzz()


_COV = re.compile(r"#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)")
_DONE = re.compile(r"Done (\d+) runs in (\d+) second")
_UNITS = re.compile(r"stat::number_of_executed_units: (\d+)")
_ARTIFACT = re.compile(r"Test unit written to (\S+)")


def _parse_log(text: str, result: Result) -> None:
    for m in _COV.finditer(text):
        result.coverage = int(m.group(2))
        result.features = int(m.group(3))
        result.corpus = int(m.group(4))
    m2 = _UNITS.search(text)
    if m2:
        result.inputs = int(m2.group(1))
    art = _ARTIFACT.search(text)
    if art:
        result.artifact = art.group(1)
    for marker, what in (("ERROR: libFuzzer: timeout", "hang (per-input deadline)"),
                         ("ERROR: libFuzzer: out-of-memory", "out of memory (rss limit)"),
                         ("=== Uncaught Python exception: ===", "uncaught exception"),
                         ("ERROR: libFuzzer: deadly signal", "crash (signal)")):
        if marker in text and not result.failure:
            result.failure = what
    if result.failure == "uncaught exception":
        tail = text.split("=== Uncaught Python exception: ===", 1)[1].strip().splitlines()
        last = [line for line in tail if line and not line.startswith((" ", "Traceback"))]
        if last:
            result.failure += ": " + last[0][:300]


def _memory(result: Result, stats_path: Path, options: Options) -> None:
    try:
        stats = json.loads(stats_path.read_text())
    except (OSError, ValueError):
        return
    samples = [tuple(s) for s in stats.get("rss", [])]
    if not result.inputs:
        result.inputs = int(stats.get("inputs", 0))
    if len(samples) >= 2:
        warm = max(STATS_EVERY, result.inputs // 10)
        after = [s for s in samples if s[0] >= warm] or samples[-1:]
        result.rss_start_mb = round(after[0][1], 1)
        result.rss_end_mb = round(samples[-1][1], 1)
        if not result.failure and result.rss_end_mb - result.rss_start_mb > options.growth_limit_mb:
            result.failure = f"memory growth {result.rss_end_mb - result.rss_start_mb:.1f} MiB after warm-up"


def run_atheris(name: str, options: Options) -> Result:
    """Fuzz ``name`` in a child process; parse its log and stats into a Result."""
    work = WORK_DIR / name
    work.mkdir(parents=True, exist_ok=True)
    stats_path = work / "stats.json"
    stats_path.unlink(missing_ok=True)
    log_path = work / "log.txt"
    cmd = [sys.executable, "-m", "fuzz", "_worker", name, "--inputs", str(options.inputs),
           "--budget-s", str(options.budget_s), "--timeout-s", str(options.timeout_s),
           "--rss-limit-mb", str(options.rss_limit_mb), "--seed", str(options.seed)]
    env = child_env()
    started = time.monotonic()
    with log_path.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            proc.wait(timeout=options.budget_s + 120)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
    result = Result(name, "atheris", elapsed_s=round(time.monotonic() - started, 1), log=str(log_path))
    text = log_path.read_text(errors="replace")
    _parse_log(text, result)
    _memory(result, stats_path, options)
    if proc.returncode != 0 and not result.failure:
        result.failure = f"worker exited with {proc.returncode}"
    return result


def run_hypothesis(name: str, options: Options) -> Result:
    """Fallback without atheris: the seeds, then hypothesis-generated inputs, in process."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    from fuzz import targets

    target = targets.TARGETS[name]
    work = WORK_DIR / name
    work.mkdir(parents=True, exist_ok=True)
    stats = _Stats(work / "stats.json", options.inputs)
    result = Result(name, "hypothesis")
    started = time.monotonic()

    def alarm(signum: int, frame: Any) -> None:
        raise TimeoutError(f"input ran longer than {options.timeout_s} s")

    previous = signal.signal(signal.SIGALRM, alarm)

    def one(data: bytes) -> None:
        stats.tick()
        signal.setitimer(signal.ITIMER_REAL, options.timeout_s)
        try:
            target.run(data)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)

    seeds = sorted((CORPUS_DIR / name).glob("*")) if (CORPUS_DIR / name).is_dir() else []
    failing = b""
    try:
        for path in seeds:
            failing = path.read_bytes()
            one(failing)
        remaining = max(0, options.inputs - len(seeds))

        @settings(max_examples=remaining, deadline=None, database=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck), derandomize=False)
        @given(st.binary(max_size=target.max_len))
        def generated(data: bytes) -> None:
            nonlocal failing
            failing = data
            if time.monotonic() - started > options.budget_s:
                return
            one(data)

        if remaining:
            generated()
    except Exception as exc:  # noqa: BLE001 - every escape is a finding
        result.failure = f"{type(exc).__name__}: {str(exc)[:300]}"
        artifact = work / "artifacts" / f"crash-{int(time.time())}"
        artifact.parent.mkdir(parents=True, exist_ok=True)
        artifact.write_bytes(failing)
        result.artifact = str(artifact)
    finally:
        signal.signal(signal.SIGALRM, previous)
    stats.write()
    result.inputs = stats.count
    result.elapsed_s = round(time.monotonic() - started, 1)
    _memory(result, work / "stats.json", options)
    return result


_MAGIC = (b"\x00", b"\xff", b"\x7f", b"\x80", b"\x03", b"\x06", b"\x0e", b"\xff\xff", b"\x00\x00",
          b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x00\x01\x00\x00", b"\x90\x00")


def mutate(rng: Any, data: bytes, corpus: list[bytes], max_len: int) -> bytes:
    """libFuzzer-style mutations of ``data`` (1 to 6 of them), at most ``max_len`` bytes."""
    buf = bytearray(data)
    for _ in range(1 + rng.randrange(6)):
        op = rng.randrange(9)
        n = len(buf)
        if op == 0 and n:
            buf[rng.randrange(n)] ^= 1 << rng.randrange(8)
        elif op == 1 and n:
            buf[rng.randrange(n)] = rng.randrange(256)
        elif op == 2:
            pos = rng.randrange(n + 1)
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(1 + rng.randrange(8)))
        elif op == 3 and n > 1:
            pos = rng.randrange(n)
            del buf[pos : pos + 1 + rng.randrange(min(16, n - pos))]
        elif op == 4 and n:
            src = rng.randrange(n)
            chunk = buf[src : src + 1 + rng.randrange(32)]
            pos = rng.randrange(n + 1)
            buf[pos:pos] = chunk
        elif op == 5 and corpus:
            other = corpus[rng.randrange(len(corpus))]
            cut = rng.randrange(len(buf) + 1)
            start = rng.randrange(len(other) + 1)
            buf = buf[:cut] + other[start:]
        elif op == 6:
            magic = _MAGIC[rng.randrange(len(_MAGIC))]
            pos = rng.randrange(n + 1)
            buf[pos : pos + len(magic)] = magic
        elif op == 7 and n:
            pos = rng.randrange(n)
            buf[pos] = (buf[pos] + rng.choice((1, -1, 2, -2, 16, -16))) & 0xFF
        elif op == 8 and n > 1:
            a, b = rng.randrange(n), rng.randrange(n)
            buf[a], buf[b] = buf[b], buf[a]
    return bytes(buf[:max_len])


def mutate_worker(name: str, options: Options) -> None:
    """Child process of the volume phase: mutations of the corpus (seeds + what atheris found),
    uninstrumented, each input under a SIGALRM deadline; result in ``work/<name>/mutate.json``."""
    import random

    from fuzz import targets

    target = targets.TARGETS[name]
    work = WORK_DIR / name
    (work / "artifacts").mkdir(parents=True, exist_ok=True)
    corpus: list[bytes] = []
    for folder in (CORPUS_DIR / name, work / "corpus"):
        if folder.is_dir():
            corpus += [p.read_bytes()[: target.max_len] for p in sorted(folder.iterdir()) if p.is_file()]
    corpus = corpus or [b""]
    rng = random.Random(options.seed or None)
    stats = _Stats(work / "stats.json", options.inputs)
    out: dict[str, Any] = {"failure": "", "artifact": "", "corpus": len(corpus)}

    def alarm(signum: int, frame: Any) -> None:
        raise TimeoutError(f"hang: an input ran longer than {options.timeout_s} s")

    signal.signal(signal.SIGALRM, alarm)
    deadline = time.monotonic() + options.budget_s
    run = target.run
    data = b""
    try:
        for data in corpus:
            stats.tick()
            signal.setitimer(signal.ITIMER_REAL, options.timeout_s)
            run(data)
            signal.setitimer(signal.ITIMER_REAL, 0)
        while stats.count < options.inputs and time.monotonic() < deadline:
            for _ in range(500):
                data = mutate(rng, corpus[rng.randrange(len(corpus))], corpus, target.max_len)
                stats.tick()
                signal.setitimer(signal.ITIMER_REAL, options.timeout_s)
                run(data)
                signal.setitimer(signal.ITIMER_REAL, 0)
            if rss_mb() > options.rss_limit_mb:
                raise MemoryError(f"RSS {rss_mb():.0f} MiB over the {options.rss_limit_mb} MiB limit")
    except BaseException as exc:  # noqa: BLE001 - every escape is a finding
        signal.setitimer(signal.ITIMER_REAL, 0)
        import hashlib
        import traceback

        artifact = work / "artifacts" / ("crash-" + hashlib.sha1(data).hexdigest())
        artifact.write_bytes(data)
        out["failure"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        out["artifact"] = str(artifact)
        out["traceback"] = traceback.format_exc()[-4000:]
    stats.write()
    out["inputs"] = stats.count
    out["elapsed_s"] = time.monotonic() - stats.start
    (work / "mutate.json").write_text(json.dumps(out, indent=1))


def run_mutate(name: str, options: Options) -> Result:
    """The volume phase in a child process (``python -m fuzz _mutate``)."""
    work = WORK_DIR / name
    work.mkdir(parents=True, exist_ok=True)
    (work / "mutate.json").unlink(missing_ok=True)
    stats_path = work / "stats.json"
    stats_path.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "fuzz", "_mutate", name, "--inputs", str(options.inputs),
           "--budget-s", str(options.budget_s), "--timeout-s", str(options.timeout_s),
           "--rss-limit-mb", str(options.rss_limit_mb), "--seed", str(options.seed)]
    env = child_env()
    started = time.monotonic()
    log_path = work / "mutate-log.txt"
    with log_path.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            proc.wait(timeout=options.budget_s + 120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    result = Result(name, "mutate", elapsed_s=round(time.monotonic() - started, 1), log=str(log_path))
    try:
        data = json.loads((work / "mutate.json").read_text())
    except (OSError, ValueError):
        result.failure = f"mutate worker exited with {proc.returncode} without a result"
        _memory(result, stats_path, options)
        return result
    result.inputs = int(data["inputs"])
    result.failure = data["failure"]
    result.artifact = data["artifact"]
    result.corpus = data["corpus"]
    _memory(result, stats_path, options)
    return result


def _combine(name: str, guided: Result, volume: Result) -> Result:
    total = Result(name, "atheris+mutate")
    total.inputs = guided.inputs + volume.inputs
    total.elapsed_s = round(guided.elapsed_s + volume.elapsed_s, 1)
    total.coverage, total.features, total.corpus = guided.coverage, guided.features, volume.corpus
    total.rss_start_mb, total.rss_end_mb = volume.rss_start_mb, volume.rss_end_mb
    total.failure = guided.failure or volume.failure
    total.artifact = guided.artifact or volume.artifact
    total.log = volume.log
    for phase in (guided, volume):
        total.phases.append({"engine": phase.engine, "inputs": phase.inputs, "elapsed_s": phase.elapsed_s,
                             "inputs_per_s": round(phase.rate, 1), "coverage": phase.coverage,
                             "features": phase.features, "rss_mb": [phase.rss_start_mb, phase.rss_end_mb],
                             "failure": phase.failure})
    return total


def run_target(name: str, options: Options) -> Result:
    """Run one target with the engine asked for.

    ``auto``: with atheris, a coverage-guided phase (at most ``guided_inputs`` inputs or
    ``guided_budget_s``), then the volume phase (``mutate``: the evolved corpus mutated
    without instrumentation, several times faster) up to ``inputs`` in all; without
    atheris, hypothesis."""
    engine = options.engine
    if engine == "auto" and not atheris_available():
        engine = "hypothesis"
    if engine == "auto":
        from dataclasses import replace

        guided_opts = replace(options, inputs=min(options.inputs, options.guided_inputs),
                              budget_s=min(options.budget_s, options.guided_budget_s))
        guided = run_atheris(name, guided_opts)
        if guided.failure or guided.inputs >= options.inputs:
            result = guided
        else:
            volume_opts = replace(options, inputs=options.inputs - guided.inputs,
                                  budget_s=max(1.0, options.budget_s - guided.elapsed_s))
            result = _combine(name, guided, run_mutate(name, volume_opts))
    elif engine == "atheris":
        result = run_atheris(name, options)
    elif engine == "mutate":
        result = run_mutate(name, options)
    else:
        result = run_hypothesis(name, options)
    results = WORK_DIR / "results"
    results.mkdir(parents=True, exist_ok=True)
    data = asdict(result)
    data["inputs_per_s"] = round(result.rate, 1)
    (results / f"{name}.json").write_text(json.dumps(data, indent=1))
    return result


def replay(name: str, paths: list[Path]) -> int:
    """Run ``name`` once on each file (no engine, no instrumentation); 1 if any fails."""
    from fuzz import targets

    target = targets.TARGETS[name]
    failed = 0
    for path in paths:
        try:
            target.run(path.read_bytes())
        except Exception:  # noqa: BLE001
            log.exception("%s: %s fails", name, path)
            failed += 1
        else:
            log.info("%s: %s ok", name, path)
    return 1 if failed else 0
