"""cpsdi_fw.byteorder: little-endian fields in place; CPython and MicroPython."""

import unittest

from cpsdi_fw.byteorder import put_u32, u16, u32


class ByteorderTest(unittest.TestCase):
    def test_u16_and_u32_read_little_endian_at_an_offset(self):
        b = bytes((0xAA, 0x34, 0x12, 0x78, 0x56))
        self.assertEqual(u16(b, 1), 0x1234)
        self.assertEqual(u32(b, 1), 0x56781234)

    def test_u32_top_bit_is_not_a_sign(self):
        self.assertEqual(u32(b"\xff\xff\xff\xff", 0), 0xFFFFFFFF)

    def test_put_u32_writes_four_bytes_and_nothing_else(self):
        b = bytearray(b"\x11" * 6)
        put_u32(b, 1, 0x0A0B0C0D)
        self.assertEqual(bytes(b), b"\x11\x0d\x0c\x0b\x0a\x11")

    def test_put_u32_keeps_the_low_32_bits(self):
        b = bytearray(4)
        put_u32(b, 0, 0x1FFFFFFFE)
        self.assertEqual(bytes(b), b"\xfe\xff\xff\xff")
        self.assertEqual(u32(b, 0), 0xFFFFFFFE)

    def test_memoryview_in_place(self):
        b = bytearray(8)
        put_u32(memoryview(b)[2:], 0, 0x01020304)
        self.assertEqual(u32(memoryview(b), 2), 0x01020304)
