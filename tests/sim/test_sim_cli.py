"""``cpsdi sim`` as a process: pty path on the first line, paced line, control socket, TCP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import serial
from cpsdi_proto import ccid

from cpsdi.ccid import build_message
from cpsdi.framing import Frame, FrameReader, encode_frame

SIM = [sys.executable, "-c", "from cpsdi.sim_cli import sim; sim()"]


class Sim:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([*SIM, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.first_line = self.proc.stdout.readline().strip()
        assert self.first_line, self.proc.stderr.read() if self.proc.stderr else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)


def request(port: serial.SerialBase, reader: FrameReader, message: bytes, timeout_s: float = 3.0) -> bytes:
    port.write(encode_frame(message))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for event in reader.feed(port.read(getattr(port, "in_waiting", 0) or 1)):
            if isinstance(event, Frame) and event.message[0] >= 0x80:
                return event.message
    raise AssertionError("no answer")


def test_pty_session_with_control_socket(tmp_path: Path) -> None:
    link = tmp_path / "ttyCPSDI"
    control = tmp_path / "control"
    sim = Sim("--card", "t0", "--card", "t1", "--link", str(link), "--control", str(control), "--duration", "30")
    try:
        assert sim.first_line.startswith("/dev/pts/")
        assert os.path.realpath(link) == sim.first_line
        port = serial.Serial(str(link), 115200, stopbits=2, timeout=0.1)
        reader = FrameReader()
        status = request(port, reader, build_message(ccid.PC_TO_RDR_GET_SLOT_STATUS, 1, 1))
        assert status[7] == ccid.ICC_INACTIVE
        atr = request(port, reader, build_message(ccid.PC_TO_RDR_ICC_POWER_ON, 0, 2, bPowerSelect=1))
        assert atr[10:] == bytes.fromhex("3B 13 18 43 50 53")
        apdu_level = request(port, reader, build_message(ccid.PC_TO_RDR_ESCAPE, 0, 3, b"\x1f\x02"))
        assert apdu_level[7] & ccid.COMMAND_FAILED == 0
        answer = request(port, reader, build_message(ccid.PC_TO_RDR_XFR_BLOCK, 0, 4, bytes.fromhex("00 B0 00 00 00")))
        assert len(answer) == 10 + 258 and answer[-2:] == b"\x90\x00"
        with socket.socket(socket.AF_UNIX) as c:
            c.connect(str(control))
            c.sendall(b"remove 0\nstatus\n")
            time.sleep(0.3)
            replies = c.recv(4096).decode()
        assert replies.splitlines()[0] == "ok"
        assert "0 none absent" in replies
        status = request(port, reader, build_message(ccid.PC_TO_RDR_GET_SLOT_STATUS, 0, 5))
        assert status[7] & ccid.ICC_STATUS_MASK == ccid.ICC_ABSENT
        port.close()
    finally:
        sim.stop()
    assert not link.exists() and not link.is_symlink()


def test_tcp_only_and_signal_toggle(tmp_path: Path) -> None:
    sim = Sim("--no-pty", "--tcp", "0", "--card", "t0", "--baud", "0", "--duration", "30")
    try:
        assert sim.first_line.startswith("tcp://127.0.0.1:")
        port_number = int(sim.first_line.rsplit(":", 1)[1])
        port = serial.serial_for_url(f"socket://127.0.0.1:{port_number}", timeout=0.1)
        reader = FrameReader()
        assert request(port, reader, build_message(ccid.PC_TO_RDR_GET_SLOT_STATUS, 0, 1))[7] == ccid.ICC_INACTIVE
        os.kill(sim.proc.pid, signal.SIGUSR1)  # card out
        deadline = time.monotonic() + 5
        state = -1
        while time.monotonic() < deadline and state != ccid.ICC_ABSENT:
            state = request(port, reader, build_message(ccid.PC_TO_RDR_GET_SLOT_STATUS, 0, 2))[7] & 3
        assert state == ccid.ICC_ABSENT
        port.close()
    finally:
        sim.stop()


def test_bad_options_are_clear_errors() -> None:
    out = subprocess.run([*SIM, "--card", "cps9"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "unknown card 'cps9'" in out.stderr
    out = subprocess.run([*SIM, "--no-pty"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "--no-pty needs --tcp" in out.stderr
