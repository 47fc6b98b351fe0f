"""The ``judgerl`` command line: run, demo, tasks, check-judge, evaluate, report."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from judgerl.config import ConfigError, RunConfig, load_config, validate_references


def config_help(model: type[BaseModel] = RunConfig, prefix: str = "") -> str:
    """Every config key with its type, default and description (the field docs become ``--help``)."""
    lines: list[str] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            doc = (ann.__doc__ or "").strip().splitlines()[0] if ann.__doc__ else ""
            lines.append(f"{key}:  {doc}")
            lines.append(config_help(ann, key + "."))
            continue
        default = field.get_default(call_default_factory=True)
        type_name = getattr(ann, "__name__", None) or str(ann).replace("typing.", "")
        lines.append(f"  {key} ({type_name}, default {default!r}): {field.description or ''}")
    return "\n".join(line for line in lines if line)


def packaged_config(name: str) -> Path:
    """Path of a config shipped inside the package (``judgerl/configs/<name>.yaml``)."""
    path = Path(__file__).parent / "configs" / f"{name}.yaml"
    if not path.exists():
        raise ConfigError(f"no packaged config named {name!r}")
    return path


def _cmd_run(args: argparse.Namespace) -> int:
    if args.help_config:
        print(config_help())
        return 0
    cfg = load_config(args.config, args.set)
    validate_references(cfg)
    _preflight_gate(cfg, force=args.force)
    from judgerl.loop import run

    run_dir = run(cfg)
    print(f"run directory: {run_dir}")
    return 0


def _preflight_gate(cfg: RunConfig, force: bool) -> None:
    """Refuse to spend RL compute on a model judge that fails its preflight (unless --force)."""
    if cfg.judge.type in ("oracle", "scripted") or force:
        return
    from judgerl.judges.preflight import run_preflight

    report = run_preflight(cfg)
    print(report.as_table())
    if report.overall == "fail":
        raise ConfigError("the judge failed its preflight (table above); fix the judge or pass --force to run anyway")


def _cmd_demo(args: argparse.Namespace) -> int:
    cfg = load_config(packaged_config("demo"), args.set)
    validate_references(cfg)
    _preflight_gate(cfg, force=args.force)
    from judgerl.loop import run

    run_dir = run(cfg)
    print(f"demo finished; report: {run_dir / 'report.html'}")
    return 0


def _cmd_tasks(args: argparse.Namespace) -> int:
    from judgerl.tasks import list_tasks

    for t in list_tasks():
        print(f"{t.id:32s} {t.env_id:24s} algo={t.default_algo:4s} sees={','.join(t.modalities)}")
        print(f"{'':32s} {t.instruction}")
    return 0


def _cmd_check_judge(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, args.set)
    from judgerl.judges.preflight import run_preflight

    report = run_preflight(cfg, n_probes=args.probes)
    print(report.as_table())
    if args.json:
        Path(args.json).write_text(json.dumps(report.as_dict(), indent=2))
    return 0 if report.overall != "fail" else 1


def _load_run(run_dir: Path) -> RunConfig:
    if not (run_dir / "config.yaml").exists():
        raise ConfigError(f"{run_dir} is not a run directory (no config.yaml)")
    return load_config(run_dir / "config.yaml")


def _cmd_evaluate(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    cfg = _load_run(run_dir)
    from judgerl.agents.sb3 import ALGOS, resolve_algo
    from judgerl.evaluation.ground_truth import evaluate, sb3_policy
    from judgerl.tasks import get_task

    task = get_task(cfg.task.id)
    algo = resolve_algo(cfg.agent.algo, task)
    out: dict[str, Any] = {}
    for name, prefix in (("agent.zip", "eval"), ("fresh_agent.zip", "eval/fresh")):
        if (run_dir / name).exists():
            model = ALGOS[algo].load(str(run_dir / name), device="cpu")
            out.update(evaluate(task, sb3_policy(model), args.episodes, seed=args.seed).as_metrics(prefix))
    out.update(evaluate(task, None, args.episodes, seed=args.seed).as_metrics("eval/random"))
    if len(out) <= 5:
        raise ConfigError(f"{run_dir} holds no trained agent yet (agent.zip); run it first")
    print(json.dumps(out, indent=2, sort_keys=True))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from judgerl.evaluation.report import write_report

    _load_run(Path(args.run_dir))
    print(write_report(args.run_dir))
    return 0


def _cmd_study(args: argparse.Namespace) -> int:
    from judgerl.study.config import StudyConfig, load_study_config

    if args.help_config:
        print(config_help(StudyConfig))
        return 0
    from judgerl.study.homegrid_values import run_study
    from judgerl.study.labelling import StudyStopped

    cfg = load_study_config(args.config, args.set)
    try:
        run_dir = run_study(cfg)
    except StudyStopped as e:
        print(f"judgerl: study stopped: {e}", file=sys.stderr)
        return 3
    print(f"study finished; table: {run_dir / 'study.json'}; report: {run_dir / 'report.html'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for all verbs."""
    p = argparse.ArgumentParser(prog="judgerl", description="Reinforcement learning from AI feedback.")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser(
        "run",
        help="run or resume a training run from a YAML config",
        description="Run (or resume) collect → judge → fit reward → train → evaluate.",
        epilog="config keys (use --set key=value or YAML):\n" + config_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument("config", nargs="?", default=None, help="YAML config; omitted = built-in defaults")
    r.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a key, e.g. labels.total=100"
    )
    r.add_argument("--force", action="store_true", help="run even if the judge fails its preflight")
    r.add_argument("--help-config", action="store_true", help="list every config key and exit")
    r.set_defaults(func=_cmd_run)

    d = sub.add_parser("demo", help="the embedded offline demo (what `make demo` runs)")
    d.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a key of the demo config")
    d.add_argument("--force", action="store_true", help="run even if the judge fails its preflight")
    d.set_defaults(func=_cmd_demo)

    t = sub.add_parser("tasks", help="list built-in tasks")
    t.set_defaults(func=_cmd_tasks)

    c = sub.add_parser("check-judge", help="preflight a judge on probe queries: agreement, bias, invalid rate, cost")
    c.add_argument("config", nargs="?", default=None)
    c.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    c.add_argument("--probes", type=int, default=64, help="number of probe queries")
    c.add_argument("--json", default=None, metavar="PATH", help="also write the report as JSON")
    c.set_defaults(func=_cmd_check_judge)

    e = sub.add_parser("evaluate", help="evaluate a run's agents on the true reward")
    e.add_argument("run_dir")
    e.add_argument("--episodes", type=int, default=20)
    e.add_argument("--seed", type=int, default=12345)
    e.set_defaults(func=_cmd_evaluate)

    st = sub.add_parser(
        "study",
        help="seed 003's study end to end: naive policy, verdicts, classifier, feedback policy, table",
        description="Run (or resume) a study; `judgerl study homegrid-values --help-config` lists every key.",
    )
    st.add_argument("study", choices=["homegrid-values"], help="which study")
    st.add_argument("config", nargs="?", default=None, help="YAML config (e.g. judgerl/configs/study_demo.yaml)")
    st.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a key")
    st.add_argument("--help-config", action="store_true", help="list every study config key and exit")
    st.set_defaults(func=_cmd_study)

    rep = sub.add_parser("report", help="(re)write report.html for a run directory")
    rep.add_argument("run_dir")
    rep.set_defaults(func=_cmd_report)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors print a message naming the fix, no traceback."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as e:
        print(f"judgerl: {e}", file=sys.stderr)
        return 2
    except RuntimeError as e:
        from judgerl.loop import RunStopped

        if not isinstance(e, RunStopped):
            raise
        print(f"judgerl: run stopped: {e}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print(
            "\njudgerl: interrupted; every label bought so far is stored. Run the same command to resume.",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
