"""Interpreter features the firmware relies on, checked on CPython and on MicroPython.

Runs under pytest (CPython) and under tools/mpwasm/run.mjs (MicroPython-WebAssembly).
Plain unittest, MicroPython subset only.
"""

import os
import struct
import sys
import unittest

import _paths

IS_MICROPYTHON = sys.implementation.name == "micropython"


class TestBuffers(unittest.TestCase):
    def test_struct_pack_into_unpack_from_bytearray(self):
        buf = bytearray(12)
        struct.pack_into("<BHI", buf, 1, 0x6F, 0x1234, 0xDEADBEEF)
        # "<" is packed: no padding between fields.
        self.assertEqual(bytes(buf), b"\x00\x6f\x34\x12\xef\xbe\xad\xde\x00\x00\x00\x00")
        struct.pack_into(">H", buf, 8, 0xABCD)
        self.assertEqual(buf[8:10], bytearray(b"\xab\xcd"))
        self.assertEqual(struct.unpack_from("<BHI", buf, 1), (0x6F, 0x1234, 0xDEADBEEF))
        self.assertEqual(struct.unpack_from(">H", buf, 8), (0xABCD,))
        self.assertEqual(struct.calcsize("<BHI"), 7)

    def test_memoryview_slicing_and_assignment(self):
        buf = bytearray(b"0123456789")
        mv = memoryview(buf)
        window = mv[2:6]
        self.assertEqual(len(window), 4)
        self.assertEqual(bytes(window), b"2345")
        # Writing through a slice of a slice reaches the underlying buffer (no copy).
        window[1:3] = b"ab"
        self.assertEqual(bytes(buf), b"012ab56789")
        mv[0] = 0x41
        self.assertEqual(buf[0], 0x41)
        # The view tracks later writes to the buffer.
        buf[5] = 0x5A
        self.assertEqual(window[3], 0x5A)

    def test_bytes_hex_and_int_bytes(self):
        self.assertEqual(b"\x3b\x9f\x00".hex(), "3b9f00")
        self.assertEqual(bytes.fromhex("3b9f00"), b"\x3b\x9f\x00")
        self.assertEqual(int.from_bytes(b"\x01\x02", "big"), 0x0102)
        self.assertEqual(int.from_bytes(b"\x01\x02", "little"), 0x0201)
        self.assertEqual((0x0102).to_bytes(2, "big"), b"\x01\x02")
        self.assertEqual((0x0102).to_bytes(4, "little"), b"\x02\x01\x00\x00")
        # Big integers (e.g. RSA moduli, long counters) round-trip.
        big = int.from_bytes(b"\xff" * 20, "big")
        self.assertEqual(big, (1 << 160) - 1)
        self.assertEqual(big.to_bytes(20, "big"), b"\xff" * 20)


class TestHeap(unittest.TestCase):
    @unittest.skipIf(not IS_MICROPYTHON, "micropython.heap_lock() exists only on MicroPython")
    def test_heap_lock_forbids_allocation_not_buffer_writes(self):
        import micropython

        buf = bytearray(8)
        mv = memoryview(buf)
        allocation_raised = False
        write_raised = False
        micropython.heap_lock()
        try:
            try:
                for i in range(8):
                    buf[i] = i
                mv[2:4] = b"\xaa\xbb"
                struct.pack_into(">H", buf, 6, 0x1234)
            except MemoryError:
                write_raised = True
            try:
                bytearray(16)
            except MemoryError:
                allocation_raised = True
        finally:
            micropython.heap_unlock()
        self.assertFalse(write_raised, "writing into a preallocated buffer allocated")
        self.assertTrue(allocation_raised, "bytearray(16) did not raise MemoryError under heap_lock")
        self.assertEqual(bytes(buf), b"\x00\x01\xaa\xbb\x04\x05\x12\x34")


class TestPaths(unittest.TestCase):
    def test_vectors_dir_is_next_to_device_tests(self):
        vectors = _paths.vectors_dir()
        self.assertTrue(vectors.endswith("vectors"), vectors)
        parent = vectors[: -len("vectors")].rstrip("/\\") or "/"
        self.assertIn("device", os.listdir(parent))
        self.assertEqual(_paths.vector_path("x.jsonl"), vectors + vectors[-len("vectors") - 1] + "x.jsonl")


if __name__ == "__main__":
    unittest.main()
