"""Little-endian integer fields read and written in place (update images, bundle manifests,
the update state, CCID ``dwLength``-style fields): no ``struct`` call, nothing allocated."""


def u16(b, o: int) -> int:
    """The little-endian u16 at ``b[o]``."""
    return b[o] | (b[o + 1] << 8)


def u32(b, o: int) -> int:
    """The little-endian u32 at ``b[o]``."""
    return b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)


def put_u32(b, o: int, v: int) -> None:
    """Write ``v`` (low 32 bits) as a little-endian u32 at ``b[o]``."""
    b[o] = v & 0xFF
    b[o + 1] = (v >> 8) & 0xFF
    b[o + 2] = (v >> 16) & 0xFF
    b[o + 3] = (v >> 24) & 0xFF
