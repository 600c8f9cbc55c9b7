"""Training the recogniser: windows of tunes (key labels) and of harmonised tunes (chord labels), each in a
random one of the 12 transpositions, one cross-entropy per task, the best checkpoint by a validation score.

A batch is `key_share` key windows (folk tunes, the melody alone), the rest chord windows (music21's
chorales at 16th resolution, JSB and Nottingham, the melody alone or with its accompaniment). A
window starts at the tune's first step with probability `p_start` (how a session begins: silence
before), else anywhere, and then only steps with a full receptive field of real music behind them
are scored. Validation (every `eval_every` batches) is the mean of: key accuracy at 2 and at 8 bars
on the folk valid tunes, chord accuracy per beat on the chorales and JSB (four voices) and
Nottingham (melody alone; with chords) valid splits.

`sideman train-listener` trains the shipped models/default/listener-cnn.pt.
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from sideman.bridge.listen.features import N_FEATURES, transpose_features
from sideman.bridge.listen.names import transpose_chord, transpose_key
from sideman.models.listen.data import IGNORE, Example
from sideman.models.listen.evaluate import DEFAULT_CHECKPOINT
from sideman.models.listen.network import ListenConfig


@dataclass(frozen=True)
class TrainConfig:
    batches: int = 8000
    batch: int = 32
    window: int = 192
    lr: float = 3e-3
    weight_decay: float = 0.01
    p_start: float = 0.5
    key_share: float = 0.6  # of the windows of a batch: folk tunes for keys (the rest for chords)
    chorale_share: float = 0.45  # of the chord windows: music21's chorales at 16th resolution
    jsb_share: float = 0.05  # of the chord windows; the rest are Nottingham
    madrigal_share: float = 0.0  # of the chord windows: Monteverdi's analysed madrigals (analysts' chords)
    full_share: float = 0.5  # of the chord windows: melody with accompaniment (else the melody alone)
    eval_every: int = 1000
    seed: int = 0
    threads: int = 2
    limit: int | None = None  # only about this many tunes per source (quick runs)
    max_minutes: float = 17.0  # training time (data loading aside); the schedule ends by then whatever the machine's load
    init: str | None = None  # start from this listener checkpoint's weights (same network settings) instead of at random


@dataclass
class Pool:
    """Sequences of one kind, concatenated: features [N, F] float16 (the 0/1 blocks exact, the profiles
    to 3 digits), key and chord labels [N]."""

    x: np.ndarray
    key: np.ndarray
    chord: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray

    @classmethod
    def of(cls, examples: Sequence[Example], with_accompaniment: bool) -> "Pool":
        feats = [e.features(with_accompaniment).astype(np.float16) for e in examples]
        lengths = np.array([len(f) for f in feats], np.int64)
        return cls(np.concatenate(feats), np.concatenate([e.key for e in examples]).astype(np.int16),
                   np.concatenate([e.chord for e in examples]).astype(np.int16),
                   np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)

    def window(self, rng: np.random.Generator, cfg: TrainConfig, receptive_field: int,
               x: np.ndarray, key: np.ndarray, chord: np.ndarray) -> None:
        """Fill one window's features and labels (a random tune, start and transposition)."""
        i = rng.choice(len(self.lengths), p=self.lengths / self.lengths.sum())
        T, W = int(self.lengths[i]), cfg.window
        mid = T > receptive_field and rng.random() >= cfg.p_start
        start = int(rng.integers(1, T - receptive_field + 1)) if mid else 0
        n = min(W, T - start)
        a = int(self.starts[i]) + start
        shift = int(rng.integers(12))
        x[:n] = transpose_features(self.x[a : a + n], shift)
        k, c = self.key[a : a + n].astype(np.int64), self.chord[a : a + n].astype(np.int64)
        key[:n] = np.where(k == IGNORE, IGNORE, transpose_key(k, shift))
        chord[:n] = np.where(c == IGNORE, IGNORE, transpose_chord(c, shift))
        if mid:  # the first steps lack the music before the window: context only
            key[: receptive_field - 1] = IGNORE
            chord[: receptive_field - 1] = IGNORE


def sample_batch(pools: dict[str, Pool], rng: np.random.Generator, cfg: TrainConfig, receptive_field: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x [B, W, F] float32, key and chord targets [B, W] (IGNORE where unscored)."""
    B, W = cfg.batch, cfg.window
    x = np.zeros((B, W, N_FEATURES), np.float32)
    key = np.full((B, W), IGNORE, np.int64)
    chord = np.full((B, W), IGNORE, np.int64)
    for b in range(B):
        if b < round(B * cfg.key_share):
            name = "folk"
        else:
            r = rng.random()
            bounds = np.cumsum([cfg.chorale_share, cfg.jsb_share, cfg.madrigal_share])
            source = ("chorales", "jsb", "madrigals", "nottingham")[int(np.searchsorted(bounds, r, side="right"))]
            name = f"{source}, {'full' if rng.random() < cfg.full_share else 'melody'}"
        pools[name].window(rng, cfg, receptive_field, x[b], key[b], chord[b])
    return x, key, chord


def load_data(cfg: TrainConfig, progress: bool) -> tuple[dict[str, Pool], dict[str, Any], dict[str, Any]]:
    """Training pools, the validation sets, and a report of sizes."""
    from sideman.models.listen.chorales import chorale_examples
    from sideman.models.listen.data import folk_examples, jsb_examples, load_analyses, nottingham_examples, read_polyphonic

    folk, folk_report = folk_examples(progress)
    notts = nottingham_examples()
    analysed = load_analyses().sopranos
    jsb, jsb_left_out = jsb_examples(analysed)
    chorales, chorales_left_out = chorale_examples(analysed, read_polyphonic("jsb_chorales")["test"], progress)
    if cfg.limit is not None:
        limit = cfg.limit
        folk, notts, jsb, chorales = ({s: v[: limit if s == "train" else max(1, limit // 4)] for s, v in sets.items()}
                                      for sets in (folk, notts, jsb, chorales))
    pools = {"folk": Pool.of(folk["train"], False),
             "nottingham, melody": Pool.of(notts["train"], False), "nottingham, full": Pool.of(notts["train"], True),
             "jsb, melody": Pool.of(jsb["train"], False), "jsb, full": Pool.of(jsb["train"], True),
             "chorales, melody": Pool.of(chorales["train"], False), "chorales, full": Pool.of(chorales["train"], True)}
    if cfg.madrigal_share > 0:
        from sideman.models.listen.madrigals import monteverdi_analyses

        analysed = monteverdi_analyses()
        madrigals = {s: analysed.split(s) for s in ("train", "valid")}
        pools.update({"madrigals, melody": Pool.of(madrigals["train"], False),
                      "madrigals, full": Pool.of(madrigals["train"], True)})
    valid = {"keys": {"folk": folk["valid"]},
             "chords": {"chorales, 4 voices": (chorales["valid"], True), "jsb, 4 voices": (jsb["valid"], True),
                        "nottingham, melody": (notts["valid"], False),
                        "nottingham, melody+chords": (notts["valid"], True)}}
    if cfg.madrigal_share > 0:
        valid["chords"]["madrigals, all parts"] = (madrigals["valid"], True)
    report = {"folk_tunes": {s: len(v) for s, v in folk.items()}, "folk_dropped": {
                  "unparsed": len(folk_report["unparsed"]), "unlabelled": len(folk_report["unlabelled"])},
              "nottingham_pieces": {s: len(v) for s, v in notts.items()}, "jsb_pieces": {s: len(v) for s, v in jsb.items()},
              "jsb_left_out_as_analysed": len(jsb_left_out), "chorale_pieces": {s: len(v) for s, v in chorales.items()},
              "chorales_left_out": {why: len(names) for why, names in chorales_left_out.items()},
              "train_steps": {name: int(p.lengths.sum()) for name, p in pools.items()}}
    return pools, valid, report


def valid_score(model: Any, valid: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    from sideman.models.listen.evaluate import model_rows

    rows = model_rows(model, valid)
    figures = [rows["keys/folk"]["bar2"]["accuracy"], rows["keys/folk"]["bar8"]["accuracy"]]
    figures += [rows[f"chords/{name}"]["accuracy"] for name in valid["chords"]]
    return float(np.mean(figures)), rows


def initial_model(net_cfg: Any, init: str | Path | None) -> Any:
    """A ListenNet at random, or with the weights of the listener checkpoint `init` (same network settings)."""
    from sideman.models.listen.network import ListenNet, load_listener

    model = ListenNet(net_cfg)
    if init is not None:
        start, _ = load_listener(init)
        if start.cfg != net_cfg:
            raise ValueError(f"--init {init}: its network settings {start.cfg} are not {net_cfg}")
        model.load_state_dict(start.state_dict())
    return model


def train(net_cfg: Any, cfg: TrainConfig, out: Path, command: str, progress: bool = True) -> dict[str, Any]:
    """Train; keep the best checkpoint by valid score at `out`; return its metadata."""
    import music21
    import torch

    from sideman.models.checkpoint import save_checkpoint
    from sideman.models.listen.network import count_parameters

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    t0 = time.monotonic()
    pools, valid, report = load_data(cfg, progress)
    model = initial_model(net_cfg, cfg.init)
    rf = net_cfg.receptive_field
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    warm = min(300, cfg.batches // 10 + 1)
    started = time.monotonic()
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=IGNORE)
    meta: dict[str, Any] = {"command": command, "net_config": net_cfg.to_dict(), "train_config": asdict(cfg),
                            "data": report, "parameters": count_parameters(model), "receptive_field": rf,
                            "torch": str(torch.__version__), "music21": music21.VERSION_STR, "history": [],
                            "data_minutes": round((time.monotonic() - t0) / 60, 2)}
    if progress:
        print(f"data ready in {meta['data_minutes']} min: {report['train_steps']}", file=sys.stderr, flush=True)
    best, running, it, validated = -math.inf, 0.0, 0, 0

    def validate() -> None:
        nonlocal best, running, validated
        score, rows = valid_score(model, valid)
        minutes = (time.monotonic() - t0) / 60
        loss = running / max(1, it - validated)
        meta["history"].append({"batches": it, "train_loss": round(loss, 4), "valid_score": round(score, 4),
                                "valid": rows, "minutes": round(minutes, 2)})
        if progress:
            print(f"batch {it}: loss {loss:.4f}  valid {score:.4f} (keys at 2/8 bars "
                  f"{rows['keys/folk']['bar2']['accuracy']:.3f}/{rows['keys/folk']['bar8']['accuracy']:.3f}; chords "
                  + ", ".join(f"{k.split('/')[1]} {v['accuracy']:.3f}" for k, v in rows.items() if k.startswith("chords"))
                  + f")  {minutes:.1f} min", file=sys.stderr, flush=True)
        running, validated = 0.0, it
        if score > best:
            best = score
            meta.update(best_batches=it, valid_score=score, valid=rows, train_minutes=round(minutes, 2))
            save_checkpoint(out, model, meta)

    while True:
        # Cosine decay over the batches or the time, whichever runs out first: on a shared machine the
        # time budget holds, and the rate has come down when it does.
        done = max(it / cfg.batches, (time.monotonic() - started) / 60 / cfg.max_minutes)
        if done >= 1.0:
            break
        it += 1
        for group in opt.param_groups:
            group["lr"] = cfg.lr * min(1.0, it / warm) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * done)))
        model.train()
        x, key, chord = (torch.from_numpy(a) for a in sample_batch(pools, rng, cfg, rf))
        key_logits, chord_logits = model(x)
        loss = loss_fn(key_logits.reshape(-1, net_cfg.n_keys), key.reshape(-1)) + \
            loss_fn(chord_logits.reshape(-1, net_cfg.n_chords), chord.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        running += loss.item()
        if it % cfg.eval_every == 0:
            validate()
    if validated != it:
        validate()
    from sideman.models.listen.network import load_listener

    best_model, best_meta = load_listener(out)
    meta = {**best_meta, "history": meta["history"], "total_minutes": round((time.monotonic() - t0) / 60, 2)}
    save_checkpoint(out, best_model, meta)
    return meta


def add_train_listener_arguments(parser: argparse.ArgumentParser) -> None:
    d, n = TrainConfig(), ListenConfig()
    parser.add_argument("--out", type=Path, default=DEFAULT_CHECKPOINT, help=f"checkpoint (default {DEFAULT_CHECKPOINT})")
    parser.add_argument("--batches", type=int, default=d.batches, help=f"training batches at most (default {d.batches})")
    parser.add_argument("--max-minutes", type=float, default=d.max_minutes,
                        help=f"training time at most, data loading aside (default {d.max_minutes:g})")
    parser.add_argument("--batch", type=int, default=d.batch, help=f"windows per batch (default {d.batch})")
    parser.add_argument("--window", type=int, default=d.window, help=f"steps per window (default {d.window})")
    parser.add_argument("--lr", type=float, default=d.lr)
    parser.add_argument("--channels", type=int, default=n.channels, help=f"convolution channels (default {n.channels})")
    parser.add_argument("--dilations", type=str, default=",".join(map(str, n.dilations)),
                        help="comma-separated dilations of the causal convolutions")
    parser.add_argument("--dropout", type=float, default=n.dropout)
    parser.add_argument("--p-start", type=float, default=d.p_start)
    parser.add_argument("--key-share", type=float, default=d.key_share)
    parser.add_argument("--chorale-share", type=float, default=d.chorale_share)
    parser.add_argument("--jsb-share", type=float, default=d.jsb_share)
    parser.add_argument("--madrigal-share", type=float, default=d.madrigal_share,
                        help="of the chord windows: Monteverdi's analysed madrigals, train split (adds their valid split to validation)")
    parser.add_argument("--full-share", type=float, default=d.full_share)
    parser.add_argument("--eval-every", type=int, default=d.eval_every)
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--threads", type=int, default=d.threads)
    parser.add_argument("--limit", type=int, default=None, help="only about N tunes per source (quick trials)")
    parser.add_argument("--init", type=str, default=None, help="start from this listener checkpoint's weights")
    parser.add_argument("--no-progress", action="store_true")


def configs_from_args(args: argparse.Namespace) -> tuple[ListenConfig, TrainConfig]:
    cfg = TrainConfig(batches=args.batches, batch=args.batch, window=args.window, lr=args.lr, p_start=args.p_start,
                      key_share=args.key_share, chorale_share=args.chorale_share, jsb_share=args.jsb_share, madrigal_share=args.madrigal_share, full_share=args.full_share, eval_every=args.eval_every, seed=args.seed,
                      threads=args.threads, limit=args.limit, max_minutes=args.max_minutes, init=args.init)
    net = ListenConfig(channels=args.channels, dilations=tuple(int(v) for v in args.dilations.split(",")), dropout=args.dropout)
    return net, cfg


def cmd_train_listener(args: argparse.Namespace) -> int:
    net, cfg = configs_from_args(args)
    out = args.out
    argv = getattr(args, "argv", None) or sys.argv[1:]
    command = "sideman " + shlex.join(argv)
    meta = train(net, cfg, out, command, progress=not args.no_progress)
    v = meta["valid"]
    print(f"best after {meta['best_batches']} batches: valid score {meta['valid_score']:.4f} (keys at 2/8 bars "
          f"{v['keys/folk']['bar2']['accuracy']:.3f}/{v['keys/folk']['bar8']['accuracy']:.3f}); "
          f"{meta['total_minutes']:.1f} min; saved {out}")
    return 0
