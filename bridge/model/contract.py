"""The model contract as typed data: vocabulary, voices, state specs (see docs/model-contract.md).

This module is the single source of truth for the token vocabulary. `models/` builds its data
with it, `export/` writes it into the ONNX metadata, and `bridge/model/runtime.py` reads it back.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from sideman.bridge.midi import CHANNELS, DATA_MAX

CONTRACT_VERSION = 1
METADATA_KEY = "sideman.contract"

# Fixed graph input / output names (the state names come from the metadata).
INPUT_NAMES = ("lead", "prev_lead", "prev_parts", "position", "noise", "temperature", "top_p", "logit_bias")
OUTPUT_NAMES = ("logits", "tokens")
# Inputs a graph may have (models exported before them still load): pair_bias, (P, P, V, V) float,
# row [q, k, a] added to part k's bias when part q, decoded earlier, chose token a; key_probs, (24,) float,
# the key the engine heard before the step (a probability per key class, mode * 12 + tonic).
OPTIONAL_INPUT_NAMES = ("pair_bias", "key_probs")
N_KEY_CLASSES = 24  # the recogniser's key classes (bridge/listen/names.N_KEYS; the model room may not import that one)


@dataclass(frozen=True)
class Vocab:
    """One vocabulary shared by all voices: rest, hold, unknown, then one onset per pitch."""

    rest: int = 0
    hold: int = 1
    unknown: int = 2
    onset_offset: int = 3
    pitch_min: int = 36
    pitch_max: int = 84

    @property
    def size(self) -> int:
        return self.onset_offset + self.pitch_max - self.pitch_min + 1

    def onset(self, pitch: int) -> int:
        """Token of a note of `pitch` starting at this step."""
        if not self.pitch_min <= pitch <= self.pitch_max:
            raise ValueError(f"pitch {pitch} outside the vocabulary [{self.pitch_min}, {self.pitch_max}]")
        return self.onset_offset + pitch - self.pitch_min

    def is_onset(self, token: int) -> bool:
        return self.onset_offset <= token < self.size

    def pitch(self, token: int) -> int:
        """MIDI pitch of an onset token."""
        if not self.is_onset(token):
            raise ValueError(f"token {token} is not an onset")
        return token - self.onset_offset + self.pitch_min

    def describe(self, token: int) -> str:
        """Human-readable token, for logs and tests: 'rest', 'hold', '?', or a pitch like 'C4'."""
        if token == self.rest:
            return "rest"
        if token == self.hold:
            return "hold"
        if token == self.unknown:
            return "?"
        return pitch_name(self.pitch(token))


def vocab_from_dict(vd: dict[str, Any]) -> Vocab:
    """A Vocab from its metadata object (KeyError, TypeError or ValueError if it lacks or mistypes a field)."""
    vocab = Vocab(**{k: int(vd[k]) for k in ("rest", "hold", "unknown", "onset_offset", "pitch_min", "pitch_max")})
    if int(vd.get("size", vocab.size)) != vocab.size:
        raise ValueError(f"vocab size {vd['size']} does not match its pitch range (expected {vocab.size})")
    return vocab


@dataclass(frozen=True)
class Voice:
    name: str
    low: int
    high: int
    channel: int = 0  # 1-based suggested MIDI channel; 0 for the lead (it comes from the user)


@dataclass(frozen=True)
class StateSpec:
    input: str
    output: str
    shape: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"input": self.input, "output": self.output, "shape": list(self.shape)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "StateSpec":
        return cls(str(d["input"]), str(d["output"]), tuple(int(x) for x in d["shape"]))


def metadata_object(text: str, what: str, version: int) -> dict[str, Any]:
    """The JSON object of a metadata value of `version`; ValueError with a short reason naming `what`."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what} metadata is not valid JSON ({exc.msg} at char {exc.pos})") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{what} metadata is not a JSON object")
    if doc.get("contract_version") != version:
        raise ValueError(f"{what} version {doc.get('contract_version')!r} is not supported (this Sideman reads version {version})")
    return doc


@dataclass(frozen=True)
class Contract:
    """Everything the bridge needs to know about a model, as stored in its ONNX metadata."""

    name: str
    lead: Voice
    parts: tuple[Voice, ...]
    state: tuple[StateSpec, ...]
    vocab: Vocab = Vocab()
    steps_per_beat: int = 4
    max_beats_in_bar: int = 8
    decode_order: tuple[str, ...] = ("bass", "tenor", "alto")
    decode_method: str = "ordered-gumbel"
    provenance: dict[str, Any] = field(default_factory=dict)
    contract_version: int = CONTRACT_VERSION

    @property
    def part_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parts)

    def to_json(self) -> str:
        v = self.vocab
        doc = {
            "contract_version": self.contract_version,
            "name": self.name,
            "lead": {"name": self.lead.name, "range": [self.lead.low, self.lead.high]},
            "parts": [{"name": p.name, "range": [p.low, p.high], "channel": p.channel} for p in self.parts],
            "vocab": {**asdict(v), "size": v.size},
            "steps_per_beat": self.steps_per_beat,
            "max_beats_in_bar": self.max_beats_in_bar,
            "state": [s.to_dict() for s in self.state],
            "decode": {"method": self.decode_method, "order": list(self.decode_order)},
            "provenance": self.provenance,
        }
        return json.dumps(doc, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Contract":
        """Parse and validate; raises ValueError with a short reason (the caller adds the file name)."""
        doc = metadata_object(text, "contract", CONTRACT_VERSION)
        try:
            vocab = vocab_from_dict(doc["vocab"])
            lead = Voice(str(doc["lead"]["name"]), *map(int, doc["lead"]["range"]))
            parts = tuple(Voice(str(p["name"]), *map(int, p["range"]), channel=int(p.get("channel", 0))) for p in doc["parts"])
            state = tuple(StateSpec.from_dict(s) for s in doc["state"])
            decode = doc.get("decode", {})
            contract = cls(
                name=str(doc.get("name", "unnamed")),
                lead=lead,
                parts=parts,
                state=state,
                vocab=vocab,
                steps_per_beat=int(doc["steps_per_beat"]),
                max_beats_in_bar=int(doc.get("max_beats_in_bar", 8)),
                decode_order=tuple(str(n) for n in decode.get("order", [p.name for p in parts])),
                decode_method=str(decode.get("method", "ordered-gumbel")),
                provenance=dict(doc.get("provenance", {})),
            )
        except (KeyError, TypeError, IndexError) as exc:
            raise ValueError(f"contract metadata lacks or mistypes a field ({exc!s})") from None
        contract.validate()
        return contract

    def validate(self) -> None:
        """Raise ValueError if the contract is internally inconsistent."""
        v = self.vocab
        if len({v.rest, v.hold, v.unknown}) != 3 or v.onset_offset <= max(v.rest, v.hold, v.unknown):
            raise ValueError("vocab ids for rest/hold/unknown must be distinct and below onset_offset")
        if not 0 <= v.pitch_min <= v.pitch_max <= DATA_MAX:
            raise ValueError(f"vocab pitch range [{v.pitch_min}, {v.pitch_max}] is not within MIDI's 0..{DATA_MAX}")
        if not self.parts:
            raise ValueError("contract has no parts")
        for part in self.parts:
            if not 0 <= part.channel <= CHANNELS:
                raise ValueError(f"part {part.name!r} suggests channel {part.channel}; MIDI channels are 1..{CHANNELS} (0: none)")
        for voice in (self.lead, *self.parts):
            if not v.pitch_min <= voice.low <= voice.high <= v.pitch_max:
                raise ValueError(f"voice {voice.name!r} range [{voice.low}, {voice.high}] is outside the vocabulary")
        if sorted(self.decode_order) != sorted(self.part_names):
            raise ValueError(f"decode order {list(self.decode_order)} does not name the parts {list(self.part_names)}")
        if self.decode_method != "ordered-gumbel":
            raise ValueError(f"decode method {self.decode_method!r} is not supported")
        if self.steps_per_beat < 1 or self.max_beats_in_bar < 1:
            raise ValueError("steps_per_beat and max_beats_in_bar must be positive")
        if not self.state:
            raise ValueError("contract names no recurrent state")


_NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def pitch_name(pitch: int) -> str:
    """MIDI pitch as a name with octave, middle C = C4."""
    return f"{_NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"
