"""Uniformly random play on NLE's staircase task: how often it goes down, and what NLE's frozen-clock penalty costs.

Decision 0050 rests on these two numbers: NLE adds ``penalty_step`` (-0.01) to every step on which the
game clock does not move, and the staircase pays 1 for going down. This script plays ``--games`` games
of up to 1,000 steps with uniformly random actions on ``nethack/staircase-v0`` (NLE's reward, penalty
included), NLE seeds ``1000 + i``, and prints the share of frozen steps, the penalty a game and the
share of games that went down.

  python benchmarks/staircase_random_play.py --games 60 --out benchmarks/results/motif/staircase_random_play.json
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from judgerl.envs.factory import make_env
from judgerl.tasks import get_task


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--games", type=int, default=60)
    p.add_argument("--out", default=None, help="write the per-game numbers and the summary here (JSON)")
    args = p.parse_args()
    load = os.getloadavg()
    env = make_env(get_task("nethack/staircase-v0"))
    games = []
    for i in range(args.games):
        env.reset(seed=1000 + i)
        env.action_space.seed(1000 + i)
        rewards, done = [], False
        while not done:
            _, r, terminated, truncated, info = env.step(env.action_space.sample())
            rewards.append(float(r))
            done = terminated or truncated
        r_arr = np.asarray(rewards)
        went_down = bool(info["episode_facts"]["nle_success"])
        # the last step of a game that went down pays 1 (+ its own penalty, if any): the rest is penalty
        penalty = float(r_arr.sum() - (1.0 if went_down else 0.0))
        frozen = int((r_arr < 0).sum())
        games.append({"steps": len(rewards), "went_down": went_down, "penalty": penalty, "frozen": frozen})
    env.close()
    steps = sum(g["steps"] for g in games)
    summary = {
        "games": args.games,
        "went_down": float(np.mean([g["went_down"] for g in games])),
        "frozen_share": sum(g["frozen"] for g in games) / steps,
        "penalty_per_game": float(np.mean([g["penalty"] for g in games])),
        "steps_per_game": steps / args.games,
        "load_average": [load, os.getloadavg()],
    }
    print(json.dumps(summary, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps({"summary": summary, "games": games}, indent=2))


if __name__ == "__main__":
    main()
