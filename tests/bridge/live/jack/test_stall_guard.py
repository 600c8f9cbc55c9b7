"""StallGuard: an output never waits on a JACK server that runs no cycle, and no note is left sounding."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from sideman.bridge.core.notes import NoteTracker
from sideman.bridge.live.jack.stall_guard import HARD_BYTES, HEADER_BYTES, RING_BYTES, SOFT_BYTES, StallGuard


class Server:
    """The ring buffer as the server sees it: emptied at each cycle."""

    def __init__(self) -> None:
        self.cycles = 0
        self.buffer: list[bytes] = []
        self.delivered: list[bytes] = []

    def cycle(self) -> None:
        self.cycles += 1
        self.delivered += self.buffer
        self.buffer = []

    def bytes_queued(self) -> int:
        return sum(len(m) + HEADER_BYTES for m in self.buffer)


class Output:
    """The port's side as in `sideman run`: the guard, and the SilencingOutput's books updated after each send."""

    def __init__(self, server: Server) -> None:
        self.notes = NoteTracker()
        self.guard = StallGuard(lambda: server.cycles, self.notes.channels_used)


def _send(output: Output, server: Server, data: bytes) -> bool:
    allowed = output.guard.allow(data)
    server.buffer += output.guard.owed()
    if allowed:
        server.buffer.append(data)
    output.notes.record_bytes(data)
    assert server.bytes_queued() <= HARD_BYTES < RING_BYTES
    return allowed


def test_a_running_server_lets_everything_through() -> None:
    server = Server()
    output = Output(server)
    guard = output.guard
    for i in range(20_000):
        assert _send(output, server, bytes([0x90, 60, 100]) if i % 2 == 0 else bytes([0x80, 60, 0]))
        if i % 5 == 0:
            server.cycle()
    assert guard.dropped == 0


def test_a_stopped_server_keeps_what_ends_sound_then_drops_all_and_owes_all_notes_off() -> None:
    server = Server()
    output = Output(server)
    guard = output.guard
    allowed = [(_send(output, server, bytes([0x91, 60, 100])), _send(output, server, bytes([0x81, 60, 0]))) for _ in range(2_000)]
    ons = [a for a, _ in allowed]
    offs = [b for _, b in allowed]
    first_on_dropped = ons.index(False)
    assert first_on_dropped * 2 * (3 + HEADER_BYTES) <= SOFT_BYTES + 2 * (3 + HEADER_BYTES)
    assert all(offs[:first_on_dropped + 50])  # note-offs still go in past the soft limit
    assert not any(ons[first_on_dropped:]) and not all(offs)  # and past the hard one nothing does
    assert server.bytes_queued() <= HARD_BYTES
    assert guard.owed() == []  # nothing owed while the server is still stopped
    server.cycle()
    assert _send(output, server, bytes([0x92, 64, 90]))  # the server runs again: the next send goes...
    assert server.buffer[:-1] == [bytes([0xB1, 123, 0])]  # ...after All Notes Off on every channel used
    assert guard.owed() == []  # owed once
    assert _send(output, server, bytes([0x82, 64, 0])) and guard.owed() == []


messages = st.one_of(
    st.tuples(st.just("on"), st.integers(0, 3), st.integers(0, 127)),
    st.tuples(st.just("off_oldest"), st.integers(0, 3), st.just(0)),
    st.tuples(st.just("cc"), st.integers(0, 3), st.integers(0, 127)),
    st.tuples(st.just("burst"), st.integers(0, 3), st.integers(100, 3_000)),
    st.tuples(st.just("release_burst"), st.integers(0, 3), st.integers(100, 2_500)),
    st.tuples(st.just("cycle"), st.just(0), st.just(0)),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(messages, max_size=60))
# A note-off dropped past the hard limit while its note-on went out: only All Notes Off ends that note.
@example([("on", 0, 60), ("burst", 1, 1_500), ("release_burst", 2, 700), ("off_oldest", 0, 0)])
def test_no_note_is_left_sounding_and_the_buffer_never_fills(ops) -> None:
    """Any mix of notes, controls, bursts (of what may be dropped and of what is kept) and cycles: the buffer never passes HARD_BYTES, and once the
    server has run again and one more message went out, the DAW sounds only what the sender still holds."""
    server = Server()
    output = Output(server)
    held: list[tuple[int, int]] = []  # what the sender (the engine) believes sounds

    def on(ch: int, note: int) -> None:
        if (ch, note) not in held:
            _send(output, server, bytes([0x90 | ch, note, 100]))
            held.append((ch, note))  # believed sounding even if dropped: its note-off is sent regardless

    for kind, ch, value in ops:
        if kind == "on":
            on(ch, value)
        elif kind == "off_oldest" and held:
            c, n = held.pop(0)
            _send(output, server, bytes([0x80 | c, n, 0]))
        elif kind == "cc":
            _send(output, server, bytes([0xB0 | ch, 1, value]))
        elif kind == "burst":
            for i in range(value):
                _send(output, server, bytes([0xE0 | ch, i % 128, 64]))
        elif kind == "release_burst":  # pedal releases: kept past the soft limit, so they reach the hard one
            for _ in range(value):
                _send(output, server, bytes([0xB0 | ch, 64, 0]))
        elif kind == "cycle":
            server.cycle()
    server.cycle()
    _send(output, server, bytes([0xF8]))  # the next message after the server ran again
    server.cycle()

    sounding: set[tuple[int, int]] = set()
    for data in server.delivered:
        status = data[0] & 0xF0
        if status == 0x90 and data[2] > 0:
            sounding.add((data[0] & 0x0F, data[1]))
        elif status == 0x80 or status == 0x90:
            sounding.discard((data[0] & 0x0F, data[1]))
        elif status == 0xB0 and data[1] == 123:
            sounding = {(c, n) for c, n in sounding if c != data[0] & 0x0F}
    assert sounding <= set(held)


class _FakeLibjack:
    def __init__(self) -> None:
        self.frame_time_calls = 0

    def jack_on_info_shutdown(self, client, callback, arg) -> None:
        self.shutdown = callback

    def jack_last_frame_time(self, client) -> int:
        self.frame_time_calls += 1
        return 4096 * self.frame_time_calls


def test_the_watch_s_frame_time_stands_still_once_the_server_is_gone_without_asking_libjack() -> None:
    from sideman.bridge.live.jack.watch import JackWatch

    lib = _FakeLibjack()
    watch = JackWatch(lib, client=1, on_lost=lambda reason: None)
    assert watch.last_frame_time() != watch.last_frame_time()  # a running server: it moves
    lib.shutdown(0, b"JACK server has been closed", None)  # what libjack calls when the server goes away
    calls = lib.frame_time_calls
    assert watch.last_frame_time() == watch.last_frame_time() == 0
    assert lib.frame_time_calls == calls


def test_a_port_may_close_only_if_the_server_runs_a_cycle() -> None:
    frames = iter([10, 10, 74])  # the frame time moves on the third look
    assert StallGuard(lambda: next(frames), set()).server_runs(within=60.0)
    stopped = StallGuard(lambda: 10, set())
    assert not stopped.server_runs(within=0.0) and not stopped.server_gone
    assert StallGuard(lambda: 0, set()).server_gone  # the watch reads 0 once the server is gone
