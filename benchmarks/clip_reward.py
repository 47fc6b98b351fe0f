"""Zero-shot CLIP reward on rendered frames (VLM-RM): encoder throughput and the cost of a PPO rollout.

1. Frames/s through ``ClipEncoder.encode_frames`` for random-weight CLIP
   models (``judgerl.testing.tiny_clip``: ``tiny`` and ViT-B/32's shape,
   ``b32``): random frames at the model's input size, no cache, one call per batch.
2. PPO on CartPole (judgerl's tuned PPO: 32 steps x 8 envs per rollout), env
   steps/s inside ``model.learn`` with (a) the true reward, (b) frames rendered
   into ``info`` but the true reward (the rendering cost alone), (c)
   ``reward.model: zero_shot`` + ``judge.type: clip`` (render, resize, hash,
   cache, one encoder call per rollout). The reward runs hand the agent the
   true reward after computing everything (as ``benchmarks/overhead.py`` does)
   so all three runs behave alike. Interleaved repeats; the load average is printed.

Usage: python benchmarks/clip_reward.py [--steps 4096] [--b32-steps 512] [--repeats 2] [--archs tiny,b32]
       [--device auto]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from judgerl.agents.callbacks import RolloutRewardCallback
from judgerl.agents.sb3 import make_agent
from judgerl.config import ZeroShotConfig
from judgerl.envs.factory import make_vec_env
from judgerl.envs.reward_wrapper import LearnedRewardVecEnv
from judgerl.judges.zero_shot import ClipJudge
from judgerl.judges.zero_shot_encoders import ClipEncoder
from judgerl.reward.registry import ZeroReward
from judgerl.reward.zero_shot_frames import ClipFrameReward
from judgerl.tasks import get_task
from judgerl.testing.tiny_clip import save_random_clip

CART = get_task("cartpole/balance-v0")


class TrueRewardCallback(RolloutRewardCallback):
    """Scores each rollout in one call (the full cost), then keeps the true rewards the buffer holds."""

    def _apply(self, buffer: Any, rewards: np.ndarray) -> None:
        buffer.compute_returns_and_advantage(last_values=self.locals["values"], dones=self.locals["dones"])


class TrueRewardWrapper(LearnedRewardVecEnv):
    """Records and scores like the real wrapper, but returns the env's reward (deferred: zeros otherwise)."""

    def step_wait(self):  # type: ignore[no-untyped-def]
        obs, _, dones, infos = super().step_wait()
        return obs, np.array([i["env_reward"] for i in infos], np.float32), dones, infos


def encoder_fps(model: Path, device: str, n: int, batch: int) -> tuple[float, int]:
    enc = ClipEncoder(str(model), batch_size=batch, device=device)
    size = enc.image_size
    frames = np.random.default_rng(0).integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    enc.encode_frames(frames[:batch])  # warm-up
    t0 = time.perf_counter()
    enc.encode_frames(frames)
    return n / (time.perf_counter() - t0), size


def ppo_steps_per_s(kind: str, model: Path | None, size: int, steps: int, seed: int, device: str) -> tuple[float, dict]:
    """Env steps/s of PPO on CartPole; ``kind``: ``env`` (true reward), ``render`` (frames only) or ``clip``."""
    if kind == "env":
        venv: Any = make_vec_env(CART, 8, seed=seed)
        callbacks: list[Any] = []
        reward: Any = None
    elif kind == "render":
        venv = TrueRewardWrapper(make_vec_env(CART, 8, seed=seed, frame_size=size), ZeroReward())
        callbacks, reward = [], None
    else:
        assert model is not None
        reward = ClipFrameReward(ClipJudge(ZeroShotConfig(model=str(model), device=device, batch_size=256), CART))
        venv = TrueRewardWrapper(make_vec_env(CART, 8, seed=seed, frame_size=reward.frame_size), reward)
        callbacks = [TrueRewardCallback(venv)]
    agent = make_agent("PPO", venv, CART, seed=seed, device="cpu")
    t0 = time.perf_counter()
    agent.learn(steps, callback=callbacks, progress_bar=False)
    rate = agent.num_timesteps / (time.perf_counter() - t0)
    return rate, (reward.pop_stats() if reward is not None else {})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=4096)
    ap.add_argument("--b32-steps", type=int, default=512, help="PPO steps of the b32 runs (slow on a CPU)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--archs", default="tiny,b32")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--frames", type=int, default=512, help="frames per encoder measurement")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    print(f"torch threads {torch.get_num_threads()}, cuda {torch.cuda.is_available()}, load {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        models = {a: save_random_clip(Path(tmp) / a, arch=a) for a in args.archs.split(",")}
        for arch, path in models.items():
            n = args.frames if arch == "tiny" else max(64, args.frames // 4)
            fps, size = encoder_fps(path, args.device, n, batch=64)
            print(f"encode_frames {arch} ({size}x{size}), device {args.device}: {fps:.0f} frames/s ({n} frames)")
        sizes = {"tiny": 32, "b32": 224}
        runs = ["env"] + [f"{k}-{a}" for a in models for k in ("render", "clip")]
        rates: dict[str, list[float]] = {}
        ppo_steps_per_s("render", None, 32, 512, seed=99, device=args.device)  # warm-up: pygame, torch
        for r in range(args.repeats):
            for run in runs:
                kind, arch = (run.split("-") + [""])[:2]
                steps = args.b32_steps if arch == "b32" else args.steps
                rate, stats = ppo_steps_per_s(
                    kind, models.get(arch), sizes.get(arch, 0), steps, seed=r, device=args.device
                )
                rates.setdefault(run, []).append(rate)
                shown = {k.split("/")[-1]: round(v, 3) for k, v in stats.items()}
                print(f"  repeat {r} {run}: {rate:.0f} steps/s {shown}", flush=True)
        base = float(np.mean(rates["env"]))
        for run in runs:
            m = float(np.mean(rates[run]))
            print(f"PPO CartPole 8 envs, {run}: {m:.0f} env steps/s ({m / base:.3f}x of env reward)")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
