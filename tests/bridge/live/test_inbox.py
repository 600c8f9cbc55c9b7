"""The callback-to-engine queue: bounded, and never drops what ends a sound or carries the clock."""

from __future__ import annotations

from sideman.bridge.live.inbox import Inbox
from sideman.bridge.midi import is_essential


def test_full_inbox_drops_new_notes_and_ccs_but_never_note_offs_or_clock():
    box = Inbox(capacity=4)
    for i in range(4):
        box.put([0x90, 60 + i, 100], float(i))
    box.put([0x90, 70, 100], 5.0)        # note-on: dropped
    box.put([0xB0, 1, 64], 5.0)          # mod wheel: dropped
    box.put([0x80, 60, 0], 6.0)          # note-off: kept
    box.put([0x90, 61, 0], 6.0)          # note-on velocity 0 is a note-off: kept
    box.put([0xB0, 64, 0], 6.0)          # sustain pedal up: kept
    box.put([0xF8], 6.0)                 # clock: kept
    box.put([0xFC], 6.0)                 # stop: kept
    assert box.dropped == 2
    got = []
    while (r := box.get_nowait()) is not None:
        got.append(r.data)
    assert got[4:] == [[0x80, 60, 0], [0x90, 61, 0], [0xB0, 64, 0], [0xF8], [0xFC]]


def test_essential_classification():
    assert is_essential([0x83, 1, 2]) and is_essential([0xF2, 0, 1]) and is_essential([0xBF, 123, 0])
    assert not is_essential([0x93, 1, 2]) and not is_essential([0xB0, 64, 127]) and not is_essential([])
    assert not is_essential([0xE0, 0, 64]) and not is_essential([0xF0, 1, 0xF7])


def test_get_times_out_with_none():
    assert Inbox(8).get(timeout=0.001) is None


class ListSource:
    """A pull source (sideman.bridge.live.inbox.PullSource) holding batches the way a pipe would deliver them."""

    def __init__(self, batches: list[list[tuple[list[int], float]]]) -> None:
        self.batches = batches
        self.waits: list[float] = []
        self.dropped = 0

    def wait(self, timeout: float) -> bool:
        self.waits.append(timeout)
        return bool(self.batches)

    def read(self) -> list[tuple[list[int], float]]:
        return self.batches.pop(0) if self.batches else []

    def waiting(self) -> bool:
        return bool(self.batches)


def test_a_pulled_batch_keeps_order_and_the_same_overflow_policy():
    notes = [([0x90, 60 + i, 100], float(i)) for i in range(4)]
    source = ListSource([notes + [([0x90, 70, 100], 5.0), ([0x80, 60, 0], 6.0), ([0xF8], 6.0), ([0xB0, 1, 9], 6.0)],
                         [([0xFC], 7.0)]])
    box = Inbox(capacity=4)
    box.pull_from(source)
    assert len(box) == 1  # unread bytes in the source count as "something waits"
    got = []
    while (r := box.get(timeout=0.5)) is not None:
        got.append((r.data, r.t))
    assert got == notes + [([0x80, 60, 0], 6.0), ([0xF8], 6.0), ([0xFC], 7.0)]
    assert box.dropped == 2 and len(box) == 0
    assert box.get_nowait() is None and source.waits[-1] == 0.5  # it waited on the source, not on a queue


def test_what_a_pull_source_dropped_counts_as_dropped():
    source = ListSource([[([0x90, 60, 100], 0.0)]])
    box = Inbox(capacity=4)
    box.pull_from(source)
    source.dropped = 3  # the JACK relay's pipe was full
    assert box.get_nowait() is not None and box.dropped == 3
