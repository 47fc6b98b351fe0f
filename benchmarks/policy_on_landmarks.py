"""Does a trained NetHack agent act differently where it stands? Its action probabilities on each landmark vs elsewhere.

An agent that reaches the staircase down but never goes down either has not
learned that ``>`` pays there, or cannot tell the staircase from the floor. This
script tells the two apart. It plays ``--games`` games with a finished run's
agent (sampled actions, as Motif evaluates) on the run's own ``-v2`` task (the
observation's ``landmarks`` member says what the hero stands on), and averages
the policy's action probabilities over the steps on each landmark and over all
other steps. Per landmark it prints the steps spent on it, the probability of the
landmark's own key (``>`` on a staircase down, ``<`` on a staircase up) there and
elsewhere, and the total-variation distance between the two action distributions:
near 0 means the policy acts the same on the landmark as anywhere else.

Usage:
  python benchmarks/policy_on_landmarks.py RUN_DIR [RUN_DIR ...] [--games 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from stable_baselines3 import PPO

from judgerl.envs.factory import make_env
from judgerl.envs.nethack_landmarks import LANDMARKS, ROWS
from judgerl.tasks import get_task

KEYS = {"staircase down": "DOWN", "staircase up": "UP"}  # landmark -> the NLE MiscDirection that uses it


def probe(run_dir: Path, games: int, seed: int) -> dict[str, Any]:
    """Play ``games`` games with the run's agent; per landmark the action probabilities on it and elsewhere."""
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    task = get_task(cfg["task"]["id"])
    env = make_env(task, seed=seed)
    actions = [getattr(a, "name", str(a)) for a in env.unwrapped.actions]  # type: ignore[attr-defined]
    model = PPO.load(str(run_dir / "agent.zip"), device="cpu")
    rng = np.random.default_rng(seed)
    on: list[list[np.ndarray]] = [[] for _ in LANDMARKS]
    off: list[list[np.ndarray]] = [[] for _ in LANDMARKS]
    depth = []
    for g in range(games):
        obs, info = env.reset(seed=seed + g)
        done = False
        while not done:
            if "landmarks" not in obs:
                raise SystemExit(f"{run_dir}: task {task.id} has no landmarks member (use a -v2 task)")
            tensor, _ = model.policy.obs_to_tensor(obs)
            with torch.no_grad():
                dist = model.policy.get_distribution(tensor).distribution
            assert isinstance(dist, torch.distributions.Categorical)  # a Discrete action space
            p = dist.probs[0].numpy().astype(np.float64)
            standing = np.asarray(obs["landmarks"]).reshape(ROWS, len(LANDMARKS))[1] > 0
            for k in range(len(LANDMARKS)):
                (on if standing[k] else off)[k].append(p)
            obs, _r, term, trunc, info = env.step(int(rng.choice(len(p), p=p / p.sum())))
            done = term or trunc
        depth.append(info["episode_facts"]["max_depth"])
    rows = {}
    for k, name in enumerate(LANDMARKS):
        if not on[k]:
            continue
        p_on, p_off = np.mean(on[k], 0), np.mean(off[k], 0)
        row: dict[str, Any] = {"steps_on": len(on[k]), "tv_distance": float(0.5 * np.abs(p_on - p_off).sum())}
        if name in KEYS:
            i = actions.index(KEYS[name])
            row.update(key=KEYS[name], p_key_on=float(p_on[i]), p_key_elsewhere=float(p_off[i]))
        rows[name] = row
    return {"run": str(run_dir), "task": task.id, "games": games, "max_depth_mean": float(np.mean(depth)), **rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dirs", type=Path, nargs="+")
    ap.add_argument("--games", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1000, help="game g is seeded with seed + g")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    results = [probe(d, args.games, args.seed) for d in args.run_dirs]
    print(f"{'run':28s} {'landmark':15s} {'steps':>6s} {'key':>5s} {'P(key) on':>9s} {'elsewhere':>9s} {'TV':>5s}")
    for r in results:
        for name in LANDMARKS:
            if name in r:
                x = r[name]
                on, off = x.get("p_key_on", np.nan), x.get("p_key_elsewhere", np.nan)
                key = f"{x.get('key', '-'):>5s} {on:9.3f} {off:9.3f}"
                print(f"{Path(r['run']).name:28s} {name:15s} {x['steps_on']:6d} {key} {x['tv_distance']:5.2f}")
        print(f"{Path(r['run']).name:28s} mean max depth {r['max_depth_mean']:.2f} over {r['games']} games")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
