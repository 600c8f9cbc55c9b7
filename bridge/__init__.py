"""Sideman's live runtime: ports, clock, engine, scheduler, recorder, CLI.

Imports only mido, python-rtmidi, onnxruntime and numpy (never torch or music21), so the live
bridge installs small and starts fast.
"""

__version__ = "0.1.0"
