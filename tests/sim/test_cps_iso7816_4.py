"""The ISO/IEC 7816-4 engine of the virtual CPS cards on a small file tree: SELECT variants,
READ/UPDATE BINARY, class-byte decoding, MANAGE CHANNEL and command chaining."""

from __future__ import annotations

from cpsdi_boards.sim.cps import iso7816_4 as iso
from cpsdi_boards.sim.cps.iso7816_4 import DF, EF, SW, ClassByte, FileContext, SelectRules

RULES = SelectRules(silent_names=frozenset({b"ROOT"}), read_binary_max=0xE7)


def tree() -> tuple[DF, DF, EF, EF]:
    mf = DF(0x3F00, b"ROOT")
    app = DF(0x0001, b"APP")
    mf.add(app)
    top = EF(0x2F00, bytearray(b"top file"), sfi=0x1E)
    mf.add(top)
    inner = EF(0x5031, bytearray(range(40)), sfi=0x11)
    app.add(inner)
    return mf, app, top, inner


def test_select_variants() -> None:
    mf, app, top, inner = tree()
    ctx = FileContext(mf)
    assert iso.select(ctx, 0x00, 0x00, b"\x3F\x00", RULES).sw == SW.INCORRECT_P1P2
    assert iso.select(ctx, 0x04, 0x00, b"ROOT", RULES).data == b""  # silent name
    assert iso.select(ctx, 0x04, 0x00, b"APP", RULES).sw == SW.INCORRECT_P1P2
    assert iso.select(ctx, 0x01, 0x0C, b"\x00\x01", RULES).sw == SW.OK and ctx.df is app
    assert iso.select(ctx, 0x01, 0x0C, b"\x50\x31", RULES).sw == SW.FILE_NOT_FOUND  # an EF, not a DF
    assert iso.select(ctx, 0x02, 0x0C, b"\x50\x31", RULES).sw == SW.OK and ctx.ef is inner
    assert iso.select(ctx, 0x03, 0x0C, b"", RULES).sw == SW.OK and ctx.df is mf and ctx.ef is None
    assert iso.select(ctx, 0x03, 0x0C, b"", RULES).sw == SW.FILE_NOT_FOUND  # the MF has no parent
    assert iso.select(ctx, 0x08, 0x04, b"\x00\x01\x50\x31", RULES).data == inner.fcp()
    assert iso.select(ctx, 0x09, 0x0C, b"\x2F\x00", RULES).sw == SW.FILE_NOT_FOUND  # from DF 0001
    assert iso.select(ctx, 0x09, 0x0C, b"\x3F\x00\x2F\x00", RULES).sw == SW.OK and ctx.ef is top
    assert iso.select(ctx, 0x09, 0x0C, b"\x3F\x00\x2F", RULES).sw == SW.LC_INCONSISTENT
    assert iso.select(ctx, 0x07, 0x0C, b"\x3F\x00", RULES).sw == SW.INCORRECT_P1P2
    assert iso.select(ctx, 0x04, 0x04, b"APP", RULES).data == bytes.fromhex("62 0F 82 01 38 83 02 00 01 84 03") \
        + b"APP" + bytes.fromhex("8A 01 05")
    assert inner.fcp() == bytes.fromhex("62 25 80 02 00 28 82 01 01 83 02 50 31 88 01 88 A1 12 8C 07 7B FF FF FF"
                                        " FF FF 00 9C 07 7B FF FF FF FF FF 00 8A 01 05")


def test_read_and_update_binary() -> None:
    mf, app, top, inner = tree()
    ctx = FileContext(mf)

    def allow(scb: int) -> bool:
        return True

    assert iso.read_binary(ctx, 0, 0, 4, RULES, allow).sw == SW.NO_CURRENT_EF
    r = iso.read_binary(ctx, 0x9E, 4, 0, RULES, allow)  # SFI 1E in the MF, offset 4
    assert (r.data, r.sw) == (b"file", SW.OK) and ctx.ef is top
    assert iso.read_binary(ctx, 0x00, 0x02, 3, RULES, allow).data == b"p f"
    assert iso.update_binary(ctx, 0x00, 0x00, b"TOP", allow).sw == SW.OK
    assert top.content == bytearray(b"TOP file")
    assert iso.update_binary(ctx, 0x00, 0x07, b"xx", allow).sw == SW.WRONG_P1P2
    assert iso.read_binary(ctx, 0x91, 0, 1, RULES, allow).sw == SW.FILE_NOT_FOUND  # SFI 11 is in DF 0001
    assert iso.read_binary(ctx, 0xC0, 0, 1, RULES, allow).sw == SW.INCORRECT_P1P2
    assert iso.read_binary(ctx, 0x00, 0x00, 1, RULES, lambda scb: False).sw == SW.SECURITY_NOT_SATISFIED


def test_class_byte() -> None:
    assert iso.decode_cla(0x00) == ClassByte(0, False, False)
    assert iso.decode_cla(0x13) == ClassByte(3, True, False)
    assert iso.decode_cla(0x0C) == ClassByte(0, False, True)
    assert iso.decode_cla(0x41) == ClassByte(5, False, False)
    assert iso.decode_cla(0x7F) == ClassByte(19, True, True)
    assert iso.decode_cla(0xA0) is None and iso.decode_cla(0x20) is None


def test_manage_channel() -> None:
    channels: iso.LogicalChannels[str] = iso.LogicalChannels(4, lambda: "fresh")
    basic = ClassByte(0, False, False)
    assert channels.manage(basic, 0x00, 0x00, 1).data == b"\x01"
    assert channels.manage(basic, 0x00, 0x00, 1).data == b"\x02"
    assert channels.manage(basic, 0x00, 0x03, 0).sw == SW.OK
    assert channels.manage(basic, 0x00, 0x00, 1).sw == SW.CONDITIONS_NOT_SATISFIED
    assert channels.manage(basic, 0x80, 0x02, 0).sw == SW.OK and channels.get(2) is None
    assert channels.manage(ClassByte(1, False, False), 0x80, 0x00, 0).sw == SW.OK  # close itself
    assert channels.manage(basic, 0x80, 0x00, 0).sw == SW.INCORRECT_P1P2  # never the basic channel
    assert channels.manage(ClassByte(2, False, False), 0x00, 0x00, 1).sw == SW.CHANNEL_NOT_SUPPORTED
    single: iso.LogicalChannels[str] = iso.LogicalChannels(1, lambda: "x")
    assert single.manage(basic, 0x00, 0x00, 1).sw == SW.CHANNEL_NOT_SUPPORTED


def test_command_chain() -> None:
    chain = iso.CommandChain()
    head = bytes.fromhex("10 2A 80 86 02")
    assert chain.feed(0, head, b"ab", True) == (None, SW.OK) and chain.pending
    assert chain.feed(0, head, b"cd", True) == (None, SW.OK)
    assert chain.feed(0, bytes.fromhex("00 2A 80 86 01"), b"e", False) == (b"abcde", SW.OK)
    assert not chain.pending
    assert chain.feed(0, head, b"ab", True) == (None, SW.OK)
    assert chain.feed(0, bytes.fromhex("00 2A 9E 9A 00"), b"", False) == (None, SW.LAST_COMMAND_EXPECTED)
    assert not chain.pending
