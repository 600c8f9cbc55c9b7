"""`python -m benchmarks.model`: per-step cost of the ONNX runtime, against torch eager and re-encoding.

Prints figures, never asserts them. What it measures (all in one process, 1 thread):
- per-step latency (p50 / p99 / max) of `OnnxStepModel.step` (IOBinding), of a plain
  `session.run()` step, and of torch eager `ChoraleNet.sample_step` on the same weights and inputs;
- the per-step time around steps 100, 10,000 and 100,000 of one continuous session (it must stay
  flat: the state is cached, nothing grows);
- the cost of what Magenta's MIDI interface does instead, re-encoding the whole history every step
  (torch `forward` over the history, then one step), at histories of 64 ... 4,096 steps;
- file sizes and, when it can quantize, the int8 model's effect on test NLL and step time.

It lives in `export/` (the torch side) because it compares against torch; torch is still imported
inside the functions so that `python -m benchmarks.model --help` starts fast.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from sideman.bridge.config import EngineConfig
from sideman.bridge.errors import ModelError
from sideman.bridge.engines import DEFAULT_MODEL

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent.parent / "models" / "default" / "chorale-gru.pt"

TARGET_SPEEDUP = 2.0  # ONNX p50 at least this many times faster than torch eager
TARGET_P99_US = 250.0
# The sampling settings the bridge plays with by default (config.toml [engine]).
TEMPERATURE = EngineConfig().temperature
TOP_P = EngineConfig().top_p
TARGET_FLAT = 0.10  # per-step time at 100k steps within 10% of the time at step 100
TARGET_REENCODE = 100.0  # re-encoding 4,096 steps at least 100x dearer than one cached step


@dataclass(frozen=True)
class Latency:
    name: str
    us: np.ndarray  # per-step times in microseconds

    @property
    def p50(self) -> float:
        return float(np.percentile(self.us, 50))

    @property
    def p99(self) -> float:
        return float(np.percentile(self.us, 99))

    @property
    def max(self) -> float:
        return float(self.us.max())


def _interleaved(fns: list[Callable[[int], Any]], steps: int, warmup: int, block: int = 250) -> list[np.ndarray]:
    """Per-step times (us) of several contenders, run in turns of `block` steps.

    Taking turns spreads any change in machine load over all contenders alike, so their ratios
    stay meaningful on a shared machine even when the absolute figures move.
    """
    for fn in fns:
        for i in range(warmup):
            fn(i)
    out = [np.empty(steps) for _ in fns]
    clock = time.perf_counter_ns
    done = 0
    while done < steps:
        n = min(block, steps - done)
        for fn, times in zip(fns, out):
            for i in range(done, done + n):
                start = clock()
                fn(warmup + i)
                times[i] = clock() - start
        done += n
    return [t / 1000.0 for t in out]


class _Inputs:
    """Precomputed per-step inputs (a cycling melody, fresh Gumbel noise) shared by every contender."""

    def __init__(self, contract: Any, n: int, seed: int = 0) -> None:
        from sideman.bridge.model.sampling import gumbel_noise, range_bias

        P, V = len(contract.parts), contract.vocab.size
        rng = np.random.default_rng(seed)
        self.n = n
        self.bias = range_bias(contract)
        self.noise = np.stack([gumbel_noise(rng, (P, V)) for _ in range(n)])
        lead_pitches = rng.integers(contract.lead.low, contract.lead.high + 1, size=n)
        onset = np.arange(n) % 4 == 0
        self.lead = np.where(onset, [contract.vocab.onset(int(p)) for p in lead_pitches], contract.vocab.hold)
        self.prev_lead = np.concatenate([[contract.vocab.rest], self.lead[:-1]])
        spb = contract.steps_per_beat
        self.position = [(i % spb, (i // spb) % 4) for i in range(n)]


def _onnx_stepper(model: Any, inputs: _Inputs) -> Callable[[int], Any]:
    prev = np.zeros(model.n_parts, np.int64)

    def step(i: int) -> None:
        j = i % inputs.n
        tokens = model.step(int(inputs.lead[j]), int(inputs.prev_lead[j]), prev, inputs.position[j],
                            inputs.noise[j], TEMPERATURE, TOP_P, inputs.bias)
        prev[:] = tokens

    return step


def _plain_run_stepper(model: Any, inputs: _Inputs) -> Callable[[int], Any]:
    """The same step as OnnxStepModel.step but with `session.run()` and fresh arrays (no IOBinding)."""
    session, contract = model.session, model.contract
    spec = contract.state[0]
    feeds = {"prev_parts": np.zeros(model.n_parts, np.int64), "temperature": np.array([TEMPERATURE], np.float32),
             "top_p": np.array([TOP_P], np.float32), "logit_bias": inputs.bias,
             spec.input: np.zeros(spec.shape, np.float32)}
    if model.pair_bias is not None:
        feeds["pair_bias"] = np.zeros_like(model.pair_bias)
    names = [o.name for o in session.get_outputs()]
    state_index = names.index(spec.output)

    def step(i: int) -> None:
        j = i % inputs.n
        feeds["lead"] = np.array([inputs.lead[j]], np.int64)
        feeds["prev_lead"] = np.array([inputs.prev_lead[j]], np.int64)
        feeds["position"] = np.array(inputs.position[j], np.int64)
        feeds["noise"] = inputs.noise[j]
        out = session.run(names, feeds)
        feeds["prev_parts"] = out[1]
        feeds[spec.input] = out[state_index]

    return step


def _torch_stepper(net: Any, inputs: _Inputs) -> Callable[[int], Any]:
    import torch

    state = [net.initial_state(1)]
    prev = [torch.zeros(net.cfg.n_parts, dtype=torch.long)]
    bias = torch.from_numpy(inputs.bias)
    noise = torch.from_numpy(inputs.noise)
    temperature, top_p = torch.tensor([TEMPERATURE]), torch.tensor([TOP_P])
    P, V = net.cfg.n_parts, net.cfg.vocab_size
    pair_bias = torch.zeros(P, P, V, V)  # the guard's input, as the ONNX contenders get it

    def step(i: int) -> None:
        j = i % inputs.n
        with torch.inference_mode():
            _, tokens, state[0] = net.sample_step(
                torch.tensor([int(inputs.lead[j])]), torch.tensor([int(inputs.prev_lead[j])]), prev[0],
                torch.tensor(inputs.position[j]), state[0], noise[j], temperature, top_p, bias, pair_bias)
        prev[0] = tokens

    return step


def _reencode_us(net: Any, inputs: _Inputs, history: int, repeats: int) -> float:
    """Median time of: torch `forward` over `history` steps from a zero state, then one sample_step."""
    import torch

    n = history
    idx = np.arange(n) % inputs.n
    lead = torch.from_numpy(inputs.lead[idx].astype(np.int64))[None]
    prev_lead = torch.from_numpy(inputs.prev_lead[idx].astype(np.int64))[None]
    parts = torch.ones(1, n, net.cfg.n_parts, dtype=torch.long)
    position = torch.tensor([inputs.position[i] for i in idx], dtype=torch.long)[None]
    bias, temp, top_p = torch.from_numpy(inputs.bias), torch.tensor([TEMPERATURE]), torch.tensor([TOP_P])
    times = []
    for r in range(repeats + 1):
        start = time.perf_counter_ns()
        with torch.inference_mode():
            _, state = net(lead, prev_lead, parts, position, parts)
            net.sample_step(lead[0, -1:], prev_lead[0, -1:], parts[0, -1], position[0, -1], state,
                            torch.from_numpy(inputs.noise[0]), temp, top_p, bias)
        if r:  # the first call warms up this length
            times.append(time.perf_counter_ns() - start)
    return float(np.median(times)) / 1000.0


def _session_curve(path: Path, inputs: _Inputs, points: list[int], window: int) -> dict[int, tuple[float, float]]:
    """One continuous session up to max(points) + window steps.

    Returns, per point, (median step time within +-window of it, that median divided by the median
    of a fresh session's first 2 * window steps run in alternation with those very steps). The ratio
    cancels changes in machine load over the minutes the session takes; it is what "flat" means.
    """
    from sideman.bridge.model.runtime import OnnxStepModel

    long_model, fresh_model = OnnxStepModel.load(path), OnnxStepModel.load(path)
    long_step, fresh_step = _onnx_stepper(long_model, inputs), _onnx_stepper(fresh_model, inputs)
    for i in range(200):  # warm up the fresh session's code paths; the long one starts cold like a real one
        fresh_step(i)
    starts = {max(0, p - window): p for p in points}
    clock = time.perf_counter_ns
    result: dict[int, tuple[float, float]] = {}
    i, total = 0, max(points) + window
    while i < total:
        if i not in starts:
            long_step(i)
            i += 1
            continue
        p = starts[i]
        fresh_model.reset()
        ours, theirs = [], []
        for k in range(2 * window):
            start = clock()
            long_step(i + k)
            ours.append(clock() - start)
            start = clock()
            fresh_step(k)
            theirs.append(clock() - start)
        median = float(np.median(ours)) / 1000.0
        result[p] = (median, median / (float(np.median(theirs)) / 1000.0))
        i += 2 * window
    return result


def _resolve_model(model_arg: Path | None, checkpoint: Path | None, workdir: Path) -> tuple[Path, Path | None]:
    """(ONNX path, checkpoint path or None); a .pt given as --model is exported on the fly."""
    if model_arg is None:
        model_arg = DEFAULT_MODEL if DEFAULT_MODEL.is_file() else DEFAULT_CHECKPOINT
    if checkpoint is None:
        checkpoint = model_arg if model_arg.suffix == ".pt" else (DEFAULT_CHECKPOINT if DEFAULT_CHECKPOINT.is_file() else None)
    if model_arg.suffix == ".pt":
        if not model_arg.is_file():
            raise ModelError(f"{model_arg}: no such model or checkpoint (train one with `sideman train`, or pass --model)")
        from sideman.export.onnx_export import export_checkpoint

        out = workdir / "bench.onnx"
        print(f"exporting {model_arg} to a temporary ONNX file (parity-checked) ...", flush=True)
        export_checkpoint(model_arg, out, f"benchmarks.model (on-the-fly export of {model_arg})", steps=200)
        return out, model_arg
    return model_arg, checkpoint


def _same_weights(net: Any, model: Any, inputs: _Inputs) -> float:
    """Max |logit diff| over a few steps: tells whether the checkpoint matches the ONNX file."""
    from sideman.export.parity import StepSequence, run_parity

    n = 32
    seq = StepSequence(inputs.lead[:n].astype(np.int64), inputs.prev_lead[:n].astype(np.int64),
                       np.ones((n, model.n_parts), np.int64), np.array(inputs.position[:n], np.int64), "bench")
    try:
        return run_parity(net, model.path, seq, "greedy").max_logit_diff
    except Exception:  # shapes differ: a different network altogether
        return float("inf")


def _mark(ok: bool) -> str:
    return "met" if ok else "MISSED"


def run_bench(args: argparse.Namespace) -> list[str]:
    from sideman.bridge.model.runtime import OnnxStepModel

    quick = args.quick
    steps = args.steps or (300 if quick else 5000)
    warmup = 50 if quick else 500
    points = [100, 1_000, 2_000] if quick else [100, 10_000, 100_000]
    histories = [64, 256] if quick else [64, 256, 1024, 4096]
    lines: list[str] = []

    def out(line: str = "") -> None:
        print(line, flush=True)
        lines.append(line)

    with tempfile.TemporaryDirectory() as tmp:
        path, checkpoint = _resolve_model(args.model, args.checkpoint, Path(tmp))
        model = OnnxStepModel.load(path)
        inputs = _Inputs(model.contract, 4096)
        out(f"model {path} ({path.stat().st_size / 1024:.0f} KiB fp32), contract {model.contract.name}, "
            f"state {[list(s.shape) for s in model.contract.state]}; inputs: synthetic melody, Gumbel noise, "
            f"temperature {TEMPERATURE:g}, top-p {TOP_P:g} (the bridge's defaults); 1 thread; {warmup} warm-up steps")

        net = None
        if checkpoint is not None and checkpoint.is_file():
            import torch

            from sideman.models.checkpoint import load_checkpoint

            torch.set_num_threads(1)
            net, _ = load_checkpoint(checkpoint)
            diff = _same_weights(net, model, inputs)
            if not diff < 1e-4:
                out(f"warning: {checkpoint} does not match {path} (max logit diff {diff:.2g}); torch figures are for other weights")
        else:
            out("no checkpoint found: torch comparisons skipped (pass --checkpoint)")

        # 1. per-step latency, contenders taking turns
        plain_model = OnnxStepModel.load(path)
        names = ["ONNX Runtime, IOBinding (OnnxStepModel.step)", "ONNX Runtime, plain session.run()"]
        fns = [_onnx_stepper(model, inputs), _plain_run_stepper(plain_model, inputs)]
        if net is not None:
            names.append("torch eager sample_step")
            fns.append(_torch_stepper(net, inputs))
        results = [Latency(n, us) for n, us in zip(names, _interleaved(fns, steps, warmup))]
        out()
        out(f"per-step latency over {steps} steps each, contenders taking turns of 250 steps (us)")
        out(f"  {'':48s} {'p50':>8s} {'p99':>8s} {'max':>8s}")
        for r in results:
            out(f"  {r.name:48s} {r.p50:8.1f} {r.p99:8.1f} {r.max:8.1f}")
        onnx_lat = results[0]
        out(f"  IOBinding vs run(): run() p50 is {results[1].p50 / onnx_lat.p50:.2f}x the IOBinding p50")
        if net is not None:
            speedup = results[2].p50 / onnx_lat.p50
            out(f"  target ONNX p50 >= {TARGET_SPEEDUP:g}x faster than torch eager: {speedup:.1f}x  {_mark(speedup >= TARGET_SPEEDUP)}")
        out(f"  target ONNX p99 <= {TARGET_P99_US:g} us: {onnx_lat.p99:.0f} us  {_mark(onnx_lat.p99 <= TARGET_P99_US)}")

        # 2. cost vs session length
        window = 50 if quick else 200
        curve = _session_curve(path, inputs, points, window)
        out()
        out(f"cost vs session length (one continuous session; median of the steps within +-{window} of each point,")
        out(f"and its ratio to a fresh session's steps timed in alternation with them, which cancels load changes)")
        for p, (us, ratio) in curve.items():
            out(f"  step {p:>7,d}: {us:8.1f} us/step   x{ratio:.3f} of a fresh session")
        drift = max(abs(ratio - 1.0) for _, ratio in curve.values())
        out(f"  target flat within {TARGET_FLAT:.0%} over {points[-1]:,} steps: worst {drift:.1%}  {_mark(drift <= TARGET_FLAT)}")
        if net is not None:
            out("  re-encoding the whole history each step (torch forward over it, then one step):")
            reencode = {}
            for h in histories:
                reencode[h] = _reencode_us(net, inputs, h, repeats=2 if quick else 5)
                out(f"    history {h:>5,d}: {reencode[h] / 1000:9.2f} ms/step = {reencode[h] / onnx_lat.p50:8.0f}x the cached ONNX step")
            ratio = reencode[histories[-1]] / onnx_lat.p50
            out(f"  target >= {TARGET_REENCODE:g}x cheaper than re-encoding at {histories[-1]:,}: {ratio:.0f}x  {_mark(ratio >= TARGET_REENCODE)}")

        # 3. sizes and int8
        if not args.no_int8:
            try:
                from sideman.export.parity import held_out_sessions
                from sideman.export.quantize import compare_int8, quantize_int8
            except ImportError as exc:
                out(f"int8: skipped ({exc.name} not installed)")
            else:
                int8_path = Path(tmp) / "bench.int8.onnx"
                if net is not None:  # the shipped graph has an If the quantizer cannot enter: quantize the net
                    from sideman.export.onnx_export import write_int8

                    int8 = write_int8(net, model.contract, int8_path)
                else:
                    int8 = quantize_int8(path, int8_path)
                sessions = held_out_sessions(model.contract, 300 if quick else None)
                out()
                out(f"int8 (dynamic quantization), teacher-forced on {len(sessions)} held-out sessions ({sessions[0].source}):")
                for line in compare_int8(path, int8, sessions).describe().splitlines():
                    out(f"  {line}")
    return lines


def add_bench_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=None,
                        help=f"ONNX model, or a .pt checkpoint to export on the fly (default {DEFAULT_MODEL.name} "
                             f"if shipped, else {DEFAULT_CHECKPOINT.name})")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="checkpoint with the same weights, for the torch figures (default models/default/chorale-gru.pt)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per contender (default 5000; 300 with --quick)")
    parser.add_argument("--quick", action="store_true", help="small counts for a CI smoke test (figures are rough)")
    parser.add_argument("--no-int8", action="store_true", help="skip the int8 quantization comparison")


def cmd_bench_model(args: argparse.Namespace) -> int:
    run_bench(args)
    return 0


def main(argv: list[str] | None = None) -> int:
    from benchmarks import run_command

    return run_command("python -m benchmarks.model", add_bench_model_arguments, cmd_bench_model, argv)


if __name__ == "__main__":
    sys.exit(main())
