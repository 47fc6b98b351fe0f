"""What ``reward.mix.normalize_return`` adds to the mixer's cost, side by side in one process.

Mixes rollouts of ``T`` steps of ``N`` envs (PPO's per-rollout scoring: the NetHack tasks' 128 × 8) with
Motif's mixing (dataset z-score, threshold, count decay over captions) and with the exploration
term of the staircase cells, each with and without return normalisation. Runs alternate (off, on,
off, on, ...) so machine noise hits both alike; prints µs per agent step for every repeat, the
median ratio on/off, and the load average (the machine is shared).

Usage: python benchmarks/mixing_cost.py [--rollouts 200] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from judgerl.reward.config import MixConfig
from judgerl.reward.mixing import RewardMixer

CONFIGS = {
    "motif": {"env_weight": 0.1, "normalize": "dataset", "threshold_quantile": 0.5, "count_decay": 3.0},
    "staircase": {"env_weight": 10.0, "learned_weight": 0.0, "normalize": "none", "explore_weight": 0.01},
}


def us_per_step(cfg: dict, on: bool, rollouts: int, t: int, n: int, seed: int) -> float:
    """Mean µs per agent step of ``RewardMixer.mix`` over ``rollouts`` rollouts of shape ``(t, n)``."""
    rng = np.random.default_rng(seed)
    mixer = RewardMixer(MixConfig.model_validate({**cfg, "normalize_return": on}), n)
    mixer.calibrate(rng.normal(size=1000))
    env = rng.normal(size=(rollouts, t, n)).astype(np.float32)
    learned = rng.normal(size=(rollouts, t, n)).astype(np.float32)
    dones = rng.random((rollouts, t, n)) < 0.002
    explored = rng.poisson(0.2, size=(rollouts, t, n)).astype(np.float32)
    keys = [[[f"m{k}" for k in row] for row in rng.integers(0, 40, size=(t, n))] for _ in range(rollouts)]
    start = time.perf_counter()
    for i in range(rollouts):
        mixer.mix(env[i], learned[i], dones[i], keys[i], update=True, explored=explored[i])
    return (time.perf_counter() - start) / (rollouts * t * n) * 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rollouts", type=int, default=200)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--steps", type=int, default=128, help="T, steps per env per rollout")
    p.add_argument("--envs", type=int, default=8, help="N")
    args = p.parse_args()
    print(f"load average before: {os.getloadavg()}  cores: {os.cpu_count()}")
    for name, cfg in CONFIGS.items():
        off, on = [], []
        for r in range(args.repeats):
            off.append(us_per_step(cfg, False, args.rollouts, args.steps, args.envs, r))
            on.append(us_per_step(cfg, True, args.rollouts, args.steps, args.envs, r))
        ratio = float(np.median(np.array(on) / np.array(off)))
        print(f"{name}: off " + " ".join(f"{x:.2f}" for x in off) + " µs/step")
        print(f"{name}: on  " + " ".join(f"{x:.2f}" for x in on) + f" µs/step   median ratio on/off {ratio:.2f}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
