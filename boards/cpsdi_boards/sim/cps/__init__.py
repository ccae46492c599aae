"""Virtual CPS2ter / CPS3 / CPS4 and Vitale cards with a test PKI (CPython only).

Facts come from ``shared/reference/cps-cards.md``; every module keeps its FACT /
INFERENCE / GUESS distinction in comments.
"""
