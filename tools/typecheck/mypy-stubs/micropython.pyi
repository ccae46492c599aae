# For mypy on the CPython side only (host, simulator), which imports cpsdi_proto.compat:
# there `from micropython import const` is tried first (device) and falls back to an
# identity function on CPython. Without this stub mypy would type `const` as Any and
# every `X = const(...)` constant reaching host code would be Any. Deliberately only
# `const`: host code using any other micropython API must fail the check.
from typing import TypeVar

_T = TypeVar("_T")

def const(expr: _T, /) -> _T: ...
