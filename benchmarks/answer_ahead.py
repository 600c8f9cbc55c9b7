"""A/B of the answer-ahead path (Engine.prepare): engine.tick() cost with and without it, interleaved, in one run."""
import time, numpy as np, mido
from sideman.bridge.config import Config
from sideman.bridge.live.session import build_engines, DEFAULT_MODEL
cfg = Config()
engs = {"with prepare": build_engines(cfg, [DEFAULT_MODEL])[0], "without": build_engines(cfg, [DEFAULT_MODEL])[0]}
times = {k: [] for k in engs}
dt = 0.15; melody = [60, 62, 64, 65, 67, 69, 71, 72]
step = {k: 0 for k in engs}
for block in range(60):
    for name, e in engs.items():
        for _ in range(100):
            s = step[name]; t = s * dt
            if s % 4 == 0:
                p = melody[(s // 4) % 8]
                e.handle(mido.Message("note_off", note=melody[(s // 4 - 1) % 8], velocity=0), t - 0.06)
                e.handle(mido.Message("note_on", note=p, velocity=90), t - 0.06)
            if name == "with prepare":
                e.prepare(s, t, t - 0.05)
            t0 = time.perf_counter(); e.tick(s, t, dt); times[name].append(time.perf_counter() - t0)
            step[name] += 1
for k, v in times.items():
    a = np.array(v[500:]) * 1e3
    print(f"{k:14s} engine.tick ms p50 {np.percentile(a,50):.3f} p99 {np.percentile(a,99):.3f} max {a.max():.3f}  (n={len(a)})")
print("prepared:", engs["with prepare"].prepared_count)
