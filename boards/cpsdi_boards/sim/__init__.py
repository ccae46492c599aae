"""Simulated board: the firmware on CPython against virtual cards (host side only)."""
