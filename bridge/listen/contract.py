"""The listener contract as typed data (docs/model-contract.md, "The listener"): what a recogniser file
must take and give, written into its ONNX metadata by `export/listen_export.py` and checked at load.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sideman.bridge.listen.features import LAYOUT, N_FEATURES, STEPS_PER_BEAT
from sideman.bridge.listen.names import N_CHORDS, N_KEYS, QUALITIES
from sideman.bridge.model.contract import StateSpec, metadata_object

LISTENER_VERSION = 1
LISTENER_METADATA_KEY = "sideman.listener"
INPUT_NAME = "features"
OUTPUT_NAMES = ("key_probs", "chord_probs")


@dataclass(frozen=True)
class ListenerContract:
    name: str
    state: tuple[StateSpec, ...]  # per-layer caches of the causal convolutions
    receptive_field: int  # steps of the past a step's answer depends on (itself included)
    feature_layout: str = LAYOUT
    n_features: int = N_FEATURES
    steps_per_beat: int = STEPS_PER_BEAT
    n_keys: int = N_KEYS
    chord_qualities: tuple[str, ...] = QUALITIES
    n_chords: int = N_CHORDS
    provenance: dict[str, Any] = field(default_factory=dict)
    contract_version: int = LISTENER_VERSION

    def to_json(self) -> str:
        doc = {
            "contract_version": self.contract_version,
            "name": self.name,
            "features": {"layout": self.feature_layout, "size": self.n_features},
            "steps_per_beat": self.steps_per_beat,
            "keys": self.n_keys,
            "chords": {"qualities": list(self.chord_qualities), "size": self.n_chords},
            "receptive_field": self.receptive_field,
            "state": [s.to_dict() for s in self.state],
            "provenance": self.provenance,
        }
        return json.dumps(doc, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ListenerContract":
        """Parse and check against this Sideman's features and classes; ValueError with a short reason."""
        doc = metadata_object(text, "listener contract", LISTENER_VERSION)
        try:
            contract = cls(
                name=str(doc.get("name", "unnamed")),
                state=tuple(StateSpec.from_dict(s) for s in doc["state"]),
                receptive_field=int(doc["receptive_field"]),
                feature_layout=str(doc["features"]["layout"]),
                n_features=int(doc["features"]["size"]),
                steps_per_beat=int(doc["steps_per_beat"]),
                n_keys=int(doc["keys"]),
                chord_qualities=tuple(str(q) for q in doc["chords"]["qualities"]),
                n_chords=int(doc["chords"]["size"]),
                provenance=dict(doc.get("provenance", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"listener metadata lacks or mistypes a field ({exc!s})") from None
        contract.validate()
        return contract

    def validate(self) -> None:
        """ValueError unless the file hears and answers exactly as this Sideman's features and names expect."""
        mine = ListenerContract("", (), 1)
        for what in ("feature_layout", "n_features", "steps_per_beat", "n_keys", "chord_qualities", "n_chords"):
            if getattr(self, what) != getattr(mine, what):
                raise ValueError(f"{what} is {getattr(self, what)!r}; this Sideman's recogniser needs {getattr(mine, what)!r}")
        if not self.state:
            raise ValueError("the listener names no state")
        for spec in self.state:
            if not spec.shape or any(d < 1 for d in spec.shape):
                raise ValueError(f"state {spec.input!r} has shape {list(spec.shape)}; every dimension must be fixed and positive")
        if self.receptive_field < 1:
            raise ValueError("receptive_field must be positive")
