"""ISO/IEC 7816-3:2006 engines of the reader (sans-IO, MicroPython and CPython).

`timing` holds the F/D tables and the etu, guard-time and waiting-time formulas;
`atr` parses the Answer-To-Reset byte by byte and takes the reader decisions that
follow it; `pps` decides, builds and checks the Protocol and Parameters Selection;
`t0` runs T=0 TPDUs and maps APDUs onto them (§10, §12); `t1` is the T=1 block
codec and block engine with the complete error recovery of §11.6.
References: /work/shared/reference/iso7816-3.md §1, §2 and §3.
"""
