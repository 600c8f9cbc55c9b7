"""`sideman run --learn` through the real JACK server: knobs moved from a DAW client, keys pressed on stdin,
the map saved to the user's config file, used at once and shown at the next start."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
import tomllib

import mido
import pytest

from tests.bridge.live.jack.helpers import BridgeProcess, DumpDawClient, private_port_names, unmatched_note_ons
from tests.paths import REPO

pytestmark = pytest.mark.jack


class LearningBridge(BridgeProcess):
    """`sideman run` with a pipe for stdin: the keys a musician presses."""

    def __init__(self, *args: str, env: dict) -> None:
        self.started = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "-m", "sideman.bridge", "run", "--api", "jack", *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1", **env})
        self.seen: list[str] = []
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.banner = self.expect("listening on")

    def _read(self) -> None:
        for line in self.proc.stdout:  # a thread, so that waiting for a line can time out
            self._lines.put(line)

    def expect(self, text: str, timeout: float = 30.0) -> str:
        """The next stdout line containing `text` (every line read is kept in `seen`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(line.rstrip("\n"))
            if text in line:
                return line.rstrip("\n")
        self.proc.kill()
        err = self.proc.stderr.read()
        raise AssertionError(f"no line with {text!r}: stdout={self.seen!r} stderr={err!r}")

    def press(self, keys: str) -> None:
        self.proc.stdin.write(keys + "\n")
        self.proc.stdin.flush()


def knob(daw: DumpDawClient, cc: int, values, channel: int = 0) -> None:
    for value in values:
        daw.send(mido.Message("control_change", channel=channel, control=cc, value=value))
        time.sleep(0.01)


def test_learn_from_the_daw_and_the_keyboard_saves_the_map_uses_it_and_shows_it_at_the_next_start(tmp_path, jack_server):
    ports, port_in, port_out = private_port_names()
    config = tmp_path / "mine.toml"
    config.write_text(ports + f'[bridge]\nthru = true\nclock = "internal"\n[recording]\nenabled = false\n[status]\nquiet = true\n')
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    user_file = tmp_path / "xdg" / "sideman" / "sideman.toml"
    bridge = LearningBridge("--learn", "--config", str(config), env=env)
    daw = None
    try:
        assert bridge.expect("Controls: ").endswith("(defaults); l and Enter learns them.")
        bridge.expect("move the control for: temperature (now CC 21;")
        daw = DumpDawClient(port_in, port_out)
        knob(daw, 30, (0, 10, 20))
        assert bridge.expect("temperature: ") == "temperature: CC 30"
        time.sleep(0.5)  # a new gesture of the same knob
        knob(daw, 30, (40, 50), channel=3)
        assert bridge.expect("CC 30 is") == "CC 30 is already temperature in this round; move another control for: accompaniment"
        for _ in range(4):  # accompaniment, mute alto, mute tenor, mute bass: kept
            bridge.press("")
        assert bridge.expect("mute bass: ") == "mute bass: kept CC 25"
        bridge.press("")  # key freeze: kept
        assert bridge.expect("key freeze: ") == "key freeze: kept CC 27"
        knob(daw, 64, (0, 127, 0))  # the pedal is never learnt
        knob(daw, 50, (0, 127), channel=5)  # panic
        assert bridge.expect("panic: ") == "panic: CC 50"
        for _ in range(4):  # the metronome, answer mode, answer now and the style knob, the last control, kept: the round ends
            bridge.press("")
        bridge.expect(f"Controls saved to {user_file}")
        bridge.press("l")  # a second round, from the keyboard, ended with q
        bridge.expect("move the control for: temperature (now CC 30;")
        knob(daw, 51, (5, 6))
        bridge.expect("temperature: CC 51")
        bridge.press("q")
        learnt = bridge.expect("Learnt: ")
        assert learnt == ("Learnt: temperature CC 51, accompaniment CC 22, mute alto CC 23, mute tenor CC 24, mute bass CC 25, "
                          "key freeze CC 27, panic CC 50, metronome CC 28, answer mode CC 85, answer now CC 86, style knob CC 29")
        bridge.expect(f"Controls saved to {user_file}")
        saved = tomllib.loads(user_file.read_text())["controls"]
        assert (saved["temperature"], saved["panic"], saved.get("mute_parts", [23, 24, 25])) == (51, 50, [23, 24, 25])

        daw.collect(timeout=0.5, quiet=0.3)
        daw.send(mido.Message("note_on", channel=0, note=72, velocity=90))  # the parts start under it
        got = [s.msg for s in daw.collect(timeout=2.0, quiet=1.0)]
        assert unmatched_note_ons(got), got
        daw.send(mido.Message("control_change", channel=2, control=50, value=127))  # the learnt panic
        got += [s.msg for s in daw.collect(timeout=2.0, quiet=0.5)]
        assert unmatched_note_ons(got) == set(), got  # silenced while the key is still held
        code, out, err = bridge.terminate(signal.SIGTERM)
        assert code == 0, err
    finally:
        if daw is not None:
            daw.close()
        if bridge.proc.poll() is None:
            bridge.terminate()

    again = LearningBridge("--config", str(config), env=env)
    try:
        assert again.expect("Controls: ") == (f"Controls: temperature CC 51, accompaniment CC 22, mute alto CC 23, mute tenor CC 24, "
                                              f"mute bass CC 25, key freeze CC 27, panic CC 50, metronome CC 28, answer mode CC 85, answer now CC 86, style knob CC 29 "
                                              f"(from {user_file}).")  # stdin no terminal: no keys
    finally:
        code, _, err = again.terminate(signal.SIGTERM)
        assert code == 0, err
