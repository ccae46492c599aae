"""The whole firmware (cpsdi_fw.main.Reader) on fake cards, native host frames: a short run of
the heap soak (tests/device/_firmware_soak.py; ``python -m fuzz mpsoak`` is the long one).
CPython and MicroPython."""

import unittest

import _paths  # noqa: F401  (sys.path set-up shared by the device tests)

from _firmware_soak import FirmwareSoak

APDUS = 400


class FirmwareSoakTest(unittest.TestCase):
    def test_every_answer_exact_and_the_card_faults_recovered(self):
        soak = FirmwareSoak(seed=7)
        self.assertEqual(soak.batch(APDUS), 0, soak.first_wrong)
        t1, t0 = soak.cards
        # every APDU answered, none failed; each INCREMENT ran exactly once on its card
        self.assertEqual((soak.apdus, soak.wrong, soak.failed), (APDUS, 0, 0))
        self.assertEqual([t1.counter, t0.counter], soak.counters)
        self.assertEqual(soak.reader.link.frames, APDUS + soak.power_cycles + soak.power_cycles - 2)
        # the paths the soak is for were taken: PPS to 372/12, IFS 254, chaining both ways,
        # R-block retransmission after a bad LRC, WTX, T=0 NULL bytes and GET RESPONSE
        self.assertEqual((t1.d, t0.d, t1.ifsd), (12, 12, 254))
        self.assertTrue(t1.resent > 0 and t1.wtx_sent > 0 and t0.nulls > 0)
        self.assertTrue(t1.i_blocks > t1.commands)  # READ BINARY 256: the card chained
        self.assertTrue(t0.commands > soak.kinds[0x88] // 2)  # ECHO on T=0: 61 xx then GET RESPONSE
        self.assertTrue(soak.power_cycles >= 4)

    def test_a_wrong_answer_is_counted_not_hidden(self):
        soak = FirmwareSoak(seed=7)
        soak.batch(20)
        soak.counters[0] += 5  # the host now expects another value from slot 0
        soak.counters[1] += 5
        soak.batch(60)
        self.assertTrue(soak.wrong > 0)
        self.assertTrue(soak.first_wrong is not None)  # (MicroPython: assertIsNotNone mis-formats tuples)
