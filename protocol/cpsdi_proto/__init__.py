"""cpsdi wire format: the one definition shared by the reader firmware and the host.

Written in the common subset of CPython and MicroPython (struct, memoryview,
preallocated buffers, no run-time typing). See protocol/README.md.
"""

PROTOCOL_VERSION = 1
