"""A PC/SC application using the reader's PIN pad, run in its own process by the interop tests
(pyscard's ``smartcard.scard``; libpcsclite reads ``PCSCLITE_CSOCK_NAME`` when it is loaded).

One JSON request on stdin, one JSON answer on stdout (byte strings as lists of ints)::

    {"reader": R, "protocol": "any"|"T0"|"T1", "steps": [STEP, ...]}

Each step is ``{"apdu": [...]}`` (SCardTransmit) or ``{"verify": [...]}`` /
``{"modify": [...]}`` (SCardControl with the FEATURE_VERIFY_PIN_DIRECT /
FEATURE_MODIFY_PIN_DIRECT control code and that PC/SC part 10 PIN_VERIFY / PIN_MODIFY
structure). The answer: ``{"atr", "protocol", "features": {tag: control code}, "results":
[[...], ...]}`` — the features come from SCardControl(CM_IOCTL_GET_FEATURE_REQUEST), one
result per step (the response bytes: data + SW, or the SW the driver made: 64 00 timeout,
64 01 cancel). Any PC/SC error: exit 2 with ``{"error", "hresult", "step"}``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from smartcard import scard  # type: ignore[import-untyped,unused-ignore]

FEATURE_VERIFY_PIN_DIRECT = 0x06  # PC/SC part 10 v2.02 §2.3 feature tags
FEATURE_MODIFY_PIN_DIRECT = 0x07
CM_IOCTL_GET_FEATURE_REQUEST = scard.SCARD_CTL_CODE(3400)
_PROTOCOLS = {"any": scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1, "T0": scard.SCARD_PROTOCOL_T0,
              "T1": scard.SCARD_PROTOCOL_T1}


class PcscError(Exception):
    def __init__(self, step: str, hresult: int) -> None:
        super().__init__(f"{step}: {scard.SCardGetErrorMessage(hresult)} (0x{hresult & 0xFFFFFFFF:08X})")
        self.step = step
        self.hresult = hresult


def _check(step: str, hresult: int) -> None:
    if hresult != scard.SCARD_S_SUCCESS:
        raise PcscError(step, hresult)


def features(card: int) -> dict[int, int]:
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


def run(context: int, request: dict[str, Any]) -> dict[str, Any]:
    hresult, card, protocol = scard.SCardConnect(context, request["reader"], scard.SCARD_SHARE_SHARED,
                                                  _PROTOCOLS[request.get("protocol", "any")])
    _check("SCardConnect", hresult)
    try:
        hresult, _, _, _, atr = scard.SCardStatus(card)
        _check("SCardStatus", hresult)
        codes = features(card)
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
    names = {scard.SCARD_PROTOCOL_T0: "T0", scard.SCARD_PROTOCOL_T1: "T1"}
    return {"atr": list(atr), "protocol": names.get(protocol, str(protocol)),
            "features": {str(k): v for k, v in codes.items()}, "results": results}


def main() -> int:
    request = json.load(sys.stdin)
    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    try:
        _check("SCardEstablishContext", hresult)
        answer = run(context, request)
    except PcscError as exc:
        json.dump({"error": str(exc), "hresult": exc.hresult, "step": exc.step}, sys.stdout)
        return 2
    finally:
        if hresult == scard.SCARD_S_SUCCESS:
            scard.SCardReleaseContext(context)
    json.dump(answer, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
