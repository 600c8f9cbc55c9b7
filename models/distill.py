"""What the offline teacher gives the online student: per-step, per-part distributions on the training
pieces (soft targets, teacher-forced on the same tokens the student reads), and harmonizations of folk
melodies that have no parts of their own.

The student's loss (models/train.py `batch_loss`) is, per part and step,
    (1 - kd_weight) * real * cross-entropy(data) + kd_weight * KL(teacher || student)
where `real` is 0 on pieces whose parts the teacher wrote (their only target is the teacher).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from sideman.models.batches import forward_batch, full_batch
from sideman.models.data import Piece


def soft_targets(teacher: Any, pieces: Sequence[Piece], chunk: int = 32) -> list[np.ndarray]:
    """The teacher's probabilities, teacher-forced with the lead known: per piece [T, P, V] float16."""
    teacher.eval()
    order = sorted(range(len(pieces)), key=lambda i: len(pieces[i].tokens))  # similar lengths pad less
    by_index: dict[int, np.ndarray] = {}
    with torch.no_grad():
        for a in range(0, len(order), chunk):
            idx = order[a : a + chunk]
            b = {k: torch.from_numpy(v) for k, v in full_batch([pieces[i] for i in idx]).items()}
            logits = forward_batch(teacher, b, offline=True)
            probs = torch.softmax(logits, dim=-1).numpy().astype(np.float16)
            for j, i in enumerate(idx):
                by_index[i] = probs[j, : len(pieces[i].tokens)]
    return [by_index[i] for i in range(len(pieces))]


def harmonized(teacher: Any, pieces: Sequence[Piece], temperature: float, seed: int, chunk: int = 64
               ) -> list[Piece]:
    """The pieces with their parts written by the teacher (sampled, lead known, whole tune in view)."""
    gen = torch.Generator().manual_seed(seed)
    teacher.eval()
    order = sorted(range(len(pieces)), key=lambda i: len(pieces[i].tokens))
    by_index: dict[int, Piece] = {}
    for a in range(0, len(order), chunk):
        idx = order[a : a + chunk]
        b = {k: torch.from_numpy(v) for k, v in full_batch([pieces[i] for i in idx]).items()}
        parts = teacher.harmonize(b["melody"], b["position"], b["lengths"], temperature, generator=gen).numpy()
        for j, i in enumerate(idx):
            p = pieces[i]
            tokens = p.tokens.copy()
            tokens[:, 1:] = parts[j, : len(tokens)]
            by_index[i] = Piece(p.name, tokens, p.position)
    return [by_index[i] for i in range(len(pieces))]


def kd_terms(logits: torch.Tensor, target: torch.Tensor, soft: torch.Tensor, ignore: int
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per part and step [B,T,P]: cross-entropy against the data, KL(teacher || student), and the mask of
    scored steps. The forbidden tokens have probability 0 under both, so they add nothing to the KL."""
    logp = torch.log_softmax(logits, dim=-1)
    mask = target != ignore
    ce = -logp.gather(-1, target.clamp(min=0)[..., None])[..., 0]
    soft = soft.float()
    kl = (soft * (torch.log(soft.clamp(min=1e-8)) - logp)).sum(-1)
    zero = torch.zeros_like(ce)
    return torch.where(mask, ce, zero), torch.where(mask, kl, zero), mask


def distilled_data(cfg: Any, train_pieces: list[Piece], progress: bool
                   ) -> tuple[list[Piece], list[np.ndarray], np.ndarray, dict[str, Any]]:
    """The student's training data: the chorales plus `cfg.folk` Nottingham train tunes, each moved into a
    random key, harmonized by the teacher at `cfg.teacher`, the teacher's soft targets for all of them, and 1/0 data weights."""
    from sideman.models.checkpoint import load_checkpoint
    from sideman.models.data import PARTS, VOICES
    from sideman.models.folk import nottingham_pieces
    from sideman.models.metrics import measure, summarize

    teacher, meta = load_checkpoint(cfg.teacher)
    if not teacher.cfg.encoder:
        raise ValueError(f"{cfg.teacher}: not an offline teacher (no encoder)")
    info: dict[str, Any] = {"teacher": {"checkpoint": str(cfg.teacher), "valid_nll": meta.get("valid_nll"),
                                        "splits_hash": meta.get("splits_hash")}}
    folk: list[Piece] = []
    if cfg.folk:
        tunes = nottingham_pieces("train", limit=cfg.folk, seed=cfg.seed)  # in random keys
        folk = harmonized(teacher, tunes, cfg.folk_temperature, cfg.seed)
        counts = [measure(p.tokens, VOICES, p.position) for p in folk]
        total = sum(counts[1:], counts[0])
        rates = summarize(total, [p.name for p in PARTS])
        info["folk"] = {"tunes": len(folk), "steps": int(sum(len(p.tokens) for p in folk)),
                        "temperature": cfg.folk_temperature,
                        "notes_per_bar": {p.name: round(rates[f"notes_per_bar_{p.name}"], 2) for p in PARTS},
                        "consonance_all": round(rates["consonance_all"], 4)}
        if progress:
            print(f"folk: {len(folk)} tunes harmonized by the teacher; notes/bar "
                  f"{info['folk']['notes_per_bar']}, consonance {rates['consonance_all']:.3f}")
    pieces = list(train_pieces) + folk
    soft = soft_targets(teacher, pieces)
    real = np.array([1.0] * len(train_pieces) + [0.0] * len(folk), dtype=np.float32)
    return pieces, soft, real, info
