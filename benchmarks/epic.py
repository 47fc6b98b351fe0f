"""EPIC from the true Pendulum reward to learned, zero-shot and random rewards (issue 15, "what must be shown" 1).

Rows (each written to --out as soon as measured; --resume skips rows already there):

* ``oracle``: the reward model of a ``configs/pendulum_oracle.yaml`` run (oracle labels from the true reward),
  with the agent's steps shortened (``--agent-steps``): only the reward model is used.
* ``zero_shot``: the packaged MiniLM's caption score (VLM-RM projection) at alpha 0, 0.5 and 1; nothing trained.
* ``gguf``: the reward model of a run whose labels come from the packaged SmolLM2-135M GGUF judge (pointwise
  yes/no on the captions, ``configs/cartpole_gguf.yaml``'s judge on the pendulum; ``--gguf-labels`` labels).
* ``minilm``: the reward model of a run labelled by the MiniLM judge (the demo's setup, ``--minilm-labels``).
* ``random``: a randomly initialised reward ensemble (``preference_ensemble``, not fitted).

Every row is measured on the same distributions (seeded by the row's seed): states uniform over the Pendulum
range (angle in [-pi, pi], angular velocity in [-8, 8]), torques uniform in [-2, 2], 4096 coverage transitions,
512 samples per expectation, gamma 0.99 (``judgerl.evaluation.reward_compare``). Trained rows also give
``distance_run``: ``judgerl evaluate --against true``'s default D_S (half the run's stored states).

Usage:
  python benchmarks/epic.py --runs-dir /tmp/epic-runs            # everything, 3 seeds (gguf/minilm: 1)
  python benchmarks/epic.py --only zero_shot random --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from judgerl.config import load_config
from judgerl.envs.factory import act_dim, make_env, obs_dim
from judgerl.evaluation.epic import RewardFn, epic, sample_transitions
from judgerl.evaluation.reward_compare import (
    action_sampler,
    compare_run,
    load_run_reward,
    model_reward,
    probe_reads,
    run_reward_fn,
    true_reward_fn,
)
from judgerl.evaluation.true_reward import get_true_reward
from judgerl.tasks import get_task

TASK = "pendulum/swingup-v0"
KINDS = ("oracle", "zero_shot", "gguf", "minilm", "random")


def measure(reward: RewardFn, seed: int) -> dict[str, float]:
    """EPIC and correlations of ``reward`` against the true Pendulum reward on the range-only distributions."""
    truth = get_true_reward(TASK)
    env = make_env(get_task(TASK))
    acts = action_sampler(env.action_space)
    env.close()
    rng = np.random.default_rng(seed)
    samples = sample_transitions(truth.sample_states, acts, rng, 4096, 512, 0.99)
    res = epic(probe_reads(reward, samples.obs, acts, rng), true_reward_fn(truth), samples)
    return {"distance": res.distance, "canonical_pearson": res.canonical_pearson, "pearson": res.pearson,
            "spearman": res.spearman}  # fmt: skip


def trained(kind: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """Run a labelled Pendulum run and measure its final reward model."""
    from judgerl.loop import run

    common = [
        f"seed={seed}",
        f"runs_dir={args.runs_dir}",
        f"agent.total_timesteps={args.agent_steps}",
        "eval.fresh_agent=false",
        "eval.true_reward_baseline=false",
        "eval.per_iteration=false",
        "eval.episodes=5",
    ]
    if kind == "oracle":
        cfg = load_config("configs/pendulum_oracle.yaml", [*common, f"name=epic-oracle-s{seed}"])
    elif kind == "gguf":
        sets = ["judge.type=gguf", "judge.calibration=median", "query.kind=pointwise", "judge.gguf.n_ctx=2048"]
        cfg = load_config("configs/pendulum_oracle.yaml", [*common, *sets, f"labels.total={args.gguf_labels}",
                                                           f"name=epic-gguf-s{seed}"])  # fmt: skip
    else:  # minilm: the demo's judge
        cfg = load_config(
            "judgerl/configs/demo.yaml", [*common, f"labels.total={args.minilm_labels}", f"name=epic-minilm-s{seed}"]
        )
    t0 = time.perf_counter()
    run_dir = run(cfg)
    wall = time.perf_counter() - t0
    loaded = load_run_reward(run_dir)
    row: dict[str, Any] = measure(run_reward_fn(loaded, get_true_reward(TASK), kind), seed)
    row["distance_run"] = compare_run(run_dir, "true", seed=seed)["epic/true/distance"]
    ev = json.loads((run_dir / "eval.json").read_text())
    row.update(labels=ev.get("labels/used_for_reward"), wall_s=wall, run_dir=str(run_dir))
    return row


def zero_shot(alpha: float, seed: int) -> dict[str, Any]:
    """The MiniLM caption score at ``alpha``, as an EPIC reward."""
    from judgerl.judges.zero_shot import EmbeddingJudge
    from judgerl.reward.zero_shot_captions import ZeroShotReward

    zs = load_config(None, [f"judge.zero_shot.alpha={alpha}"]).judge.zero_shot
    task = get_task(TASK)
    env = make_env(task)
    reward = model_reward(
        ZeroShotReward(EmbeddingJudge(zs, task)), obs_dim(env.observation_space), act_dim(env.action_space),
        False, get_true_reward(TASK), f"zero-shot a={alpha:g}",
    )  # fmt: skip
    env.close()
    return measure(reward, seed)


def random_net(seed: int) -> dict[str, Any]:
    """An unfitted reward ensemble initialised from ``seed``."""
    from judgerl.reward.registry import RewardSpec, get_reward_entry

    task = get_task(TASK)
    env = make_env(task)
    cfg = load_config(None, [f"seed={seed}"])
    model = get_reward_entry("preference_ensemble").build(
        RewardSpec(task, env.observation_space, env.action_space, cfg, seed)
    )
    reward = model_reward(model, obs_dim(env.observation_space), act_dim(env.action_space), False, None, "random net")
    env.close()
    return measure(reward, seed)


def markdown(rows: list[dict[str, Any]]) -> str:
    """Summary (mean ± std over seeds) and every row."""
    lines = [
        "# EPIC distance from the true Pendulum reward",
        "",
        "D_S: states uniform over angle [-pi, pi] x angular velocity [-8, 8]; D_A: torque uniform in [-2, 2]; "
        "4096 coverage transitions, 512 samples per expectation, gamma 0.99. 0 = equivalent up to shaping and "
        "scale, 0.707 = unrelated, 1 = opposite. `distance_run`: the run's own D_S (half its stored states).",
        "",
        "| reward | seeds | EPIC distance | canonical ρ | Pearson | Spearman | distance_run |",
        "|---|---|---|---|---|---|---|",
    ]
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(r["reward"], []).append(r)

    def ms(vals: list[float]) -> str:
        return f"{np.mean(vals):.3f} ± {np.std(vals):.3f}" if vals else "–"

    for name, rs in groups.items():
        cells = [ms([r[k] for r in rs if r.get(k) is not None]) for k in
                 ("distance", "canonical_pearson", "pearson", "spearman", "distance_run")]  # fmt: skip
        lines.append(f"| {name} | {len(rs)} | " + " | ".join(cells) + " |")
    lines += ["", "| reward | seed | EPIC distance | Pearson | Spearman | labels | wall s |", "|---" * 7 + "|"]
    for r in rows:
        lab = "–" if r.get("labels") is None else f"{r['labels']:.0f}"
        wall = "–" if r.get("wall_s") is None else f"{r['wall_s']:.0f}"
        lines.append(
            f"| {r['reward']} | {r['seed']} | {r['distance']:.3f} | {r['pearson']:.3f} | {r['spearman']:.3f} "
            f"| {lab} | {wall} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", default=list(KINDS), choices=KINDS)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--trained-seeds", nargs="+", type=int, default=[0], help="seeds of the gguf and minilm runs")
    p.add_argument("--agent-steps", type=int, default=4000)
    p.add_argument("--gguf-labels", type=int, default=160)
    p.add_argument("--minilm-labels", type=int, default=200)
    p.add_argument("--runs-dir", default="runs/epic-bench")
    p.add_argument("--out", default="benchmarks/results/epic/pendulum.json")
    p.add_argument("--resume", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    rows: list[dict[str, Any]] = json.loads(out.read_text()) if args.resume and out.exists() else []
    print(f"load average: {os.getloadavg()}  cores: {os.cpu_count()}", flush=True)
    plan: list[tuple[str, int, Any]] = []
    for kind in args.only:
        if kind == "zero_shot":
            plan += [(f"zero_shot a={a:g}", s, (lambda a=a, s=s: zero_shot(a, s))) for a in (0.0, 0.5, 1.0)
                     for s in args.seeds]  # fmt: skip
        elif kind == "random":
            plan += [("random net", s, (lambda s=s: random_net(s))) for s in args.seeds]
        else:
            seeds = args.seeds if kind == "oracle" else args.trained_seeds
            plan += [(f"{kind}-trained", s, (lambda k=kind, s=s: trained(k, s, args))) for s in seeds]
    for name, seed, job in plan:
        if any(r["reward"] == name and r["seed"] == seed for r in rows):
            continue
        row = {"reward": name, "seed": seed, **job()}
        rows.append(row)
        print(json.dumps(row), flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(rows, indent=2))
        out.with_suffix(".md").write_text(markdown(rows))
    print(markdown(rows))
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
