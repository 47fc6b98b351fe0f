"""SB3 training throughput with the learned reward vs the true reward, side by side in one process.

Prints env steps/s inside ``model.learn`` for PPO and SAC with 8 envs, the
learned reward being an ensemble of 3 MLPs (judgerl's default), and the ratio.
Runs are interleaved (true, learned, true, learned, ...) so machine noise hits
both alike; the load average is printed because the machine is shared.

The learned-reward run computes everything the real wrapper computes (one batched
ensemble call per step, offset, normalisation, info bookkeeping) but then hands
the agent the *true* reward. Otherwise an untrained reward model makes the agent
behave differently (shorter CartPole episodes, more resets), and the ratio would
measure the agent's behaviour rather than the cost of the learned reward.

Usage: python benchmarks/overhead.py [--steps 4000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from judgerl.agents.sb3 import make_agent
from judgerl.config import RewardConfig
from judgerl.envs.factory import make_vec_env
from judgerl.envs.normalize import RunningRewardScale
from judgerl.envs.reward_wrapper import LearnedRewardVecEnv
from judgerl.reward.ensemble import RewardEnsemble
from judgerl.reward.features import Featurizer
from judgerl.tasks import get_task


class SameDynamicsWrapper(LearnedRewardVecEnv):
    """Pays the full learned-reward cost each step, then returns the true reward (see module docstring)."""

    def step_wait(self):  # type: ignore[no-untyped-def]
        obs, _, dones, infos = super().step_wait()
        true = np.array([info["env_reward"] for info in infos], dtype=np.float32)
        return obs, true, dones, infos


def measure(algo: str, task_id: str, learned: bool, steps: int, seed: int) -> float:
    task = get_task(task_id)
    venv = make_vec_env(task, 8, seed=seed)
    if learned:
        feat = Featurizer(int(np.prod(venv.observation_space.shape)), venv.action_space)
        model = RewardEnsemble(feat, RewardConfig(ensemble_size=3), seed)
        venv = SameDynamicsWrapper(venv, model, normalizer=RunningRewardScale(), absorbing_offset=task.absorbing)
    hp = {"learning_starts": 100} if algo == "SAC" else {}
    agent = make_agent(algo, venv, task, seed, hp, total_timesteps=steps)
    agent.learn(256 if algo == "PPO" else 200)  # warm-up: allocations, first updates
    t0 = time.perf_counter()
    agent.learn(steps, reset_num_timesteps=False)
    return steps / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=4096)
    p.add_argument("--repeats", type=int, default=6)
    args = p.parse_args()
    torch.set_num_threads(1)
    print(f"load average before: {os.getloadavg()}  cores: {os.cpu_count()}  torch threads: 1")
    rows = []
    for algo, task_id, steps in (
        ("PPO", "cartpole/balance-v0", args.steps),
        ("SAC", "pendulum/swingup-v0", args.steps // 4),
    ):
        true_sps, learned_sps = [], []
        for r in range(args.repeats):
            # Alternate which goes first, so a drift in machine load favours neither.
            for learned in (False, True) if r % 2 == 0 else (True, False):
                (learned_sps if learned else true_sps).append(measure(algo, task_id, learned, steps, r))
        ratio = np.median(learned_sps) / np.median(true_sps)
        rows.append((algo, task_id, np.median(true_sps), np.median(learned_sps), ratio))
    print(f"\n{'algo':5s} {'task':24s} {'true steps/s':>13s} {'learned steps/s':>16s} {'ratio':>6s}")
    for algo, task_id, t, lr, ratio in rows:
        print(f"{algo:5s} {task_id:24s} {t:13.0f} {lr:16.0f} {ratio:6.3f}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
