"""Sideman's error family.

Every error a user can cause (a bad config, a missing port, a corrupt model, a bad MIDI file) is a
`SidemanError`. The CLI turns any of them into one readable line and exit code 2; anything else is a
bug and keeps its traceback. Each member also subclasses the matching built-in so callers that know
nothing of Sideman can still catch it.
"""

from __future__ import annotations


class SidemanError(Exception):
    """Base of every user-facing Sideman error; its message is shown as-is, on one line."""

    exit_code: int = 2


class ConfigError(SidemanError, ValueError):
    """A config file or flag has a bad key or value."""


class PortError(SidemanError, OSError):
    """A MIDI port or MIDI API cannot be opened."""


class PortNotFoundError(PortError):
    """No existing port matches the requested name."""


class ModelError(SidemanError, ValueError):
    """A model file is missing, not ONNX, or breaks the model contract."""


class MidiFileError(SidemanError, ValueError):
    """A MIDI file cannot be read or holds nothing usable."""


class CheckpointError(SidemanError, ValueError):
    """A training checkpoint is corrupt or does not match the model code."""


class MissingDependencyError(SidemanError, ImportError):
    """An optional package a command needs is not installed; the message says how to install it."""


class EngineError(SidemanError, RuntimeError):
    """The live engine failed while running (a bug, or a model that breaks its contract): the session ends."""

    exit_code = 1  # not the user's doing


class RecordingError(SidemanError, OSError):
    """The session recording cannot be written or recovered."""


class AudioError(SidemanError, OSError):
    """FluidSynth could not render a WAV, or the WAV cannot be written."""
