"""SB3 training throughput with the learned reward vs the true reward, side by side in one process.

Prints env steps/s inside ``model.learn`` for PPO and SAC with 8 envs, the
learned reward being an ensemble of 3 MLPs (judgerl's default), and the ratio.
PPO is measured twice: scoring every step, and scoring each rollout in one call
at its end (judgerl's default for on-policy agents, ``env.reward_per_rollout``).
Runs are interleaved (true, learned, true, learned, ...) so machine noise hits
both alike; the load average is printed because the machine is shared.

The learned-reward run computes everything the real wrapper computes (one batched
ensemble call per step, offset, normalisation, info bookkeeping) but then hands
the agent the *true* reward (with per-rollout scoring, the learned rewards are
computed in one call per rollout and returns/advantages recomputed, then the
true rewards are kept). Otherwise an untrained reward model makes the agent
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

from judgerl.agents.callbacks import RolloutRewardCallback
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


class SameDynamicsCallback(RolloutRewardCallback):
    """Scores each rollout in one call and recomputes returns/advantages, but keeps the true rewards."""

    def _apply(self, buffer, rewards):  # type: ignore[no-untyped-def]
        buffer.compute_returns_and_advantage(last_values=self.locals["values"], dones=self.locals["dones"])


def measure(algo: str, task_id: str, learned: bool, steps: int, seed: int, per_rollout: bool = False) -> float:
    task = get_task(task_id)
    venv = make_vec_env(task, 8, seed=seed)
    callback = None
    if learned:
        cfg = RewardConfig(ensemble_size=3)  # judgerl's defaults (state-only features)
        feat = Featurizer(int(np.prod(venv.observation_space.shape)), venv.action_space, cfg.use_action)
        model = RewardEnsemble(feat, cfg, seed)
        venv = SameDynamicsWrapper(venv, model, normalizer=RunningRewardScale(), absorbing_offset=task.absorbing)
        callback = SameDynamicsCallback(venv) if per_rollout else None
    hp = {"learning_starts": 100} if algo == "SAC" else {}
    agent = make_agent(algo, venv, task, seed, hp, total_timesteps=steps)
    agent.learn(256 if algo == "PPO" else 200, callback=callback)  # warm-up: allocations, first updates
    t0 = time.perf_counter()
    agent.learn(steps, reset_num_timesteps=False, callback=callback)
    return steps / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=4096)
    p.add_argument("--repeats", type=int, default=6)
    args = p.parse_args()
    torch.set_num_threads(1)
    print(f"load average before: {os.getloadavg()}  cores: {os.cpu_count()}  torch threads: 1")
    rows = []
    for algo, task_id, steps, modes in (
        ("PPO", "cartpole/balance-v0", args.steps, ("per step", "per rollout")),
        ("SAC", "pendulum/swingup-v0", args.steps // 4, ("per step",)),
    ):
        sps: dict[str, list[float]] = {"true": [], **{m: [] for m in modes}}
        for r in range(args.repeats):
            # Rotate which goes first, so a drift in machine load favours none.
            order = ["true", *modes]
            for who in order[r % len(order) :] + order[: r % len(order)]:
                learned, per_rollout = who != "true", who == "per rollout"
                sps[who].append(measure(algo, task_id, learned, steps, r, per_rollout))
        for mode in modes:
            ratio = np.median(sps[mode]) / np.median(sps["true"])
            rows.append((algo, task_id, mode, np.median(sps["true"]), np.median(sps[mode]), ratio))
    print(f"\n{'algo':5s} {'task':24s} {'scoring':12s} {'true steps/s':>13s} {'learned steps/s':>16s} {'ratio':>6s}")
    for algo, task_id, mode, t, lr, ratio in rows:
        print(f"{algo:5s} {task_id:24s} {mode:12s} {t:13.0f} {lr:16.0f} {ratio:6.3f}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
