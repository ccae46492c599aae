"""ISO/IEC 7816-3:2006 timing: F/D tables, etu, guard times, waiting times.

Integer arithmetic only (no floats, no allocation besides the results), written so
that intermediate products stay below 2**30 (MicroPython small ints on 32-bit ports)
for every legal input: F <= 2048, D <= 64, WI <= 255, BWI <= 9, CWI <= 15.

Conventions: ``f``/``d`` are the F and D values *in force* (e.g. 372 and 1 during
the ATR), ``fi``/``di`` the values announced by TA1. Waiting times are returned in
etu at the F/D in force, rounded **up** (a timeout must never be shorter than the
card is allowed to take). Formulas are the ones of iso7816-3.md §1.1, §1.3, §1.4.
"""

from cpsdi_proto.compat import const

# ISO 7816-3 §8.1, iso7816-3.md §1.1: F and D during the ATR (Fd, Dd), TA1 default.
FD = const(372)
DD = const(1)
TA1_DEFAULT = const(0x11)

# iso7816-3.md §1.3 (ISO §8.3, §11.2): default guard time, T=1 block guard time.
GUARD_TIME_DEFAULT_ETU = const(12)
GUARD_TIME_T1_MIN_ETU = const(11)
BGT_ETU = const(22)

# iso7816-3.md §1.4 (ISO §8.1, §10.2, §11.4.3): initial waiting time and defaults.
INITIAL_WT_ETU = const(9600)
WI_DEFAULT = const(10)
CWI_DEFAULT = const(13)
BWI_DEFAULT = const(4)
BWI_MAX = const(9)  # BWI A..F are RFU
IFSC_DEFAULT = const(32)

# ISO 7816-3:2006 §8.3 Table 7 (iso7816-3.md §1.1): Fi and fmax by FI; RFU = 0.
FI_TABLE = (372, 372, 558, 744, 1116, 1488, 1860, 0, 0, 512, 768, 1024, 1536, 2048, 0, 0)
FMAX_HZ_TABLE = (
    4000000,
    5000000,
    6000000,
    8000000,
    12000000,
    16000000,
    20000000,
    0,
    0,
    5000000,
    7500000,
    10000000,
    15000000,
    20000000,
    0,
    0,
)
# ISO 7816-3:2006 §8.3 Table 8: Di by DI; RFU = 0 (DI 0 and A..F; the 1997 edition's
# 1/2..1/64 for A..F is not supported).
DI_TABLE = (0, 1, 2, 4, 8, 16, 32, 64, 12, 20, 0, 0, 0, 0, 0, 0)

_WT_FACTOR = const(960)  # ISO §10.2 / §11.4.3
_BWT_NUM = const(357120)  # 960 * Fd (Fd = 372 always in BWT, iso7816-3.md §1.4)


def fi_from_ta1(ta1: int) -> int:
    """Fi for TA1's high nibble FI (Table 7); 0 when RFU."""
    return FI_TABLE[(ta1 >> 4) & 0x0F]


def fmax_hz_from_ta1(ta1: int) -> int:
    """fmax in Hz for TA1's high nibble FI (Table 7); 0 when RFU."""
    return FMAX_HZ_TABLE[(ta1 >> 4) & 0x0F]


def di_from_ta1(ta1: int) -> int:
    """Di for TA1's low nibble DI (Table 8); 0 when RFU."""
    return DI_TABLE[ta1 & 0x0F]


def _ceil_div(a: int, b: int) -> int:
    return (a + b - 1) // b


def etu_clocks(f: int, d: int) -> int:
    """Clock cycles per etu, F / D (iso7816-3.md §1.1), rounded down.

    F/D need not be an integer (372/32 = 11.625): check `etu_clocks_exact` when the
    hardware can only divide the clock by an integer.
    """
    return f // d


def etu_clocks_exact(f: int, d: int) -> bool:
    """True when F / D is a whole number of clock cycles."""
    return f % d == 0


def baud(f: int, d: int, clock_hz: int) -> int:
    """Bit rate on I/O in bit/s, D * f / F (1 etu = F / (D * f) s), rounded down."""
    return clock_hz // f * d + (clock_hz % f) * d // f


def session_clock_hz(ta1: int, f: int, d: int, max_baud: int, board_max_hz: int) -> int:
    """Highest CLK for the session after the ATR/PPS, 0 if none is known.

    §8.3: TA1's FI codes fmax, the highest frequency the card accepts once the ATR is
    over (5 MHz for the default TA1 = 11; 0 when FI is RFU: fmax unknown, keep the
    activation clock). Also bounded by the board (``board_max_hz``) and by the bit rate
    the reader handles, D * f / F <= ``max_baud`` at the F/D in force.
    """
    hz = fmax_hz_from_ta1(ta1)
    if hz > board_max_hz:
        hz = board_max_hz
    by_baud = max_baud // d * f + (max_baud % d) * f // d
    return hz if hz <= by_baud else by_baud


def guard_time_etu(n: int, protocol: int) -> int:
    """Character spacing for characters sent by the reader, from TC1 = N.

    iso7816-3.md §1.3 (ISO §8.3, §11.2): GT = 12 + N etu for N = 0..254; N = 255 is
    the minimum, 12 etu for T=0 and 11 etu (CGT) for T=1. TC1 absent: N = 0.
    """
    if n == 255:
        return GUARD_TIME_T1_MIN_ETU if protocol == 1 else GUARD_TIME_DEFAULT_ETU
    return GUARD_TIME_DEFAULT_ETU + n


def wt_etu(wi: int, d: int, fi: int, f: int) -> int:
    """T=0 waiting time in etu at the F/D in force (iso7816-3.md §1.4).

    WT = WI * 960 * Fi / f seconds, i.e. WI * 960 * D * Fi / F etu, which is
    WI * 960 * D when F = Fi. Note the D factor: keeping 9 600 etu after a PPS with
    D != 1 is the osmo-ccid bug 066489d. Rounded up.
    """
    x = wi * _WT_FACTOR * d  # <= 255 * 960 * 64 < 2**24
    q = x // f
    r = x - q * f
    return q * fi + _ceil_div(r * fi, f)


def cwt_etu(cwi: int) -> int:
    """T=1 character waiting time CWT = 11 + 2**CWI etu (iso7816-3.md §1.4)."""
    return 11 + (1 << cwi)


def bwt_etu(bwi: int, d: int, f: int) -> int:
    """T=1 block waiting time in etu at the F/D in force (iso7816-3.md §1.4).

    BWT = 11 etu + 2**BWI * 960 * Fd / f seconds with Fd = 372 always, i.e.
    11 + 2**BWI * 960 * 372 * D / F etu. Rounded up. Computed as
    (960 * 372 * D) divmod F first so that nothing exceeds 2**30 for BWI <= 9.
    """
    x = _BWT_NUM * d  # <= 357120 * 64 < 2**25
    q = x // f
    r = x - q * f
    return 11 + (q << bwi) + _ceil_div(r << bwi, f)


def bgt_etu() -> int:
    """T=1 block guard time, 22 etu (iso7816-3.md §1.3)."""
    return BGT_ETU
