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


class CardMuteError(CardError):
    """The card did not answer (CCID bError FE, ICC_MUTE)."""


class ParityError(CardError):
    """Parity error on the card line (CCID bError FD, XFR_PARITY_ERROR)."""


class OverrunError(CardError):
    """Buffer overrun on the card line (CCID bError FC, XFR_OVERRUN)."""


class HardwareError(CardError):
    """The reader's card interface failed (CCID bError FB, HW_ERROR)."""


class BadATRError(CardError):
    """The ATR is invalid (CCID bError F8 BAD_ATR_TS or F7 BAD_ATR_TCK)."""


class ProtocolNotSupportedError(CardError):
    """No protocol of the card is supported (CCID bError F6)."""


class ProcedureByteConflictError(CardError):
    """T=0 procedure byte conflict (CCID bError F4)."""


class SlotBusyError(CardError):
    """The slot is busy with another command (CCID bError E0)."""


class CommandAbortedError(CardError):
    """The command was aborted (CCID bError FF)."""


class NotSupportedError(ReaderProtocolError):
    """The reader answered "command not supported" (bStatus 0x40, bError 00)."""


class VendorCommandError(ReaderProtocolError):
    """A cpsdi vendor Escape failed; ``code`` is the vendor bError (0x81..0xC0)."""

    def __init__(self, message: str, code: int = 0) -> None:
        self.code = code
        super().__init__(message)


class StatusWordError(ReaderError):
    """The card answered with a status word other than success.

    ``command_header`` is CLA INS P1 P2 only: command data (a PIN) never reaches
    an exception.
    """

    def __init__(self, message: str, sw: int, command_header: bytes = b"") -> None:
        self.sw = sw
        self.command_header = bytes(command_header[:4])
        text = f"{message} (SW {sw:04X})"
        if self.command_header:
            text += f" for command {self.command_header.hex(' ').upper()}"
        super().__init__(text)


class UpdateError(ReaderError):
    """Base of the firmware-update errors (signed images, keys, the update channel).

    ``reason`` is a short stable code (``"magic"``, ``"tlv_dup"``, ``"signature"``, ...); for
    image checks it is the device parser's error name (``cpsdi_fw.mcuboot.ERR_*``) in lower
    case without the prefix, so host and device report the same reason for the same image.
    """

    def __init__(self, message: str, reason: str = "") -> None:
        self.reason = reason
        super().__init__(message)


class ImageFormatError(UpdateError):
    """A malformed, truncated or over-long image, metadata blob or bundle."""


class SignatureRejected(UpdateError):
    """The image is not authentic: digest mismatch, unknown key or bad signature."""


class RollbackRejected(UpdateError):
    """The image's security counter is below the rollback floor."""


class IncompatibleImage(UpdateError):
    """An authentic image for another board, interpreter (.mpy ABI) or payload type."""


class KeyFileError(UpdateError):
    """A signing-key file that must not be used or written (permissions, location, format)."""
