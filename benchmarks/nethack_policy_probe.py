"""Probe trained NetHack agents: are their policy heads saturated, and do they press ``>`` on the stairs?

Decisions 0053 and 0054 rest on these numbers. For each run directory it loads the final agent
(``agent.zip``) and the run's task, and measures two things.

- **Saturation.** It plays 200 steps of random actions in 4 envs and keeps every 10th observation, 80
  states in all. On them it reports:
  - for Tanh heads, the share of the pre-activations of the policy's and the value's first layer beyond
    ±3 (saturated); for ReLU heads (the tuned default since decision 0055), the share of units that are
    off (pre-activation ≤ 0) in every one of the states (dead);
  - the mean |pre-activation| of each head's first layer (how far its weights grew);
  - the largest standard deviation, over the states, of the probability of any one action;
  - the standard deviation of the value.
  A saturated or dead head acts and values the same in every state.
- **The stairs** (staircase tasks, ``--games`` > 0). It plays ``--games`` games with sampled actions
  (env seed ``--seed``) and reads the policy's probability of ``>`` (NLE's ``MiscDirection.DOWN``) at
  every step. It averages that probability over the steps on which the ``landmarks`` member says the hero
  stands on a staircase down, and over all the other steps. An agent that learned the task's last step
  has a far higher probability on the stairs than elsewhere.

  python benchmarks/nethack_policy_probe.py RUN_DIR [RUN_DIR ...] --games 10 --out probe.json
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch
import yaml
from stable_baselines3 import PPO

from judgerl.agents.sb3 import make_agent
from judgerl.envs.factory import make_vec_env
from judgerl.envs.nethack import STAIRS_DOWN
from judgerl.tasks import get_task


def saturation(agent: PPO, task_id: str, seed: int) -> dict:
    """Saturation (Tanh) or dead units (ReLU) of the heads' first layer on 80 states of random play."""
    venv = make_vec_env(get_task(task_id), 4, seed=seed)
    rng = np.random.default_rng(seed)
    obs, states = venv.reset(), []
    for t in range(200):
        obs, *_ = venv.step(rng.integers(venv.action_space.n, size=4))  # type: ignore[attr-defined]
        if t % 10 == 0:
            states.append({k: v.copy() for k, v in obs.items()})  # type: ignore[union-attr]
    venv.close()
    batch = {k: np.concatenate([s[k] for s in states]) for k in states[0]}
    policy = agent.policy
    with torch.no_grad():
        obs_t = policy.obs_to_tensor(batch)[0]
        # one tensor, or (policy's, value's) when share_features_extractor=False gave the value head its own encoder
        both = policy.extract_features(obs_t)  # type: ignore[arg-type]
        features, vf_features = both if isinstance(both, tuple) else (both, both)
        pre_pi = policy.mlp_extractor.policy_net[0](features)  # type: ignore[index]
        pre_vf = policy.mlp_extractor.value_net[0](vf_features)  # type: ignore[index]
        probs = policy.get_distribution(obs_t).distribution.probs.numpy()  # type: ignore[attr-defined]
        values = policy.predict_values(obs_t).numpy()
    tanh = isinstance(policy.mlp_extractor.policy_net[1], torch.nn.Tanh)  # type: ignore[index]
    return {
        "head_activation": "Tanh" if tanh else type(policy.mlp_extractor.policy_net[1]).__name__,  # type: ignore[index]
        "features_abs_mean": float(features.abs().mean()),
        "pi_pre_abs_mean": float(pre_pi.abs().mean()),
        "vf_pre_abs_mean": float(pre_vf.abs().mean()),
        "pi_saturated": float((pre_pi.abs() > 3).float().mean()) if tanh else None,
        "vf_saturated": float((pre_vf.abs() > 3).float().mean()) if tanh else None,
        "pi_dead": None if tanh else float((pre_pi <= 0).all(dim=0).float().mean()),
        "vf_dead": None if tanh else float((pre_vf <= 0).all(dim=0).float().mean()),
        "action_prob_std_max": float(probs.std(axis=0).max()),
        "value_std": float(values.std()),
    }


def probe(run_dir: Path, games: int, seed: int) -> dict:
    """Saturation, and ``games`` sampled-action games with the run's agent: ``P('>')`` on and off the stairs."""
    task_id = yaml.safe_load((run_dir / "config.yaml").read_text())["task"]["id"]
    agent = PPO.load(str(run_dir / "agent.zip"), device="cpu")
    row = {"run": str(run_dir), "task": task_id, **saturation(agent, task_id, seed)}
    if games <= 0 or "staircase" not in task_id:
        return row
    venv = make_vec_env(get_task(task_id), 1, seed=seed)
    actions = venv.envs[0].unwrapped.actions  # type: ignore[attr-defined]
    down = next(i for i, a in enumerate(actions) if repr(a).startswith("<MiscDirection.DOWN"))
    agent.set_random_seed(seed)
    on, off = [], []
    arrivals = went_down = finished = 0
    was_on = False
    obs = venv.reset()
    while finished < games:
        with torch.no_grad():
            dist = agent.policy.get_distribution(agent.policy.obs_to_tensor(obs)[0])
        p_down = float(dist.distribution.probs[0, down])  # type: ignore[attr-defined]
        is_on = bool(obs["landmarks"][0, 1, STAIRS_DOWN])  # type: ignore[index]
        (on if is_on else off).append(p_down)
        arrivals += int(is_on and not was_on)
        was_on = is_on
        action, _ = agent.predict(obs, deterministic=False)
        obs, _, dones, infos = venv.step(action)
        if dones[0]:
            finished += 1
            went_down += int(infos[0]["episode_facts"]["nle_success"])
            was_on = False
    venv.close()
    return {
        **row,
        "games": games,
        "p_down_on_stairs": float(np.mean(on)) if on else None,
        "steps_on_stairs": len(on),
        "arrivals": arrivals,
        "p_down_elsewhere": float(np.mean(off)),
        "went_down": went_down,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="*", type=Path, help="run directories of NetHack runs (with agent.zip)")
    p.add_argument(
        "--untrained",
        default=None,
        metavar="TASK_ID",
        help="also measure new agents of this task: the tuned policy, and the one before decisions 0054/0055",
    )
    p.add_argument("--games", type=int, default=10, help="staircase games to play; 0 measures saturation only")
    p.add_argument("--seed", type=int, default=777)
    p.add_argument("--out", default=None, help="write the rows here (JSON)")
    args = p.parse_args()
    torch.set_num_threads(1)
    rows = []
    if args.untrained:
        task = get_task(args.untrained)
        before = {
            "features_extractor_kwargs": {"features_dim": 128, "layer_norm": False},
            "activation_fn": "torch.nn:Tanh",
        }
        for name, kwargs in (("tuned", {}), ("no layer norm, Tanh heads", before)):
            venv = make_vec_env(task, 8, seed=args.seed)  # the tuned 8 envs: a whole PPO batch per rollout
            agent = make_agent("PPO", venv, task, args.seed, policy_kwargs=kwargs)  # type: ignore[arg-type]
            row = {"run": f"untrained, {name}", "task": task.id}
            rows.append({**row, **saturation(agent, task.id, args.seed)})  # type: ignore[arg-type]
            print(json.dumps(rows[-1]), flush=True)
    for run_dir in args.runs:
        row = probe(run_dir, args.games, args.seed)
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"load average: {os.getloadavg()}")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
