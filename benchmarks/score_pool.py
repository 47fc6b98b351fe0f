"""Zero-shot frame scoring in a pool of Ray actors vs in the run's process (decision 0037).

A random-weight CLIP (``tiny``, and ViT-B/32's shape ``b32``: no CLIP weights ship with any package) scores
``--frames`` distinct random frames per call, the way ``ClipFrameReward`` hands over a rollout's unseen
frames: in this process (``ClipJudge.score_frames``, one torch thread, as a run pins it) and through
``ActorPoolScorer`` with 1, 2, ... actors (one torch thread each) on a local Ray on 127.0.0.1. Modes are
interleaved per repeat; the table gives frames/s per repeat, the median, and its ratio to in-process.
One actor measures the pool's overhead (a process hop and pickled frames); more actors measure the
scale-out, which on this machine is bounded by its cores. The load average is recorded.

Usage: python benchmarks/score_pool.py [--archs tiny,b32] [--frames 64] [--actors 1 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from judgerl.config import load_config
from judgerl.judges.zero_shot import build_clip_judge
from judgerl.reward.score_pool import ActorPoolScorer
from judgerl.sweep.backends import start_ray
from judgerl.tasks import get_task
from judgerl.testing.tiny_clip import save_random_clip

OUT = Path("benchmarks/results/ray")
SIZES = {"tiny": 32, "b32": 224}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", default="tiny,b32")
    ap.add_argument("--frames", type=int, default=64, help="frames per scoring call (b32: a quarter)")
    ap.add_argument("--actors", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=OUT / "score_pool.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    task = get_task("cartpole/balance-v0")
    load_start = os.getloadavg()
    rows = []
    ray, _ = start_ray(None, max(os.cpu_count() or 1, sum(args.actors)))  # every pool's actors alive at once
    with tempfile.TemporaryDirectory() as tmp:
        for arch in args.archs.split(","):
            model = save_random_clip(Path(tmp) / arch, arch=arch)
            cfg = load_config(
                None,
                [
                    "judge.type=clip",
                    f"judge.zero_shot.model={model}",
                    "judge.zero_shot.device=cpu",
                    "task.id=cartpole/balance-v0",
                ],
            )
            here = build_clip_judge(cfg.judge, task, 0)
            pools = {}
            for k in args.actors:
                t0 = time.perf_counter()
                pools[k] = ActorPoolScorer(cfg.judge, task, k)
                pools[k].score_frames(np.zeros((k, SIZES[arch], SIZES[arch], 3), np.uint8))  # models loaded
                print(f"{arch}: pool of {k} ready in {time.perf_counter() - t0:.1f} s", flush=True)
            n = args.frames if arch == "tiny" else max(args.frames // 4, max(args.actors))
            rng = np.random.default_rng(0)
            fps: dict[str, list[float]] = {"here": [], **{f"actors_{k}": [] for k in args.actors}}
            for rep in range(args.repeats):
                # Fresh frames per call: ClipJudge memoises scores of frames it saw.
                for mode in fps:
                    frames = rng.integers(0, 256, (n, SIZES[arch], SIZES[arch], 3), dtype=np.uint8)
                    scorer = here if mode == "here" else pools[int(mode.split("_")[1])]
                    t0 = time.perf_counter()
                    scorer.score_frames(frames)
                    fps[mode].append(n / (time.perf_counter() - t0))
                print(f"{arch} repeat {rep}: " + ", ".join(f"{m} {v[-1]:.1f}" for m, v in fps.items()), flush=True)
            for p in pools.values():
                p.close()
            base = statistics.median(fps["here"])
            for mode, v in fps.items():
                med = statistics.median(v)
                rows.append(
                    {"arch": arch, "mode": mode, "frames_per_call": n, "fps": v, "median": med, "ratio": med / base}
                )
    ray.shutdown()
    out = {"load_start": load_start, "load_end": os.getloadavg(), "cores": os.cpu_count(), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    lines = [
        f"load average {load_start[0]:.2f} -> {out['load_end'][0]:.2f}, {out['cores']} cores",
        "",
        "| model | scoring | frames per call | frames/s per repeat | median | × in-process |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        per = " / ".join(f"{x:.1f}" for x in r["fps"])
        lines.append(
            f"| {r['arch']} | {r['mode']} | {r['frames_per_call']} | {per} | {r['median']:.1f} | {r['ratio']:.2f} |"
        )
    text = "\n".join(lines)
    args.out.with_suffix(".md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
