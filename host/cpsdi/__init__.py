"""cpsdi: host library for cpsdi smart-card readers (CPS / Vitale Dispositifs Intégrés)."""

from cpsdi.exceptions import (
    CardAbsentError,
    CardError,
    FramingError,
    ReaderError,
    ReaderProtocolError,
    ReaderTimeoutError,
    StatusWordError,
    TransportError,
)

__version__ = "0.1.0"

__all__ = [
    "CardAbsentError",
    "CardError",
    "FramingError",
    "ReaderError",
    "ReaderProtocolError",
    "ReaderTimeoutError",
    "StatusWordError",
    "TransportError",
    "__version__",
]
