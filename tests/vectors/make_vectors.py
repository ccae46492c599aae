"""Regenerate frames.jsonl and streams.jsonl (run by hand; the output is committed).

Sources: the hex traces of shared/reference/ccid-serial.md §6 (pcscd 1.9.9 + libccid
1.5.2 driving a reader), pasted below verbatim, plus native-mode and vendor-Escape
frames built here with zlib's CRC-32 and the field layout of CCID rev 1.1 §6.1/§6.2.
Independent of the code under test: only the standard library is used.
"""

import json
import pathlib
import zlib

HERE = pathlib.Path(__file__).parent

TRACES = """
6.1 H>R 03 06 6B 01 00 00 00 00 00 00 00 00 02 6D | Escape 02 (get firmware), seq 0
6.1 R>H 03 06 83 13 00 00 00 00 00 01 00 00 47 65 6D 54 77 52 43 32 2D 56 32 2E 31 30 2D 47 4C 30 34 9F | firmware string
6.1 H>R 03 06 6B 03 00 00 00 00 01 00 00 00 01 01 01 6D | Escape 01 01 01
6.1 R>H 03 06 83 00 00 00 00 00 01 01 00 00 86 | Escape ok, present inactive
6.1 H>R 03 06 65 00 00 00 00 00 02 00 00 00 62 | GetSlotStatus
6.1 R>H 03 06 81 00 00 00 00 00 02 01 00 00 87 | SlotStatus present inactive
6.1 H>R 03 06 65 00 00 00 00 00 03 00 00 00 63 | GetSlotStatus (100 ms)
6.1 R>H 03 06 81 00 00 00 00 00 03 01 00 00 86 | SlotStatus present inactive
6.1 H>R 03 06 6B 01 00 00 00 00 04 00 00 00 6A 01 | Escape 6A
6.1 R>H 03 06 83 00 00 00 00 00 04 41 00 00 C3 | Escape failed, not supported
6.1 H>R 03 06 62 00 00 00 00 00 08 01 00 00 6E | IccPowerOn 5 V
6.1 R>H 03 06 80 04 00 00 00 00 08 00 00 00 3B 02 14 50 F4 | DataBlock ATR
6.1 R>H 03 06 81 00 00 00 00 00 09 00 00 00 8D | SlotStatus active
6.1 H>R 03 06 63 00 00 00 00 00 0B 00 00 00 6D | IccPowerOff
6.1 R>H 03 06 81 00 00 00 00 00 0B 01 00 00 8E | SlotStatus inactive
6.1 H>R 03 06 63 00 00 00 00 00 0C 00 00 00 6A | IccPowerOff again
6.1 R>H 03 06 81 00 00 00 00 00 0C 01 00 00 89 | SlotStatus inactive
6.1 H>R 03 06 65 00 00 00 00 00 0D 00 00 00 6D | GetSlotStatus polling
6.2 H>R 03 06 62 00 00 00 00 00 62 01 00 00 04 | IccPowerOn 5 V
6.2 R>H 03 06 80 04 00 00 00 00 62 00 00 00 3B 02 14 50 9E | ATR T=0 card
6.2 H>R 03 06 61 05 00 00 00 00 63 00 00 00 11 00 00 0A 00 19 | SetParameters T=0
6.2 R>H 03 06 82 05 00 00 00 00 63 00 00 00 11 00 00 0A 00 FA | Parameters T=0
6.2 H>R 03 06 6F 0C 00 00 00 00 64 00 00 00 00 A4 04 00 07 A0 00 00 00 03 10 10 06 | SELECT case 3
6.2 R>H 03 06 80 02 00 00 00 00 64 00 00 00 61 11 93 | 61 11
6.2 H>R 03 06 6F 05 00 00 00 00 65 00 00 00 00 C0 00 00 11 DB | GET RESPONSE
6.2 R>H 03 06 80 13 00 00 00 00 65 00 00 00 6F 0F 84 08 A0 00 00 01 51 00 00 00 A5 03 02 01 00 90 00 DA | FCI 9000
6.2 H>R 03 06 6F 05 00 00 00 00 66 00 00 00 00 84 00 00 04 89 | GET CHALLENGE case 2
6.2 R>H 03 06 80 06 00 00 00 00 66 00 00 00 87 55 04 89 90 00 2A | challenge 9000
6.2 H>R 03 06 63 00 00 00 00 00 69 00 00 00 0F | IccPowerOff after disconnect
6.2 H>R 03 06 6F 0D 00 00 00 00 78 00 00 00 00 A4 04 00 07 A0 00 00 00 03 10 10 00 1B | pyscard case 4 with Le
6.3 H>R 03 06 62 00 00 00 00 00 3C 01 00 00 5A | IccPowerOn 5 V
6.3 R>H 03 06 80 12 00 00 00 00 3C 00 00 00 3B F8 13 00 00 81 31 FE 45 4A 43 4F 50 76 32 34 31 B7 90 | ATR T=1 card
6.3 H>R 03 06 6F 04 00 00 00 00 3D 00 00 00 FF 11 13 FD 53 | PPS T=1 TA1=13
6.3 R>H 03 06 80 04 00 00 00 00 3D 00 00 00 FF 11 13 FD BC | PPS confirmed
6.3 H>R 03 06 61 07 00 00 00 00 3E 01 00 00 13 10 00 45 00 FE 00 E4 | SetParameters T=1
6.3 R>H 03 06 82 07 00 00 00 00 3E 00 00 01 13 10 00 45 00 FE 00 07 | Parameters T=1
6.3 H>R 03 06 6F 05 00 00 00 00 3F 00 00 00 00 C1 01 FE 3E 50 | S(IFS req 254)
6.3 R>H 03 06 80 05 00 00 00 00 3F 00 00 00 00 E1 01 FE 1E BF | S(IFS resp)
6.3 H>R 03 06 6F 11 00 00 00 00 40 00 00 00 00 00 0D 00 A4 04 00 07 A0 00 00 00 03 10 10 00 09 3B | I(0) SELECT
6.3 R>H 03 06 80 17 00 00 00 00 40 00 00 00 00 00 13 6F 0F 84 08 A0 00 00 01 51 00 00 00 A5 03 02 01 00 90 00 3A D2 | I(0) FCI
6.3 H>R 03 06 6F 09 00 00 00 00 41 00 00 00 00 40 05 00 84 00 00 08 C9 22 | I(1) GET CHALLENGE
6.3 R>H 03 06 80 0E 00 00 00 00 41 00 00 00 00 40 0A 2F DD 26 B4 74 A3 B5 14 90 00 CC CA | I(1) challenge
6.3 R>H 03 06 80 04 00 00 00 00 42 00 00 00 00 90 00 90 C3 | R(1)
6.3 H>R 03 06 6F 0B 00 00 00 00 43 00 00 00 00 40 07 F9 FA FB FC FD FE 00 40 22 | I(1) last of chain
6.3 H>R 03 06 6F 04 00 00 00 00 44 00 00 00 00 90 00 90 2A | R(1)
6.3 R>H 03 06 80 07 00 00 00 00 44 00 00 00 00 40 03 FE 90 00 2D C6 | I(1) last
6.3 H>R 03 06 6F 09 00 00 00 00 45 00 00 00 00 00 05 80 E0 00 00 00 65 26 | I(0) long command
6.3 R>H 03 06 80 05 00 00 00 00 45 00 00 00 00 C3 01 02 C0 C5 | S(WTX req x2)
6.3 H>R 03 06 6F 05 00 00 00 00 46 02 00 00 00 E3 01 02 E0 2B | S(WTX resp), bBWI 2
6.3 R>H 03 06 80 06 00 00 00 00 46 00 00 00 00 00 02 6D 00 6F C5 | I(0) 6D00
6.3 H>R 03 06 6F 09 00 00 00 00 47 00 00 00 00 40 05 80 EF 00 00 00 2A 24 | I(1) 5 s operation
6.3 R>H 03 06 80 06 00 00 00 00 47 00 00 00 00 40 02 6D 00 2F C4 | answer after keep-alives
6.4 H>R 03 06 65 00 00 00 00 00 13 00 00 00 73 | GetSlotStatus before insertion
6.4 R>H 03 06 81 00 00 00 00 00 13 01 00 00 96 | present inactive
6.4 H>R 03 06 65 00 00 00 00 00 1B 00 00 00 7B | GetSlotStatus before removal
6.4 R>H 03 06 81 00 00 00 00 00 1B 42 FE 00 23 | failed, absent, ICC_MUTE
6.4 H>R 03 06 6B 01 00 00 00 00 00 00 00 00 06 69 | SEC1210 Escape 06
6.4 H>R 03 06 65 00 00 00 00 01 04 00 00 00 65 | GetSlotStatus slot 1
6.4 R>H 03 06 81 00 00 00 00 01 04 01 00 00 80 | slot 1 present inactive
6.4 H>R 03 06 62 00 00 00 00 01 0D 01 00 00 6A | IccPowerOn slot 1
6.4 H>R 03 06 61 07 00 00 00 01 40 01 00 00 11 10 00 45 00 FE 00 99 | SetParameters slot 1
6.4 H>R 03 06 6B 02 00 00 00 00 04 00 00 00 1F 02 75 | Escape 1F 02 (APDU level)
6.4 R>H 03 06 83 00 00 00 00 00 04 01 00 00 83 | Escape ok
6.4 H>R 03 06 6F 0C 00 00 00 00 1C 00 00 00 00 A4 04 00 07 00 00 00 00 03 10 10 DE | raw APDU at APDU level
"""

NAMES = {
    0x61: "PC_to_RDR_SetParameters", 0x62: "PC_to_RDR_IccPowerOn", 0x63: "PC_to_RDR_IccPowerOff",
    0x65: "PC_to_RDR_GetSlotStatus", 0x69: "PC_to_RDR_Secure", 0x6A: "PC_to_RDR_T0APDU",
    0x6B: "PC_to_RDR_Escape", 0x6C: "PC_to_RDR_GetParameters", 0x6D: "PC_to_RDR_ResetParameters",
    0x6E: "PC_to_RDR_IccClock", 0x6F: "PC_to_RDR_XfrBlock", 0x71: "PC_to_RDR_Mechanical",
    0x72: "PC_to_RDR_Abort", 0x73: "PC_to_RDR_SetDataRateAndClockFrequency",
    0x80: "RDR_to_PC_DataBlock", 0x81: "RDR_to_PC_SlotStatus", 0x82: "RDR_to_PC_Parameters",
    0x83: "RDR_to_PC_Escape", 0x84: "RDR_to_PC_DataRateAndClockFrequency",
}
# CCID rev 1.1 §6.1 / §6.2: meaning of header bytes 7..9 per message type
PARAMS = {
    0x62: ("bPowerSelect", None, None), 0x6F: ("bBWI", "wLevelParameter", "wLevelParameter"),
    0x69: ("bBWI", "wLevelParameter", "wLevelParameter"), 0x61: ("bProtocolNum", None, None),
    0x6E: ("bClockCommand", None, None), 0x6A: ("bmChanges", "bClassGetResponse", "bClassEnvelope"),
    0x71: ("bFunction", None, None), 0x80: ("bStatus", "bError", "bChainParameter"),
    0x81: ("bStatus", "bError", "bClockStatus"), 0x82: ("bStatus", "bError", "bProtocolNum"),
    0x83: ("bStatus", "bError", None), 0x84: ("bStatus", "bError", None),
}


def fields(msg: bytes) -> dict:
    t = msg[0]
    names = PARAMS.get(t, (None, None, None))
    out = {}
    if names[1] == "wLevelParameter":
        out["wLevelParameter"] = msg[8] | msg[9] << 8
        out[names[0]] = msg[7]
    else:
        for name, b in zip(names, msg[7:10]):
            if name:
                out[name] = b
    return out


def record(name, direction, framing, frame: bytes, source) -> dict:
    msg = frame[2:-1] if framing == "compat" else frame[2:-4]
    length = int.from_bytes(msg[1:5], "little")
    assert length == len(msg) - 10, name
    return {
        "name": name, "source": source, "dir": direction, "framing": framing, "frame": frame.hex(),
        "message": msg.hex(), "type": NAMES[msg[0]], "header": list(msg[:1]) + [length] + list(msg[5:10]),
        "fields": fields(msg), "data": msg[10:].hex(),
    }


def compat(msg: bytes) -> bytes:
    f = b"\x03\x06" + msg
    x = 0
    for b in f:
        x ^= b
    return f + bytes([x])


def native(msg: bytes) -> bytes:
    f = b"\x03\x0e" + msg
    return f + zlib.crc32(f).to_bytes(4, "little")


def header(t, data=b"", slot=0, seq=0, p=(0, 0, 0)) -> bytes:
    return bytes([t]) + len(data).to_bytes(4, "little") + bytes([slot, seq, *p]) + data


def main() -> None:
    out = []
    for n, line in enumerate(l for l in TRACES.strip().splitlines()):
        where, direction, rest = line.split(" ", 2)
        hexpart, label = rest.split("|")
        frame = bytes.fromhex(hexpart)
        x = 0
        for b in frame:
            x ^= b
        assert x == 0, f"bad LRC in trace line {line}"
        out.append(record(f"libccid-{n:02d} {label.strip()}", direction, "compat", frame, f"ccid-serial.md §{where}"))
    # Native mode and vendor Escapes (protocol/README.md)
    synth = [
        ("vendor GET_INFO request", "H>R", header(0x6B, b"\xcd\x01", seq=5)),
        ("vendor GET_INFO answer", "R>H", header(0x83, bytes.fromhex("cd01" "010101" "0205302e312e30" "030373696d"
                                                                        "040102" "05040a040000" "06040f000000"),
                                                 seq=5, p=(1, 0, 0))),
        ("vendor NATIVE request 4106", "H>R", header(0x6B, bytes.fromhex("cd02") + (4106).to_bytes(4, "little"), seq=6)),
        ("vendor NATIVE answer 1034 crc32", "R>H", header(0x83, bytes.fromhex("cd02") + (1034).to_bytes(4, "little") + b"\x01",
                                                           seq=6, p=(1, 0, 0))),
        ("vendor unknown command refused", "R>H", header(0x83, seq=7, p=(0x41, 0x84, 0))),
        ("vendor LOOPBACK 300 bytes", "H>R", header(0x6B, b"\xcd\x04" + bytes(range(256)) + bytes(range(44)), seq=8)),
        ("vendor RUN_SCRIPT request 2 steps", "H>R", header(0x6B, bytes.fromhex(
            "cd20 02" "01 0500 00a4040000" "02 9000 0500 0084000008"), seq=10)),
        ("vendor RUN_SCRIPT answer 2 steps done", "R>H", header(0x83, bytes.fromhex(
            "cd20 02 00" "0200 9000" "0a00 0102030405060708 9000"), seq=10, p=(0, 0, 0))),
        ("vendor READ_EVENT_LOG request", "H>R", header(0x6B, bytes.fromhex("cd32"), seq=11)),
        ("vendor READ_EVENT_LOG answer 1 entry", "R>H", header(0x83, bytes.fromhex(
            "cd32 01 0000" "10270000 03 00 01 01"), seq=11, p=(0, 0, 0))),
        # PC_to_RDR_Secure (issue #12): CPS verification template, ASCII left in 8 FF bytes, 4..8 digits
        ("Secure PIN verification request (CPS block)", "H>R", header(0x69, bytes.fromhex(
            "00 00 82 08 00 08 04 02 01 0c04 00 000000" "00 20 00 01 08 ffffffffffffffff"), seq=12)),
        ("Secure answer: the card's 63 C2", "R>H", header(0x80, bytes.fromhex("63c2"), seq=12)),
        ("Secure answer: PIN cancelled", "R>H", header(0x80, seq=13, p=(0x40, 0xEF, 0))),
        ("Secure answer: PIN timeout", "R>H", header(0x80, seq=14, p=(0x40, 0xF0, 0))),
    ]
    for name, direction, msg in synth:
        framing = "native" if len(msg) > 271 else "compat"
        frame = native(msg) if framing == "native" else compat(msg)
        out.append(record(name, direction, framing, frame, "protocol/README.md"))
    for src in [r for r in out if r["name"].startswith("libccid-")][20:32]:
        msg = bytes.fromhex(src["message"])
        out.append(record("native " + src["name"][8:], src["dir"], "native", native(msg), "native framing of " + src["source"]))
    big = header(0x80, bytes((i * 7) & 0xFF for i in range(1200)) + b"\x90\x00", seq=9)
    out.append(record("native DataBlock 1202 bytes", "R>H", "native", native(big), "protocol/README.md"))
    with open(HERE / "frames.jsonl", "w") as f:
        for r in out:
            f.write(json.dumps(r, sort_keys=True) + "\n")

    # Streams: bytes as they arrive, and the events a decoder must report.
    gs = compat(bytes.fromhex("65000000000002000000"))
    ans = compat(bytes.fromhex("81000000000002010000"))
    bad = bytearray(ans)
    bad[9] ^= 0x10
    over = b"\x03\x06\x6f\x00\x10\x00\x00\x00\x07\x00\x00\x00"  # dwLength 4096 > 261
    nat = native(bytes.fromhex("81000000000002010000"))
    badnat = bytearray(nat)
    badnat[-1] ^= 1
    streams = [
        ("host command", False, gs, [["frame", gs[2:-1].hex()]], 0),
        ("garbage before and between", False, b"AT\r\n" + gs + b"\x00\xff" + gs, [["frame", gs[2:-1].hex()]] * 2, 6),
        ("repeated sync", False, b"\x03\x03\x03" + gs, [["frame", gs[2:-1].hex()]], 3),
        ("sync followed by junk", False, b"\x03\x41" + gs, [["frame", gs[2:-1].hex()]], 2),
        ("bad LRC", False, bytes(bad) + gs, [["bad_check", bytes(bad[2:-1]).hex()], ["frame", gs[2:-1].hex()]], 0),
        ("oversize header then real frame inside", False, over[:5] + gs,
         [["oversize"], ["frame", gs[2:-1].hex()]], 5),
        ("oversize header", False, over + gs, [["oversize"], ["frame", gs[2:-1].hex()]], 12),
        ("reader keep-alives, notify, NAK", True, b"\x80\x80" + b"\x50\x03" + b"\x03\x15\x16" + ans,
         [["keepalive", 128], ["keepalive", 128], ["notify", 3], ["nak"], ["frame", ans[2:-1].hex()]], 0),
        ("reader echo then answer", True, gs + ans, [["frame", gs[2:-1].hex()], ["frame", ans[2:-1].hex()]], 0),
        ("reader broken NAK", True, b"\x03\x15\x99" + ans, [["keepalive", 0x99], ["frame", ans[2:-1].hex()]], 2),
        ("reader bytes the host does not know", True, b"\x01\x04\x4f" + ans, [["frame", ans[2:-1].hex()]], 3),
        ("native frame", True, nat, [["frame", nat[2:-4].hex()]], 0),
        ("native frame with bad CRC", True, bytes(badnat) + ans, [["bad_check", nat[2:-4].hex()], ["frame", ans[2:-1].hex()]], 0),
        ("host side ignores reader-only bytes", False, b"\x80\x50\x03\x03\x15\x16" + gs, [["frame", gs[2:-1].hex()]], 6),
    ]
    with open(HERE / "streams.jsonl", "w") as f:
        for name, from_reader, data, events, garbage in streams:
            f.write(json.dumps({"name": name, "from_reader": from_reader, "native_max_message": 2048,
                                "stream": data.hex(), "events": events, "garbage": garbage}, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
