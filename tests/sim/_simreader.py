"""A minimal reader for the simulator tests: drives SimCardPort like the slot service will.

Not the firmware: just enough ISO 7816-3 (activation, ATR by timeout, PPS, a T=0 TPDU
loop) to exercise the virtual card through the HAL.
"""

from __future__ import annotations

from dataclasses import dataclass

from cpsdi_fw.hal import CLASS_A, OK

from cpsdi_boards.sim import SimCardPort

ATR_WINDOW_ETU = 108  # ceil(40 000 / 372): TS within 40 000 clocks of RST rising
INITIAL_WT_ETU = 9600


@dataclass
class Received:
    data: bytes
    parity: bytes


def receive(port: SimCardPort, count: int, first_etu: int, char_etu: int) -> Received:
    buf = bytearray(count)
    par = bytearray(count)
    n = port.receive(buf, 0, count, first_etu, char_etu, par)
    return Received(bytes(buf[:n]), bytes(par[:n]))


def power_up(port: SimCardPort, voltage_class: int = CLASS_A, reset_low_clocks: int = 40_000,
             follow_ts: bool = True) -> Received:
    """Cold activation and the ATR, read until 9600 etu of silence (TS 03 -> inverse)."""
    assert port.activate(voltage_class) == OK
    port.wait_clocks(reset_low_clocks)
    port.set_reset(True)
    first = receive(port, 1, ATR_WINDOW_ETU, INITIAL_WT_ETU)
    if not first.data:
        return first
    data, par = bytearray(first.data), bytearray(first.parity)
    if follow_ts and first.data == b"\x03" and first.parity == b"\x01":
        port.set_character(372, 1, True, 12, 0)
        data[0], par[0] = 0x3F, 0
    rest = receive(port, 32, INITIAL_WT_ETU, INITIAL_WT_ETU)
    return Received(bytes(data + rest.data), bytes(par + rest.parity))


def send(port: SimCardPort, data: bytes, turnaround_etu: int = 16) -> int:
    port.wait_etu(turnaround_etu)
    return port.send(data, 0, len(data))


def transmit_t0(port: SimCardPort, header: bytes, data: bytes = b"", wt_etu: int = 9600,
                max_procedures: int = 1000) -> tuple[bytes, int]:
    """One T=0 TPDU (reader side): returns (response data, SW)."""
    assert send(port, header) == OK
    ins = header[1]
    le = header[4] or 256
    to_send = bytearray(data)
    out = bytearray()
    for _ in range(max_procedures):
        r = receive(port, 1, wt_etu, wt_etu)
        if not r.data:
            raise TimeoutError("card mute after %s" % bytes(out).hex())
        pb = r.data[0]
        if pb == 0x60:
            continue
        if pb == ins:
            if to_send:
                assert send(port, bytes(to_send)) == OK
                to_send.clear()
            else:
                need = le - len(out)
                got = receive(port, need, wt_etu, wt_etu)
                out += got.data
                if len(got.data) < need:
                    raise TimeoutError("short data")
            continue
        if pb == ins ^ 0xFF:
            if to_send:
                assert send(port, bytes(to_send[:1])) == OK
                del to_send[:1]
            else:
                got = receive(port, 1, wt_etu, wt_etu)
                out += got.data
            continue
        if (pb & 0xF0) in (0x60, 0x90):
            sw2 = receive(port, 1, wt_etu, wt_etu)
            if not sw2.data:
                raise TimeoutError("no SW2")
            return bytes(out), (pb << 8) | sw2.data[0]
        raise ValueError("bad procedure byte %02x" % pb)
    raise RuntimeError("too many procedure bytes")
