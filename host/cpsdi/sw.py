"""ISO/IEC 7816-4 status words: meaning and the StatusWordError subclass of each (table-driven).

``Response.check()`` / ``transmit(check=True)`` raise through `raise_for_sw`; success
(``9000``) and the "more data" / warning words that are not errors (``61xx``,
``62xx``, ``63xx`` other than ``63Cx``) never raise. ISO/IEC 7816-4:2020 §5.6 Tables 5-6.
"""

from __future__ import annotations

from cpsdi.exceptions import StatusWordError

SW_SUCCESS = 0x9000


class VerificationFailed(StatusWordError):
    """63Cx: verification failed, ``retries`` tries left (x)."""

    @property
    def retries(self) -> int:
        """Remaining tries (the x of 63Cx)."""
        return self.sw & 0x0F


class MemoryFailure(StatusWordError):
    """6581: memory failure."""


class WrongLength(StatusWordError):
    """6700: wrong length (Lc or Le)."""


class SecureMessagingNotSupported(StatusWordError):
    """6882: secure messaging not supported."""


class SecurityStatusNotSatisfied(StatusWordError):
    """6982: security status not satisfied (PIN not verified)."""


class AuthMethodBlocked(StatusWordError):
    """6983: authentication method blocked (PIN blocked)."""


class ReferenceDataNotUsable(StatusWordError):
    """6984: reference data not usable."""


class ConditionsNotSatisfied(StatusWordError):
    """6985: conditions of use not satisfied."""


class WrongData(StatusWordError):
    """6A80: incorrect parameters in the command data field."""


class FunctionNotSupported(StatusWordError):
    """6A81: function not supported."""


class FileNotFound(StatusWordError):
    """6A82: file or application not found."""


class RecordNotFound(StatusWordError):
    """6A83: record not found."""


class WrongParameters(StatusWordError):
    """6A86: incorrect parameters P1-P2."""


class ReferencedDataNotFound(StatusWordError):
    """6A88: referenced data or reference data not found."""


class WrongP1P2(StatusWordError):
    """6B00: wrong parameters P1-P2."""


class WrongLe(StatusWordError):
    """6Cxx: wrong Le field; xx is the exact length."""


class InstructionNotSupported(StatusWordError):
    """6D00: instruction code not supported or invalid."""


class ClassNotSupported(StatusWordError):
    """6E00: class not supported."""


class UnknownError(StatusWordError):
    """6F00: no precise diagnosis."""


# Exact status words
_EXACT: dict[int, tuple[type[StatusWordError], str]] = {
    0x6581: (MemoryFailure, "memory failure"),
    0x6700: (WrongLength, "wrong length"),
    0x6882: (SecureMessagingNotSupported, "secure messaging not supported"),
    0x6982: (SecurityStatusNotSatisfied, "security status not satisfied"),
    0x6983: (AuthMethodBlocked, "authentication method blocked"),
    0x6984: (ReferenceDataNotUsable, "reference data not usable"),
    0x6985: (ConditionsNotSatisfied, "conditions of use not satisfied"),
    0x6A80: (WrongData, "incorrect data"),
    0x6A81: (FunctionNotSupported, "function not supported"),
    0x6A82: (FileNotFound, "file or application not found"),
    0x6A83: (RecordNotFound, "record not found"),
    0x6A86: (WrongParameters, "incorrect parameters P1-P2"),
    0x6A88: (ReferencedDataNotFound, "referenced data not found"),
    0x6B00: (WrongP1P2, "wrong parameters P1-P2"),
    0x6D00: (InstructionNotSupported, "instruction not supported"),
    0x6E00: (ClassNotSupported, "class not supported"),
    0x6F00: (UnknownError, "no precise diagnosis"),
}


def describe_sw(sw: int) -> str:
    """Short English meaning of a status word (for CLI output and exception messages)."""
    if sw == SW_SUCCESS:
        return "success"
    if sw in _EXACT:
        return _EXACT[sw][1]
    sw1, sw2 = sw >> 8, sw & 0xFF
    if sw1 == 0x61:
        return f"{sw2} more bytes available (GET RESPONSE)"
    if sw1 == 0x6C:
        return f"wrong Le, exact length {sw2}"
    if sw & 0xFFF0 == 0x63C0:
        return f"verification failed, {sw2 & 0x0F} tries left"
    if sw1 in (0x62, 0x63):
        return "warning"
    if sw1 in (0x64, 0x65, 0x66):
        return "execution error"
    if sw1 in (0x67, 0x68, 0x69, 0x6A, 0x6B, 0x6D, 0x6E, 0x6F):
        return "checking error"
    return "unknown status word"


def is_error(sw: int) -> bool:
    """True if ``sw`` makes ``check=True`` raise."""
    sw1 = sw >> 8
    if sw == SW_SUCCESS or sw1 in (0x61, 0x90, 0x62):
        return False
    if sw1 == 0x63:
        return sw & 0xFFF0 == 0x63C0
    return True


def exception_for_sw(sw: int, command_header: bytes = b"") -> StatusWordError:
    """The StatusWordError (subclass) for ``sw``; ``command_header`` is CLA INS P1 P2 only."""
    if sw in _EXACT:
        cls, text = _EXACT[sw]
    elif sw & 0xFFF0 == 0x63C0:
        cls, text = VerificationFailed, describe_sw(sw)
    elif sw >> 8 == 0x6C:
        cls, text = WrongLe, describe_sw(sw)
    else:
        cls, text = StatusWordError, describe_sw(sw)
    return cls(text, sw, command_header[:4])


def raise_for_sw(sw: int, command_header: bytes = b"") -> None:
    """Raise the StatusWordError of ``sw`` if it is an error (see `is_error`)."""
    if is_error(sw):
        raise exception_for_sw(sw, command_header)
