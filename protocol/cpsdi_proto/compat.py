"""The one MicroPython/CPython shim of the device code: `const`.

On MicroPython `micropython.const` folds the value at compile time; on CPython it
is the identity.
"""

try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython (host, simulator, tests)

    def const(value: int) -> int:  # type: ignore[misc]
        return value
