"""A PC/SC client run in its own process by the interop tests (pyscard's ``smartcard.scard``).

libpcsclite reads ``PCSCLITE_CSOCK_NAME`` once, when it is loaded, so the tests start this
script with the private pcscd's socket in its environment instead of importing pyscard.

One JSON request on stdin, one JSON answer on stdout (byte strings as lists of ints):

* ``{"op": "readers"}`` -> ``{"readers": [name, ...]}``
* ``{"op": "wait", "reader": R, "present": bool, "timeout_s": t}`` -> ``{"atr": [...]}`` once
  pcscd reports the card present (with its ATR) or absent; exit 3 on timeout.
* ``{"op": "session", "reader": R, "protocol": "any"|"T0"|"T1", "apdus": [[...], ...],
  "get_response": bool}`` -> ``{"atr", "protocol": "T0"|"T1", "exchanges": [...],
  "raw": [...]}``: SCardConnect (shared), one SCardTransmit per APDU, SCardDisconnect
  (unpower). ``exchanges`` holds one ``{"data", "sw", "elapsed_s"}`` per APDU; with
  ``get_response`` a ``61xx`` answer is followed by GET RESPONSE and a ``6Cxx`` by the same
  command with Le = xx (ISO/IEC 7816-4 §5.3.4, what an application does at TPDU level), and
  ``raw`` keeps every single SCardTransmit. Besides APDUs, ``apdus`` may hold steps:
  ``"reset"`` / ``"unpower"`` (SCardReconnect with SCARD_RESET_CARD / SCARD_UNPOWER_CARD; the
  ATR afterwards goes to ``atrs``), ``{"touch": path}`` (create the file: "I got here"),
  ``{"await": path, "timeout_s": t}`` (wait until the file exists).
* ``{"op": "pinpad", "reader": R, "protocol": ..., "steps": [STEP, ...]}`` -> ``{"atr",
  "protocol", "features": {tag: control code}, "results": [[...], ...]}``: the reader's PIN
  pad. Each step is ``{"apdu": [...]}`` (SCardTransmit) or ``{"verify": [...]}`` /
  ``{"modify": [...]}`` (SCardControl with the FEATURE_VERIFY_PIN_DIRECT /
  FEATURE_MODIFY_PIN_DIRECT control code and that PC/SC part 10 PIN_VERIFY / PIN_MODIFY
  structure); the features come from SCardControl(CM_IOCTL_GET_FEATURE_REQUEST), one result
  per step (the response bytes: data + SW, or the SW the driver made: 64 00 timeout, 64 01
  cancel).

Any PC/SC error: exit 2, ``{"error": text, "hresult": int, "step": ...}`` on stdout.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from smartcard import scard  # type: ignore[import-untyped,unused-ignore]

_PROTOCOLS = {
    "any": scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
    "T0": scard.SCARD_PROTOCOL_T0,
    "T1": scard.SCARD_PROTOCOL_T1,
}
_MAX_ROUNDS = 8  # GET RESPONSE / 6Cxx re-issues per APDU
FEATURE_VERIFY_PIN_DIRECT = 0x06  # PC/SC part 10 v2.02 §2.3 feature tags
FEATURE_MODIFY_PIN_DIRECT = 0x07
CM_IOCTL_GET_FEATURE_REQUEST = scard.SCARD_CTL_CODE(3400)
_PROTOCOL_NAMES = {scard.SCARD_PROTOCOL_T0: "T0", scard.SCARD_PROTOCOL_T1: "T1"}


class PcscError(Exception):
    def __init__(self, step: str, hresult: int) -> None:
        super().__init__(f"{step}: {scard.SCardGetErrorMessage(hresult)} (0x{hresult & 0xFFFFFFFF:08X})")
        self.step = step
        self.hresult = hresult


def _check(step: str, hresult: int) -> None:
    if hresult != scard.SCARD_S_SUCCESS:
        raise PcscError(step, hresult)


def _readers(context: int) -> list[str]:
    hresult, readers = scard.SCardListReaders(context, [])
    if hresult == scard.SCARD_E_NO_READERS_AVAILABLE:
        return []
    _check("SCardListReaders", hresult)
    return list(readers)


def _wait(context: int, reader: str, present: bool, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    state = scard.SCARD_STATE_UNAWARE
    while True:
        left_ms = int((deadline - time.monotonic()) * 1000)
        if left_ms <= 0:
            raise TimeoutError(f"{reader}: card still {'absent' if present else 'present'} after {timeout_s} s")
        hresult, states = scard.SCardGetStatusChange(context, min(left_ms, 1000), [(reader, state)])
        if hresult == scard.SCARD_E_TIMEOUT:
            continue
        _check("SCardGetStatusChange", hresult)
        _, event, atr = states[0]
        state = event & ~scard.SCARD_STATE_CHANGED
        if event & scard.SCARD_STATE_UNKNOWN:
            raise PcscError("SCardGetStatusChange (reader unknown)", scard.SCARD_E_UNKNOWN_READER)
        if bool(event & scard.SCARD_STATE_PRESENT) == present and (not present or atr):
            return {"atr": list(atr), "state": event}


def _transmit(card: int, protocol: int, apdu: list[int], raw: list[dict[str, Any]]) -> tuple[list[int], int]:
    start = time.monotonic()
    hresult, response = scard.SCardTransmit(card, protocol, apdu)
    _check("SCardTransmit", hresult)
    if len(response) < 2:
        raise PcscError(f"SCardTransmit returned {len(response)} byte(s)", scard.SCARD_F_INTERNAL_ERROR)
    data, sw = list(response[:-2]), response[-2] << 8 | response[-1]
    raw.append({"command": apdu, "data": data, "sw": sw, "elapsed_s": time.monotonic() - start})
    return data, sw


def _connect(context: int, request: dict[str, Any]) -> tuple[int, int, list[int]]:
    """SCardConnect (shared) and SCardStatus: the card handle, the protocol and the ATR."""
    hresult, card, protocol = scard.SCardConnect(context, request["reader"], scard.SCARD_SHARE_SHARED,
                                                  _PROTOCOLS[request.get("protocol", "any")])
    _check("SCardConnect", hresult)
    hresult, _, _, _, atr = scard.SCardStatus(card)
    if hresult != scard.SCARD_S_SUCCESS:
        scard.SCardDisconnect(card, scard.SCARD_UNPOWER_CARD)
        raise PcscError("SCardStatus", hresult)
    return card, protocol, list(atr)


def _session(context: int, request: dict[str, Any]) -> dict[str, Any]:
    card, protocol, atr = _connect(context, request)
    try:
        exchanges: list[dict[str, Any]] = []
        raw: list[dict[str, Any]] = []
        atrs: list[list[int]] = []
        for apdu in request["apdus"]:
            if isinstance(apdu, str | dict):
                protocol = _step(card, apdu, protocol, request.get("protocol", "any"), atrs)
                continue
            start = time.monotonic()
            data, sw = _transmit(card, protocol, apdu, raw)
            command = list(apdu)
            for _ in range(_MAX_ROUNDS):
                if not request.get("get_response", True):
                    break
                if sw >> 8 == 0x61:
                    more, sw = _transmit(card, protocol, [command[0] & 0x03, 0xC0, 0x00, 0x00, sw & 0xFF], raw)
                    data += more
                elif sw >> 8 == 0x6C and len(command) >= 5:
                    command = command[:4] + [sw & 0xFF]
                    data, sw = _transmit(card, protocol, command, raw)
                else:
                    break
            exchanges.append({"data": data, "sw": sw, "elapsed_s": time.monotonic() - start})
    finally:
        scard.SCardDisconnect(card, scard.SCARD_UNPOWER_CARD)
    return {"atr": atr, "protocol": _PROTOCOL_NAMES.get(protocol, str(protocol)), "exchanges": exchanges,
            "raw": raw, "atrs": atrs}


def _features(card: int) -> dict[int, int]:
    """The TLV list of CM_IOCTL_GET_FEATURE_REQUEST: tag -> control code (big-endian u32)."""
    hresult, tlvs = scard.SCardControl(card, CM_IOCTL_GET_FEATURE_REQUEST, [])
    _check("SCardControl(GET_FEATURE_REQUEST)", hresult)
    out: dict[int, int] = {}
    i = 0
    while i + 6 <= len(tlvs):
        tag, length = tlvs[i], tlvs[i + 1]
        out[tag] = int.from_bytes(bytes(tlvs[i + 2:i + 2 + length]), "big")
        i += 2 + length
    return out


def _pinpad(context: int, request: dict[str, Any]) -> dict[str, Any]:
    card, protocol, atr = _connect(context, request)
    try:
        codes = _features(card)
        results: list[list[int]] = []
        for step in request["steps"]:
            if "apdu" in step:
                hresult, response = scard.SCardTransmit(card, protocol, step["apdu"])
                _check("SCardTransmit", hresult)
            else:
                tag = FEATURE_VERIFY_PIN_DIRECT if "verify" in step else FEATURE_MODIFY_PIN_DIRECT
                if tag not in codes:
                    raise PcscError(f"feature {tag:02X} not offered", scard.SCARD_E_UNSUPPORTED_FEATURE)
                hresult, response = scard.SCardControl(card, codes[tag], step.get("verify") or step["modify"])
                _check("SCardControl(PIN)", hresult)
            results.append(list(response))
    finally:
        scard.SCardDisconnect(card, scard.SCARD_UNPOWER_CARD)
    return {"atr": atr, "protocol": _PROTOCOL_NAMES.get(protocol, str(protocol)),
            "features": {str(k): v for k, v in codes.items()}, "results": results}


def _step(card: int, step: str | dict[str, Any], protocol: int, wanted: str, atrs: list[list[int]]) -> int:
    """A non-APDU step of a session (module docstring); returns the protocol in force."""
    if step in ("reset", "unpower"):
        init = scard.SCARD_RESET_CARD if step == "reset" else scard.SCARD_UNPOWER_CARD
        hresult, protocol = scard.SCardReconnect(card, scard.SCARD_SHARE_SHARED, _PROTOCOLS[wanted], init)
        _check(f"SCardReconnect ({step})", hresult)
        hresult, _, _, _, atr = scard.SCardStatus(card)
        _check("SCardStatus", hresult)
        atrs.append(list(atr))
    elif isinstance(step, dict) and "touch" in step:
        Path(step["touch"]).touch()
    elif isinstance(step, dict) and "await" in step:
        deadline = time.monotonic() + step.get("timeout_s", 30)
        while not Path(step["await"]).exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{step['await']} not created")
            time.sleep(0.02)
    else:
        raise ValueError(f"unknown step {step!r}")
    return protocol


def main() -> int:
    request = json.load(sys.stdin)
    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    try:
        _check("SCardEstablishContext", hresult)
        op = request["op"]
        if op == "readers":
            answer: dict[str, Any] = {"readers": _readers(context)}
        elif op == "wait":
            answer = _wait(context, request["reader"], request["present"], request["timeout_s"])
        elif op == "session":
            answer = _session(context, request)
        elif op == "pinpad":
            answer = _pinpad(context, request)
        else:
            raise ValueError(f"unknown op {op!r}")
    except PcscError as exc:
        json.dump({"error": str(exc), "hresult": exc.hresult, "step": exc.step}, sys.stdout)
        return 2
    except TimeoutError as exc:
        json.dump({"error": str(exc)}, sys.stdout)
        return 3
    finally:
        if hresult == scard.SCARD_S_SUCCESS:
            scard.SCardReleaseContext(context)
    json.dump(answer, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
