"""The one exception hierarchy of the host library.

Messages never contain a PIN: APDU data is never formatted into them, only
headers and status words.
"""

from __future__ import annotations


class ReaderError(Exception):
    """Base of every error raised by cpsdi."""


class TransportError(ReaderError):
    """The port is gone or the OS refused an operation (wraps SerialException/OSError)."""


class ReaderTimeoutError(TransportError, TimeoutError):
    """A deadline passed without a complete answer. Timeouts always raise."""


class FramingError(ReaderError):
    """A frame that cannot be used: bad LRC/CRC, bad length, unexpected bytes."""

    def __init__(self, message: str, frame: bytes = b"") -> None:
        self.frame = bytes(frame)
        if frame:
            message = f"{message} [{self.frame[:64].hex(' ')}{' …' if len(frame) > 64 else ''}]"
        super().__init__(message)


class ReaderProtocolError(ReaderError):
    """A well-formed message that makes no sense here (wrong type, seq, slot, version)."""


class CardError(ReaderError):
    """The reader reported a card-level failure; ``code`` is the CCID bError."""

    def __init__(self, message: str, code: int = 0) -> None:
        self.code = code
        super().__init__(message)


class CardAbsentError(CardError):
    """No card in the slot (or it was removed during the operation)."""


class StatusWordError(ReaderError):
    """The card answered with a status word other than success."""

    def __init__(self, message: str, sw: int) -> None:
        self.sw = sw
        super().__init__(f"{message} (SW {sw:04X})")
