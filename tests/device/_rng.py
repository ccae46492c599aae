"""A deterministic xorshift32 generator for the device tests (the same sequence on CPython and
MicroPython, which has no ``random.Random(seed)`` with the same output)."""


class Rng:
    def __init__(self, seed):
        self.x = seed

    def next(self, n):
        x = self.x
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.x = x
        return x % n

    def bytes(self, n):
        return bytes(self.next(256) for _ in range(n))
