"""What saving the agent inside an iteration costs (``agent.checkpoint_every_s``, decision 0049).

``PeriodicSave`` writes ``agent.zip`` (and an off-policy agent's replay buffer) at a rollout
start once ``agent.checkpoint_every_s`` seconds (default 600) have passed since the last save.
Training stops while it writes, so the cost is the save's wall time over the interval. This
builds the agents of three shipped configs with judgerl's own factories, trains each a few
rollouts, then times ``save_agent_atomic`` in the run directory layout (temporary files, fsync,
``.prev``, sidecar) and prints, per agent:

- the seconds one save takes (median of ``--repeats``) and the bytes it writes;
- the agent's training speed over the same window (steps/s);
- the share of training time the saves take at the default interval: ``save_s / (600 + save_s)``.

An SB3 replay buffer is allocated whole when the agent is built, so its save costs the same
full or empty; the buffer is not filled here.

Agents: the Motif NetHack PPO (``nethack/score-status-map-v2``), SAC on Pendulum (judgerl's
tuned defaults) and SAC on the VLM-RM humanoid with ``configs/humanoid_kneel_clip.yaml``'s
1M-step budget (a 1M-transition buffer of 348-float observations, about 2.8 GB).

Usage: python benchmarks/checkpoint_cost.py [--repeats 3] [--only NAME ...] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from judgerl.agents.checkpoint import CheckpointInfo, replay_path, save_agent_atomic
from judgerl.agents.sb3 import agent_from_config, rollout_size
from judgerl.config import load_config
from judgerl.envs.factory import make_vec_env
from judgerl.tasks import get_task

INTERVAL_S = 600.0  # agent.checkpoint_every_s's default

# name: (task id, algo, n_envs, agent.total_timesteps the buffer is sized for, steps trained before timing)
AGENTS: dict[str, tuple[str, str, int, int, int]] = {
    "nethack_ppo": ("nethack/score-status-map-v2", "PPO", 8, 2_000_000, 0),
    "pendulum_sac": ("pendulum/swingup-v0", "SAC", 1, 20_000, 400),
    "humanoid_sac_1m": ("humanoid/kneel-v0", "SAC", 4, 1_000_000, 400),
}


def measure(name: str, repeats: int) -> dict[str, Any]:
    """Train ``name``'s agent a little, then time its saves; returns the row of the table."""
    task_id, algo, n_envs, total, warm = AGENTS[name]
    task = get_task(task_id)
    cfg = load_config(None, [f"task.id={task_id}", f"agent.algo={algo}", f"agent.total_timesteps={total}"])
    venv = make_vec_env(task, n_envs, seed=0)
    agent = agent_from_config(cfg.agent, algo, venv, task, seed=0)
    steps = max(warm, 2 * rollout_size(agent))
    t0 = time.perf_counter()
    agent.learn(steps)
    steps_per_s = agent.num_timesteps / (time.perf_counter() - t0)
    seconds, size = [], 0
    with tempfile.TemporaryDirectory(dir=os.environ.get("JUDGERL_BENCH_TMP")) as tmp:
        path = Path(tmp) / "agent.zip"
        for i in range(repeats + 1):  # the first save also creates the files .prev links to; not timed
            t0 = time.perf_counter()
            save_agent_atomic(agent, path, CheckpointInfo(iteration=0, stage="training"))
            if i > 0:
                seconds.append(time.perf_counter() - t0)
        size = sum(p.stat().st_size for p in (path, replay_path(path)) if p.exists())
    venv.close()
    save_s = statistics.median(seconds)
    return {
        "agent": name,
        "task": task_id,
        "algo": algo,
        "n_envs": n_envs,
        "save_s": save_s,
        "save_s_each": seconds,
        "bytes": size,
        "train_steps_per_s": steps_per_s,
        "share_of_training_at_600s": save_s / (INTERVAL_S + save_s),
    }


def main() -> None:
    """Measure every agent (or ``--only`` some) and print the table (JSON with ``--out``)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="Timed saves per agent (the median is reported).")
    ap.add_argument("--only", nargs="*", choices=sorted(AGENTS), help="Measure only these agents.")
    ap.add_argument("--out", type=Path, help="Also write the rows as JSON here.")
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()}  cores: {os.cpu_count()}", flush=True)
    rows = [measure(name, args.repeats) for name in (args.only or AGENTS)]
    load = os.getloadavg()
    print(f"{'agent':18s} {'save s':>8s} {'MB':>8s} {'train steps/s':>14s} {'share at 600 s':>15s}")
    for r in rows:
        print(
            f"{r['agent']:18s} {r['save_s']:8.2f} {r['bytes'] / 1e6:8.1f} {r['train_steps_per_s']:14.0f} "
            f"{100 * r['share_of_training_at_600s']:14.2f}%"
        )
    print(f"load average after: {load}")
    if args.out:
        args.out.write_text(json.dumps({"load_average_after": load, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
