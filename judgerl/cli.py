"""The ``judgerl`` command line: run, demo, tasks, check-judge, evaluate, sweep-alpha, sweep, study, report."""

from __future__ import annotations

import argparse
import errno
import json
import signal
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from judgerl.cli_reward import add_reward_arguments
from judgerl.cli_reward import add_sweep_parser as add_sweep_alpha_parser
from judgerl.config import ConfigError, RunConfig, load_config, validate_references
from judgerl.install_hints import MissingDependency
from judgerl.judges.base import JudgeConfigError
from judgerl.judges.factory import JudgeUnavailableError


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
        choices = _choices(ann)
        if choices is not None:
            lines.append(f"  {key} (one of: {choices}; default {default!r}): {field.description or ''}")
            continue
        type_name = getattr(ann, "__name__", None) or str(ann).replace("typing.", "")
        lines.append(f"  {key} ({type_name}, default {default!r}): {field.description or ''}")
    return "\n".join(line for line in lines if line)


def _choices(ann: Any) -> str | None:
    """``pairwise, pointwise, episode`` for a ``Literal`` (``..., or null`` when optional); else ``None``."""
    if typing.get_origin(ann) is typing.Literal:
        return ", ".join(str(a) for a in typing.get_args(ann))
    if typing.get_origin(ann) in (typing.Union, types.UnionType):
        args = typing.get_args(ann)
        literals = [a for a in args if typing.get_origin(a) is typing.Literal]
        if len(literals) == 1 and len(args) == 2 and type(None) in args:
            return f"{_choices(literals[0])}, or null"
    return None


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
    _config_from_sets(args)
    _note_if_empty(args.config)
    cfg = load_config(args.config, args.set)
    validate_references(cfg)
    run_dir = _start_run(cfg, force_preflight=args.force, force_config=args.force_config)
    print(f"run directory: {run_dir}")
    return 0


def _start_run(cfg: RunConfig, force_preflight: bool, force_config: bool) -> Path:
    """Check paths, lock the run directory, check the resume, then preflight and run the loop.

    Nothing is spent (no env step, no judge call) and ``config.yaml`` is not touched
    before every check has passed.
    """
    from judgerl.labels.store import LabelStoreError
    from judgerl.rundir import RunLock, check_paths, prepare_run_dir

    check_paths(cfg)
    try:
        with RunLock(cfg.run_dir):
            state = prepare_run_dir(cfg, force=force_config)
            if not state.done:  # a finished run spends nothing more, not even on probes
                _preflight_gate(cfg, force=force_preflight)
            from judgerl.loop import run

            return run(cfg)
    except LabelStoreError as e:
        raise ConfigError(f"labels.store: {e}") from None


def _config_from_sets(args: argparse.Namespace) -> None:
    """``--set a=1 b=2 run.yaml``: ``--set`` takes several pairs, so a config given after them lands there."""
    if args.config is None and args.set and "=" not in args.set[-1]:
        args.config = args.set.pop()


def _note_if_empty(path: str | Path | None) -> None:
    """Say so when a config file holds no keys: the run then uses the built-in defaults (plus --set)."""
    if path is None:
        return
    import yaml

    try:
        empty = yaml.safe_load(Path(path).read_text(encoding="utf-8")) is None
    except (OSError, ValueError, yaml.YAMLError):
        return  # load_config reports it
    if empty:
        print(f"judgerl: note: {path} is empty; running on the built-in defaults (plus any --set)", file=sys.stderr)


def _preflight_gate(cfg: RunConfig, force: bool) -> None:
    """Refuse to spend RL compute on a model judge that fails its preflight (unless --force)."""
    from judgerl.config import NO_LABELS

    if cfg.judge.type in ("oracle", "scripted") or cfg.reward.model in NO_LABELS or force:
        return
    from judgerl.judges.preflight import run_preflight
    from judgerl.loop_parts import ensure_run_id

    report = run_preflight(cfg, n_probes=cfg.judge.preflight_probes, run_id=ensure_run_id(cfg.run_dir))
    print(report.as_table())
    if report.overall == "fail":
        raise ConfigError("the judge failed its preflight (table above); fix the judge or pass --force to run anyway")


def _cmd_demo(args: argparse.Namespace) -> int:
    cfg = load_config(packaged_config("demo"), args.set)
    validate_references(cfg)
    run_dir = _start_run(cfg, force_preflight=args.force, force_config=args.force_config)
    print(f"demo finished; report: {run_dir / 'report.html'}")
    return 0


def _cmd_tasks(args: argparse.Namespace) -> int:
    from judgerl.tasks import list_tasks

    for t in list_tasks():
        print(f"{t.id:32s} {t.env_id:24s} algo={t.default_algo:4s} sees={','.join(t.modalities)}")
        print(f"{'':32s} {t.instruction}")
        if t.question:
            print(f"{'':32s} yes/no question: {t.question}")
    return 0


def _cmd_check_judge(args: argparse.Namespace) -> int:
    _config_from_sets(args)
    _note_if_empty(args.config)
    cfg = load_config(args.config, args.set)
    from judgerl.judges.preflight import run_preflight
    from judgerl.rundir import RunLock, check_paths

    check_paths(cfg)
    # The probes are bought into the run's label store: not while a run writes to it.
    with RunLock(cfg.run_dir):
        report = run_preflight(cfg, n_probes=args.probes or cfg.judge.preflight_probes)
    print(report.as_table())
    if args.json:
        Path(args.json).write_text(json.dumps(report.as_dict(), indent=2))
    return 0 if report.overall != "fail" else 1


def _load_run(run_dir: Path) -> RunConfig:
    if not (run_dir / "config.yaml").exists():
        raise ConfigError(f"{run_dir} is not a run directory (no config.yaml)")
    return load_config(run_dir / "config.yaml")


def _cmd_evaluate(args: argparse.Namespace) -> int:
    if args.against is not None:
        from judgerl.cli_reward import cmd_compare_reward

        return cmd_compare_reward(args)
    run_dir = Path(args.run_dir)
    cfg = _load_run(run_dir)
    from judgerl.agents.sb3 import ALGOS, resolve_algo
    from judgerl.checkpoints import load_checkpoint
    from judgerl.evaluation.ground_truth import evaluate, sb3_policy
    from judgerl.tasks import get_task

    task = get_task(cfg.task.id)
    algo = resolve_algo(cfg.agent.algo, task)
    out: dict[str, Any] = {}
    for name, prefix in (("agent.zip", "eval"), ("fresh_agent.zip", "eval/fresh")):
        # The newest checkpoint that loads (its .prev copy if the latest is damaged); never a traceback.
        loaded = load_checkpoint(run_dir / name, lambda p, _files: ALGOS[algo].load(str(p), device="cpu"))
        if loaded.errors:
            print(f"judgerl: note: {name}: {'; '.join(loaded.errors)}", file=sys.stderr)
        if loaded.value is not None:
            if loaded.source == "prev":
                print(f"judgerl: note: evaluating the previous checkpoint {loaded.path}", file=sys.stderr)
            model = loaded.value
            policy = sb3_policy(model, cfg.eval.deterministic)  # as the run evaluated it (seed 003: sampled)
            out.update(evaluate(task, policy, args.episodes, seed=args.seed).as_metrics(prefix))
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
    from judgerl.study.homegrid_values import StudyStopped, run_study

    _config_from_sets(args)
    _note_if_empty(args.config)
    cfg = load_study_config(args.config, args.set)
    try:
        run_dir = run_study(cfg)
    except StudyStopped as e:
        print(f"judgerl: study stopped: {e}", file=sys.stderr)
        return 3
    print(f"study finished; table: {run_dir / 'study.json'}; report: {run_dir / 'report.html'}")
    return 0


def _add_set(parser: argparse.ArgumentParser) -> None:
    """``--set KEY=VALUE [KEY=VALUE ...]``, repeatable: every pair of every flag is applied in order."""
    parser.add_argument(
        "--set",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="override keys, e.g. --set labels.total=100 seed=1 (repeatable)",
    )


FORCE_CONFIG_HELP = (
    "resume even though a key that gives the stored work its meaning changed (task, judge, budgets, seeds, "
    "model shapes); the change is recorded in <run_dir>/config_changes.jsonl"
)


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
    _add_set(r)
    r.add_argument("--force", action="store_true", help="run even if the judge fails its preflight")
    r.add_argument("--force-config", action="store_true", help=FORCE_CONFIG_HELP)
    r.add_argument("--help-config", action="store_true", help="list every config key and exit")
    r.set_defaults(func=_cmd_run)

    d = sub.add_parser("demo", help="the embedded offline demo (what `make demo` runs)")
    _add_set(d)
    d.add_argument("--force", action="store_true", help="run even if the judge fails its preflight")
    d.add_argument("--force-config", action="store_true", help=FORCE_CONFIG_HELP)
    d.set_defaults(func=_cmd_demo)

    t = sub.add_parser("tasks", help="list built-in tasks")
    t.set_defaults(func=_cmd_tasks)

    c = sub.add_parser("check-judge", help="preflight a judge on probe queries: agreement, bias, invalid rate, cost")
    c.add_argument("config", nargs="?", default=None)
    _add_set(c)
    c.add_argument("--probes", type=int, default=None, help="number of probe queries (default: judge.preflight_probes)")
    c.add_argument("--json", default=None, metavar="PATH", help="also write the report as JSON")
    c.set_defaults(func=_cmd_check_judge)

    e = sub.add_parser("evaluate", help="evaluate a run's agents on the true reward, or its reward (--against)")
    e.add_argument("run_dir")
    e.add_argument("--episodes", type=int, default=20)
    e.add_argument("--seed", type=int, default=12345)
    add_reward_arguments(e)
    e.set_defaults(func=_cmd_evaluate)
    add_sweep_alpha_parser(sub, _add_set)

    st = sub.add_parser(
        "study",
        help="seed 003's study end to end: naive policy, verdicts, classifier, feedback policy, table",
        description="Run (or resume) a study; `judgerl study homegrid-values --help-config` lists every key.",
    )
    st.add_argument("study", choices=["homegrid-values"], help="which study")
    st.add_argument("config", nargs="?", default=None, help="YAML config (e.g. judgerl/configs/study_demo.yaml)")
    _add_set(st)
    st.add_argument("--help-config", action="store_true", help="list every study config key and exit")
    st.set_defaults(func=_cmd_study)

    rep = sub.add_parser("report", help="(re)write report.html for a run directory")
    rep.add_argument("run_dir")
    rep.set_defaults(func=_cmd_report)

    from judgerl.sweep.command import add_parser as add_sweep_parser

    add_sweep_parser(sub)  # `judgerl sweep`: grid x seeds as Ray tasks or local processes (docs/scale.md)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors print a message naming the fix, no traceback."""
    args = build_parser().parse_args(argv)
    previous = _terminate_like_interrupt()
    try:
        return int(args.func(args))
    except ConfigError as e:
        print(f"judgerl: {e}", file=sys.stderr)
        return 2
    except (MissingDependency, JudgeUnavailableError) as e:
        # An optional component `make demo` does not install (gguf, clip, nethack) or a missing model file:
        # one line naming the command that installs it, before any label is bought (decision 0021).
        print(f"judgerl: {e}", file=sys.stderr)
        return 2
    except JudgeConfigError as e:  # 401/403/404/3xx, no log-probs: nothing final was stored, a fixed rerun asks again
        print(f"judgerl: judge configuration error, run stopped: {e}", file=sys.stderr)
        return 2
    except RuntimeError as e:
        from judgerl.loop import RunStopped

        if not isinstance(e, RunStopped):
            raise
        print(f"judgerl: run stopped: {e}", file=sys.stderr)
        return 3
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        # Every write is atomic (checkpoints, state.json) or a committed transaction (labels): nothing is half-written.
        print(
            f"judgerl: disk full ({e}); every label bought and every checkpoint saved so far is intact. "
            "Free some space and run the same command to resume.",
            file=sys.stderr,
        )
        return 3
    except KeyboardInterrupt as e:
        print(
            "\njudgerl: interrupted; every label bought so far is stored. Run the same command to resume.",
            file=sys.stderr,
        )
        return 128 + int(getattr(e, "signum", signal.SIGINT))
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C (stores are consistent, the run resumes); exit status 143."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"signal {signum}")
        self.signum = signum


def _terminate_like_interrupt() -> Any:
    """Make SIGTERM raise :class:`Terminated` in the main thread; returns the previous handler (or None)."""

    def handler(signum: int, frame: types.FrameType | None) -> None:
        raise Terminated(signum)

    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (e.g. main() called from a worker in tests)
        return None


if __name__ == "__main__":
    sys.exit(main())
