"""``judgerl sweep-alpha``: the zero-shot reward's goal–baseline strength α, measured (VLM-RM, seed 004).

For each α of the grid and each seed:

* **the reward**: the embedding judge's caption score with that α, as the agent
  is trained on it (``reward_compare.model_reward``: minus the absorbing-row
  score, 0 from terminal states), against the task's true reward on states
  uniform over the task's range (``true_reward``) and uniform actions: EPIC
  distance, canonical Pearson, and plain Pearson/Spearman correlations on the
  coverage transitions (``epic``). The reward is deterministic; the seed draws
  the samples, so the spread over seeds is the estimate's sampling noise.
* **the agent**: a whole ``judgerl run`` with ``reward.model: zero_shot`` (no
  labels, no fresh agent, no baselines) under ``<out>/runs/``; its final
  evaluation on the true reward gives the return and the success rate.

``<out>/sweep.json`` is rewritten after every run (rows per α and seed, then the
summary), so an interrupted sweep keeps what it measured; running the same
command again skips the rows it holds (each run also resumes from its own run
directory). ``<out>/sweep.md`` is the table (mean ± std over seeds, then every
seed); ``<out>/landscape.json`` and ``landscape.png`` the reward landscape
(``landscape``) for the α grid.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from judgerl.config import RunConfig, load_config
from judgerl.configbase import ConfigError

FORCED = ["reward.model=zero_shot", "judge.type=embedding", "eval.fresh_agent=false", "eval.true_reward_baseline=false"]
REWARD_KEYS = ("epic_distance", "canonical_pearson", "pearson", "spearman")
AGENT_KEYS = ("return_mean", "success_rate")


@dataclass(frozen=True)
class SweepPlan:
    """What to sweep and where to write it."""

    config: str | None
    overrides: tuple[str, ...]
    alphas: tuple[float, ...]
    seeds: tuple[int, ...]
    out: Path
    train: bool = True
    n_coverage: int = 4096
    n_mean: int = 512
    gamma: float = 0.99
    runs_dir: Path | None = None  # default: <out>/runs


def _cfg(plan: SweepPlan, alpha: float, seed: int) -> RunConfig:
    base = load_config(plan.config, list(plan.overrides))
    name = f"{base.name}-a{alpha:g}-s{seed}"
    sets = [*plan.overrides, *FORCED, f"judge.zero_shot.alpha={alpha}", f"seed={seed}"]
    runs = plan.runs_dir if plan.runs_dir is not None else plan.out / "runs"
    return load_config(plan.config, [*sets, f"name={name}", f"runs_dir={runs}"])


class _Scorers:
    """One embedding judge per α, sharing one loaded encoder."""

    def __init__(self, cfg: RunConfig) -> None:
        from judgerl.tasks import get_task

        self.cfg, self.task = cfg, get_task(cfg.task.id)
        self._encoder: Any = None
        self._judges: dict[float, Any] = {}

    def judge(self, alpha: float) -> Any:
        from judgerl.judges.zero_shot import EmbeddingJudge

        if alpha not in self._judges:
            zs = self.cfg.judge.zero_shot.model_copy(update={"alpha": alpha})
            j = EmbeddingJudge(zs, self.task, encoder=self._encoder)
            self._encoder = j.encoder
            self._judges[alpha] = j
        return self._judges[alpha]


def reward_metrics(cfg: RunConfig, judge: Any, seed: int, plan: SweepPlan) -> dict[str, float]:
    """EPIC and correlations of one α's zero-shot reward against the true reward (states from the task's range)."""
    from judgerl.envs.factory import act_dim, make_env, obs_dim
    from judgerl.evaluation.epic import epic, sample_transitions
    from judgerl.evaluation.reward_compare import action_sampler, model_reward, probe_reads, true_reward_fn
    from judgerl.evaluation.true_reward import get_true_reward
    from judgerl.reward.zero_shot_captions import ZeroShotReward

    task = judge.task
    truth = get_true_reward(task.id)
    env = make_env(task)
    o_dim, a_dim, acts = obs_dim(env.observation_space), act_dim(env.action_space), action_sampler(env.action_space)
    env.close()
    absorbing = task.absorbing if cfg.env.absorbing_offset is None else cfg.env.absorbing_offset
    mine = model_reward(ZeroShotReward(judge), o_dim, a_dim, bool(absorbing), truth, "zero-shot")
    rng = np.random.default_rng(seed)
    samples = sample_transitions(truth.sample_states, acts, rng, plan.n_coverage, plan.n_mean, plan.gamma)
    res = epic(probe_reads(mine, samples.obs, acts, rng), true_reward_fn(truth), samples)
    return {
        "epic_distance": res.distance,
        "canonical_pearson": res.canonical_pearson,
        "pearson": res.pearson,
        "spearman": res.spearman,
    }


def _agent_metrics(cfg: RunConfig) -> dict[str, Any]:
    from judgerl.loop import run

    t0 = time.perf_counter()
    run_dir = run(cfg)
    ev = json.loads((run_dir / "eval.json").read_text())
    return {
        "return_mean": ev["eval/return_mean"],
        "return_std": ev["eval/return_std"],
        "success_rate": ev["eval/success_rate"],
        "random_return": ev.get("eval/random/return_mean"),
        "env_steps": ev.get("budget/env_steps_train"),
        "train_s": ev.get("time/train_s"),
        "wall_s": time.perf_counter() - t0,
        "run_dir": str(run_dir),
    }


def summarise(rows: list[dict[str, Any]], alphas: tuple[float, ...]) -> list[dict[str, Any]]:
    """Per α: mean and std (population, over seeds) of every measured key, and the seed count."""
    out = []
    for a in alphas:
        mine = [r for r in rows if r["alpha"] == a]
        if not mine:
            continue
        s: dict[str, Any] = {"alpha": a, "seeds": len(mine)}
        for k in (*REWARD_KEYS, *AGENT_KEYS):
            vals = [float(r[k]) for r in mine if r.get(k) is not None]
            if vals:
                s[f"{k}_mean"], s[f"{k}_std"] = float(np.mean(vals)), float(np.std(vals))
        out.append(s)
    return out


def markdown(task_id: str, rows: list[dict[str, Any]], summary: list[dict[str, Any]], note: str = "") -> str:
    """The sweep as Markdown: summary (mean ± std over seeds), then every seed."""
    keys = [k for k in (*REWARD_KEYS, *AGENT_KEYS) if any(f"{k}_mean" in s for s in summary)]
    lines = [f"# Zero-shot α sweep: {task_id}", ""]
    if note:
        lines += [note, ""]
    lines += ["| α | seeds | " + " | ".join(keys) + " |", "|---" * (len(keys) + 2) + "|"]
    for s in summary:
        cells = [f"{s[f'{k}_mean']:.3f} ± {s[f'{k}_std']:.3f}" if f"{k}_mean" in s else "–" for k in keys]
        lines.append(f"| {s['alpha']:g} | {s['seeds']} | " + " | ".join(cells) + " |")
    lines += ["", "Every seed:", "", "| α | seed | " + " | ".join(keys) + " |", "|---" * (len(keys) + 2) + "|"]
    for r in sorted(rows, key=lambda r: (r["alpha"], r["seed"])):
        cells = [f"{r[k]:.3f}" if r.get(k) is not None else "–" for k in keys]
        lines.append(f"| {r['alpha']:g} | {r['seed']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _write(plan: SweepPlan, task_id: str, rows: list[dict[str, Any]]) -> None:
    from judgerl.checkpoints import atomic_write_text

    summary = summarise(rows, plan.alphas)
    doc: dict[str, Any] = {
        "task": task_id,
        "alphas": list(plan.alphas),
        "seeds": list(plan.seeds),
        "overrides": list(plan.overrides),
        "sampling": {"n_coverage": plan.n_coverage, "n_mean": plan.n_mean, "gamma": plan.gamma},
        "rows": rows,
        "summary": summary,
    }
    plan.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(plan.out / "sweep.json", json.dumps(doc, indent=2, allow_nan=False))
    atomic_write_text(plan.out / "sweep.md", markdown(task_id, rows, summary))


def sweep_alpha(plan: SweepPlan) -> Path:
    """Run the sweep (resuming from ``<out>/sweep.json``); returns the output folder.

    Raises:
        ConfigError: The task has no true reward, or an α outside ``[0, 1]``.
    """
    from judgerl.evaluation.alpha_landscape import has_landscape, landscape_data, plot_landscape
    from judgerl.evaluation.true_reward import get_true_reward

    if any(not 0.0 <= a <= 1.0 for a in plan.alphas):
        raise ConfigError(f"alphas must lie in [0, 1], got {list(plan.alphas)}")
    first = _cfg(plan, plan.alphas[0], plan.seeds[0])
    task_id = first.task.id
    get_true_reward(task_id)  # fail before any training when there is nothing to compare with
    path = plan.out / "sweep.json"
    rows: list[dict[str, Any]] = json.loads(path.read_text())["rows"] if path.is_file() else []
    scorers = _Scorers(first)
    for alpha in plan.alphas:
        for seed in plan.seeds:
            if any(r["alpha"] == alpha and r["seed"] == seed for r in rows):
                continue
            cfg = _cfg(plan, alpha, seed)
            row: dict[str, Any] = {"alpha": alpha, "seed": seed}
            row.update(reward_metrics(cfg, scorers.judge(alpha), seed, plan))
            if plan.train:
                row.update(_agent_metrics(cfg))
            rows.append(row)
            print(json.dumps(row), flush=True)
            _write(plan, task_id, rows)
    _write(plan, task_id, rows)
    if has_landscape(task_id):
        absorbing = scorers.task.absorbing if first.env.absorbing_offset is None else first.env.absorbing_offset
        end = scorers.task.end_caption  # what the zero-shot reward scores the absorbing row as
        offsets = {f"alpha={a:g}": float(scorers.judge(a).score_captions([end])[0]) for a in plan.alphas}
        data = landscape_data(
            task_id,
            {f"alpha={a:g}": scorers.judge(a).score_captions for a in plan.alphas},
            offsets=offsets if absorbing else None,
        )
        (plan.out / "landscape.json").write_text(json.dumps(data, indent=1, allow_nan=False))
        plot_landscape(data, plan.out / "landscape.png", f"{task_id}: zero-shot caption reward (MiniLM) vs true reward")
    return plan.out
