"""Soak run: APDUs through the host library, a paced pty and ``cpsdi sim``, with link and card faults.

    python -m fuzz soak --apdus 100000          # the campaign figure
    python -m fuzz soak --apdus 1000            # a quick check

The stack is the real one: ``cpsdi.reader.Reader`` (native mode, CRC-32 frames) over a
pyserial port on the pty of a ``cpsdi sim`` process (``fuzz/soak_sim.py``: the simulator with
memory accounting), paced at ``--baud`` then switched to ``--link-baud`` by the host as any
client does. Between the host and the pty a **link-fault injector** (:class:`FaultyPort`)
drops or corrupts ``--link-faults`` (2 %) of the frames in each direction, at frame
granularity. Each slot holds a test card (slot 0 T=1, slot 1 T=0) with a random **card-fault
script** (docs/fault-scripts.md): EDC errors, dropped and truncated blocks, WTX, parity errors
with repetition, NULL bytes, late bytes, one mute card. Sessions are power cycles of random
length, so the faults (counted from each reset) fall on every kind of command.

Commands are the test applet's (boards/cpsdi_boards/sim/test_applet.py), each with a known
answer: INCREMENT (the card's counter + 1: a command executed twice shows as a skipped value),
GET DATA 00 01 (the counter), ECHO (the data reversed), READ BINARY (a fixed pattern). After
a failed command (an exception: the faults may exceed the retry limits) the counter is read
back: it may have moved by at most the one INCREMENT that failed.

Verdicts: ``wrong`` (an answer that is not the expected one), ``double`` (a command executed
twice), and the memory figures: host RSS and open file descriptors, the simulated firmware's
allocated blocks (``sys.getallocatedblocks()``, the CPython stand-in for ``gc.mem_alloc()``;
``--sim-tracemalloc`` adds tracemalloc bytes), object count and RSS, first sample after the
warm-up against the last.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from cpsdi_boards.sim.test_applet import read_binary_bytes
from cpsdi_proto import decoder as dec
from cpsdi_proto.gempc import SYNC

from cpsdi import reader as reader_mod
from cpsdi.exceptions import ReaderError
from cpsdi.reader import CardConnection, Reader
from cpsdi.transport import SerialLike, Transport, open_port

from fuzz import engine, soak_sim

log = logging.getLogger("fuzz.soak")

ROOT = Path(__file__).resolve().parent.parent
WARMUP = 0.1  # memory: the first sample after this fraction of the run is the reference


def _open_fds() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return -1


class FaultyPort:
    """A pyserial-like port that drops or corrupts a fraction of the frames, both directions.

    Host -> reader: the link client writes one frame per ``write``; with probability ``rate``
    it is dropped or gets one bit flipped. Reader -> host: a FrameDecoder follows the byte
    stream; when a frame starts (SYNC between frames) it is dropped whole or gets one bit
    flipped in its header with probability ``rate``. Keep-alive bytes and notifications pass.
    """

    _port: SerialLike
    _rng: random.Random

    def __init__(self, port: SerialLike, rate: float, rng: random.Random) -> None:
        self._port = port
        self._rate = rate
        self._rng = rng
        self._track = dec.FrameDecoder(from_reader=True, native_max_message=65546)
        self._mode = ""  # fault on the reader frame in progress: "", "drop", "flip"
        self._flip_at = 0
        self._pos = 0
        self.enabled = False
        self.counts: Counter[str] = Counter()

    # attributes the transport reads and sets (timeout, baudrate, stopbits, in_waiting)
    def __getattr__(self, name: str) -> Any:
        return getattr(self._port, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_") or name in ("enabled", "counts"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._port, name, value)

    @property
    def in_waiting(self) -> int:
        return int(self._port.in_waiting)

    def write(self, data: bytes, /) -> int | None:
        if self.enabled and self._rng.random() < self._rate:
            if self._rng.random() < 0.5:
                self.counts["tx_dropped"] += 1
                return len(data)
            buf = bytearray(data)
            buf[self._rng.randrange(2, len(buf))] ^= 1 << self._rng.randrange(8)
            self.counts["tx_corrupted"] += 1
            written: int | None = self._port.write(bytes(buf))
            return written
        self.counts["tx_frames"] += 1
        written = self._port.write(data)
        return written

    def read(self, size: int = 1) -> bytes:
        data = bytes(self._port.read(size))
        if not data or not self.enabled:
            if data:
                self._follow(data)
            return data
        out = bytearray()
        track = self._track
        for b in data:
            starting = not track.in_frame and b == SYNC
            if starting:
                self._mode = ""
                if self._rng.random() < self._rate:
                    self._mode = "drop" if self._rng.random() < 0.5 else "flip"
                    self._flip_at = self._rng.randrange(1, 12)
                    self.counts["rx_dropped" if self._mode == "drop" else "rx_corrupted"] += 1
                else:
                    self.counts["rx_frames"] += 1
                self._pos = 0
            in_fault = self._mode and (track.in_frame or starting)
            self._follow(bytes([b]))
            if in_fault:
                self._pos += 1
                if self._mode == "drop":
                    continue
                if self._pos - 1 == self._flip_at:
                    b ^= 1 << self._rng.randrange(8)
            out.append(b)
        return bytes(out)

    def _follow(self, data: bytes) -> None:
        i = 0
        while i < len(data):
            i = self._track.feed(data, i, len(data))
            if self._track.kind == dec.EV_NONE:
                break

    def reset_input_buffer(self) -> None:
        self._port.reset_input_buffer()

    def flush(self) -> None:
        self._port.flush()

    def close(self) -> None:
        self._port.close()


def card_fault_script(rng: random.Random, t1: bool, max_k: int) -> str:
    """A random fault script (docs/fault-scripts.md) for the test card of one slot."""
    lines = []
    positions = rng.sample(range(2, max_k), 12)
    for k in positions:
        if t1:
            choice = rng.randrange(6)
            if choice == 0:
                lines.append(f"corrupt edc of block {k}")
            elif choice == 1:
                lines.append(f"drop block {k}")
            elif choice == 2:
                lines.append(f"truncate block {k} after {rng.randrange(1, 4)}")
            elif choice == 3:
                lines.append(f"wtx {rng.randrange(1, 4):02X} times {rng.randrange(1, 4)} before block {k}")
            elif choice == 4:
                lines.append(f"parity response {k} byte {rng.randrange(1, 4)}")
            else:
                lines.append(f"delay response {k} byte 1 by {rng.randrange(10, 500)}")
        else:
            choice = rng.randrange(4)
            if choice == 0:
                lines.append(f"parity response {k} byte 1")
            elif choice == 1:
                lines.append(f"nulls {rng.randrange(1, 40)} before response {k}")
            elif choice == 2:
                lines.append(f"delay response {k} byte 1 by {rng.randrange(10, 500)}")
            else:
                lines.append(f"parity response {k} byte 2 times 2")
    lines.append(f"mute from response {rng.randrange(5, max_k)} once")
    return "\n".join(lines) + "\n"


@dataclass
class SlotState:
    """What the soak knows about one slot's card."""

    index: int
    conn: CardConnection | None = None
    counter: int = -1  # the card's counter as the host last saw it (-1: unknown)
    session_left: int = 0


@dataclass
class Figures:
    """The soak's figures (printed and written as JSON)."""

    apdus: int = 0
    answered: int = 0
    wrong: int = 0
    double: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    sessions: int = 0
    elapsed_s: float = 0.0
    host_rss_mb: list[tuple[int, float]] = field(default_factory=list)
    host_fds: list[tuple[int, int]] = field(default_factory=list)
    sim: list[dict[str, float]] = field(default_factory=list)
    link_faults: dict[str, int] = field(default_factory=dict)
    reader_counters: dict[str, int] = field(default_factory=dict)
    wrong_examples: list[str] = field(default_factory=list)


class Soak:
    """One soak run (see the module docstring)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.fig = Figures()
        self.slots = [SlotState(0), SlotState(1)]
        self.reader: Reader | None = None
        self.port: FaultyPort | None = None
        self.proc: subprocess.Popen[str] | None = None
        self.tmp = Path(tempfile.mkdtemp(prefix="cpsdi-soak-"))
        self.sim_stats = self.tmp / "sim-stats.jsonl"

    # -- set-up ----------------------------------------------------------------------------
    def start_sim(self) -> str:
        a = self.args
        faults = []
        if a.card_faults:
            for slot, t1 in ((0, True), (1, False)):
                path = self.tmp / f"faults-{slot}.txt"
                path.write_text(card_fault_script(self.rng, t1, a.session_max + 40))
                faults += ["--fault", f"{slot}={path}"]
        cmd = [sys.executable, "-m", "fuzz.soak_sim", str(self.sim_stats), "--card", "t1", "--card", "t0",
               "--card-time", "virtual", "--baud", str(a.baud), "--duration", str(a.max_duration_s), *faults]
        env = engine.child_env()
        env["CPSDI_SOAK_TRACEMALLOC"] = "1" if a.sim_tracemalloc else "0"
        stderr = (self.tmp / "sim.stderr").open("w")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env, cwd=ROOT)
        assert self.proc.stdout is not None
        pty_path = self.proc.stdout.readline().strip()
        if not pty_path.startswith("/dev/"):
            raise RuntimeError("cpsdi sim did not start: " + (self.tmp / "sim.stderr").read_text()[-2000:])
        return pty_path

    def open_reader(self, path: str) -> Reader:
        a = self.args
        self.port = FaultyPort(open_port(path), a.link_faults, self.rng)
        transport = Transport(self.port, url=path)
        reader = Reader.open(path, transport=transport, timeout_s=a.timeout_s, link_baud=a.link_baud or None)
        self.port.enabled = a.link_faults > 0
        return reader

    # -- the commands ------------------------------------------------------------------------
    def _command(self, st: SlotState) -> tuple[str, bytes, bytes | None]:
        """(kind, APDU, expected response incl. SW or None when it depends on the counter)."""
        r = self.rng.random()
        if r < 0.4:
            return "increment", bytes.fromhex("0032000004"), None
        if r < 0.55:
            return "get_data", bytes.fromhex("00CA000104"), None
        if r < 0.8:
            n = self.rng.randrange(1, 200)
            data = bytes(self.rng.randrange(256) for _ in range(n))
            return "echo", bytes([0x00, 0x88, 0x00, 0x00, n]) + data + b"\x00", data[::-1] + b"\x90\x00"
        offset = self.rng.randrange(0, 0x7FFF)
        le = self.rng.randrange(1, 256)
        return "read_binary", bytes([0x00, 0xB0, offset >> 8, offset & 0xFF, le]), \
            read_binary_bytes(offset, le) + b"\x90\x00"

    def _connect(self, st: SlotState) -> CardConnection | None:
        assert self.reader is not None
        for _ in range(10):
            try:
                conn = self.reader.slots[st.index].connect()
            except ReaderError as exc:
                self.fig.failed["connect:" + type(exc).__name__] += 1
                continue
            st.session_left = self.rng.randrange(self.args.session_min, self.args.session_max)
            self.fig.sessions += 1
            return conn
        raise RuntimeError(f"slot {st.index}: no connection in 10 attempts")

    def _drop(self, st: SlotState) -> None:
        conn, st.conn = st.conn, None
        if conn is not None and not conn.closed:
            try:
                conn.disconnect()
            except ReaderError as exc:
                self.fig.failed["disconnect:" + type(exc).__name__] += 1

    def _read_counter(self, st: SlotState) -> int:
        """The card's counter (GET DATA), reconnecting as needed."""
        for _ in range(10):
            if st.conn is None or st.conn.closed:
                st.conn = self._connect(st)
            assert st.conn is not None
            try:
                resp = st.conn.transmit(bytes.fromhex("00CA000104"))
            except ReaderError as exc:
                self.fig.failed["resync:" + type(exc).__name__] += 1
                self._drop(st)
                continue
            if resp.sw == 0x9000 and len(resp.data) == 4:
                return int.from_bytes(resp.data, "big")
            self._wrong(f"slot {st.index} GET DATA answered {resp.data.hex()} {resp.sw:04X}")
        raise RuntimeError(f"slot {st.index}: the counter cannot be read")

    def _wrong(self, text: str) -> None:
        self.fig.wrong += 1
        if len(self.fig.wrong_examples) < 20:
            self.fig.wrong_examples.append(text)
        log.error("WRONG: %s", text)

    def step(self, i: int) -> None:
        st = self.slots[self.rng.randrange(2)]
        if st.conn is None or st.conn.closed:
            st.conn = self._connect(st)
        if st.counter < 0:
            st.counter = self._read_counter(st)
        kind, apdu, expected = self._command(st)
        self.fig.kinds[kind] += 1
        self.fig.apdus += 1
        assert st.conn is not None
        try:
            resp = st.conn.transmit(apdu)
        except ReaderError as exc:
            self.fig.failed[f"{kind}:{type(exc).__name__}"] += 1
            self._drop(st)
            before = st.counter
            st.counter = self._read_counter(st)
            allowed = (before, before + 1) if kind == "increment" else (before,)
            if st.counter not in allowed:
                if st.counter > max(allowed):
                    self.fig.double += 1
                    log.error("DOUBLE: slot %d counter %d after a failed %s (was %d)", st.index, st.counter,
                              kind, before)
                else:
                    self._wrong(f"slot {st.index} counter went back from {before} to {st.counter}")
            return
        self.fig.answered += 1
        got = resp.data + resp.sw.to_bytes(2, "big")
        if kind == "increment":
            value = int.from_bytes(resp.data, "big") if resp.sw == 0x9000 and len(resp.data) == 4 else -1
            if value == st.counter + 1:
                st.counter = value
            elif value > st.counter + 1:
                self.fig.double += 1
                log.error("DOUBLE: slot %d INCREMENT answered %d, expected %d", st.index, value, st.counter + 1)
                st.counter = value
            else:
                self._wrong(f"slot {st.index} INCREMENT answered {got.hex()}, counter {st.counter}")
                st.counter = -1
        elif kind == "get_data":
            if got != st.counter.to_bytes(4, "big") + b"\x90\x00":
                self._wrong(f"slot {st.index} GET DATA answered {got.hex()}, counter {st.counter}")
                st.counter = -1
        elif got != expected:
            self._wrong(f"slot {st.index} {kind} {apdu.hex()} answered {got.hex()}")
        st.session_left -= 1
        if st.session_left <= 0:
            self._drop(st)

    def sample(self, i: int) -> None:
        self.fig.host_rss_mb.append((i, round(engine.rss_mb(), 2)))
        self.fig.host_fds.append((i, _open_fds()))

    def run(self) -> Figures:
        a = self.args
        reader_mod.POWER_ON_TIMEOUT_S = a.timeout_s * 4  # a lost power-on answer is retried sooner
        path = self.start_sim()
        start = time.monotonic()
        try:
            self.reader = self.open_reader(path)
            every = max(1, a.apdus // 100)
            for i in range(a.apdus):
                if i % every == 0:
                    self.sample(i)
                    if i % (every * 10) == 0:
                        log.info("%d APDUs, %d wrong, %d double, failed %d, %.0f APDU/s", i, self.fig.wrong,
                                 self.fig.double, sum(self.fig.failed.values()),
                                 i / max(1e-9, time.monotonic() - start))
                self.step(i)
            self.sample(a.apdus)
            for st in self.slots:
                self._drop(st)
            assert self.port is not None
            self.port.enabled = False
            self.fig.reader_counters = self.reader.counters()
            self.fig.link_faults = dict(self.port.counts)
        finally:
            self.fig.elapsed_s = round(time.monotonic() - start, 1)
            if self.reader is not None:
                self.reader.close()
            if self.proc is not None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            try:
                self.fig.sim = soak_sim.read_stats(self.sim_stats)
            except (OSError, ValueError):
                self.fig.sim = []
        return self.fig


def _growth(samples: list[tuple[int, float]] | list[tuple[int, int]], total: int) -> tuple[float, float]:
    warm = [s for s in samples if s[0] >= total * WARMUP] or samples
    return float(warm[0][1]), float(samples[-1][1])


def per_fifth(samples: list[dict[str, Any]], key: str, pick: Callable[[list[Any]], Any] = min) -> list[Any]:
    """``pick`` (min by default) of ``key`` in each fifth of the run, by sample time.

    The simulator's heap fills up to the records' bound and starts afresh, so a first/last
    comparison depends on where in that cycle the last sample falls; the troughs do not.
    """
    if not samples:
        return []
    t0_s, end_s = samples[0]["t_s"], samples[-1]["t_s"]
    span_s = (end_s - t0_s) or 1.0
    fifths: list[list[Any]] = [[] for _ in range(5)]
    for s in samples:
        fifths[min(4, int(5 * (s["t_s"] - t0_s) / span_s))].append(s[key])
    return [pick(f) for f in fifths if f]


def report(fig: Figures, args: argparse.Namespace) -> dict[str, Any]:
    """The figures as a dict (also printed)."""
    rss0, rss1 = _growth(fig.host_rss_mb, fig.apdus)
    fd0, fd1 = _growth(fig.host_fds, fig.apdus)
    sim = fig.sim
    sim_warm = [s for s in sim if s["t_s"] >= fig.elapsed_s * WARMUP] or sim
    out: dict[str, Any] = {
        "apdus": fig.apdus, "answered": fig.answered, "failed": sum(fig.failed.values()),
        "failed_by_kind": dict(fig.failed), "wrong": fig.wrong, "double": fig.double, "sessions": fig.sessions,
        "kinds": dict(fig.kinds), "elapsed_s": fig.elapsed_s,
        "apdus_per_s": round(fig.apdus / fig.elapsed_s, 1) if fig.elapsed_s else 0,
        "host_rss_mb": [rss0, rss1], "host_fds": [fd0, fd1],
        "sim_allocated_blocks": [sim_warm[0]["allocated_blocks"], sim[-1]["allocated_blocks"]] if sim else None,
        "sim_blocks_min_per_fifth": per_fifth(sim_warm, "allocated_blocks"),
        "sim_rss_mb_max_per_fifth": per_fifth(sim_warm, "rss_mb", max),
        "sim_tracemalloc_bytes": [sim_warm[0]["mem_alloc"], sim[-1]["mem_alloc"]] if sim and args.sim_tracemalloc
        else None,
        "sim_rss_mb": [sim_warm[0]["rss_mb"], sim[-1]["rss_mb"]] if sim else None,
        "sim_gc_objects": [sim_warm[0]["gc_objects"], sim[-1]["gc_objects"]] if sim else None,
        "link_faults": fig.link_faults, "reader_counters": fig.reader_counters,
        "wrong_examples": fig.wrong_examples,
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
    }
    print(json.dumps(out, indent=1))
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m fuzz soak``; exit status 1 on a wrong answer, a double execution or a leak."""
    p = argparse.ArgumentParser(prog="python -m fuzz soak", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--apdus", type=int, default=100_000)
    p.add_argument("--link-faults", type=float, default=0.02, help="fraction of frames dropped/corrupted, each way")
    p.add_argument("--no-card-faults", dest="card_faults", action="store_false")
    p.add_argument("--baud", type=int, default=115200, help="the sim's line rate at start (paced)")
    p.add_argument("--link-baud", type=int, default=921600, help="the host moves the link there (0: stay)")
    p.add_argument("--timeout-s", type=float, default=0.25, help="the link client's read timeout")
    p.add_argument("--session-min", type=int, default=20, help="APDUs per power cycle, at least")
    p.add_argument("--session-max", type=int, default=150, help="APDUs per power cycle, at most")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--max-duration-s", type=float, default=6 * 3600, help="the sim stops after this")
    p.add_argument("--growth-limit-mb", type=float, default=8.0, help="host/sim RSS growth that counts as a leak")
    p.add_argument("--sim-tracemalloc", action="store_true",
                   help="also trace the simulator's allocations with tracemalloc (about 3.5x slower)")
    p.add_argument("--report", type=Path, default=ROOT / "fuzz" / "work" / "soak.json")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("cpsdi").setLevel(logging.WARNING)
    fig = Soak(args).run()
    out = report(fig, args)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(out, indent=1))
    leak = out["host_rss_mb"][1] - out["host_rss_mb"][0] > args.growth_limit_mb or out["host_fds"][1] > out["host_fds"][0]
    if out["sim_rss_mb"]:
        leak = leak or out["sim_rss_mb"][1] - out["sim_rss_mb"][0] > args.growth_limit_mb
        troughs = out["sim_blocks_min_per_fifth"]
        # flat: the last fifth's trough within 10 % of the first's (after the warm-up)
        leak = leak or troughs[-1] > troughs[0] * 1.10 + 1000
    return 1 if fig.wrong or fig.double or leak else 0


if __name__ == "__main__":
    sys.exit(main())
