"""What a background reward fit costs the agent: PPO's steps/s while fits run in a thread, in a process, or none.

Online mode refits the reward model while the agent trains (decision 0027). A fit in a
thread of the training process holds the interpreter lock for much of its small torch
calls; ``labels.online_fit_process: process`` moves it to a child (decision 0038). Whole
online runs (``benchmarks/online.py``) train for a few seconds with a few fits, and this
machine's own speed drifts by 10-20 % between such runs, more than the effect; so this
measures the effect alone, in short interleaved windows:

- ``none``: PPO (CartPole, 4 envs, judgerl's tuned hyperparameters, one torch thread) learns
  ``--steps`` env steps, nothing else running;
- ``thread``: the same while a :class:`~judgerl.reward.online_fit.BackgroundFitter` refits
  the reward ensemble on ``--labels`` oracle-labelled pairs back to back (the worst case:
  a run fits only every ``labels.online_refit_every`` labels);
- ``process``: the same with :class:`~judgerl.reward.fit_process.ProcessFitter`.

Each repeat runs the three modes in turn; the table gives the agent's steps/s per repeat,
the median, each mode's median ratio of per-repeat steps/s to that repeat's ``none``, and
the fits finished during the window. The load average is recorded.

Usage: python benchmarks/fit_overhead.py [--steps 16384] [--labels 160] [--repeats 5] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.env_util import make_vec_env

from judgerl.agents.sb3 import make_agent
from judgerl.config import load_config
from judgerl.forms import TargetPlan
from judgerl.forms.registry import get_form
from judgerl.judges.oracle import OracleJudge
from judgerl.labels.store import LabelStore
from judgerl.reward.fit_process import ProcessFitter
from judgerl.reward.online_fit import BackgroundFitter
from judgerl.reward.registry import RewardSpec, get_reward_entry
from judgerl.tasks import get_task
from judgerl.types import Query, Segment

TASK = get_task("cartpole/balance-v0")
RUN = "bench"


def _segment(rng: np.random.Generator, t: int = 50) -> Segment:
    obs = rng.normal(scale=0.5, size=(t, 4)).astype(np.float32)
    return Segment(
        obs=obs,
        acts=rng.integers(0, 2, size=(t, 1)).astype(np.float32),
        env_rewards=(1.0 - np.abs(obs[:, 2])).astype(np.float32),  # a stand-in true reward: pole upright
        dones=np.zeros(t, np.float32),
    )


def labelled_store(path: Path, n: int) -> tuple[LabelStore, str]:
    """A store with ``n`` oracle-labelled pairs of 50-step CartPole-shaped segments."""
    rng = np.random.default_rng(0)
    store = LabelStore(path, fsync=False)
    judge = OracleJudge()
    queries = [Query("pairwise", (_segment(rng), _segment(rng))) for _ in range(n)]
    store.add_queries(queries, iteration=0, run_id=RUN)
    for label in judge.judge(TASK, queries):
        store.put_label(judge.id, label, run_id=RUN)
    return store, judge.id


def make_fitter(kind: str, store: LabelStore, judge_id: str) -> BackgroundFitter:
    """A fitter of the run's default reward ensemble over the store's labels."""
    env = gym.make("CartPole-v1")
    spec = RewardSpec(TASK, env.observation_space, env.action_space, load_config(None, []), seed=0)
    model = get_reward_entry("preference_ensemble").build(spec)
    args = (model, store, judge_id, RUN, get_form("pairwise"), TargetPlan())
    kw: dict[str, Any] = dict(count=lambda: 1, refit_every=1, path=None, seed=0, iteration=lambda: 0)
    return ProcessFitter(*args, threads=1, **kw) if kind == "process" else BackgroundFitter(*args, **kw)


def window(kind: str, steps: int, store: LabelStore, judge_id: str) -> dict[str, float]:
    """PPO learns ``steps`` steps while ``kind`` fits run back to back; returns steps/s and fits done."""
    fitter = None if kind == "none" else make_fitter(kind, store, judge_id)
    stop = threading.Event()

    def fit_loop() -> None:
        while not stop.is_set():
            assert fitter is not None
            fitter.fit_now()

    venv = make_vec_env("CartPole-v1", n_envs=4, seed=0)
    agent = make_agent("PPO", venv, TASK, seed=0, total_timesteps=steps)  # judgerl's tuned CartPole PPO
    worker = threading.Thread(target=fit_loop, daemon=True) if fitter is not None else None
    if worker is not None:
        assert fitter is not None
        fitter.fit_now()  # the first fit (and a process's start) before the clock starts
        worker.start()
    fits_before = fitter.fits if fitter is not None else 0
    t0 = time.perf_counter()
    agent.learn(total_timesteps=steps)
    elapsed = time.perf_counter() - t0
    fits = (fitter.fits if fitter is not None else 0) - fits_before
    stop.set()
    if worker is not None:
        worker.join()
    if fitter is not None:
        fitter.close()
    return {"steps_per_s": agent.num_timesteps / elapsed, "seconds": elapsed, "fits": float(fits)}


def main() -> None:
    """Run the windows interleaved and print the table (JSON with ``--out``)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=16384)
    ap.add_argument("--labels", type=int, default=160)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    modes = ("none", "thread", "process")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        store, judge_id = labelled_store(Path(tmp) / "labels.sqlite", args.labels)
        for rep in range(args.repeats):
            for mode in modes:
                row = {"mode": mode, "repeat": rep, **window(mode, args.steps, store, judge_id)}
                row["loadavg_1m"] = os.getloadavg()[0]
                rows.append(row)
                print(json.dumps(row), flush=True)
        store.close()
    print("\nmode | steps/s (median; every repeat) | ratio to none (median of per-repeat ratios) | fits | load")
    for mode in modes:
        sel = [r for r in rows if r["mode"] == mode]
        base = {r["repeat"]: r["steps_per_s"] for r in rows if r["mode"] == "none"}
        ratios = [r["steps_per_s"] / base[r["repeat"]] for r in sel]
        every = ", ".join(f"{r['steps_per_s']:.0f}" for r in sel)
        med = statistics.median(r["steps_per_s"] for r in sel)
        fits = ", ".join(f"{r['fits']:.0f}" for r in sel)
        load = ", ".join(f"{r['loadavg_1m']:.1f}" for r in sel)
        print(
            f"{mode} | {med:.0f} ({every}) | {statistics.median(ratios):.3f} "
            f"({', '.join(f'{x:.2f}' for x in ratios)}) | {fits} | {load}"
        )
    if args.out is not None:
        args.out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
