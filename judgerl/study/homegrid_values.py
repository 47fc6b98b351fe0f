"""``judgerl study homegrid-values``: seed 003's experiment as a recipe of two runs of the main loop.

1. ``naive`` -- a loop run on the task reward alone (``reward.model: none``,
   ``reward.mix.env_weight: 1``): PPO with the grid CNN learns to fetch the
   fruit, crushing the cat when it is in the way.
2. ``feedback`` -- one loop iteration that starts from the naive agent
   (``agent.init``): it collects ``sample.episodes`` episodes with it, asks the
   judge for episode verdicts (``query.kind: episode``) through the label store
   and its cache, fits the episode classifier (``reward.model:
   episode_classifier``) and fine-tunes the agent on ``r_env + w·classifier
   term`` (``reward.mix``: ``a = 1, b = w``); held-out verdicts give the
   classifier's accuracy.
3. The table (both policies on ground truth, the judge against ground truth,
   calls and projected cost), GIFs of both policies, ``study.json`` and
   ``report.html`` in the study directory.

Each run resumes on its own (state.json, label store, checkpoints), so running
the study again after an interruption pays for nothing twice; the table is
rebuilt from the runs' outputs every time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from judgerl.config import RunConfig, dump_config
from judgerl.forms.episode import to_verdicts
from judgerl.judges.factory import value_scale
from judgerl.labels.store import LabelStore
from judgerl.study.config import StudyConfig, dump_study_config

TASK_ID = "homegrid/cat-values-v0"


class StudyStopped(RuntimeError):
    """The study cannot go on (a judge failing its preflight); the message names the fix."""


def naive_run(cfg: StudyConfig) -> RunConfig:
    """The naive policy's run: PPO on the task reward only."""
    policy_kwargs: dict[str, Any] = {}
    if not cfg.naive.cnn:
        policy_kwargs = {
            "features_extractor_class": "stable_baselines3.common.torch_layers:FlattenExtractor",
            "features_extractor_kwargs": {},
            "net_arch": [256, 256],
        }
    return RunConfig.model_validate(
        {
            "name": "naive",
            "runs_dir": str(cfg.run_dir),
            "seed": cfg.seed,
            "threads": cfg.threads,
            "iterations": 1,
            "task": {"id": TASK_ID},
            "env": {"n_envs": cfg.naive.n_envs},
            "reward": {"model": "none", "mix": {"env_weight": 1.0, "learned_weight": 0.0, "normalize": "none"}},
            "agent": {"algo": "PPO", "total_timesteps": cfg.naive.timesteps, "policy_kwargs": policy_kwargs},
            "eval": _eval(cfg),
        }
    )


def feedback_run(cfg: StudyConfig) -> RunConfig:
    """The feedback run: verdicts on the naive policy's episodes, the classifier, the fine-tuned agent."""
    total, test = cfg.label_counts()
    c = cfg.classifier
    return RunConfig.model_validate(
        {
            "name": "feedback",
            "runs_dir": str(cfg.run_dir),
            "seed": cfg.seed,
            "threads": cfg.threads,
            "iterations": 1,
            "collect_episodes": cfg.sample.episodes,
            "task": {"id": TASK_ID, "render": cfg.sample.frames, "frame_size": cfg.sample.frame_size},
            "env": {"n_envs": cfg.feedback.n_envs},
            "query": {"kind": "episode"},
            "judge": cfg.judge.model_dump(),
            # Free oracle labels by the thousand need no fsync per label; paid ones get it.
            "labels": {"total": total, "initial_fraction": 1.0, "fsync": cfg.judge.type != "oracle"},
            "reward": {
                "model": "episode_classifier",
                "ensemble_size": c.members,
                "epochs": c.epochs,
                "batch_size": c.batch_size,
                "lr": c.lr,
                "weight_decay": c.weight_decay,
                "patience": c.patience,
                "val_fraction": test / total if total else 0.0,
                "classifier": {
                    "hidden": c.hidden,
                    "channels": c.channels,
                    "mode": cfg.feedback.mode,
                    "early_stop_fraction": c.val_fraction,
                },
                "mix": {"env_weight": 1.0, "learned_weight": cfg.feedback.weight, "normalize": "none"},
            },
            "agent": {
                "algo": "PPO",
                "total_timesteps": cfg.feedback.timesteps,
                "init": str(cfg.run_dir / "naive" / "agent.zip"),
                "hyperparams": {"ent_coef": cfg.feedback.ent_coef},
            },
            "eval": _eval(cfg),
        }
    )


def _eval(cfg: StudyConfig) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "episodes": cfg.eval.episodes,
        "deterministic": cfg.eval.deterministic,
        "per_iteration": False,
        "fresh_agent": False,
    }
    if not cfg.eval.gif_episodes:  # "no GIFs" holds for the loop runs' reports too
        ev["gif_frames"] = 0
    return ev


def run_study(cfg: StudyConfig) -> Path:
    """Run (or resume) the whole study; returns the study directory.

    Raises:
        StudyStopped: The judge failed its preflight (and ``labels.force`` is off).
    """
    from judgerl.config import validate_references
    from judgerl.loop import run

    study_dir = cfg.run_dir
    study_dir.mkdir(parents=True, exist_ok=True)
    (study_dir / "config.yaml").write_text(dump_study_config(cfg))
    naive, feedback = naive_run(cfg), feedback_run(cfg)
    validate_references(naive)
    run(naive)
    validate_references(feedback)
    _preflight(cfg, feedback)
    run(feedback)
    _report(cfg, naive, feedback)
    return study_dir


def _preflight(cfg: StudyConfig, feedback: RunConfig) -> None:
    """Try a model judge on probe episodes of the naive policy before buying verdicts (as `judgerl run` does)."""
    if cfg.labels.preflight == 0 or cfg.judge.type in ("oracle", "scripted"):
        return
    if (feedback.run_dir / "state.json").exists() and json.loads((feedback.run_dir / "state.json").read_text()).get(
        "stage"
    ) not in (None, "start"):
        return  # labelling started in an earlier invocation: the preflight passed (or was forced) then
    from judgerl.judges.preflight import run_preflight
    from judgerl.loop_parts import ensure_run_id

    report = run_preflight(feedback, n_probes=cfg.labels.preflight, run_id=ensure_run_id(feedback.run_dir))
    print(report.as_table())
    if report.overall == "fail" and not cfg.labels.force:
        raise StudyStopped(
            f"the {cfg.judge.type} judge failed its preflight on {report.n_probes} episodes of the naive policy "
            f"(agreement {report.agreement}, AUC {report.auc}; 0.5 = chance, < 0.5 = inverted): it would train "
            "the agent on noise or on the opposite of its verdicts. Use another judge (oracle, openai, gguf with "
            "a larger model) or set labels.force=true to go on anyway."
        )


def _records(run_dir: Path) -> list[dict[str, Any]]:
    from judgerl.evaluation.logger import read_metrics

    return read_metrics(run_dir)


def judge_numbers(cfg: StudyConfig, feedback: RunConfig) -> dict[str, Any]:
    """The judge against ground truth, and the classifier, from the feedback run's store and metrics."""
    from judgerl.loop_parts import ensure_run_id
    from judgerl.reward.episode_classifier import binary_auc

    run_id = ensure_run_id(feedback.run_dir)
    with LabelStore(feedback.store_path, fsync=False) as store:
        rows = store.labelled(None, statuses=("ok", "abstain", "failed"), min_iteration=0, run_id=run_id)
        stats = store.stats(None, run_id=run_id)
    values = np.array([lab.value if lab.status == "ok" and lab.value is not None else np.nan for _, lab in rows])
    verdict = to_verdicts(values, value_scale(cfg.judge, "episode"))
    harmed = np.array([q.segments[0].truth.get("cat_harmed", np.nan) > 0.5 for q, _ in rows], bool)
    lengths = np.array([q.segments[0].length - 1 for q, _ in rows], np.float64)
    ok = np.isfinite(verdict)
    n_ok = max(int(ok.sum()), 1)
    truth = (~harmed).astype(np.float64)
    out: dict[str, Any] = {
        "study/judge_type": cfg.judge.type,
        "study/judge_calls": float(len(rows)),
        "study/test_episodes": float("nan"),  # the held-out share (a hash split); the fit says how many
        "study/verdicts_ok": float(ok.sum()),
        "study/verdicts_unusable": float((~ok).sum()),
        "study/judge_agreement": float((verdict[ok] == truth[ok]).mean()) if ok.any() else float("nan"),
        "study/judge_auc": binary_auc(values[ok], truth[ok]) if ok.sum() > 1 else float("nan"),
        "study/judge_false_aligned_per_10k": float(((verdict == 1.0) & harmed).sum() / n_ok * 1e4),
        "study/judge_false_not_aligned_per_10k": float(((verdict == 0.0) & ~harmed).sum() / n_ok * 1e4),
        "study/judge_yes_rate": float(verdict[ok].mean()) if ok.any() else float("nan"),
        "study/judged_harmed_rate": float(harmed.mean()) if len(harmed) else float("nan"),
        "study/judged_length_mean": float(lengths.mean()) if len(lengths) else 0.0,
        "judge/cost_usd": float(stats.get("judge/cost_usd", 0.0)),
    }
    records = _records(feedback.run_dir)
    fits = [r for r in records if r.get("stage") == "reward"]
    if fits:
        fit = fits[-1]
        out["study/classifier_test_acc_verdicts"] = fit.get("reward/val_accuracy", float("nan"))
        out["study/classifier_test_acc_truth"] = fit.get("reward/val_accuracy_truth", float("nan"))
        out["study/classifier_train_episodes"] = fit.get("reward/n_train", float("nan"))
        out["study/test_episodes"] = fit.get("reward/n_val", float("nan"))
    judged = [r for r in records if r.get("stage") == "judge"]
    out["study/judge_calls_this_run"] = float(judged[-1].get("judge/calls", 0.0)) if judged else 0.0
    return out


def _policy_numbers(run_dir: Path) -> dict[str, float]:
    """The run's final ground-truth evaluation, named as the study's table names it."""
    ev = json.loads((run_dir / "eval.json").read_text())
    names = {
        "eval/cat_harmed": "eval/cat_harmed_rate",
        "eval/fruit_reached": "eval/fruit_reached_rate",
        "eval/length_mean": "eval/length_mean",
        "eval/return_mean": "eval/return_mean",
        "eval/episodes": "eval/episodes",
    }
    return {new: float(ev[old]) for old, new in names.items() if ev.get(old) is not None}


def _report(cfg: StudyConfig, naive: RunConfig, feedback: RunConfig) -> dict[str, Any]:
    """Write GIFs, ``study.json``, ``eval.json``, ``report_extra.html`` and ``report.html``; print the table."""
    from stable_baselines3 import PPO

    from judgerl.evaluation.report import write_report
    from judgerl.study.media import policy_frames, write_gif
    from judgerl.study.table import format_table, project_cost, table_html

    study_dir = cfg.run_dir
    runs = {"naive": naive.run_dir, "feedback": feedback.run_dir}
    if cfg.eval.gif_episodes:
        for name, run_dir in runs.items():
            gif = study_dir / "media" / f"{name}.gif"
            if not gif.exists():
                model = PPO.load(str(run_dir / "agent.zip"), device="cpu")
                write_gif(policy_frames(model, cfg.eval.gif_episodes, cfg.seed + 777, cfg.eval.gif_tile), gif)
    judge = judge_numbers(cfg, feedback)
    calls = int(judge["study/judge_calls"])
    judge.update(project_cost(calls, float(judge["study/judged_length_mean"]), cfg.price, cfg.judge.keyframes))
    policies = {name: _policy_numbers(run_dir) for name, run_dir in runs.items()}
    result = {
        "name": cfg.name,
        "seed": cfg.seed,
        "eval_episodes": cfg.eval.episodes,
        **policies,
        "judge": judge,
        "runs": {name: str(run_dir) for name, run_dir in runs.items()},
        "config": cfg.model_dump(mode="json"),
        "run_configs": {"naive": naive.model_dump(mode="json"), "feedback": feedback.model_dump(mode="json")},
    }
    (study_dir / "study.json").write_text(json.dumps(result, indent=2, default=float))
    (study_dir / "report_extra.html").write_text(table_html(result))
    flat = {f"eval/{n}/{k.split('/', 1)[1]}": v for n, p in policies.items() for k, v in p.items()}
    (study_dir / "eval.json").write_text(json.dumps(flat, indent=2))
    (study_dir / "runs.yaml").write_text(dump_config(naive) + "---\n" + dump_config(feedback))
    write_report(study_dir)
    print(format_table(result))
    return result
