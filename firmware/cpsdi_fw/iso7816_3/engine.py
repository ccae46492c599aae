"""The driver action protocol shared by the sans-IO protocol engines (`t0`, `t1`).

An engine tells its driver (the slot service) what to do next; every input returns
the new action. SEND: transmit ``tx_buf[tx_offset:tx_offset + tx_count]``, then
``on_sent()`` / ``on_send_error()``. RECEIVE: feed what arrives, or ``on_timeout()``.
DONE / ERROR: finished (``error`` holds the engine's code). IDLE: nothing started.
"""

from cpsdi_proto.compat import const

IDLE = const(0)
SEND = const(1)
RECEIVE = const(2)
DONE = const(3)
ERROR = const(4)
