"""Ask a GGUF judge several yes/no questions about a run's own labelled Pendulum segments, and their average.

``gguf_grading.py`` asks about synthetic segments that hold one state; this
script asks about the segments a real run labelled, so the groups that matter
for a failure (balancing vs spinning, hanging still vs swinging) are the ones
the agent visited. For each run directory it samples ``--n`` labelled pointwise
segments, asks the in-process GGUF judge each question, standardises each
question's answers (median 0, unit standard deviation) and reports, per question
and for the mean over questions:

- Spearman correlation with the segment's true return (the Pendulum cost
  ``−(θ² + 0.1 θ̇²)`` averaged over the segment's steps; torque left out);
- the mean standardised answer per group: upright (≥ half the steps within 30° of
  the top) and slow (mean |θ̇| < 1.5 rad/s); not upright and fast (> 4 rad/s);
  hanging (≥ half the steps beyond 120°) and slow; neither, at 1.5–4 rad/s.

Usage:
  python benchmarks/question_probe.py --model qwen2.5-coder-0.5b-instruct.gguf --runs RUN_DIR [RUN_DIR ...]
      [--questions "Is ...?" ...] [--n 100] [--out probe.json]
(a RUN_DIR is one holding ``labels.sqlite``, or a folder with one such run inside)
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from judgerl.judges.config import GGUFConfig
from judgerl.judges.gguf import GGUFJudge
from judgerl.judges.llm_prompts import View
from judgerl.labels.store import LabelStore
from judgerl.tasks.classic import PENDULUM

DEFAULT_QUESTIONS = (PENDULUM.question, "Is the pendulum upright and almost still, balanced at the top?")


def _store(run: Path) -> Path:
    found = sorted(run.glob("labels.sqlite")) or sorted(run.glob("*/labels.sqlite"))
    if not found:
        raise SystemExit(f"{run}: no labels.sqlite in it or one folder below")
    return found[0]


def _groups(obs: list[np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """True return per segment ``(N,)`` and boolean group masks ``(N,)`` from observations ``(T, 3)`` each."""
    theta = [np.arctan2(o[:, 1], o[:, 0]) for o in obs]
    ret = np.array([-np.mean(t**2 + 0.1 * o[:, 2] ** 2) for t, o in zip(theta, obs, strict=True)])
    up = np.array([np.mean(np.abs(t) < np.radians(30)) >= 0.5 for t in theta])
    low = np.array([np.mean(np.abs(t) > np.radians(120)) >= 0.5 for t in theta])
    speed = np.array([np.mean(np.abs(o[:, 2])) for o in obs])
    return ret, {
        "upright, slow": up & (speed < 1.5),
        "not upright, fast": ~up & (speed > 4),
        "hanging, slow": low & (speed < 1.5),
        "in between, middling speed": ~up & ~low & (speed >= 1.5) & (speed <= 4),
    }


def probe(model: str, run: Path, questions: list[str], n: int, threads: int) -> dict[str, Any]:
    """Standardised answers per question (and their mean) over ``n`` of the run's labelled segments."""
    rows = [r for r in LabelStore(_store(run)).labelled(min_iteration=0) if r[0].kind == "pointwise"]
    pick = np.random.default_rng(0).choice(len(rows), size=min(n, len(rows)), replace=False)
    queries = [rows[i][0] for i in pick]
    ret, groups = _groups([np.asarray(q.segments[0].obs) for q in queries])
    answers: dict[str, np.ndarray] = {}
    for question in questions:
        judge = GGUFJudge(
            GGUFConfig(model_path=model, n_threads=threads), PENDULUM, question=question, view=View(steps=5)
        )
        v = np.array([np.nan if lab.value is None else lab.value for lab in judge.judge(PENDULUM, queries)])
        answers[question] = (v - np.nanmedian(v)) / (np.nanstd(v) + 1e-9)
        print(f"  asked {len(queries)} segments: {question!r}", flush=True)
    answers["mean of the questions"] = np.mean(list(answers.values()), axis=0)
    table = {
        name: {
            "spearman": float(spearmanr(v, ret, nan_policy="omit")[0]),
            **{g: float(np.nanmean(v[m])) if m.any() else None for g, m in groups.items()},
        }
        for name, v in answers.items()
    }
    return {
        "run": str(run),
        "n": len(queries),
        "group_sizes": {g: int(m.sum()) for g, m in groups.items()},
        "table": table,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="GGUF chat model file")
    p.add_argument("--runs", nargs="+", type=Path, required=True, help="Pendulum run directories with labels")
    p.add_argument("--questions", nargs="+", default=list(DEFAULT_QUESTIONS), help="yes/no questions to ask")
    p.add_argument("--n", type=int, default=100, help="segments sampled per run")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="llama.cpp threads")
    p.add_argument("--out", type=Path, help="write the results here as JSON")
    args = p.parse_args()
    print(f"load average: {os.getloadavg()}  cores: {os.cpu_count()}", flush=True)
    results = []
    for run in args.runs:
        r = probe(args.model, run, args.questions, args.n, args.threads)
        results.append(r)
        print(f"{run} ({r['n']} segments; group sizes {r['group_sizes']})")
        for name, row in r["table"].items():
            cells = "  ".join(f"{k} {v:+.2f}" if v is not None else f"{k} —" for k, v in row.items())
            print(f"  {name[:40]:40s} {cells}", flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
