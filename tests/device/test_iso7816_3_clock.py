"""The session clock after the ATR/PPS (ISO 7816-3 §8.3: TA1 codes fmax); CPython and MicroPython."""

import unittest

from cpsdi_fw.hal import clock_target
from cpsdi_fw.iso7816_3 import timing

MAX_BAUD = 250000


class SessionClockTest(unittest.TestCase):
    def test_cps4_ta1_18_goes_to_5_mhz_on_a_5_mhz_board(self):
        # CPS4 TA1 = 18: FI 1 -> fmax 5 MHz; 372/12 at 5 MHz = 161 290 bit/s <= 250 000
        self.assertEqual(timing.session_clock_hz(0x18, 372, 12, MAX_BAUD, 5000000), 5000000)

    def test_the_board_limit_wins_below_fmax(self):
        # TA1 = D1: FI D (2048, fmax 20 MHz) on a board that goes up to 8 MHz
        self.assertEqual(timing.session_clock_hz(0xD1, 2048, 1, MAX_BAUD, 8000000), 8000000)

    def test_no_ta1_means_fmax_5_mhz(self):
        self.assertEqual(timing.session_clock_hz(timing.TA1_DEFAULT, 372, 1, MAX_BAUD, 20000000), 5000000)

    def test_fi_0_means_fmax_4_mhz(self):
        self.assertEqual(timing.session_clock_hz(0x01, 372, 1, MAX_BAUD, 5000000), 4000000)

    def test_rfu_fi_gives_no_session_clock(self):
        self.assertEqual(timing.session_clock_hz(0x71, 372, 1, MAX_BAUD, 5000000), 0)
        self.assertEqual(timing.session_clock_hz(0xE1, 372, 1, MAX_BAUD, 5000000), 0)

    def test_the_reader_bit_rate_bounds_the_clock(self):
        # 512/64 (TA1 97) at 5 MHz would be 625 000 bit/s: f <= 250 000 * 512 / 64 = 2 MHz
        self.assertEqual(timing.session_clock_hz(0x97, 512, 64, MAX_BAUD, 5000000), 2000000)
        # 372/12 with a 115 200 bit/s UART: f <= 115 200 * 31 = 3 571 200 Hz
        self.assertEqual(timing.session_clock_hz(0x18, 372, 12, 115200, 5000000), 3571200)

    def test_the_bound_is_exact_for_a_non_integer_etu(self):
        # 372/32 = 11.625 clocks per etu: f <= 250 000 * 372 / 32 = 2 906 250 Hz
        hz = timing.session_clock_hz(0x16, 372, 32, MAX_BAUD, 5000000)
        self.assertEqual(hz, 2906250)
        self.assertLessEqual(timing.baud(372, 32, hz), MAX_BAUD)

    def test_a_fixed_clock_board_gets_no_higher_clock(self):
        self.assertEqual(timing.session_clock_hz(0x18, 372, 12, MAX_BAUD, 0), 0)


if __name__ == "__main__":
    unittest.main()


class ClockTargetTest(unittest.TestCase):
    """hal.clock_target: what a board's set_clock aims for (HAL contract)."""

    def test_within_the_bounds_the_request_stands(self):
        self.assertEqual(clock_target(4000000, 3571200, 5000000), 4000000)

    def test_the_board_maximum_caps_it(self):
        self.assertEqual(clock_target(20000000, 3571200, 5000000), 5000000)

    def test_never_below_the_activation_clock(self):
        self.assertEqual(clock_target(1000000, 3571200, 5000000), 3571200)

    def test_zero_goes_back_to_the_activation_clock(self):
        self.assertEqual(clock_target(0, 3571200, 5000000), 3571200)

    def test_a_fixed_clock_board_stays_at_activation(self):
        self.assertEqual(clock_target(5000000, 3571200, 0), 3571200)
