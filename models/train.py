"""Training the chorale network: random windows of transposed training pieces, teacher forcing,
the lead hidden (`unknown`) at random steps, early stopping on the validation NLL.

`sideman train` (default) trains the committed model models/default/chorale-gru.pt;
`sideman train --quick` trains a tiny model on a dozen pieces in well under a minute (for CI).
`torchrun --nproc_per_node N -m sideman.models.train ...` runs the same training on N processes
(models/distributed.py); `--resume X.last.pt` continues an interrupted run (models/run_state.py).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shlex
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from sideman.bridge.model.contract import N_KEY_CLASSES, Vocab
from sideman.models.batches import IGNORE, forward_batch, full_batch, piece_arrays, tune_arrays
from sideman.models.paths import default_checkpoint

DEFAULT_OUT = default_checkpoint()


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    batch: int = 32
    window: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.01
    clip: float = 1.0
    p_unknown: float = 0.35
    p_start: float = 0.2  # share of windows that start at the beginning of a piece (state from zero)
    patience: int = 5
    seed: int = 0
    limit: int | None = None
    threads: int = 2
    max_minutes: float | None = None  # stop after the epoch that passes this wall time
    teacher: str | None = None  # distil from this offline teacher checkpoint (models/distill.py)
    kd_weight: float = 0.5  # share of the loss that is the KL from the teacher (with a teacher)
    folk: int = 0  # Nottingham train tunes harmonized by the teacher, added to the student's data
    folk_temperature: float = 0.8  # the teacher's sampling temperature on them
    init: str | None = None  # start from this checkpoint's weights (checkpoint.warm_start)
    rollout_share: float = 0.0  # share of batches on the student's own sampled parts (models/rollout.py)
    rollout_temperature: float = 0.8  # the student's sampling temperature in those batches
    rl_weight: float = 0.0  # weight of the policy-gradient term on those batches (models/reward.py)
    rl_discount: float = 0.75  # per step, in the returns of that term
    keep_last: bool = False  # keep the last epoch's weights, not the best valid NLL's (a reward moves away from it)


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def sample_batch(pieces: Sequence[Any], rng: np.random.Generator, cfg: TrainConfig, vocab: Vocab = Vocab(),
                 soft: Sequence[np.ndarray] | None = None, real: np.ndarray | None = None, whole_tunes: bool = False,
                 keys: Sequence[np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """A batch of windows; the lead at t becomes `unknown` with probability p_unknown (prev_lead stays).
    With `soft` (the teacher's [T,P,V] per piece) and `real` (1 for data, 0 for teacher-written parts),
    the windows' soft targets and data weights too. With `whole_tunes` (the offline teacher), the whole
    tune of each window's piece and the window's start in it. With `keys` (models/heard_key.py, per piece),
    the key heard before each step of the windows."""
    lengths = np.array([len(p.tokens) for p in pieces], dtype=np.float64)
    idx = rng.choice(len(pieces), size=cfg.batch, p=lengths / lengths.sum())
    W = cfg.window
    tok = np.full((cfg.batch, W, 4), vocab.rest, dtype=np.int64)
    prev = np.full((cfg.batch, W, 4), vocab.rest, dtype=np.int64)
    pos = np.zeros((cfg.batch, W, 2), dtype=np.int64)
    target = np.full((cfg.batch, W, 3), IGNORE, dtype=np.int64)
    extra = {} if soft is None else {"soft": np.zeros((cfg.batch, W, *soft[0].shape[1:]), dtype=np.float32),
                                     "real": np.ones(cfg.batch, dtype=np.float32) if real is None else real[idx]}
    if keys is not None:
        from sideman.models.heard_key import UNHEARD

        extra["key"] = np.broadcast_to(UNHEARD, (cfg.batch, W, len(UNHEARD))).copy()
    starts = np.zeros(cfg.batch, dtype=np.int64)
    for b, i in enumerate(idx):
        p = pieces[i]
        T = len(p.tokens)
        n = min(W, T)
        start = 0 if rng.random() < cfg.p_start else int(rng.integers(0, T - n + 1))
        pv, cur = piece_arrays(p.tokens)
        tok[b, :n], prev[b, :n], pos[b, :n] = cur[start : start + n], pv[start : start + n], p.position[start : start + n]
        target[b, :n] = cur[start : start + n, 1:]
        if soft is not None:
            extra["soft"][b, :n] = soft[i][start : start + n]
        if keys is not None:
            extra["key"][b, :n] = keys[i][start : start + n]
        starts[b] = start
    lead = tok[..., 0].copy()
    lead[rng.random(lead.shape) < cfg.p_unknown] = vocab.unknown
    parts_now = np.where(target == IGNORE, vocab.rest, target)
    if whole_tunes:
        extra.update(tune_arrays([pieces[i] for i in idx]), start=starts)
    return {"lead": lead, "prev_lead": prev[..., 0], "prev_parts": prev[..., 1:], "position": pos,
            "parts_now": parts_now, "target": target, **extra}


def scores(model: Any, pieces: Sequence[Any], lead_unknown: bool = False, chunk: int = 16) -> dict[str, np.ndarray]:
    """Teacher-forced NLL sum, correct-token count and step count per part, over whole pieces."""
    import torch

    nll, correct, count = np.zeros(3), np.zeros(3), np.zeros(3)
    model.eval()
    dev = next(model.parameters()).device
    with torch.no_grad():
        for i in range(0, len(pieces), chunk):
            batch = full_batch(pieces[i : i + chunk], lead_unknown, keys=bool(model.cfg.key_input))
            b = {k: torch.from_numpy(v).to(dev) for k, v in batch.items()}
            logits = forward_batch(model, b, bool(model.cfg.encoder))
            logp = torch.log_softmax(logits, dim=-1)
            tgt = b["target"]
            mask = tgt != IGNORE
            picked = logp.gather(-1, tgt.clamp(min=0)[..., None])[..., 0]
            nll += (-(picked * mask)).sum(dim=(0, 1)).cpu().numpy()
            correct += ((logits.argmax(-1) == tgt) & mask).sum(dim=(0, 1)).cpu().numpy()
            count += mask.sum(dim=(0, 1)).cpu().numpy()
    return {"nll": nll, "correct": correct, "count": count}


def batch_loss(model: Any, b: dict[str, Any], ranks: Any, offline: bool = False, kd_weight: float = 0.0,
               rl_weight: float = 0.0, rl_temperature: float = 1.0) -> tuple[Any, float]:
    """(loss to backpropagate, the global batch's mean loss without the policy term) for this rank's share of a
    global batch.

    Each rank sums its loss over scored steps and divides by the step count of the whole global
    batch, times the world size (DDP averages gradients over ranks): the gradient is then exactly the
    one of the global batch's mean loss on one process. With soft targets in the batch the loss is
    models/distill.py's mix of data and teacher; with advantages (a rollout batch, models/reward.py), plus
    `rl_weight` times the policy-gradient loss of the sampled parts at the temperature they were sampled at.
    """
    import torch

    from sideman.models.distill import kd_terms
    from sideman.models.distributed import all_sum

    logits = forward_batch(model, b, offline)
    policy_sum = 0.0
    if "soft" in b:
        ce, kl, mask = kd_terms(logits, b["target"], b["soft"], IGNORE)
        loss_sum = ((1 - kd_weight) * ce * b["real"][:, None, None] + kd_weight * kl).sum()
        if "advantage" in b and rl_weight:
            logp = torch.log_softmax(logits / rl_temperature, dim=-1)
            picked = logp.gather(-1, b["target"].clamp(min=0)[..., None])[..., 0]
            policy_sum = -rl_weight * (b["advantage"] * torch.where(mask, picked, torch.zeros_like(picked))).sum()
    else:
        loss_sum = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), b["target"].reshape(-1),
                                                     ignore_index=IGNORE, reduction="sum")
    # The reported loss leaves the policy term out: centred advantages make it hover around zero, either sign.
    total, count = all_sum([loss_sum.item(), float((b["target"] != IGNORE).sum())], ranks)
    return (loss_sum + policy_sum) * ranks.world / max(count, 1.0), total / max(count, 1.0)


def rank_share(batch: dict[str, np.ndarray], ranks: Any) -> dict[str, np.ndarray]:
    """This rank's contiguous slice of a global batch (every rank draws the same global batch)."""
    per = len(batch["lead"]) // ranks.world
    return {k: v[ranks.rank * per : (ranks.rank + 1) * per] for k, v in batch.items()}


def train(net_cfg: Any, cfg: TrainConfig, out: Path, command: str, progress: bool = True,
          resume: Path | None = None) -> dict[str, Any]:
    """Train, keep the best checkpoint (by valid NLL, lead known) at `out`; returns its metadata.

    Under torchrun every rank trains on its share of each global batch of `cfg.batch` windows
    (DistributedDataParallel); rank 0 alone logs, evaluates, saves and decides when to stop.
    Beside `out` go `X.last.pt` (the state `resume` continues from) and `X.json` (models/run_state.py).
    """
    import torch
    from tqdm import tqdm

    import music21

    from sideman.models import distributed as dist
    from sideman.models import run_state
    from sideman.models.checkpoint import build_network, load_checkpoint, save_checkpoint, warm_start
    from sideman.models.data import augmented, code_key, load_dataset
    from sideman.models.network import NetConfig, count_parameters

    ranks = dist.start()
    if cfg.batch % ranks.world:
        raise ValueError(f"batch {cfg.batch} is not a multiple of the {ranks.world} processes")
    torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed + ranks.rank)  # dropout masks differ between ranks
    t0 = time.monotonic()
    if not ranks.is_main:
        dist.barrier(ranks)  # rank 0 parses and caches the data first
    data = load_dataset(limit=cfg.limit, progress=progress and ranks.is_main)
    if ranks.is_main:
        dist.barrier(ranks)
    train_pieces = augmented(data.pieces["train"])
    offline = bool(net_cfg.encoder)
    soft = real = None
    teacher_info: dict[str, Any] = {}
    if cfg.teacher is not None:
        from sideman.models.distill import distilled_data

        train_pieces, soft, real, teacher_info = distilled_data(cfg, train_pieces, progress and ranks.is_main)
    keys = None
    if net_cfg.key_input:
        from sideman.models.heard_key import piece_keys

        keys = piece_keys(train_pieces)
    teacher_net = None
    if cfg.rollout_share > 0:
        # The rollouts' KL anchor: the teacher, or with a reward and no teacher the frozen starting weights.
        anchor = cfg.teacher if cfg.teacher is not None else cfg.init if cfg.rl_weight else None
        if anchor is None:
            raise ValueError("--rollout-share needs --teacher, or --rl-weight with --init")
        teacher_net = load_checkpoint(anchor)[0].to(dist.device(ranks))
        rollout_gen = torch.Generator(dist.device(ranks)).manual_seed(cfg.seed + ranks.rank)
    valid = data.pieces["valid"]
    if not train_pieces or not valid:
        raise ValueError("training needs at least one train and one valid piece")
    rng = np.random.default_rng(cfg.seed)  # the same on every rank: all draw the same global batches
    state = run_state.load_state(resume) if resume is not None else None
    if state is not None and NetConfig.from_dict(state["net_config"]) != net_cfg:
        raise ValueError(f"{resume}: its network config differs from this run's")
    device = dist.device(ranks)
    model = build_network(net_cfg)
    if cfg.init is not None and state is None:
        warm_start(model, cfg.init)
    model = model.to(device)
    stepper = dist.wrap(model, ranks)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    train_steps = sum(len(p.tokens) for p in train_pieces)
    per_epoch = max(1, math.ceil(train_steps / (cfg.batch * cfg.window)))
    total = per_epoch * cfg.epochs
    warm = min(200, total // 10 + 1)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: min(1.0, (i + 1) / warm) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(i, total) / total))))
    data_hash = {"splits_hash": data.report["splits_hash"], "code_key": code_key(), "limit": cfg.limit}
    meta: dict[str, Any] = {
        "command": command, "net_config": net_cfg.to_dict(), "train_config": asdict(cfg),
        "splits_hash": data.report["splits_hash"], "split_sizes": data.report["split_sizes"], "data": data_hash,
        "train_pieces_augmented": len(train_pieces), "train_steps_augmented": int(train_steps),
        "parameters": count_parameters(model), "torch": str(torch.__version__), "music21": music21.VERSION_STR,
        "kind": "teacher" if offline else "student" if cfg.teacher else "reinforced" if cfg.rl_weight else "imitation", **teacher_info,
        "world_size": ranks.world, "ranks_joined": int(dist.all_sum([1], ranks)[0]), "history": [],
    }
    best, bad_epochs, first_epoch, step, minutes_before = math.inf, 0, 0, 0, 0.0
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        run_state.restore_rngs(state["rngs"], rng)
        best, bad_epochs, first_epoch, step = state["best"], state["bad_epochs"], state["epoch"], state["step"]
        minutes_before = state["minutes"]
        meta.update(json.loads(state["meta"]), command=command, train_config=asdict(cfg))
    bar = tqdm(total=total, initial=step, desc="training", unit="batch", disable=not (progress and ranks.is_main))
    for epoch in range(first_epoch, cfg.epochs):
        stepper.train()
        stop = False
        running = 0.0
        for it in range(per_epoch):
            on_policy = teacher_net is not None and rng.random() < cfg.rollout_share
            batch = rank_share(sample_batch(train_pieces, rng, cfg, soft=soft, real=real,
                                            whole_tunes=offline or on_policy, keys=keys), ranks)
            b = {k: torch.from_numpy(v).to(device) for k, v in batch.items()}
            if on_policy:
                from sideman.models.rollout import rollout_batch

                b = rollout_batch(model, teacher_net, b, cfg.rollout_temperature, rollout_gen,
                                  cfg.rl_discount if cfg.rl_weight else None)
            loss, global_loss = batch_loss(stepper, b, ranks, offline, cfg.kd_weight, cfg.rl_weight,
                                           cfg.rollout_temperature)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
            opt.step()
            sched.step()
            step += 1
            running += global_loss
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{running / (it + 1):.3f}", best_valid=f"{best:.3f}")
        minutes = minutes_before + (time.monotonic() - t0) / 60
        if ranks.is_main:
            s = scores(model, valid)
            per_part = (s["nll"] / s["count"]).tolist()
            valid_nll = float(s["nll"].sum() / s["count"].sum())
            meta["history"].append({"epoch": epoch + 1, "step": step, "train_loss": running / per_epoch,
                                    "valid_nll": valid_nll, "valid_nll_per_part": per_part,
                                    "minutes": round(minutes, 2)})
            bar.set_postfix(epoch=epoch + 1, loss=f"{running / per_epoch:.3f}", valid=f"{valid_nll:.3f}")
            if progress:
                tqdm.write(f"epoch {epoch + 1}: train loss {running / per_epoch:.4f}  valid NLL {valid_nll:.4f} "
                           f"(alto/tenor/bass {' '.join(f'{x:.3f}' for x in per_part)})  {minutes:.1f} min")
            if valid_nll < best or cfg.keep_last:
                best, bad_epochs = min(best, valid_nll), 0
                meta.update(best_epoch=epoch + 1, valid_nll=valid_nll, valid_nll_per_part=per_part,
                            train_minutes=round(minutes, 2))
                save_checkpoint(out, model, meta)
            else:
                bad_epochs += 1
            stop = bad_epochs >= cfg.patience or (cfg.max_minutes is not None and minutes >= cfg.max_minutes)
            run_state.save_state(run_state.state_path(out), {
                "net_config": net_cfg.to_dict(), "model": model.state_dict(), "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(), "rngs": run_state.rng_states(rng), "epoch": epoch + 1, "step": step,
                "best": best, "bad_epochs": bad_epochs, "minutes": minutes, "meta": json.dumps(meta)})
            run_state.write_run_json(run_state.run_json_path(out), run_summary(meta, step, minutes))
        model.train()
        if dist.from_main(float(stop), ranks):
            break
    bar.close()
    if ranks.is_main:
        if not out.is_file():  # resumed into a new path and no epoch improved on the state's best
            save_checkpoint(out, model, meta)
        # Re-save the best weights with the complete history and total time.
        best_model, best_meta = load_checkpoint(out)
        minutes = minutes_before + (time.monotonic() - t0) / 60
        meta = {**best_meta, "history": meta["history"], "total_minutes": round(minutes, 2),
                "stopped_after_epoch": len(meta["history"]) and meta["history"][-1]["epoch"], "steps": step}
        save_checkpoint(out, best_model, meta)
        run_state.write_run_json(run_state.run_json_path(out), run_summary(meta, step, minutes))
    dist.barrier(ranks)
    dist.stop(ranks)
    return meta


def run_summary(meta: dict[str, Any], step: int, minutes: float) -> dict[str, Any]:
    """The run's JSON: config, data hash, metrics."""
    keys = ("best_epoch", "valid_nll", "valid_nll_per_part", "train_minutes")
    return {"command": meta["command"], "net_config": meta["net_config"], "train_config": meta["train_config"],
            "world_size": meta["world_size"], "ranks_joined": meta["ranks_joined"], "data": {**meta["data"], "split_sizes": meta["split_sizes"]},
            "parameters": meta["parameters"], "torch": meta["torch"], "music21": meta["music21"],
            "metrics": {**{k: meta[k] for k in keys if k in meta}, "steps": step, "minutes": round(minutes, 2),
                        "history": meta["history"]}}


QUICK = {"limit": 12, "epochs": 2, "batch": 16, "window": 64, "hidden": 32, "embed": 8}


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    d = TrainConfig()
    parser.add_argument("--out", type=Path, default=None,
                        help=f"checkpoint path (default {DEFAULT_OUT}; with --quick, a file in the cache dir)")
    parser.add_argument("--quick", action="store_true", help="tiny model on ~12 pieces, under a minute (CI)")
    parser.add_argument("--epochs", type=int, default=None, help=f"max epochs (default {d.epochs})")
    parser.add_argument("--batch", type=int, default=None, help=f"windows per batch (default {d.batch})")
    parser.add_argument("--window", type=int, default=None, help=f"steps per window (default {d.window})")
    parser.add_argument("--lr", type=float, default=d.lr)
    parser.add_argument("--p-unknown", type=float, default=d.p_unknown, help="chance the lead at t is hidden")
    parser.add_argument("--patience", type=int, default=d.patience)
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--limit", type=int, default=None, help="use only about N pieces")
    parser.add_argument("--hidden", type=int, default=None, help="GRU size (default 128)")
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--embed", type=int, default=None, help="token embedding size (default 32)")
    parser.add_argument("--dropout", type=float, default=None)
    parser.add_argument("--key-input", action="store_true",
                        help="the network also reads the key the engine hears (models/heard_key.py)")
    parser.add_argument("--encoder", type=int, default=0,
                        help="> 0: train the offline teacher, with a whole-tune encoder of this width")
    parser.add_argument("--teacher", type=Path, default=None, help="distil from this offline teacher checkpoint")
    parser.add_argument("--kd-weight", type=float, default=d.kd_weight, help="share of the loss from the teacher")
    parser.add_argument("--init", type=Path, default=None, help="start from this checkpoint's weights")
    parser.add_argument("--folk", type=int, default=0, help="add N Nottingham tunes harmonized by the teacher")
    parser.add_argument("--rollout-share", type=float, default=d.rollout_share,
                        help="with --teacher: share of batches distilled on the student's own sampled parts")
    parser.add_argument("--rollout-temperature", type=float, default=d.rollout_temperature,
                        help="the student's sampling temperature in those batches")
    parser.add_argument("--rl-weight", type=float, default=d.rl_weight,
                        help="with --rollout-share: weight of the harmony reward's policy gradient (models/reward.py)")
    parser.add_argument("--rl-discount", type=float, default=d.rl_discount, help="per step, in its returns")
    parser.add_argument("--keep-last", action="store_true",
                        help="keep the last epoch's weights, not those of the best valid NLL (with --rl-weight)")
    parser.add_argument("--threads", type=int, default=d.threads)
    parser.add_argument("--max-minutes", type=float, default=None, help="stop after the epoch passing this time")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--resume", type=Path, default=None, metavar="STATE",
                        help="continue from a training state (the X.last.pt written beside checkpoint X.pt)")


def configs_from_args(args: argparse.Namespace) -> tuple[Any, TrainConfig, Path]:
    from sideman.models.data import PARTS, STEPS_PER_BEAT, MAX_BEATS_IN_BAR
    from sideman.models.network import NetConfig

    quick = QUICK if args.quick else {}

    def pick(name: str, default: Any) -> Any:
        value = getattr(args, name, None)
        return value if value is not None else quick.get(name, default)

    d, n = TrainConfig(), NetConfig()
    cfg = replace(d, epochs=pick("epochs", d.epochs), batch=pick("batch", d.batch), window=pick("window", d.window),
                  lr=args.lr, p_unknown=args.p_unknown, patience=args.patience, seed=args.seed,
                  limit=pick("limit", None), threads=args.threads, max_minutes=args.max_minutes,
                  teacher=None if args.teacher is None else str(args.teacher), kd_weight=args.kd_weight,
                  folk=args.folk, init=None if args.init is None else str(args.init),
                  rollout_share=args.rollout_share, rollout_temperature=args.rollout_temperature,
                  rl_weight=args.rl_weight, rl_discount=args.rl_discount, keep_last=args.keep_last)
    net = NetConfig(hidden=pick("hidden", n.hidden), layers=args.layers, embed=pick("embed", n.embed),
                    dropout=pick("dropout", n.dropout), steps_per_beat=STEPS_PER_BEAT,
                    max_beats_in_bar=MAX_BEATS_IN_BAR, part_ranges=tuple((p.low, p.high) for p in PARTS),
                    encoder=args.encoder, key_input=N_KEY_CLASSES if getattr(args, "key_input", False) else 0)
    if args.out is not None:
        out = Path(args.out)
    elif args.quick:
        from sideman.models.data import cache_dir

        out = cache_dir() / "chorale-gru-quick.pt"
    else:
        out = DEFAULT_OUT
    return net, cfg, out


def cmd_train(args: argparse.Namespace) -> int:
    net, cfg, out = configs_from_args(args)
    argv = getattr(args, "argv", None) or sys.argv[1:]
    command = "sideman " + shlex.join(argv) if argv and argv[0] == "train" else "sideman train " + shlex.join(argv)
    meta = train(net, cfg, out, command, progress=not args.no_progress, resume=args.resume)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0  # rank 0 alone reports
    print(f"best epoch {meta['best_epoch']}: valid NLL {meta['valid_nll']:.4f} nats/step "
          f"(alto/tenor/bass {' '.join(f'{x:.3f}' for x in meta['valid_nll_per_part'])}); "
          f"{meta['total_minutes']:.1f} min; saved {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m sideman.models.train ...` = `sideman train ...` (before the CLI is installed)."""
    parser = argparse.ArgumentParser(prog="sideman train")
    add_train_arguments(parser)
    args = parser.parse_args(argv)
    args.argv = ["train", *(sys.argv[1:] if argv is None else argv)]
    return cmd_train(args)


if __name__ == "__main__":
    sys.exit(main())
