"""STM32 USART in smartcard mode: every register value from ONE pure function (``usart_sc_config``).

For the USART IP of the STM32L4/F0/F3/F7/G4/H7/WB/WL families (RM0351 for the L476: "USART
smartcard mode"; register map CR1 0x00, CR2 0x04, CR3 0x08, BRR 0x0C, GTPR 0x10, RTOR 0x14,
RQR 0x18, ISR 0x1C, ICR 0x20, RDR 0x24, TDR 0x28). The older F1/F2/F4 IP (RM0090/RM0383) differs:
UE is CR1 bit 13, there is no SCARCNT (software repeats after FE), no MSBFIRST/DATAINV — not
covered here.

Formulas (reference manual):

* card clock SCLK = f_ck / (2 * PSC), PSC = GTPR[4:0] = 1..31 (0 reserved), chosen as the smallest
  PSC with SCLK <= the requested maximum;
* baud = f_ck / USARTDIV with OVER8 = 0 (oversampling by 8 is not allowed in smartcard mode),
  BRR = USARTDIV >= 16; one etu = F / D card clocks, so USARTDIV = 2 * PSC * F / D exactly —
  rounded, and refused if the etu would be off by more than ``MAX_ETU_ERROR_PPM``;
* GTPR.GT = desired character guard time - 12 etu ("the guard time is measured after the stop bit
  of the previous character": GT = CGT - 12), so 12 + N etu -> GT = N;
* CR1: M0 (9-bit word = 8 data + parity), PCE, even parity (PS = 0), TE, RE. UE is not in the
  value: the driver writes CR1 | UE last (the other registers are writable only with UE = 0);
* CR2: STOP = 11 (1.5 stop bits: the transmitter samples the card's NACK 1 etu after the start of
  the stop bit = 11 etu, flagged as FE), CLKEN (SCLK on the CK pin = the card's CLK), LBCL (clock
  on the last data bit, as ST's HAL smartcard driver), inverse convention = MSBFIRST + DATAINV
  (the parity bit is inverted with the data, which is what ISO's inverse convention means);
* CR3: SCEN, NACK (error signal on a received parity error: T=0 only, cleared for T=1),
  SCARCNT (automatic repetitions, 0..7: transmit retries before FE, receive NACKs before the
  character is passed on with PE). HDSEL, IREN and LINEN must stay 0 in smartcard mode.
"""

from cpsdi_boards.board_check import F_VALUES, D_VALUES, BoardError

CR1_UE = 1 << 0
CR1_RE = 1 << 2
CR1_TE = 1 << 3
CR1_PS = 1 << 9
CR1_PCE = 1 << 10
CR1_M0 = 1 << 12
CR1_OVER8 = 1 << 15
CR2_LBCL = 1 << 8
CR2_CLKEN = 1 << 11
CR2_STOP_0_5 = 1 << 12
CR2_STOP_1_5 = 3 << 12
CR2_DATAINV = 1 << 18
CR2_MSBFIRST = 1 << 19
CR2_RTOEN = 1 << 23
CR3_HDSEL = 1 << 3
CR3_NACK = 1 << 4
CR3_SCEN = 1 << 5
CR3_SCARCNT_SHIFT = 17
ISR_PE = 1 << 0
ISR_FE = 1 << 1
ISR_ORE = 1 << 3
ISR_RXNE = 1 << 5
ISR_TC = 1 << 6
ISR_TXE = 1 << 7
ISR_RTOF = 1 << 11

CR1 = 0x00
CR2 = 0x04
CR3 = 0x08
BRR = 0x0C
GTPR = 0x10
RTOR = 0x14
RQR = 0x18
ISR = 0x1C
ICR = 0x20
RDR = 0x24
TDR = 0x28

PSC_MAX = 31
BRR_MIN = 16
MAX_ETU_ERROR_PPM = 5000  # 0.5 %: 0.05 etu drift over a 10-etu character (ISO: +-0.2 etu)
CARD_CLOCK_MIN_HZ = 1000000
CARD_CLOCK_MAX_HZ = 20000000  # highest fmax of ISO table 7 (the ATR itself needs <= 5 MHz)


def usart_sc_config(kernel_hz: int, card_hz_max: int, f: int = 372, d: int = 1, guard_time_etu: int = 12,
                    retries: int = 3, inverse: bool = False) -> dict:
    """Register values for smartcard mode; ``retries`` = 0 means T=1 (no error signal, no repetition).

    Returns a dict: ``CR1``, ``CR2``, ``CR3``, ``BRR``, ``GTPR`` (register values), ``psc``,
    ``card_hz`` (SCLK, Hz, rounded down), ``baud_x1000`` (bit/s * 1000) and ``etu_error_ppm``.
    Raises ``BoardError`` for what the USART cannot do.
    """
    if kernel_hz <= 0 or card_hz_max <= 0:
        raise BoardError("USART smartcard: clocks must be positive")
    if f not in F_VALUES or d not in D_VALUES:
        raise BoardError("USART smartcard: F = %d / D = %d not in the ISO 7816-3 tables" % (f, d))
    if not 0 <= retries <= 7:
        raise BoardError("USART smartcard: SCARCNT holds 0..7 retries, not %d" % retries)
    if not 11 <= guard_time_etu <= 12 + 255:
        raise BoardError("USART smartcard: guard time %d etu outside 11..267" % guard_time_etu)
    psc = (kernel_hz + 2 * card_hz_max - 1) // (2 * card_hz_max)
    if psc < 1:
        psc = 1
    if psc > PSC_MAX:
        raise BoardError("USART smartcard: %d Hz / (2 * PSC) <= %d Hz needs PSC = %d > 31" % (kernel_hz, card_hz_max, psc))
    card_hz = kernel_hz // (2 * psc)
    if kernel_hz < CARD_CLOCK_MIN_HZ * 2 * psc or card_hz > CARD_CLOCK_MAX_HZ:
        raise BoardError("USART smartcard: card clock %d Hz outside 1..20 MHz" % card_hz)
    num = 2 * psc * f  # USARTDIV = num / d
    brr = (num + d // 2) // d
    if brr < BRR_MIN:
        raise BoardError("USART smartcard: BRR %d < 16 (F/D = %d/%d too fast for PSC %d)" % (brr, f, d, psc))
    if brr > 0xFFFF:
        raise BoardError("USART smartcard: BRR %d > 65535" % brr)
    error_ppm = abs(brr * d - num) * 1000000 // num
    if error_ppm > MAX_ETU_ERROR_PPM:
        raise BoardError("USART smartcard: etu off by %d ppm at F/D = %d/%d with PSC %d (BRR %d, exact %d/%d)"
                         % (error_ppm, f, d, psc, brr, num, d))
    gt = guard_time_etu - 12 if guard_time_etu > 12 else 0
    cr1 = CR1_M0 | CR1_PCE | CR1_TE | CR1_RE
    cr2 = CR2_STOP_1_5 | CR2_CLKEN | CR2_LBCL
    if inverse:
        cr2 |= CR2_MSBFIRST | CR2_DATAINV
    cr3 = CR3_SCEN
    if retries:
        cr3 |= CR3_NACK | retries << CR3_SCARCNT_SHIFT
    return {
        "CR1": cr1,
        "CR2": cr2,
        "CR3": cr3,
        "BRR": brr,
        "GTPR": gt << 8 | psc,
        "psc": psc,
        "card_hz": card_hz,
        "baud_x1000": kernel_hz * 1000 // brr,
        "etu_error_ppm": error_ppm,
    }
