"""Stock pcscd + libccid's serial driver driving ``cpsdi sim`` on a pseudo-terminal.

``PcscStack.start`` runs, in a private directory:

1. ``cpsdi sim`` with the asked cards, its pty symlinked at ``RUN/tty`` and a control socket
   at ``RUN/control`` (first stdout line = the pty path, ``RUN/sim.out``; stderr ``RUN/sim.log``);
2. ``pcscd -f -d -a -c RUN/reader.conf.d`` (log ``RUN/pcscd.log``) on a private reader.conf
   directory (ccid-serial.md §7): nothing in /etc is changed.

pcscd 1.9.9 has its socket and pidfile compiled in (``/run/pcscd/pcscd.comm``; only the
*client* library honours ``PCSCLITE_CSOCK_NAME``), and refuses to start when another pcscd
owns them. So the test pcscd runs in a private mount namespace (``unshare --mount``, root)
where ``RUN/ipc`` is bind-mounted on ``/run/pcscd``: its socket is ``RUN/ipc/pcscd.comm``
for the clients (``PcscStack.env`` sets ``PCSCLITE_CSOCK_NAME``), a system pcscd keeps its
own, and the namespace disappears with the process. An empty tmpfs on ``/dev/bus/usb`` in the
namespace keeps the test pcscd away from the machine's USB readers. APDU level (ccid-serial.md §5.6) uses a
private copy of ``/etc/libccid_Info.plist`` with ``ifdDriverOptions`` 0x0002, found by
libccidtwin.so through ``PCSCLITE_HP_DROPDIR`` in pcscd's environment.

Both processes are stopped by PID (pcscd with SIGINT so that it closes the reader, then the
simulator with SIGTERM), each wait with a deadline and SIGKILL after it.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SIM = [sys.executable, "-c", "from cpsdi.sim_cli import sim; sim()"]
CLIENT = Path(__file__).with_name("_pcsc_client.py")
PCSCD = Path("/usr/sbin/pcscd")
LIBCCIDTWIN = Path("/usr/lib/pcsc/drivers/serial/libccidtwin.so")
LIBCCID_INFO_PLIST = Path("/etc/libccid_Info.plist")
# LIBCCID_ifdLogLevel: critical + info + comm (every frame and every keep-alive byte, §7),
# without the periodic 400 ms polls (0x0008).
LIBCCID_LOG_LEVEL = "0x0007"
PCSCD_IPC_DIR = Path("/run/pcscd")
# pcscd's reader.conf lexer: no spaces, no ':' (the first ':' starts the reader type), §7.
_CONF_PATH_OK = re.compile(r"[A-Za-z0-9=\\/\-._@]+")
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
SIM_DURATION_S = 600  # a backstop: the simulator stops by itself even if a test run is killed
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """preexec_fn: SIGTERM to the child when the test process dies (a killed test run leaves
    no pcscd or simulator behind). Kept across exec: neither unshare nor pcscd is setuid."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def skip_reason() -> str | None:
    """Why pcscd interop tests cannot run here (None: they can)."""
    if os.geteuid() != 0:
        return "pcscd interop tests need root (a private mount namespace for pcscd's socket)"
    for path, package in ((PCSCD, "pcscd"), (LIBCCIDTWIN, "libccid")):
        if not path.exists():
            return f"{path} missing (Debian package {package}; tools/setup.sh installs it as root)"
    if shutil.which("unshare") is None:
        return "unshare (util-linux) missing: cannot give the test pcscd a private socket"
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], capture_output=True,
                           text=True, timeout=10)
    if probe.returncode != 0:
        return f"unshare --mount fails here ({probe.stderr.strip()}): cannot isolate the test pcscd"
    return None


def pyscard_skip_reason() -> str | None:
    """Why the pyscard client cannot run (None: it can)."""
    probe = subprocess.run([sys.executable, "-c", "import smartcard.scard"], capture_output=True, text=True,
                           timeout=30)
    if probe.returncode != 0:
        return (f"pyscard missing in {sys.executable} (the `pcsc` extra: tools/setup.sh builds it with swig "
                "and libpcsclite-dev)")
    return None


def sim_supports(option: str) -> bool:
    """Whether this ``cpsdi sim`` knows ``option`` (e.g. ``--card-time``)."""
    out = subprocess.run([*SIM, "--help"], capture_output=True, text=True, timeout=30)
    return option in out.stdout


@dataclass(frozen=True)
class StackConfig:
    """One reader as pcscd sees it, and the simulated reader behind it."""

    friendly_name: str  # reader.conf FRIENDLYNAME (applications see "<name> 00 <slot>")
    cards: tuple[str, ...]  # cpsdi sim --card, one per slot
    reader_type: str | None = None  # the DEVICENAME ":name" suffix; None = GemPCTwin (no suffix)
    echo: str = "header"  # cpsdi sim --echo (GemPCTwin needs one, SEC1210 none)
    apdu_level: bool = False  # ifdDriverOptions 0x0002 in a private Info.plist copy
    faults: tuple[tuple[int, str], ...] = ()  # (slot, fault script text)
    sim_args: tuple[str, ...] = ()  # more cpsdi sim options (e.g. --card-time real)


@dataclass(frozen=True)
class Exchange:
    """One APDU's answer as the application saw it (after GET RESPONSE / 6Cxx if asked)."""

    data: bytes
    sw: int
    elapsed_s: float = 0.0


@dataclass(frozen=True)
class Session:
    """What a pyscard SCardConnect … SCardDisconnect session returned."""

    atr: bytes
    protocol: str  # "T0" | "T1"
    exchanges: list[Exchange]
    raw: list[tuple[bytes, Exchange]]  # every SCardTransmit: (command, answer)
    atrs: list[bytes] = field(default_factory=list)  # the ATR after each reset/unpower step


@dataclass(frozen=True)
class Step:
    """A session step that is not an APDU: ``Step.reset()``, ``Step.unpower()`` (SCardReconnect),
    ``Step.touch(path)`` (create the file), ``Step.await_file(path)`` (wait for it)."""

    kind: str
    path: Path | None = None

    @classmethod
    def reset(cls) -> Step:
        return cls("reset")

    @classmethod
    def unpower(cls) -> Step:
        return cls("unpower")

    @classmethod
    def touch(cls, path: Path) -> Step:
        return cls("touch", path)

    @classmethod
    def await_file(cls, path: Path) -> Step:
        return cls("await", path)

    def request(self) -> str | dict[str, Any]:
        if self.path is None:
            return self.kind
        return {self.kind: str(self.path), "timeout_s": 30}


class PcscError(AssertionError):
    """The PC/SC client failed: ``hresult`` is the PC/SC error code (None: crash or timeout)."""

    def __init__(self, message: str, hresult: int | None = None) -> None:
        super().__init__(message)
        self.hresult = hresult


def _conf_path(path: Path) -> str:
    text = str(path)
    if not _CONF_PATH_OK.fullmatch(text):
        raise ValueError(f"{text!r}: pcscd's reader.conf cannot hold this path (spaces or ':')")
    return text


def _private_dir(base: Path) -> Path:
    """``base`` if reader.conf can name paths below it and pcscd's socket path fits in a
    sockaddr_un (108 bytes), else a fresh directory in /tmp."""
    try:
        _conf_path(base / "tty")
        if len(str(base / "ipc" / "pcscd.comm")) < 100:
            return base
    except ValueError:
        pass
    return Path(tempfile.mkdtemp(prefix="cpsdi-pcscd-", dir="/tmp"))


def _wait_for(predicate: Any, timeout_s: float, what: str, poll_s: float = 0.05) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not after {timeout_s} s")
        time.sleep(poll_s)


def stop_process(proc: subprocess.Popen[Any], sig: int, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """Send ``sig`` to ``proc`` (by PID), wait; SIGKILL and wait again after ``timeout_s``."""
    if proc.poll() is None:
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout_s)


def start_sim(run: Path, cards: Sequence[str], *, echo: str = "header", link: Path | None = None,
              control: Path | None = None, faults: Sequence[tuple[int, str]] = (),
              extra: Sequence[str] = ()) -> tuple[subprocess.Popen[bytes], str]:
    """``cpsdi sim`` in ``run``: (process, pty path) once its first stdout line is out."""
    args = [*SIM, "--echo", echo, "--duration", str(SIM_DURATION_S)]
    for card in cards:
        args += ["--card", card]
    for slot, text in faults:
        script = run / f"slot{slot}.faults"
        script.write_text(text)
        args += ["--fault", f"{slot}={script}"]
    if link is not None:
        args += ["--link", str(link)]
    if control is not None:
        args += ["--control", str(control)]
    args += list(extra)
    out, err = run / "sim.out", run / "sim.log"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(args, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL,
                                preexec_fn=_die_with_parent)
    try:
        _wait_for(lambda: proc.poll() is not None or b"\n" in out.read_bytes(), START_TIMEOUT_S,
                  "cpsdi sim printing its pty path")
        if proc.poll() is not None:
            raise RuntimeError(f"cpsdi sim exited with {proc.returncode}:\n{err.read_text(errors='replace')}")
        if control is not None:
            _wait_for(control.exists, START_TIMEOUT_S, "cpsdi sim's control socket")
    except BaseException:
        stop_process(proc, signal.SIGTERM)
        raise
    return proc, out.read_text().splitlines()[0].strip()


def sim_control(path: Path, command: str) -> str:
    """One line command on the simulator's control socket; its reply."""
    with socket.socket(socket.AF_UNIX) as c:
        c.settimeout(10)
        c.connect(str(path))
        c.sendall(command.encode() + b"\n")
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = c.recv(4096)
            if not chunk:
                break
            reply += chunk
        return reply.decode().strip()


@dataclass
class PcscStack:
    """A running simulator + private pcscd pair (see the module docstring)."""

    config: StackConfig
    run: Path
    sim: subprocess.Popen[bytes]
    pty_path: str
    pcscd: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def log_path(self) -> Path:
        return self.run / "pcscd.log"

    @property
    def control_path(self) -> Path:
        return self.run / "control"

    @property
    def socket_path(self) -> Path:
        return self.run / "ipc" / "pcscd.comm"

    def reader_name(self, slot: int = 0) -> str:
        """The name applications see (reader index 00, slot index)."""
        return f"{self.config.friendly_name} 00 {slot:02d}"

    # -- life cycle ---------------------------------------------------------------
    @classmethod
    def start(cls, base: Path, config: StackConfig) -> PcscStack:
        """Start the simulator, then pcscd; return once pcscd has read every present card's ATR."""
        run = _private_dir(base)
        sim, pty_path = start_sim(run, config.cards, echo=config.echo, link=run / "tty", control=run / "control",
                                  faults=config.faults, extra=config.sim_args)
        stack = cls(config, run, sim, pty_path)
        try:
            stack._start_pcscd()
        except BaseException:
            stack.stop()
            raise
        return stack

    def _start_pcscd(self) -> None:
        conf_dir = self.run / "reader.conf.d"
        conf_dir.mkdir()
        device = _conf_path(self.run / "tty") + (f":{self.config.reader_type}" if self.config.reader_type else "")
        (conf_dir / "cpsdi").write_text(
            f'FRIENDLYNAME "{self.config.friendly_name}"\nDEVICENAME {device}\nLIBPATH {LIBCCIDTWIN}\n')
        ipc = self.run / "ipc"
        ipc.mkdir()
        PCSCD_IPC_DIR.mkdir(mode=0o755, exist_ok=True)  # the mount point (pcscd creates it too)
        daemon_env = dict(os.environ, LIBCCID_ifdLogLevel=LIBCCID_LOG_LEVEL)
        if self.config.apdu_level:
            daemon_env["PCSCLITE_HP_DROPDIR"] = str(self._private_info_plist(0x0002))
        # In the namespace: the private socket directory, and an empty /dev/bus/usb so that
        # this pcscd leaves the machine's USB readers to the system one. sh execs pcscd: the
        # PID we hold is pcscd's own.
        script = ('mount --bind "$1" "$2" && shift 2 && '
                  '{ [ ! -d /dev/bus/usb ] || mount -t tmpfs -o size=4k,mode=0755 none /dev/bus/usb; } && exec "$@"')
        args = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh", str(ipc),
                str(PCSCD_IPC_DIR), str(PCSCD), "--foreground", "--debug", "--apdu", "--config", str(conf_dir)]
        with self.log_path.open("wb") as log:
            self.pcscd = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          env=daemon_env, preexec_fn=_die_with_parent)
        self.env = dict(os.environ, PCSCLITE_CSOCK_NAME=str(self.socket_path))
        cards = sum(1 for c in self.config.cards if c != "none")
        slots = 2 if self.config.reader_type == "SEC1210" else 1

        def ready() -> bool:
            if self.pcscd is not None and self.pcscd.poll() is not None:
                raise RuntimeError(f"pcscd exited with {self.pcscd.returncode}\n{self.log_tail()}")
            log = self.log_text()
            return ("daemon ready" in log and self.socket_path.exists()
                    and log.count("Card ATR:") >= min(cards, slots))

        try:
            _wait_for(ready, START_TIMEOUT_S, "pcscd reading the ATRs")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n{self.log_tail()}") from None

    def _private_info_plist(self, options: int) -> Path:
        """A drop directory whose ifd-ccid.bundle Info.plist sets ``ifdDriverOptions``."""
        text = LIBCCID_INFO_PLIST.read_text()
        pattern = re.compile(r"(<key>ifdDriverOptions</key>\s*<string>)0x[0-9A-Fa-f]+(</string>)")
        if not pattern.search(text):
            raise RuntimeError(f"{LIBCCID_INFO_PLIST}: no ifdDriverOptions entry to change")
        drop = self.run / "drop"
        contents = drop / "ifd-ccid.bundle" / "Contents"
        contents.mkdir(parents=True)
        (contents / "Info.plist").write_text(pattern.sub(rf"\g<1>0x{options:04X}\g<2>", text, count=1))
        return drop

    def stop(self) -> None:
        """pcscd (SIGINT: it powers the cards off and closes the reader), then the simulator."""
        try:
            if self.pcscd is not None:
                stop_process(self.pcscd, signal.SIGINT)
        finally:
            stop_process(self.sim, signal.SIGTERM)

    # -- logs ---------------------------------------------------------------------
    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 80) -> str:
        text = self.log_text().splitlines()[-lines:]
        sim_log = (self.run / "sim.log").read_text(errors="replace") if (self.run / "sim.log").exists() else ""
        return (f"--- last {len(text)} lines of {self.log_path} ---\n" + "\n".join(text)
                + f"\n--- {self.run / 'sim.log'} ---\n{sim_log}")

    def log_mark(self) -> int:
        """The log's current length: ``log_since(mark)`` is what came after."""
        return len(self.log_text())

    def log_since(self, mark: int) -> str:
        return self.log_text()[mark:]

    # -- the simulator's card slots ------------------------------------------------
    def control(self, command: str) -> str:
        return sim_control(self.control_path, command)

    def fresh_card(self, slot: int, card: str, timeout_s: float = 10.0) -> bytes:
        """Take the card out, wait until pcscd sees the slot empty, insert a fresh ``card``
        (new applet state), wait until pcscd has its ATR; return the ATR."""
        reader = self.reader_name(slot)
        assert self.control(f"remove {slot}") == "ok"
        self.client({"op": "wait", "reader": reader, "present": False, "timeout_s": timeout_s})
        assert self.control(f"insert {slot} {card}") == "ok"
        return bytes(self.client({"op": "wait", "reader": reader, "present": True, "timeout_s": timeout_s})["atr"])

    # -- PC/SC clients ---------------------------------------------------------------
    def client(self, request: dict[str, Any], timeout_s: float = 60.0) -> dict[str, Any]:
        """Run ``_pcsc_client.py`` with ``request`` against this pcscd."""
        try:
            done = subprocess.run([sys.executable, str(CLIENT)], input=json.dumps(request), capture_output=True,
                                  text=True, env=self.env, timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise PcscError(f"PC/SC client {request.get('op')} still running after {timeout_s} s") from exc
        try:
            answer: dict[str, Any] = json.loads(done.stdout)
        except ValueError:
            raise PcscError(f"PC/SC client crashed (exit {done.returncode}):\n{done.stderr}") from None
        if done.returncode != 0:
            hresult = answer.get("hresult")
            raise PcscError(f"PC/SC client {request.get('op')}: {answer.get('error')}\n{done.stderr}",
                            None if hresult is None else hresult & 0xFFFFFFFF)
        return answer

    def readers(self) -> list[str]:
        return list(self.client({"op": "readers"})["readers"])

    def session(self, apdus: Sequence[bytes | Step], *, slot: int = 0, protocol: str = "any",
                get_response: bool = True, timeout_s: float = 60.0) -> Session:
        """SCardConnect, SCardTransmit each APDU, SCardDisconnect (pyscard, own process).
        ``apdus`` may also hold ``Step`` items (SCardReconnect, file handshakes)."""
        answer = self.client({"op": "session", "reader": self.reader_name(slot), "protocol": protocol,
                              "apdus": [a.request() if isinstance(a, Step) else list(a) for a in apdus],
                              "get_response": get_response}, timeout_s)
        return Session(
            atr=bytes(answer["atr"]), protocol=answer["protocol"],
            exchanges=[Exchange(bytes(e["data"]), e["sw"], e["elapsed_s"]) for e in answer["exchanges"]],
            raw=[(bytes(r["command"]), Exchange(bytes(r["data"]), r["sw"], r["elapsed_s"])) for r in answer["raw"]],
            atrs=[bytes(a) for a in answer["atrs"]])

    def tool(self, args: Sequence[str], *, stdin: str = "", timeout_s: float = 30.0) -> subprocess.CompletedProcess[str]:
        """A PC/SC command-line tool (opensc-tool, scriptor) against this pcscd."""
        return subprocess.run(list(args), input=stdin, capture_output=True, text=True, env=self.env,
                              timeout=timeout_s)

    @contextmanager
    def pcsc_scan(self) -> Iterator[LineReader]:
        """``pcsc_scan`` (it never exits by itself) with its output read line by line; killed after."""
        proc = subprocess.Popen(["pcsc_scan", "-n"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=self.env)
        try:
            assert proc.stdout is not None
            yield LineReader(proc.stdout)
        finally:
            stop_process(proc, signal.SIGTERM, timeout_s=5)
            if proc.stdout is not None:
                proc.stdout.close()


class LineReader:
    """Lines of a running process's output, each wait with a deadline."""

    _ANSI = re.compile(rb"\x1b\[[0-9;]*[A-Za-z]")

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.selector = selectors.DefaultSelector()
        self.selector.register(stream, selectors.EVENT_READ)
        self.buffer = b""
        self.lines: list[str] = []

    def expect(self, pattern: str, timeout_s: float = 10.0) -> re.Match[str]:
        """Read until a new line matches ``pattern`` (re.search); the match."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout_s
        while True:
            while b"\n" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\n", 1)
                line = self._ANSI.sub(b"", raw).decode(errors="replace").rstrip()
                self.lines.append(line)
                match = regex.search(line)
                if match:
                    return match
            left = deadline - time.monotonic()
            if left <= 0 or not self.selector.select(left):
                raise TimeoutError(f"no line matching {pattern!r} after {timeout_s} s; got:\n" + "\n".join(self.lines))
            chunk = os.read(self.stream.fileno(), 4096)
            if not chunk:
                raise EOFError(f"output ended before a line matching {pattern!r}; got:\n" + "\n".join(self.lines))
            self.buffer += chunk


def reader_api_session(base: Path, cards: Sequence[str], apdus: Sequence[bytes], *, slot: int = 0,
                       sim_args: Sequence[str] = ()) -> Session:
    """The same APDUs through the cpsdi Reader API (``Reader.open(pty)``) on a fresh ``cpsdi sim``
    with the same cards: the reference the pcscd answers are compared with."""
    from cpsdi.reader import Reader

    run = Path(tempfile.mkdtemp(prefix="reader-api-", dir=base))
    proc, pty_path = start_sim(run, cards, extra=sim_args)
    try:
        with Reader.open(pty_path) as reader, reader.slots[slot].connect() as card:
            exchanges = []
            for apdu in apdus:
                start = time.monotonic()
                r = card.transmit(apdu)
                exchanges.append(Exchange(bytes(r.data), r.sw, time.monotonic() - start))
            return Session(bytes(card.atr.raw), card.protocol.name, exchanges, [])
    finally:
        stop_process(proc, signal.SIGTERM)


StackFactory = Callable[[StackConfig], AbstractContextManager[PcscStack]]
"""The ``pcsc_stack`` fixture: ``with pcsc_stack(config) as stack: ...``."""
