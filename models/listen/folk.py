"""Folk tunes with their notated keys, from music21's corpus: the recogniser's key data.

Collections: O'Neill's 1850 (`oneills1850`), Ryan's Mammoth (`ryansMammoth`) and Essen (`essenFolksong`),
ABC files of many tunes each. Every tune is parsed on its own (one bad tune costs only itself) into
its melody on the 16th grid, each step's place in its beat, the steps where its full bars end, and
its key from the ABC `K:` field:

- O'Neill's and Ryan's name the mode (`K:Gm`, `K:Ador`): major, mixolydian and lydian count as
  major on their tonic; minor, dorian, phrygian and aeolian as minor (the third decides what an
  accompanist plays); locrian is dropped.
- Essen's `K:` names the tonic only (its tunes spell every accidental), so the tonic is the field's
  and the mode is the tune's third above it (major if the major third sounds longer than the minor
  one); a tune whose last note is not that tonic is dropped, since its field then names no tonic.

music21's `airdsAirs` collection is reserved for acceptance: `check_path` refuses it, and every
file this module reads goes through `check_path`. Parsing takes minutes; the parsed tunes are cached (one
.npz in the user cache dir) and labelled when loaded.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from sideman.bridge.listen.names import key_index

COLLECTIONS = ("oneills1850", "ryansMammoth", "essenFolksong")
RESERVED = "airdsAirs"  # acceptance only: never trained, tuned or checked on
MAJOR_MODES = ("major", "ionian", "mixolydian", "lydian")
MINOR_MODES = ("minor", "aeolian", "dorian", "phrygian")
STEPS_PER_QUARTER = 4


class ReservedDataError(PermissionError):
    """A path inside the collection kept for acceptance."""


class TuneError(ValueError):
    """A tune that cannot be used; the message is the reason."""


@dataclass(frozen=True)
class FolkTune:
    id: str  # "oneills1850/0001-0050/1": collection, file, position in the file (1-based)
    field: str  # the ABC K: field as written
    tonic: int  # pitch class of the K: field as music21 reads it (-1: music21 reads no key)
    mode: str  # music21's mode for the K: field ("major", "dorian", ...; "" if none)
    notes: np.ndarray  # [N, 3] int: start_step, end_step, pitch (monophonic, time order)
    phase: np.ndarray  # [T] int: 16th within the quarter-note beat
    bar_ends: np.ndarray  # steps at which the tune's full bars end (a pickup is not a bar)
    key: int = -1  # names.key_index, once `labelled`

    @property
    def n_steps(self) -> int:
        return len(self.phase)

    @property
    def collection(self) -> str:
        return self.id.split("/")[0]


def check_path(path: str | os.PathLike[str]) -> Path:
    """`path`, unless it lies in the reserved collection, as named or where it leads (then ReservedDataError)."""
    path = Path(path)
    if any(part.lower() == RESERVED.lower() for part in (*path.parts, *path.resolve().parts)):
        raise ReservedDataError(f"{path}: music21's {RESERVED} collection is reserved for acceptance")
    return path


def corpus_root() -> Path:
    import music21

    return Path(music21.__file__).parent / "corpus"


def collection_paths(collection: str, root: Path | None = None) -> list[Path]:
    """The ABC files of one of COLLECTIONS, sorted."""
    check_path(collection)
    if collection not in COLLECTIONS:
        raise ValueError(f"{collection!r} is not one of the key collections {COLLECTIONS}")
    folder = check_path((root or corpus_root()) / collection)
    return sorted(check_path(p) for p in folder.glob("*.abc"))


def split_abc(text: str) -> list[str]:
    """The tunes of an ABC file, each from its `X:` line; text before the first `X:` is dropped."""
    starts = [m.start() for m in re.finditer(r"^X:", text, flags=re.M)]
    return [text[a:b] for a, b in zip(starts, starts[1:] + [len(text)])]


def key_field(tune_text: str) -> str:
    """The tune's first `K:` field, without comments ('' if none)."""
    m = re.search(r"^K:([^\n%]*)", tune_text, flags=re.M)
    return m.group(1).strip() if m else ""


def _melody(score: Any) -> list[tuple[int, int, int]]:
    """Monophonic (start, end, pitch) notes on the 16th grid: tied notes merged, the top note of a chord,
    a note cut where the next begins, grace notes and notes that round to nothing dropped."""
    raw: list[list[int]] = []
    for n in score.flatten().notes:
        if n.duration.isGrace or n.quarterLength == 0:
            continue
        pitch = max(p.midi for p in n.pitches)
        start = int(round(float(n.offset) * STEPS_PER_QUARTER))
        end = int(round(float(n.offset + n.quarterLength) * STEPS_PER_QUARTER))
        tie = n.tie.type if n.tie is not None else None
        if tie in ("continue", "stop") and raw and raw[-1][2] == pitch:
            raw[-1][1] = max(raw[-1][1], end)
            continue
        raw.append([start, end, pitch])
    raw.sort()
    notes = []
    for i, (start, end, pitch) in enumerate(raw):
        if i + 1 < len(raw):
            end = min(end, raw[i + 1][0])
        if end > start:
            notes.append((start, end, pitch))
    return notes


@contextlib.contextmanager
def _no_beams() -> Iterator[None]:
    """music21's ABC reader beams every part, half its parse time; beams are notation and change no
    note, so parsing skips them."""
    from music21 import stream

    saved = stream.Stream.makeBeams
    stream.Stream.makeBeams = lambda self, *args, **kwargs: self  # type: ignore[method-assign]
    try:
        yield
    finally:
        stream.Stream.makeBeams = saved  # type: ignore[method-assign]


def _mode_by_third(notes: np.ndarray, tonic: int) -> bool | None:
    """True for minor, False for major, None if neither third sounds longer than the other."""
    length = np.zeros(12)
    for start, end, pitch in notes:
        length[pitch % 12] += end - start
    major, minor = length[(tonic + 4) % 12], length[(tonic + 3) % 12]
    return None if major == minor else bool(minor > major)


def tune_key(tune: FolkTune) -> int:
    """The 24-class key of a tune (see the module docstring); TuneError if it has none."""
    if not tune.field or tune.field[0].upper() not in "ABCDEFG":
        raise TuneError(f"K:{tune.field} names no tonic")
    if tune.tonic < 0:
        raise TuneError(f"K:{tune.field} is not a key music21 reads")
    if tune.collection == "essenFolksong":
        if tune.notes[-1, 2] % 12 != tune.tonic:
            raise TuneError(f"ends off its K:{tune.field} tonic")
        minor = _mode_by_third(tune.notes, tune.tonic)
        if minor is None:
            raise TuneError("no third decides the mode")
        return key_index(tune.tonic, minor)
    if tune.mode in MAJOR_MODES:
        return key_index(tune.tonic, False)
    if tune.mode in MINOR_MODES:
        return key_index(tune.tonic, True)
    raise TuneError(f"mode {tune.mode} is neither major nor minor")


def parse_tune(tune_id: str, text: str) -> FolkTune:
    """One ABC tune -> FolkTune (not yet labelled); TuneError with the reason it cannot be used."""
    from music21 import converter, key

    from sideman.models.data import _measure_grid, positions

    try:
        with _no_beams():
            score = converter.parse(text, format="abc")
    except Exception as exc:  # music21 raises many kinds on odd tunes; the reason is reported
        raise TuneError(f"unparsable ({type(exc).__name__})") from None
    notes = _melody(score)
    if len(notes) < 8:
        raise TuneError(f"{len(notes)} notes")
    keys = list(score.recurse().getElementsByClass(key.Key))
    tonic, mode = (keys[0].tonic.pitchClass, str(keys[0].mode)) if keys else (-1, "")
    parts = list(getattr(score, "parts", [])) or [score]
    grid = _measure_grid(parts[0])
    if len(grid) < 2:
        raise TuneError("no bar lines")
    n_steps = notes[-1][1]
    ends = [g[0] for g in grid[1:]] + [n_steps / STEPS_PER_QUARTER]
    first_full = 1 if grid[0][1] > 0 else 0  # a padded first measure is a pickup
    bar_ends = [int(round(q * STEPS_PER_QUARTER)) for q in ends[first_full:]]
    phase = positions(grid, n_steps)[:, 0]
    return FolkTune(tune_id, key_field(text), tonic, mode, np.array(notes, np.int64), phase, np.array(bar_ends, np.int64))


def collection_tunes(collection: str, dropped: dict[str, str], progress: bool = True) -> list[FolkTune]:
    """Every usable tune of one collection; unusable ones go into `dropped` (id -> reason)."""
    from tqdm import tqdm

    tunes = []
    for path in tqdm(collection_paths(collection), desc=f"parsing {collection}", unit="file", disable=not progress):
        text = check_path(path).read_text(encoding="latin-1")
        for i, tune_text in enumerate(split_abc(text), start=1):
            tune_id = f"{collection}/{path.stem}/{i}"
            try:
                tunes.append(parse_tune(tune_id, tune_text))
            except TuneError as exc:
                dropped[tune_id] = str(exc)
    return tunes


# -- the cache ---------------------------------------------------------------------------------------

# Bump when parse_tune's output changes: the cache holds parsed tunes, not their labels, so the
# labelling rules above can change without a re-parse.
PARSE_VERSION = 1


def cache_path() -> Path:
    import music21

    from sideman.models.data import cache_dir

    key = hashlib.sha256(f"{PARSE_VERSION}/{music21.VERSION_STR}/{COLLECTIONS}".encode()).hexdigest()[:16]
    return cache_dir() / f"folk-tunes-{key}.npz"


def _save(path: Path, tunes: list[FolkTune], dropped: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(
        tmp, ids=np.array([t.id for t in tunes], dtype=str), fields=np.array([t.field for t in tunes], dtype=str),
        tonics=np.array([t.tonic for t in tunes], np.int64), modes=np.array([t.mode for t in tunes], dtype=str),
        n_notes=np.array([len(t.notes) for t in tunes], np.int64), notes=np.concatenate([t.notes for t in tunes]).astype(np.int32),
        n_steps=np.array([t.n_steps for t in tunes], np.int64), phase=np.concatenate([t.phase for t in tunes]).astype(np.int8),
        n_bars=np.array([len(t.bar_ends) for t in tunes], np.int64),
        bar_ends=np.concatenate([t.bar_ends for t in tunes]).astype(np.int32), dropped=np.array(json.dumps(dropped)))
    os.replace(tmp, path)


def _split_by(counts: np.ndarray, values: np.ndarray) -> list[np.ndarray]:
    bounds = np.concatenate([[0], np.cumsum(counts)])
    return [values[a:b].astype(np.int64) for a, b in zip(bounds[:-1], bounds[1:])]


def _load(path: Path) -> tuple[list[FolkTune], dict[str, str]]:
    with np.load(path, allow_pickle=False) as z:
        notes = _split_by(z["n_notes"], z["notes"])
        phase = _split_by(z["n_steps"], z["phase"])
        bars = _split_by(z["n_bars"], z["bar_ends"])
        tunes = [FolkTune(str(i), str(f), int(t), str(m), n, p, b)
                 for i, f, t, m, n, p, b in zip(z["ids"], z["fields"], z["tonics"], z["modes"], notes, phase, bars)]
        return tunes, json.loads(str(z["dropped"]))


def load_folk(progress: bool = True, refresh: bool = False) -> tuple[list[FolkTune], dict[str, Any]]:
    """Every usable tune of COLLECTIONS, labelled, plus a report of what was dropped and why.
    Parsed once, then read from the cache."""
    path = cache_path()
    if path.is_file() and not refresh:
        parsed, dropped = _load(path)
    else:
        dropped = {}
        parsed = [t for c in COLLECTIONS for t in collection_tunes(c, dropped, progress)]
        _save(path, parsed, dropped)
    tunes, unlabelled = [], {}
    for tune in parsed:
        try:
            tunes.append(replace(tune, key=tune_key(tune)))
        except TuneError as exc:
            unlabelled[tune.id] = str(exc)
    return tunes, {"parsed": len(parsed), "kept": len(tunes), "unparsed": dropped, "unlabelled": unlabelled}
