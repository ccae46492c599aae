"""Board support: pins, card interface chip, HAL implementations.

The only package that imports `machine`, `rp2` or `stm`. `cpsdi_boards.sim` is the
simulated board and runs on CPython only (it never goes to a device).
"""
