"""Card-movement events (`Reader.events()`): a baseline at subscription, changes seen by polling
or by `50 xx` notifications, no double event when both report the same change, and the
remove-and-reinsert inference when a notification says "changed" between two looks."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from cpsdi.framing import SlotChange
from cpsdi.reader import NOTIFY_LATENCY_S, EventSubscription


@dataclass
class FakeStatus:
    present: bool


@dataclass
class FakeSlot:
    index: int
    present: bool = True

    def status(self) -> FakeStatus:
        return FakeStatus(self.present)


@dataclass
class FakeReader:
    slots: list[FakeSlot] = field(default_factory=lambda: [FakeSlot(0), FakeSlot(1)])
    unsubscribed: list[Any] = field(default_factory=list)

    def _unsubscribe(self, sub: Any) -> None:
        self.unsubscribed.append(sub)


def subscription(reader: FakeReader) -> EventSubscription:
    sub = EventSubscription(reader)  # type: ignore[arg-type]
    sub._poll()  # what Reader.events() does: the baseline
    return sub


def drain(sub: EventSubscription) -> list[tuple[int, bool]]:
    out = []
    while sub._queue:
        e = sub._queue.popleft()
        out.append((e.slot, e.present))
    return out


def test_the_baseline_is_a_state_not_an_event() -> None:
    reader = FakeReader()
    sub = subscription(reader)
    assert drain(sub) == []
    reader.slots[1].present = False
    sub._poll()
    assert drain(sub) == [(1, False)]


def test_a_notification_of_a_change_the_last_poll_saw_is_not_a_second_event() -> None:
    reader = FakeReader()
    sub = subscription(reader)
    reader.slots[1].present = False
    sub._poll()  # the poll sees the removal first
    sub._on_slot_change(SlotChange(0b1001))  # then "slot 1 changed, absent" arrives
    assert drain(sub) == [(1, False)]


def test_a_notification_alone_is_an_event() -> None:
    reader = FakeReader()
    sub = subscription(reader)
    sub._on_slot_change(SlotChange(0b1001))
    assert drain(sub) == [(1, False)]


def test_changed_with_the_same_state_long_after_a_poll_means_removed_and_reinserted() -> None:
    reader = FakeReader()
    sub = subscription(reader)
    sub._polled_at[1] = time.monotonic() - NOTIFY_LATENCY_S - 0.1
    sub._on_slot_change(SlotChange(0b1101))  # slot 1 changed, present (as before)
    assert drain(sub) == [(1, False), (1, True)]


def test_close_unsubscribes_once() -> None:
    reader = FakeReader()
    with subscription(reader) as sub:
        pass
    sub.close()
    assert reader.unsubscribed == [sub]
    with pytest.raises(Exception, match="closed"):
        sub.get(0.1)
