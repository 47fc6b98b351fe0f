"""CLI verbs that measure rewards: ``evaluate --against`` (EPIC) and ``sweep-alpha`` (zero-shot α grid).

Kept apart from ``judgerl/cli.py`` (the run verbs) so each stays small; ``cli.build_parser`` calls
:func:`add_reward_arguments` and :func:`add_sweep_parser`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def add_reward_arguments(parser: argparse.ArgumentParser) -> None:
    """``evaluate``'s reward-comparison flags."""
    parser.add_argument(
        "--against",
        default=None,
        metavar="true|RUN_DIR",
        help="compare the run's final reward model with the task's true reward (true) or another run's reward: "
        "EPIC distance and correlations, printed and merged into RUN_DIR/epic.json (agents are not evaluated)",
    )
    parser.add_argument("--coverage", type=int, default=4096, help="EPIC: coverage transitions (default 4096)")
    parser.add_argument("--mean-samples", type=int, default=512, help="EPIC: samples per expectation (default 512)")
    parser.add_argument("--gamma", type=float, default=0.99, help="EPIC: discount of the shaping removed (0.99)")
    parser.add_argument("--epic-seed", type=int, default=0, help="EPIC: seed of the sampled transitions (0)")


def cmd_compare_reward(args: argparse.Namespace) -> int:
    """``judgerl evaluate RUN_DIR --against ...``: EPIC, into ``epic.json`` and ``metrics.jsonl`` (stage ``epic``)."""
    from judgerl.configbase import ConfigError
    from judgerl.evaluation.epic import DegenerateRewardError
    from judgerl.evaluation.logger import MetricsLogger
    from judgerl.evaluation.reward_compare import compare_run, write_epic
    from judgerl.rundir import RunLock

    run_dir = Path(args.run_dir)
    try:
        metrics = compare_run(run_dir, args.against, args.coverage, args.mean_samples, args.gamma, args.epic_seed)
    except DegenerateRewardError as e:
        raise ConfigError(f"EPIC undefined: {e}") from None
    with RunLock(run_dir):
        write_epic(run_dir, metrics)
        log = MetricsLogger(run_dir, stdout=False)
        step = max((int(r.get("step", 0)) for r in _records(run_dir)), default=0)
        log.log(step, metrics, stage="epic")
        log.close()
    print(json.dumps(metrics, indent=2, sort_keys=True))
    return 0


def _records(run_dir: Path) -> list[dict[str, Any]]:
    from judgerl.evaluation.logger import read_metrics

    return read_metrics(run_dir)


def add_sweep_parser(sub: Any, add_set: Any) -> None:
    """Register ``sweep-alpha``."""
    s = sub.add_parser(
        "sweep-alpha",
        help="zero-shot reward over a grid of goal-baseline strengths: EPIC and correlation with the true reward, "
        "and a trained agent's true return and success rate",
        description="For each alpha and seed: the zero-shot reward's EPIC distance and correlation to the true "
        "reward, and a `judgerl run` with reward.model=zero_shot (no labels). Writes OUT/sweep.json, OUT/sweep.md, "
        "OUT/landscape.json and OUT/landscape.png; rerunning resumes.",
    )
    s.add_argument("config", nargs="?", default=None, help="YAML config (task, agent budget); --set applies on top")
    add_set(s)
    s.add_argument("--alphas", default="0,0.25,0.5,0.75,1", help="comma-separated alphas in [0, 1]")
    s.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    s.add_argument("--out", required=True, help="output folder (runs go to OUT/runs)")
    s.add_argument("--runs-dir", default=None, help="where the agents' run directories go (default OUT/runs)")
    s.add_argument("--no-train", action="store_true", help="only the reward metrics and the landscape, no agents")
    s.add_argument("--coverage", type=int, default=4096, help="EPIC coverage transitions")
    s.add_argument("--mean-samples", type=int, default=512, help="EPIC samples per expectation")
    s.add_argument("--gamma", type=float, default=0.99, help="EPIC discount")
    s.set_defaults(func=cmd_sweep_alpha)


def _floats(text: str) -> tuple[float, ...]:
    from judgerl.configbase import ConfigError

    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ConfigError(f"expected comma-separated numbers, got {text!r}") from None


def cmd_sweep_alpha(args: argparse.Namespace) -> int:
    """``judgerl sweep-alpha CONFIG --alphas ... --seeds ... --out DIR``."""
    from judgerl.evaluation.alpha_sweep import SweepPlan, sweep_alpha

    if args.config is None and args.set and "=" not in args.set[-1]:
        args.config = args.set.pop()
    plan = SweepPlan(
        config=args.config,
        overrides=tuple(args.set),
        alphas=_floats(args.alphas),
        seeds=tuple(int(s) for s in _floats(args.seeds)),
        out=Path(args.out),
        train=not args.no_train,
        n_coverage=args.coverage,
        n_mean=args.mean_samples,
        gamma=args.gamma,
        runs_dir=Path(args.runs_dir) if args.runs_dir else None,
    )
    out = sweep_alpha(plan)
    print((out / "sweep.md").read_text())
    print(f"sweep written to {out}/sweep.json, sweep.md, landscape.png")
    return 0
