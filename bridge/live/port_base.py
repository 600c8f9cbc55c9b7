"""What every MIDI port is: something `with` closes at the end, whatever ends the block.

Kept free of imports so the JACK relay process (bridge/live/jack/relay.py) can share it and still start fast.
"""

from __future__ import annotations


class Port:
    """A port that `close()`s (at most once: closing twice closes once) when its `with` block ends."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
