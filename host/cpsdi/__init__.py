"""cpsdi: host library for cpsdi smart-card readers (CPS / Vitale Dispositifs Intégrés)."""

from cpsdi.reader import ATR, CardConnection, Reader, Response, Slot
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
    "ATR",
    "CardConnection",
    "Reader",
    "Response",
    "Slot",
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
